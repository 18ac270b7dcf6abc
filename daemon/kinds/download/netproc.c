/* The network process, seen from the daemon (see netproc.h).
 *
 * asyncd-net parses what arbitrary servers send; the daemon believes
 * none of what it says back. A message of the wrong size, an unknown
 * error code, a hash that is not 64 hex digits or a stream that sends
 * past its window is taken for a process gone wrong: it is killed, and
 * its downloads are told they lost it (they fail, or retry, in a new
 * one). Strings are cut to their arrays and anything but printable
 * ASCII in them becomes '?', since they reach logs and JSON.
 *
 * Its exit shows as the end of the socket: it is then killed for good
 * (it may have closed the socket and gone on) and reaped at once.
 *
 * The user it runs as is looked up on the worker pool at the first
 * download (NSS may block); what the downloads send meanwhile waits in
 * order in `pending`.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../../proto/proto.h"
#include "../../log.h"
#include "../../pool.h"
#include "../../runtime.h"
#include "../../spawn.h"
#include "../../userdb.h"
#include "../../xmalloc.h"
#include "netproc.h"

/* How long a network process told to go may take before it is killed. */
#define NETPROC_EXIT_WAIT_MS 2000

extern char **environ;

struct netproc_xfer {
	uint64_t id;
	const struct netproc_events *events;
	void *arg;
	bool stream;
	uint64_t outstanding; /* stream bytes not yet credited back */
	LIST_ENTRY(netproc_xfer) link;
};

/* A message for a process not started yet. */
struct netproc_pending {
	TAILQ_ENTRY(netproc_pending) link;
	size_t len;
	int fd;
	unsigned char msg[];
};

static struct {
	char *path;       /* asyncd-net */
	bool user_known;  /* looked up (or not needed: not root) */
	struct pool_work *lookup;
	bool switch_user; /* the daemon is root: run it as `uid` */
	uid_t uid;
	gid_t gid;
	TAILQ_HEAD(, netproc_pending) pending;
	pid_t pid;
	int pidfd;
	struct wire *wire;
	bool killed; /* it sent nonsense: waiting for its end */
	LIST_HEAD(, netproc_xfer) xfers;
} np = {.pidfd = -1};

/* ---- The process ---------------------------------------------------------- */

/* asyncd-net next to this program (a build tree, or both installed in
 * one directory), else where it is installed. */
static char *
netproc_path(void)
{
	char self[PATH_MAX], *p;
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);

	if (n > 0) {
		self[n] = '\0';
		if (asprintf(&p, "%s/asyncd-net", dirname(self)) < 0)
			fatal("asprintf");
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return xstrdup(ASYNCD_LIBEXECDIR "/asyncd-net");
}

void
netproc_init(void)
{
	LIST_INIT(&np.xfers);
	TAILQ_INIT(&np.pending);
	np.path = netproc_path();
	np.user_known = geteuid() != 0;
}

/* On the pool: the user asyncd-net runs as, for a root daemon. */
static void
netproc_lookup_work(struct pool_work *w UNUSED, void *arg UNUSED)
{
	static const char *const names[] = {"asyncd-net", "nobody"};
	struct userdb_user u;

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		if (userdb_by_name(names[i], &u) != 0)
			continue;
		if (u.uid != 0) {
			np.switch_user = true;
			np.uid = u.uid;
			np.gid = u.gid;
		}
		userdb_user_free(&u);
		if (np.switch_user)
			return;
	}
}

/* Kills what is left of the process and reaps it; a description of how
 * it ended in WHY. */
static void
netproc_reap(bool kill_it, char *why, size_t size)
{
	siginfo_t si;

	if (np.pidfd < 0)
		return;
	if (kill_it)
		kill(np.pid, SIGKILL);
	memset(&si, 0, sizeof si);
	while (waitid(P_PIDFD, (id_t)np.pidfd, &si, WEXITED) < 0 &&
	       errno == EINTR)
		;
	if (si.si_code == CLD_EXITED)
		snprintf(why, size, "the network process exited with status %d",
			 si.si_status);
	else
		snprintf(why, size, "the network process was killed by signal %d%s",
			 si.si_status,
			 si.si_status == SIGSYS ? " (a call its filter refuses)"
						: "");
	close(np.pidfd);
	np.pidfd = -1;
	np.pid = 0;
}

/* Tells every transfer it lost the process, WHY, from a list of their
 * own, since a lost() may start a transfer in a new process at once. */
static void
netproc_fail_all(const char *why)
{
	LIST_HEAD(, netproc_xfer) lost = LIST_HEAD_INITIALIZER(lost);
	struct netproc_xfer *x;

	while ((x = LIST_FIRST(&np.xfers)) != NULL) {
		LIST_REMOVE(x, link);
		LIST_INSERT_HEAD(&lost, x, link);
	}
	while ((x = LIST_FIRST(&lost)) != NULL) {
		LIST_REMOVE(x, link);
		x->events->lost(x->arg, why);
		free(x);
	}
}

/* The process is gone: it is reaped, and its transfers told. */
static void
netproc_lost(void)
{
	char why[128] = "the network process ended";

	wire_free(np.wire);
	np.wire = NULL;
	np.killed = false;
	netproc_reap(true, why, sizeof why);
	if (!LIST_EMPTY(&np.xfers))
		log_warnx("%s with downloads running", why);
	netproc_fail_all(why);
}

static void netproc_msg(void *arg, void *msg, size_t len, int fd);
static void netproc_flush(void);

static void
netproc_closed(void *arg UNUSED)
{
	netproc_lost();
}

/* Starts asyncd-net with its end of a new socketpair on descriptor 3. */
static int
netproc_spawn(void)
{
	char *argv[] = {"asyncd-net", NULL}, *paths[] = {np.path, NULL};
	struct spawn_proc proc;
	struct spawn_error error;
	struct spawn_spec spec;
	int sv[2];

	if (geteuid() == 0 && !np.switch_user) {
		log_warnx("neither user asyncd-net nor nobody exists: the "
			  "network process cannot run");
		errno = ESRCH; /* no user to run it as */
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	spec = (struct spawn_spec){
		.argv = argv, .envp = environ, .paths = paths, .cwd = "/",
		.stdin_path = "/dev/null", .switch_user = np.switch_user,
		.uid = np.uid, .gid = np.gid, .helper = true,
		.channel_fd = sv[1],
	};
	if (spawn_start(&spec, &proc, &error) < 0) {
		int err = errno;
		log_warnx("cannot start %s: %s", np.path, strerror(error.err));
		close(sv[0]);
		close(sv[1]);
		errno = err;
		return -1;
	}
	close(sv[1]);
	if (evutil_make_socket_nonblocking(sv[0]) < 0)
		fatal("the network process's socket");
	np.pid = proc.pid;
	np.pidfd = proc.pidfd;
	np.wire = wire_new(daemon_base, sv[0], netproc_msg, netproc_closed,
			   NULL);
	log_info("network process %d started (uid %u)", (int)np.pid,
		 (unsigned)(np.switch_user ? np.uid : geteuid()));
	return 0;
}

static void
netproc_drop_pending(void)
{
	struct netproc_pending *p;

	while ((p = TAILQ_FIRST(&np.pending)) != NULL) {
		TAILQ_REMOVE(&np.pending, p, link);
		if (p->fd >= 0)
			close(p->fd);
		free(p);
	}
}

void
netproc_free(void)
{
	struct pollfd p;
	char why[128];

	if (np.wire == NULL)
		goto out;
	/* The end of its socket tells it to go; a clean exit lets a
	 * sanitizer build check it for leaks. */
	wire_free(np.wire);
	np.wire = NULL;
	p = (struct pollfd){.fd = np.pidfd, .events = POLLIN};
	while (poll(&p, 1, NETPROC_EXIT_WAIT_MS) < 0 && errno == EINTR)
		;
	netproc_reap(!(p.revents & POLLIN), why, sizeof why);
out:
	netproc_drop_pending();
	while (!LIST_EMPTY(&np.xfers)) {
		struct netproc_xfer *x = LIST_FIRST(&np.xfers);
		LIST_REMOVE(x, link);
		free(x);
	}
	free(np.path);
	np.path = NULL;
}

pid_t
netproc_pid(void)
{
	return np.pid;
}

/* ---- Messages from the process --------------------------------------------- */

static struct netproc_xfer *
netproc_find(uint64_t id)
{
	struct netproc_xfer *x;

	LIST_FOREACH(x, &np.xfers, link)
		if (x->id == id)
			return x;
	return NULL;
}

/* Cuts S at its array's end (SIZE) and makes it printable ASCII. */
static const char *
netproc_clean(char *s, size_t size)
{
	s[size - 1] = '\0';
	for (char *p = s; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	return s;
}

/* The error codes a transfer may end with. */
static const char *
netproc_code(const char *code)
{
	static const char *const codes[] = {
		JOBERR_NETWORK_ERROR, JOBERR_HTTP_ERROR, JOBERR_TOO_LARGE,
		JOBERR_IO_ERROR,      JOBERR_CANCELLED,	 JOBERR_INTERNAL,
	};

	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
		if (strcmp(code, codes[i]) == 0)
			return codes[i];
	return NULL;
}

/* Hands a NET_DONE to its transfer, which is forgotten; -1 when it does
 * not make sense. */
static int
netproc_done(struct netproc_xfer *x, struct net_done *m, size_t len)
{
	size_t ulen = len - sizeof *m;
	char *url = xstrndup(m->url, ulen);
	struct netproc_result r = {
		.have = m->have, .total = m->total, .status = (long)m->status,
		.fail_status = (long)m->fail_status, .fail_errno = m->fail_errno,
		.url = netproc_clean(url, ulen + 1),
	};

	netproc_clean(m->code, sizeof m->code);
	r.message = netproc_clean(m->message, sizeof m->message);
	r.content_type = netproc_clean(m->content_type, sizeof m->content_type);
	if (r.content_type[0] == '\0')
		r.content_type = NULL;
	r.sha256 = netproc_clean(m->sha256, sizeof m->sha256);
	if (m->code[0] != '\0' && (r.code = netproc_code(m->code)) == NULL) {
		free(url);
		return -1;
	}
	if (r.code == NULL &&
	    (strlen(r.sha256) != 64 ||
	     strspn(r.sha256, "0123456789abcdef") != 64)) {
		free(url);
		return -1;
	}
	LIST_REMOVE(x, link);
	x->events->done(x->arg, &r);
	free(x);
	free(url);
	return 0;
}

/* Checks one message and hands it on; -1 when it does not make sense. */
static int
netproc_dispatch(void *msg, size_t len)
{
	struct net_head *h = msg;
	struct netproc_xfer *x = netproc_find(h->id);

	switch (h->type) {
	case NET_RESPONSE: {
		struct net_response *m = msg;
		if (len != sizeof *m)
			return -1;
		if (x != NULL)
			x->events->response(x->arg, m->total,
					    netproc_clean(m->validator,
							  sizeof m->validator));
		return 0;
	}
	case NET_PROGRESS: {
		struct net_progress *m = msg;
		if (len != sizeof *m)
			return -1;
		if (x != NULL)
			x->events->progress(x->arg, m->have, m->total);
		return 0;
	}
	case NET_DATA:
		if (len > sizeof *h + NET_DATA_MAX)
			return -1;
		if (x == NULL)
			return 0;
		x->outstanding += len - sizeof *h;
		/* One write of libcurl's may pass the window when it was
		 * empty: never twice its size. */
		if (!x->stream || x->outstanding > 2 * NET_STREAM_WINDOW)
			return -1;
		x->events->data(x->arg, (char *)msg + sizeof *h,
				len - sizeof *h);
		return 0;
	case NET_LOG: {
		struct net_log *m = msg;
		if (len != sizeof *m || m->kind > NET_LOG_RETRY)
			return -1;
		if (x != NULL)
			x->events->log(x->arg, (enum net_log_kind)m->kind,
				       netproc_clean(m->text, sizeof m->text));
		return 0;
	}
	case NET_DONE:
		if (len < sizeof(struct net_done) ||
		    len > sizeof(struct net_done) + NET_URL_MAX)
			return -1;
		return x != NULL ? netproc_done(x, msg, len) : 0;
	default:
		return -1;
	}
}

static void
netproc_msg(void *arg UNUSED, void *msg, size_t len, int fd)
{
	if (fd >= 0)
		close(fd); /* nothing comes back with a descriptor */
	if (np.killed || (fd < 0 && netproc_dispatch(msg, len) == 0))
		return;
	/* Gone wrong: what it sent from now on is ignored, and the end of
	 * the socket that follows the kill brings netproc_lost(). */
	log_warnx("the network process sent a malformed message (type %u, "
		  "%zu bytes); killing it",
		  ((const struct net_head *)msg)->type, len);
	np.killed = true;
	kill(np.pid, SIGKILL);
}

/* ---- Requests to the process ----------------------------------------------- */

/* Sends MSG to the process, or keeps it (with a copy of FD) until the
 * process is there. */
static void
netproc_send(const void *msg, size_t len, int fd)
{
	struct netproc_pending *p;

	if (np.wire != NULL) {
		wire_send(np.wire, msg, len, fd);
		return;
	}
	p = xmalloc(sizeof *p + len);
	p->len = len;
	p->fd = -1;
	if (fd >= 0 && (p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		fatal("dup of a download's descriptor");
	memcpy(p->msg, msg, len);
	TAILQ_INSERT_TAIL(&np.pending, p, link);
}

/* Starts the process and sends what waited; when it cannot start, the
 * transfers are told they lost it. */
static void
netproc_flush(void)
{
	struct netproc_pending *p;
	char why[160];

	if (np.wire == NULL && netproc_spawn() < 0) {
		snprintf(why, sizeof why,
			 "cannot start the network process: %s",
			 strerror(errno));
		netproc_drop_pending();
		netproc_fail_all(why);
		return;
	}
	while ((p = TAILQ_FIRST(&np.pending)) != NULL) {
		TAILQ_REMOVE(&np.pending, p, link);
		wire_send(np.wire, p->msg, p->len, p->fd);
		if (p->fd >= 0)
			close(p->fd);
		free(p);
	}
}

static void
netproc_lookup_done(void *arg UNUSED, bool cancelled)
{
	np.lookup = NULL;
	if (cancelled) {
		/* The daemon is stopping: nothing will start. */
		netproc_drop_pending();
		netproc_fail_all("the daemon is stopping");
		return;
	}
	np.user_known = true;
	netproc_flush();
}

void
netproc_start(const struct net_start *start, size_t len, int fd,
	      const struct netproc_events *events, void *arg)
{
	struct netproc_xfer *x = xcalloc(1, sizeof *x);

	x->id = start->h.id;
	x->events = events;
	x->arg = arg;
	x->stream = fd < 0;
	LIST_INSERT_HEAD(&np.xfers, x, link);
	netproc_send(start, len, fd);
	if (np.wire != NULL)
		return;
	if (np.user_known)
		netproc_flush();
	else if (np.lookup == NULL)
		np.lookup = pool_submit(netproc_lookup_work,
					netproc_lookup_done, NULL);
}

void
netproc_hold(uint64_t id, bool held)
{
	struct net_hold m = {.h = {.type = NET_HOLD, .id = id}, .held = held};

	if (netproc_find(id) != NULL)
		netproc_send(&m, sizeof m, -1);
}

void
netproc_credit(uint64_t id, uint64_t bytes)
{
	struct net_credit m = {.h = {.type = NET_CREDIT, .id = id},
			       .bytes = bytes};
	struct netproc_xfer *x = netproc_find(id);

	if (x == NULL || bytes == 0)
		return;
	x->outstanding = bytes < x->outstanding ? x->outstanding - bytes : 0;
	netproc_send(&m, sizeof m, -1);
}

void
netproc_stop(uint64_t id, bool keep)
{
	struct net_stop m = {.h = {.type = NET_STOP, .id = id}, .keep = keep};

	if (netproc_find(id) != NULL)
		netproc_send(&m, sizeof m, -1);
}

void
netproc_forget(uint64_t id)
{
	struct netproc_xfer *x = netproc_find(id);

	if (x == NULL)
		return;
	netproc_stop(id, false);
	LIST_REMOVE(x, link);
	free(x);
}
