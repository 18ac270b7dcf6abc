/* The listening socket and client connections.
 *
 * A connection is never freed inside one of its own callbacks: it is
 * marked closing and a deferred "reaper" event frees it. Output is
 * buffered up to --output-hwm; past it the connection stops reading
 * requests, and jobs streaming to it pause (watch_conn_drained() resumes
 * them once it has drained to half the mark).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "../proto/frame.h"
#include "../proto/jsonrpc.h"
#include "jobs.h"
#include "log.h"
#include "rpc.h"
#include "server.h"
#include "watch.h"
#include "xmalloc.h"

struct conn {
	struct bufferevent *bev;
	struct peer peer;
	struct frame_reader frame;
	struct watch_head watches;
	bool closing;      /* marked for the reaper */
	bool read_eof;     /* the peer sent all it will send */
	bool read_paused;  /* output is past the mark: requests wait */
	bool was_blocked;  /* jobs may wait for this one to drain */
	TAILQ_ENTRY(conn) link;
};

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, conn) dead = TAILQ_HEAD_INITIALIZER(dead);
static unsigned nconns;
static struct evconnlistener *listener;
static struct event *reaper_ev;
static struct event *accept_retry_ev;
static char *socket_path; /* set when we created the socket file */

static void conn_read_cb(struct bufferevent *bev, void *arg);

const struct peer *
conn_peer(const struct conn *conn)
{
	return &conn->peer;
}

struct watch_head *
conn_watches(struct conn *conn)
{
	return &conn->watches;
}

bool
conn_blocked(struct conn *conn)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	if (evbuffer_get_length(out) < daemon_opts.output_hwm)
		return false;
	conn->was_blocked = true;
	return true;
}

struct evbuffer *
conn_output(struct conn *conn)
{
	return conn->closing ? NULL : bufferevent_get_output(conn->bev);
}

void
conn_send(struct conn *conn, const void *data, size_t len)
{
	if (!conn->closing)
		evbuffer_add(bufferevent_get_output(conn->bev), data, len);
}

void
conn_send_buffer(struct conn *conn, struct evbuffer *buf)
{
	if (!conn->closing)
		evbuffer_add_buffer(bufferevent_get_output(conn->bev), buf);
	else
		evbuffer_drain(buf, evbuffer_get_length(buf));
}

void
conn_send_json(struct conn *conn, struct json_object *msg)
{
	if (!conn->closing)
		jsonrpc_write(bufferevent_get_output(conn->bev), msg);
}

static void
conn_close(struct conn *conn)
{
	if (conn->closing)
		return;
	conn->closing = true;
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	watch_conn_closed(conn);
	TAILQ_REMOVE(&conns, conn, link);
	TAILQ_INSERT_TAIL(&dead, conn, link);
	nconns--;
	event_active(reaper_ev, 0, 0);
}

static void
reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *conn;

	while ((conn = TAILQ_FIRST(&dead)) != NULL) {
		TAILQ_REMOVE(&dead, conn, link);
		bufferevent_free(conn->bev);
		free(conn);
	}
}

/* A half-closed connection lives while it has output to write or jobs to
 * report on. */
static void
conn_close_if_done(struct conn *conn)
{
	if (conn->read_eof && TAILQ_EMPTY(&conn->watches) &&
	    evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		conn_close(conn);
}

/* Once the peer has finished sending, what is left is its last line,
 * even without a '\n'. */
static void
conn_process_tail(struct conn *conn, struct evbuffer *in)
{
	size_t left = evbuffer_get_length(in);

	if (left == 0 || conn->frame.discarding)
		return;
	if (left <= conn->frame.max)
		rpc_handle_line(conn, (const char *)evbuffer_pullup(in, -1), left);
	else
		rpc_too_large(conn);
	evbuffer_drain(in, left);
}

/* Handles every complete line buffered, until output backs up. */
static void
conn_process(struct conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	const char *line;
	size_t len;

	while (!conn->closing) {
		if (conn_blocked(conn)) {
			conn->read_paused = true;
			bufferevent_disable(conn->bev, EV_READ);
			return;
		}
		switch (frame_next(&conn->frame, in, &line, &len)) {
		case FRAME_NONE:
			if (conn->read_eof)
				conn_process_tail(conn, in);
			return;
		case FRAME_TOO_LARGE:
			rpc_too_large(conn);
			break;
		case FRAME_LINE:
			rpc_handle_line(conn, line, len);
			frame_consume(&conn->frame, in);
			break;
		}
	}
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	conn_process(arg);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *conn = arg;

	if (conn->closing)
		return;
	if (conn->read_paused && !conn_blocked(conn)) {
		conn->read_paused = false;
		if (!conn->read_eof) {
			bufferevent_enable(bev, EV_READ);
			bufferevent_trigger(bev, EV_READ, 0);
		} else {
			conn_process(conn);
		}
	}
	if (conn->was_blocked && !conn_blocked(conn)) {
		conn->was_blocked = false;
		watch_conn_drained(conn);
	}
	conn_close_if_done(conn);
}

/* The peer finished sending; we answer what it sent before closing. */
static void
conn_read_eof(struct conn *conn)
{
	conn->read_eof = true;
	conn_process(conn);
	if (!conn->closing)
		conn_close_if_done(conn);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *conn = arg;

	if (what & BEV_EVENT_ERROR) {
		log_debug("connection of uid %u: %s", (unsigned)conn->peer.uid,
			  strerror(EVUTIL_SOCKET_ERROR()));
		conn_close(conn);
	} else if (what & BEV_EVENT_EOF) {
		conn_read_eof(conn);
	}
}

static int
read_peer(int fd, struct peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->pid = cred.pid;
	return 0;
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int socklen, void *arg)
{
	struct conn *conn;
	struct peer peer;

	if (read_peer(fd, &peer) < 0) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	if (nconns >= daemon_opts.max_connections) {
		log_warnx("connection of uid %u refused: %u connections open",
			  (unsigned)peer.uid, nconns);
		close(fd);
		return;
	}
	conn = xcalloc(1, sizeof *conn);
	conn->peer = peer;
	TAILQ_INIT(&conn->watches);
	frame_init(&conn->frame, daemon_opts.max_request);
	conn->bev = bufferevent_socket_new(daemon_base, fd,
					   BEV_OPT_CLOSE_ON_FREE);
	if (conn->bev == NULL) {
		log_warnx("cannot set up a connection");
		close(fd);
		free(conn);
		return;
	}
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb,
			  conn);
	/* libevent writes 16 KiB a call by default: a writev and a wake-up
	 * of the reader for every 16 KiB streamed. */
	bufferevent_set_max_single_write(conn->bev, 1024 * 1024);
	bufferevent_setwatermark(conn->bev, EV_WRITE,
				 daemon_opts.output_hwm / 2, 0);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&conns, conn, link);
	nconns++;
	log_debug("connection of uid %u pid %d", (unsigned)peer.uid,
		  (int)peer.pid);
}

static void
accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	if (listener != NULL)
		evconnlistener_enable(listener);
}

/* Out of descriptors: back off for a second instead of spinning. */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval second = {1, 0};

	log_warn("accept");
	evconnlistener_disable(l);
	evtimer_add(accept_retry_ev, &second);
}

static void
server_setup(int fd)
{
	if (reaper_ev == NULL) {
		reaper_ev = event_new(daemon_base, -1, 0, reaper_cb, NULL);
		accept_retry_ev = evtimer_new(daemon_base, accept_retry_cb, NULL);
	}
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	listener = evconnlistener_new(daemon_base, accept_cb, NULL,
				      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				      -1, fd);
	if (listener == NULL)
		fatalx("cannot listen");
	evconnlistener_set_error_cb(listener, accept_error_cb);
}

int
server_listen_fd(int fd)
{
	server_setup(fd);
	return 0;
}

/* Creates the directory holding the socket when it is missing, and
 * refuses one that someone else could swap the socket in (another user's,
 * or writable by others without the sticky bit). */
static int
make_parent_dir(const char *path, mode_t mode)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	int rc = 0;

	if (slash == NULL || slash == dir)
		goto out;
	*slash = '\0';
	if (mkdir(dir, mode) < 0 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		rc = -1;
	} else if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		   (st.st_uid != geteuid() && st.st_uid != 0) ||
		   ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))) {
		log_warnx("%s: not a directory of this user's, closed to others",
			  dir);
		rc = -1;
	}
out:
	free(dir);
	return rc;
}

/* -1 and a log line when PATH is served by a live daemon, is not a
 * socket, or cannot be checked; removes a stale socket file. */
static int
claim_path(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (log_warn("%s", path), -1);
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket", path);
		return -1;
	}
	/* Stale only when a connect is refused: without a socket to try
	 * (EMFILE) or on another error, a live daemon may be serving it. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("%s: cannot tell whether another asyncd serves it: "
			 "socket",
			 path);
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	err = errno;
	close(fd);
	if (rc == 0) {
		log_warnx("%s: another asyncd is serving it", path);
		return -1;
	}
	if (err != ECONNREFUSED && err != ENOENT) {
		errno = err;
		log_warn("%s: cannot tell whether another asyncd serves it: "
			 "connect",
			 path);
		return -1;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("unlink %s", path);
		return -1;
	}
	return 0;
}

int
server_listen_path(const char *path, int mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old_umask;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (make_parent_dir(path, geteuid() == 0 ? 0755 : 0700) < 0 ||
	    claim_path(path, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("socket");
		return -1;
	}
	/* No moment with a wider mode than asked for. */
	old_umask = umask(0777 & ~(mode_t)mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		log_warn("bind %s", path);
		umask(old_umask);
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (chmod(path, (mode_t)mode) < 0 || listen(fd, SOMAXCONN) < 0) {
		log_warn("%s", path);
		unlink(path);
		close(fd);
		return -1;
	}
	socket_path = xstrdup(path);
	server_setup(fd);
	log_info("listening on %s", path);
	return 0;
}

void
server_stop_listening(void)
{
	if (listener == NULL)
		return;
	evconnlistener_free(listener);
	listener = NULL;
	if (socket_path != NULL) {
		unlink(socket_path);
		free(socket_path);
		socket_path = NULL;
	}
}

void
server_free(void)
{
	struct conn *conn;

	server_stop_listening();
	while ((conn = TAILQ_FIRST(&conns)) != NULL)
		conn_close(conn);
	if (reaper_ev != NULL) {
		reaper_cb(-1, 0, NULL);
		event_free(reaper_ev);
		event_free(accept_retry_ev);
		reaper_ev = NULL;
	}
}

unsigned
server_connections(void)
{
	return nconns;
}

bool
server_flushed(void)
{
	struct conn *conn;

	TAILQ_FOREACH(conn, &conns, link)
		if (evbuffer_get_length(bufferevent_get_output(conn->bev)) > 0)
			return false;
	return true;
}
