/* libcurl's multi interface on the event loop, after curl's
 * docs/examples/hiperfifo.c.
 *
 * libcurl tells us which sockets to watch (the socket callback) and when
 * to call it back (the timer callback); libevent tells libcurl when a
 * socket is ready or the timer expired (curl_multi_socket_action). Ended
 * transfers are collected with curl_multi_info_read after every action,
 * outside any libcurl callback, which is the only place where handles
 * leave the multi handle on their own.
 *
 * Rules kept here (see PITFALLS.md):
 * - the timer callback only arms or deletes a libevent timer: a timeout of
 *   0 arms it too, -1 deletes it; it never calls libcurl;
 * - the result of a CURLMSG_DONE message is copied before the handle is
 *   removed, which invalidates the message;
 * - a REMOVE may come for a descriptor libcurl already closed, and the
 *   same number may come back at once for a new socket with no socketp:
 *   each socket's event lives exactly from its first report to its REMOVE.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "../daemon/log.h"
#include "../daemon/xmalloc.h"
#include "curl-loop.h"

/* A transfer added by transfer.c. */
struct curl_loop_xfer {
	CURL *easy;
	curl_loop_done_fn done;
	void *arg;
	LIST_ENTRY(curl_loop_xfer) link;
};

/* A socket libcurl asked us to watch. */
struct curl_loop_sock {
	curl_socket_t fd;
	struct event *ev;
};

static struct event_base *base;
static CURLM *multi;
static struct event *timer_ev;
static LIST_HEAD(, curl_loop_xfer) xfers = LIST_HEAD_INITIALIZER(xfers);
static unsigned nxfers;
static int in_action; /* inside curl_multi_socket_action() */
static bool stopping;  /* curl_loop_free() is handing transfers back */

static void curl_loop_socket_event(evutil_socket_t fd, short what, void *arg);

/* Hands every ended transfer back to its owner. */
static void
curl_loop_collect(void)
{
	struct curl_loop_xfer *x;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *easy = msg->easy_handle;
		CURLcode result = msg->data.result; /* before the removal */
		char *priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		x = (struct curl_loop_xfer *)priv;
		curl_multi_remove_handle(multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		LIST_REMOVE(x, link);
		nxfers--;
		curl_loop_done_fn done = x->done;
		void *arg = x->arg;
		free(x);
		done(easy, result, arg);
	}
}

/* Tells libcurl that FD is ready for MASK (or that its timer expired). */
static void
curl_loop_action(curl_socket_t fd, int mask)
{
	CURLMcode rc;
	int running;

	in_action++;
	rc = curl_multi_socket_action(multi, fd, mask, &running);
	in_action--;
	if (rc != CURLM_OK)
		log_warnx("curl_multi_socket_action: %s", curl_multi_strerror(rc));
	curl_loop_collect();
}

static void
curl_loop_socket_event(evutil_socket_t fd, short what, void *arg UNUSED)
{
	int mask = ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
		   ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

	curl_loop_action(fd, mask);
}

static void
curl_loop_timer_event(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	curl_loop_action(CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_TIMERFUNCTION: arms or deletes the one timer, nothing else. */
static int
curl_loop_timer_cb(CURLM *m UNUSED, long timeout_ms, void *userp UNUSED)
{
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(timer_ev);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(timer_ev, &tv);
	return 0;
}

/* Watches S for WHAT, with the event of SOCK or a new one. */
static void
curl_loop_watch(curl_socket_t s, int what, struct curl_loop_sock *sock)
{
	short flags = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
		      ((what & CURL_POLL_OUT) ? EV_WRITE : 0);

	if (sock == NULL) {
		sock = xmalloc(sizeof *sock);
		sock->fd = s;
		sock->ev = event_new(base, s, flags,
				     curl_loop_socket_event, NULL);
		curl_multi_assign(multi, s, sock);
	} else {
		event_del(sock->ev);
		event_assign(sock->ev, base, s, flags,
			     curl_loop_socket_event, NULL);
	}
	if (sock->ev == NULL || event_add(sock->ev, NULL) < 0)
		log_warnx("cannot watch a socket of libcurl (fd %d)", (int)s);
}

/* CURLMOPT_SOCKETFUNCTION. */
static int
curl_loop_socket_cb(CURL *easy UNUSED, curl_socket_t s, int what, void *userp UNUSED,
		    void *socketp)
{
	struct curl_loop_sock *sock = socketp;

	if (what != CURL_POLL_REMOVE) {
		curl_loop_watch(s, what, sock);
		return 0;
	}
	if (sock != NULL) {
		/* The descriptor may be closed already: libevent then
		 * ignores the EBADF of the epoll removal. */
		event_free(sock->ev);
		free(sock);
		curl_multi_assign(multi, s, NULL);
	}
	return 0;
}

void
curl_loop_init(struct event_base *b)
{
	base = b;
	multi = curl_multi_init();
	if (multi == NULL)
		fatalx("curl_multi_init failed");
	timer_ev = evtimer_new(base, curl_loop_timer_event, NULL);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, curl_loop_socket_cb);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curl_loop_timer_cb);
}

void
curl_loop_free(void)
{
	struct curl_loop_xfer *x;

	if (multi == NULL)
		return;
	stopping = true;
	while ((x = LIST_FIRST(&xfers)) != NULL) {
		CURL *easy = x->easy;
		curl_loop_done_fn done = x->done;
		void *arg = x->arg;
		curl_loop_remove(easy); /* frees X */
		done(easy, CURL_LOOP_DROPPED, arg);
	}
	stopping = false;
	/* Closes the cached connections, reporting their sockets' REMOVE. */
	curl_multi_cleanup(multi);
	multi = NULL;
	event_free(timer_ev);
	timer_ev = NULL;
}

int
curl_loop_add(CURL *easy, curl_loop_done_fn done, void *arg)
{
	struct curl_loop_xfer *x;
	CURLMcode rc;

	if (multi == NULL || stopping)
		return -1;
	x = xcalloc(1, sizeof *x);
	x->easy = easy;
	x->done = done;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
	rc = curl_multi_add_handle(multi, easy);
	if (rc != CURLM_OK) {
		log_warnx("curl_multi_add_handle: %s", curl_multi_strerror(rc));
		free(x);
		return -1;
	}
	LIST_INSERT_HEAD(&xfers, x, link);
	nxfers++;
	return 0;
}

void
curl_loop_remove(CURL *easy)
{
	char *priv = NULL;
	struct curl_loop_xfer *x;

	if (in_action)
		fatalx("curl_loop_remove called from a libcurl callback");
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	x = (struct curl_loop_xfer *)priv;
	if (x == NULL)
		return;
	curl_multi_remove_handle(multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	LIST_REMOVE(x, link);
	nxfers--;
	free(x);
}

unsigned
curl_loop_running(void)
{
	return nxfers;
}
