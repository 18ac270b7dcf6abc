/* The listening socket and client connections.
 *
 * A connection is never freed inside one of its own callbacks: it is
 * marked closing and a deferred "reaper" event frees it. Output is
 * buffered up to --output-hwm; past it the connection stops reading
 * requests, and jobs streaming to it pause (the "drained" handler resumes
 * them once it has drained to half the mark). Behind that mark is a hard
 * limit that holds for every kind of output: a connection with more than
 * --output-limit buffered, or past the mark for --output-hwm-timeout, is
 * closed (its jobs go on).
 *
 * Admission happens in one place, server_admit(), at accept: a daemon
 * that is not root serves its own uid only; connections are capped per
 * user and in all, with the last few kept for root; and accepting pauses
 * while descriptors run short, so that jobs keep room for their pipes,
 * files and sockets.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <json-c/json.h>

#include "../proto/frame.h"
#include "../proto/jsonrpc.h"
#include "identity.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "socket-file.h"
#include "xmalloc.h"

static struct server_handlers handlers;

void
server_init(const struct server_handlers *h)
{
	handlers = *h;
}

/* Connections of one uid. */
struct user_conns {
	uid_t uid;
	unsigned n;
	TAILQ_ENTRY(user_conns) link;
};

struct conn {
	struct bufferevent *bev;
	struct peer peer;
	struct user_conns *user;
	struct frame_reader frame;
	struct watch_head watches;
	struct event *request_ev; /* a request line is unfinished */
	struct event *hwm_ev;     /* the output is past the mark */
	struct evbuffer_cb_entry *output_cb;
	bool closing;      /* marked for the reaper */
	bool read_eof;     /* the peer sent all it will send */
	bool read_paused;  /* output is past the mark: requests wait */
	bool was_blocked;  /* jobs may wait for this one to drain */
	bool binary;       /* job.output as binary frames */
	bool over_limit;   /* past --output-limit: closed in the next pass */
	TAILQ_ENTRY(conn) link;
};

/* Connections of all users but root: the last few are root's, so that
 * root can always get in. */
#define ROOT_RESERVED_CONNECTIONS 8
/* Descriptors kept free for jobs (pipes, files, sockets) when accepting:
 * this many, or a quarter of RLIMIT_NOFILE if that is less. */
#define FD_RESERVE 32
/* How often accepting, paused for want of descriptors, looks again. */
#define ACCEPT_RETRY_MS 250
/* Foreign uids whose refusal was logged (once each). */
#define REFUSED_UIDS 32

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static TAILQ_HEAD(, conn) dead = TAILQ_HEAD_INITIALIZER(dead);
static TAILQ_HEAD(, user_conns) users = TAILQ_HEAD_INITIALIZER(users);
static unsigned nconns;
static uid_t server_uid; /* ours: a daemon not run by root serves only it */
static struct evconnlistener *listener;
static struct event *reaper_ev;
static struct event *limit_ev; /* closes connections past an output limit */
static struct event *accept_retry_ev;
static char *socket_path; /* set when we created the socket file */

static struct {
	uid_t uids[REFUSED_UIDS];
	unsigned n;
} refused;

/* The last count of descriptors in use, and what accepting did since. */
static struct {
	bool paused;        /* the listener waits for descriptors */
	long long count_ms; /* when they were counted; 0: never */
	unsigned room;      /* free beyond the reserve at that count */
	unsigned accepts;   /* connections accepted since */
} fds;

static void conn_read_cb(struct bufferevent *bev, void *arg);

const struct peer *
conn_peer(const struct conn *conn)
{
	return &conn->peer;
}

bool
conn_binary(const struct conn *conn)
{
	return conn->binary;
}

/* The socket send buffer a binary connection asks for: bulk output then
 * costs a few large writes and wake-ups of the reader, not one per
 * 200 KiB. The kernel caps it at net.core.wmem_max. */
#define BINARY_SNDBUF (4 * 1024 * 1024)

void
conn_set_binary(struct conn *conn, bool binary)
{
	int size = BINARY_SNDBUF;

	if (binary && !conn->binary &&
	    setsockopt(bufferevent_getfd(conn->bev), SOL_SOCKET, SO_SNDBUF,
		       &size, sizeof size) < 0)
		log_debug("SO_SNDBUF: %s", strerror(errno));
	conn->binary = binary;
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

	if (!conn->over_limit &&
	    evbuffer_get_length(out) < daemon_opts.output_hwm)
		return false;
	conn->was_blocked = true;
	return true;
}

/* Whether output for CONN is still taken: not once it is closing or past
 * its limit. */
static bool
conn_writable(const struct conn *conn)
{
	return !conn->closing && !conn->over_limit;
}

struct evbuffer *
conn_output(struct conn *conn)
{
	return conn_writable(conn) ? bufferevent_get_output(conn->bev) : NULL;
}

void
conn_send(struct conn *conn, const void *data, size_t len)
{
	if (conn_writable(conn))
		evbuffer_add(bufferevent_get_output(conn->bev), data, len);
}

void
conn_send_buffer(struct conn *conn, struct evbuffer *buf)
{
	if (conn_writable(conn))
		evbuffer_add_buffer(bufferevent_get_output(conn->bev), buf);
	else
		evbuffer_drain(buf, evbuffer_get_length(buf));
}

void
conn_send_json(struct conn *conn, struct json_object *msg)
{
	if (conn_writable(conn))
		jsonrpc_write(bufferevent_get_output(conn->bev), msg);
}

static struct user_conns *
user_conns_get(uid_t uid, bool create)
{
	struct user_conns *u;

	TAILQ_FOREACH(u, &users, link)
		if (u->uid == uid)
			return u;
	if (!create)
		return NULL;
	u = xcalloc(1, sizeof *u);
	u->uid = uid;
	TAILQ_INSERT_TAIL(&users, u, link);
	return u;
}

static void
user_conns_put(struct user_conns *u)
{
	if (--u->n == 0) {
		TAILQ_REMOVE(&users, u, link);
		free(u);
	}
}

static void
conn_close(struct conn *conn)
{
	if (conn->closing)
		return;
	conn->closing = true;
	bufferevent_disable(conn->bev, EV_READ | EV_WRITE);
	evtimer_del(conn->request_ev);
	evtimer_del(conn->hwm_ev);
	handlers.closed(conn);
	TAILQ_REMOVE(&conns, conn, link);
	TAILQ_INSERT_TAIL(&dead, conn, link);
	nconns--;
	user_conns_put(conn->user);
	conn->user = NULL;
	event_active(reaper_ev, 0, 0);
}

/* Closes CONN and says why, in a warning about a client. */
static void
conn_close_for(struct conn *conn, const char *why)
{
	log_client("connection of uid %u pid %d closed: %s",
		   (unsigned)conn->peer.uid, (int)conn->peer.pid, why);
	conn_close(conn);
}

static void accept_resume(void);

static void
reaper_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	struct conn *conn;

	while ((conn = TAILQ_FIRST(&dead)) != NULL) {
		TAILQ_REMOVE(&dead, conn, link);
		evbuffer_remove_cb_entry(bufferevent_get_output(conn->bev),
					 conn->output_cb);
		bufferevent_free(conn->bev);
		event_free(conn->request_ev);
		event_free(conn->hwm_ev);
		free(conn);
	}
	/* Descriptors were closed: room to accept again, maybe. */
	if (fds.paused)
		accept_resume();
}

/* Closes the connections found past --output-limit: outside their
 * callbacks and outside any loop over watchers that wrote to them. */
static void
limit_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	struct conn *conn, *next;
	char why[128];

	for (conn = TAILQ_FIRST(&conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, link);
		if (!conn->over_limit)
			continue;
		snprintf(why, sizeof why,
			 "more than %zu bytes of output waiting (--output-limit)",
			 daemon_opts.output_limit);
		conn_close_for(conn, why);
	}
}

/* Sees every change to a connection's output, whoever made it (a
 * response, an event, a batch, a replay, the socket taking bytes): the
 * one place the output limits are checked. */
static void
conn_output_cb(struct evbuffer *out UNUSED, const struct evbuffer_cb_info *info,
	       void *arg)
{
	struct conn *conn = arg;
	size_t len = info->orig_size + info->n_added - info->n_deleted;

	if (!conn_writable(conn))
		return;
	if (daemon_opts.output_limit != 0 && len > daemon_opts.output_limit) {
		/* Not closed here: the writer may be walking a list of
		 * watchers that holds this connection. */
		conn->over_limit = true;
		event_active(limit_ev, 0, 0);
		return;
	}
	if (len < daemon_opts.output_hwm) {
		if (evtimer_pending(conn->hwm_ev, NULL))
			evtimer_del(conn->hwm_ev);
	} else if (daemon_opts.output_hwm_timeout != 0 &&
		   !evtimer_pending(conn->hwm_ev, NULL)) {
		struct timeval tv = {daemon_opts.output_hwm_timeout, 0};
		evtimer_add(conn->hwm_ev, &tv);
	}
}

/* A timer of CONN ran out after SECONDS of OPTION: closes it saying
 * WHAT, unless a SIGHUP turned that timeout off (0) meanwhile. */
static void
conn_timed_out(struct conn *conn, unsigned seconds, const char *what,
	       const char *option)
{
	char why[128];

	if (conn->closing || seconds == 0)
		return;
	snprintf(why, sizeof why, "%s %u s (--%s)", what, seconds, option);
	conn_close_for(conn, why);
}

/* The output stayed past the mark for --output-hwm-timeout seconds. */
static void
conn_hwm_timeout_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	conn_timed_out(arg, daemon_opts.output_hwm_timeout,
		       "output past --output-hwm for", "output-hwm-timeout");
}

/* A request line stayed unfinished for --request-timeout seconds. */
static void
conn_request_timeout_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	conn_timed_out(arg, daemon_opts.request_timeout,
		       "request line unfinished after", "request-timeout");
}

/* Times the request line being received, if one is unfinished: from its
 * first bytes (ENDED: the previous line was just handled), not from the
 * last ones, so that a trickle does not keep it alive. */
static void
conn_time_request(struct conn *conn, bool ended)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	bool unfinished = evbuffer_get_length(in) > 0 || conn->frame.discarding;

	if (!unfinished || conn->read_eof || conn->read_paused ||
	    daemon_opts.request_timeout == 0) {
		evtimer_del(conn->request_ev);
	} else if (ended || !evtimer_pending(conn->request_ev, NULL)) {
		struct timeval tv = {daemon_opts.request_timeout, 0};
		evtimer_add(conn->request_ev, &tv);
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
		handlers.line(conn, (const char *)evbuffer_pullup(in, -1), left);
	else
		handlers.too_large(conn);
	evbuffer_drain(in, left);
}

/* Handles every complete line buffered, until output backs up. */
static void
conn_process(struct conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);
	const char *line;
	size_t len;
	bool ended = false; /* a line was handled */

	while (!conn->closing) {
		bool discarding = conn->frame.discarding;
		if (conn_blocked(conn)) {
			conn->read_paused = true;
			bufferevent_disable(conn->bev, EV_READ);
			break;
		}
		enum frame_result r = frame_next(&conn->frame, in, &line, &len);
		if (discarding && !conn->frame.discarding)
			ended = true; /* an oversized line's end came */
		if (r == FRAME_NONE) {
			if (conn->read_eof)
				conn_process_tail(conn, in);
			break;
		} else if (r == FRAME_TOO_LARGE) {
			handlers.too_large(conn);
			ended = ended || !conn->frame.discarding;
		} else {
			handlers.line(conn, line, len);
			frame_consume(&conn->frame, in);
			ended = true;
		}
	}
	if (!conn->closing)
		conn_time_request(conn, ended);
}

static void
conn_read_cb(struct bufferevent *bev UNUSED, void *arg)
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
		handlers.drained(conn);
	}
	conn_close_if_done(conn);
}

/* Whether the peer closed its end altogether, not only its sending
 * side: then nobody will read what we write. A Unix socket says so at
 * once (POLLHUP), without a write that fails. */
static bool
conn_peer_gone(struct conn *conn)
{
	struct pollfd pfd = {.fd = bufferevent_getfd(conn->bev),
			     .events = POLLOUT};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

/* The peer finished sending; we answer what it sent before closing. A
 * peer that is gone altogether gets its requests carried out, but its
 * connection does not stay for watches nobody reads (it would, until an
 * event failed to be written). */
static void
conn_read_eof(struct conn *conn)
{
	conn->read_eof = true;
	conn_process(conn);
	if (conn->closing)
		return;
	if (conn_peer_gone(conn))
		conn_close(conn);
	else
		conn_close_if_done(conn);
}

static void
conn_event_cb(struct bufferevent *bev UNUSED, short what, void *arg)
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

/* The soft RLIMIT_NOFILE, and the descriptors kept free below it. */
static unsigned
fd_limit(unsigned *reserve)
{
	struct rlimit rl;
	unsigned limit = UINT_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < UINT_MAX)
		limit = (unsigned)rl.rlim_cur;
	*reserve = limit / 4 < FD_RESERVE ? limit / 4 : FD_RESERVE;
	return limit;
}

/* Descriptors open in this process; UINT_MAX when none is left to count
 * them with, 0 without /proc. */
static unsigned
fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	unsigned n = 0;

	if (dir == NULL)
		return errno == EMFILE || errno == ENFILE ? UINT_MAX : 0;
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1; /* the directory's own */
}

/* Whether descriptors run short: those in use within the reserve of the
 * limit. NEWFD, when not -1, was just handed out; Linux hands out the
 * lowest free number, so at least NEWFD + 1 are in use. A count costs
 * about a microsecond a descriptor, so one is trusted for a second, or
 * until accepts could have used half the room it found. */
static bool
fd_short(int newfd)
{
	unsigned reserve, limit = fd_limit(&reserve), used;
	long long now = now_mono_ms();

	if (newfd >= 0 && (unsigned)newfd + 1 >= limit - reserve)
		return true;
	if (newfd >= 0 && fds.count_ms != 0 && now - fds.count_ms < 1000 &&
	    ++fds.accepts < fds.room / 2)
		return false;
	used = fd_count();
	fds.count_ms = now;
	fds.accepts = 0;
	if (used == UINT_MAX || used >= limit - reserve) {
		fds.room = 0;
		return true;
	}
	fds.room = limit - reserve - used;
	return false;
}

/* Stops accepting for want of descriptors; the connections waiting stay
 * in the backlog. A closed connection or the retry timer resumes it. */
static void
accept_pause(const char *why)
{
	static const struct timeval retry = {0, ACCEPT_RETRY_MS * 1000};

	if (listener == NULL)
		return;
	if (!fds.paused)
		log_client("not accepting connections for now: %s", why);
	fds.paused = true;
	fds.count_ms = 0; /* count again before resuming */
	evconnlistener_disable(listener);
	evtimer_add(accept_retry_ev, &retry);
}

/* Accepts again if descriptors allow, else waits for the timer. */
static void
accept_resume(void)
{
	static const struct timeval retry = {0, ACCEPT_RETRY_MS * 1000};

	if (listener == NULL || !fds.paused)
		return;
	if (fd_short(-1)) {
		if (!evtimer_pending(accept_retry_ev, NULL))
			evtimer_add(accept_retry_ev, &retry);
		return;
	}
	fds.paused = false;
	evtimer_del(accept_retry_ev);
	evconnlistener_enable(listener);
	log_info("accepting connections again");
}

/* Whether refusing foreign uid UID is news for the log: the first
 * REFUSED_UIDS uids are logged once each, later ones every time (at the
 * rate of warnings about clients). */
static bool
refused_first_time(uid_t uid)
{
	for (unsigned i = 0; i < refused.n; i++)
		if (refused.uids[i] == uid)
			return false;
	if (refused.n < REFUSED_UIDS)
		refused.uids[refused.n++] = uid;
	return true;
}

/* Whether PEER may open one more connection; logs why not. The one
 * place connections are admitted. */
static bool
server_admit(const struct peer *peer)
{
	unsigned max = daemon_opts.max_connections;
	unsigned per_user = daemon_opts.max_connections_per_user;
	unsigned root_slots = ROOT_RESERVED_CONNECTIONS < max / 2
				      ? ROOT_RESERVED_CONNECTIONS
				      : max / 2;
	struct user_conns *u;

	if (!identity_may_act_as(peer->uid)) {
		/* Without root, asyncd could not act for another user: it
		 * would act for its own with another's requests. */
		if (refused_first_time(peer->uid))
			log_client("connection of uid %u refused: this asyncd "
				   "runs as uid %u and serves only it",
				   (unsigned)peer->uid, (unsigned)server_uid);
		return false;
	}
	if (nconns >= max) {
		log_client("connection of uid %u refused: %u connections open "
			   "(--max-connections)",
			   (unsigned)peer->uid, nconns);
		return false;
	}
	if (peer->uid == 0)
		return true;
	if (nconns >= max - root_slots) {
		log_client("connection of uid %u refused: %u connections open, "
			   "the last %u of --max-connections are kept for root",
			   (unsigned)peer->uid, nconns, root_slots);
		return false;
	}
	u = user_conns_get(peer->uid, false);
	if (per_user != 0 && u != NULL && u->n >= per_user) {
		log_client("connection of uid %u refused: %u connections of "
			   "this user open (--max-connections-per-user)",
			   (unsigned)peer->uid, u->n);
		return false;
	}
	return true;
}

static void
accept_cb(struct evconnlistener *l UNUSED, evutil_socket_t fd, struct sockaddr *sa UNUSED,
	  int socklen UNUSED, void *arg UNUSED)
{
	struct conn *conn;
	struct peer peer;

	/* This one is served; the next ones wait in the backlog while
	 * descriptors are short. */
	if (fd_short(fd))
		accept_pause("descriptors are running out (RLIMIT_NOFILE)");
	if (read_peer(fd, &peer) < 0) {
		log_warn("SO_PEERCRED");
		close(fd);
		return;
	}
	if (!server_admit(&peer)) {
		metrics_connection_refused();
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
	conn->request_ev = evtimer_new(daemon_base, conn_request_timeout_cb,
				       conn);
	conn->hwm_ev = evtimer_new(daemon_base, conn_hwm_timeout_cb, conn);
	conn->user = user_conns_get(peer.uid, true);
	conn->user->n++;
	conn->output_cb = evbuffer_add_cb(bufferevent_get_output(conn->bev),
					  conn_output_cb, conn);
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
accept_retry_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	accept_resume();
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): pause, never spin. */
static void
accept_error_cb(struct evconnlistener *l UNUSED, void *arg UNUSED)
{
	char why[128];

	snprintf(why, sizeof why, "accept: %s", strerror(EVUTIL_SOCKET_ERROR()));
	accept_pause(why);
}

static void
server_setup(int fd)
{
	if (reaper_ev == NULL) {
		reaper_ev = event_new(daemon_base, -1, 0, reaper_cb, NULL);
		limit_ev = event_new(daemon_base, -1, 0, limit_cb, NULL);
		accept_retry_ev = evtimer_new(daemon_base, accept_retry_cb, NULL);
	}
	server_uid = geteuid();
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

int
server_listen_path(const char *path, int mode)
{
	int fd = socket_file_bind(path, mode);

	if (fd < 0)
		return -1;
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
	fds.paused = false;
	evtimer_del(accept_retry_ev);
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
		event_free(limit_ev);
		event_free(accept_retry_ev);
		reaper_ev = NULL;
	}
	log_client_free();
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
