/* The message channel of asyncd and asyncd-net (see wire.h): datagrams
 * on a SOCK_SEQPACKET socket watched by libevent, with an outbox for what
 * the socket cannot take at once. Both programs use it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../daemon/log.h"
#include "../daemon/xmalloc.h"
#include "wire.h"

struct wire_out {
	TAILQ_ENTRY(wire_out) link;
	size_t len;
	int fd;
	unsigned char data[];
};

struct wire {
	int fd;
	struct event *read_ev, *write_ev;
	TAILQ_HEAD(, wire_out) outbox;
	size_t queued;
	wire_msg_fn on_msg;
	wire_closed_fn on_closed;
	void *arg;
	unsigned char *buf; /* NET_MSG_MAX + 1: one more tells a long one */
};

/* Sends one message now: 1 sent, 0 the socket is full, -1 gone. */
static int
wire_sendmsg(int sock, const void *msg, size_t len, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)msg, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (fd >= 0) {
		memset(&ctl, 0, sizeof ctl);
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof fd);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n >= 0)
		return 1;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS
		       ? 0
		       : -1;
}

static void
wire_closed(struct wire *w)
{
	event_del(w->read_ev);
	event_del(w->write_ev);
	w->on_closed(w->arg);
}

static void
wire_flush(evutil_socket_t sock UNUSED, short what UNUSED, void *arg)
{
	struct wire *w = arg;
	struct wire_out *o;

	while ((o = TAILQ_FIRST(&w->outbox)) != NULL) {
		int rc = wire_sendmsg(w->fd, o->data, o->len, o->fd);
		if (rc == 0) {
			event_add(w->write_ev, NULL);
			return;
		}
		if (rc < 0) {
			wire_closed(w);
			return;
		}
		TAILQ_REMOVE(&w->outbox, o, link);
		w->queued -= o->len;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
}

/* The descriptor that came with MH, or -1; any others are closed. */
static int
wire_received_fd(struct msghdr *mh)
{
	int fd = -1;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	     c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int got;
			memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
			if (fd < 0)
				fd = got;
			else
				close(got);
		}
	}
	return fd;
}

static void
wire_read(evutil_socket_t sock, short what UNUSED, void *arg)
{
	struct wire *w = arg;

	/* A bounded batch, so that one busy peer cannot hold the loop. */
	for (int i = 0; i < 64; i++) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} ctl;
		struct iovec iov = {w->buf, NET_MSG_MAX + 1};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof ctl.buf};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		int fd;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		fd = n > 0 ? wire_received_fd(&mh) : -1;
		if (n <= 0 || (size_t)n > NET_MSG_MAX ||
		    (size_t)n < sizeof(struct net_head) ||
		    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			if (fd >= 0)
				close(fd);
			wire_closed(w);
			return;
		}
		w->on_msg(w->arg, w->buf, (size_t)n, fd);

	}
}

struct wire *
wire_new(struct event_base *base, int fd, wire_msg_fn on_msg,
	 wire_closed_fn on_closed, void *arg)
{
	struct wire *w = xcalloc(1, sizeof *w);

	w->fd = fd;
	w->on_msg = on_msg;
	w->on_closed = on_closed;
	w->arg = arg;
	w->buf = xmalloc(NET_MSG_MAX + 1);
	TAILQ_INIT(&w->outbox);
	w->read_ev = event_new(base, fd, EV_READ | EV_PERSIST, wire_read, w);
	w->write_ev = event_new(base, fd, EV_WRITE, wire_flush, w);
	if (w->read_ev == NULL || w->write_ev == NULL)
		fatalx("cannot watch the network process's socket");
	event_add(w->read_ev, NULL);
	return w;
}

void
wire_free(struct wire *w)
{
	struct wire_out *o;

	if (w == NULL)
		return;
	while ((o = TAILQ_FIRST(&w->outbox)) != NULL) {
		TAILQ_REMOVE(&w->outbox, o, link);
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	event_free(w->read_ev);
	event_free(w->write_ev);
	close(w->fd);
	free(w->buf);
	free(w);
}

void
wire_send(struct wire *w, const void *msg, size_t len, int fd)
{
	struct wire_out *o;
	int rc;

	if (TAILQ_EMPTY(&w->outbox)) {
		rc = wire_sendmsg(w->fd, msg, len, fd);
		if (rc > 0)
			return;
		if (rc < 0) {
			/* The read side notices the end and reports it. */
			event_active(w->read_ev, EV_READ, 0);
			return;
		}
	}
	o = xmalloc(sizeof *o + len);
	o->len = len;
	o->fd = -1;
	if (fd >= 0 && (o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		fatal("dup of a download's descriptor");
	memcpy(o->data, msg, len);
	TAILQ_INSERT_TAIL(&w->outbox, o, link);
	w->queued += len;
	event_add(w->write_ev, NULL);
}

size_t
wire_queued(const struct wire *w)
{
	return w->queued;
}

void
wire_strcpy(char *dst, size_t size, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n >= size)
		n = size - 1;
	if (n > 0)
		memcpy(dst, s, n);
	dst[n] = '\0';
}
