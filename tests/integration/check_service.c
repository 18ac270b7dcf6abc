/* asyncd as a service: socket activation through systemd-socket-activate,
 * sd_notify readiness, --idle-exit and a restart on the next connection,
 * the configuration file, and SIGHUP re-reading it. */
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"

#define SVC_MAX_CHILDREN 8

static char svc_base[32]; /* the case's directory */
static char svc_dir[64];  /* the test's, inside it */
static pid_t svc_children[SVC_MAX_CHILDREN];
static char svc_empty_conf[128];

static long long
svc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* DIR/NAME into BUF. */
static char *
svc_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", svc_dir, name);
	return buf;
}

/* Kills what a test left running and removes its directory. */
static void
svc_teardown(void)
{
	char cmd[128];

	for (int i = 0; i < SVC_MAX_CHILDREN; i++) {
		if (svc_children[i] <= 0)
			continue;
		kill(svc_children[i], SIGKILL);
		waitpid(svc_children[i], NULL, 0);
		svc_children[i] = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", svc_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", svc_dir);
}

static void
svc_setup(void)
{
	snprintf(svc_dir, sizeof svc_dir, "%s/t.XXXXXX", svc_base);
	ck_assert_ptr_nonnull(mkdtemp(svc_dir));
	chmod(svc_dir, 0755);
	/* Every daemon gets a configuration file, so that one in /etc or
	 * the home directory cannot change what the tests see. */
	svc_path(svc_empty_conf, sizeof svc_empty_conf, "empty.conf");
	write_file(svc_empty_conf, "", 0, 0644);
}

/* Around the whole case, in the runner's process: a failed test ends its
 * process at once, without its teardown, so its directory is removed
 * here. (Its children die with it: PR_SET_PDEATHSIG.) */
static void
svc_case_setup(void)
{
	snprintf(svc_base, sizeof svc_base, "/tmp/asyncd-svc.XXXXXX");
	if (mkdtemp(svc_base) == NULL) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
	chmod(svc_base, 0755);
}

static void
svc_case_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", svc_base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", svc_base);
}

static const char *
svc_activate_path(void)
{
	static const char *const names[] = {"/usr/bin/systemd-socket-activate",
					    "/bin/systemd-socket-activate"};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (access(names[i], X_OK) == 0)
			return names[i];
	ck_abort_msg("systemd-socket-activate not found (package systemd)");
	return NULL;
}

static void
svc_forget(pid_t pid)
{
	for (int i = 0; i < SVC_MAX_CHILDREN; i++)
		if (svc_children[i] == pid)
			svc_children[i] = 0;
}

struct svc_spawn {
	const char *const *argv;
	const char *const *env; /* "K=V" added to ours, NULL-terminated */
	int listen_fd;          /* passed as fd 3 with LISTEN_FDS=1, or -1 */
	const char *log;        /* stderr goes here */
	bool as_nobody;         /* drop to TEST_NOBODY first when root */
};

/* Starts a child as described; it dies with the test process. */
static pid_t
svc_start(const struct svc_spawn *sp)
{
	pid_t pid = fork();
	int slot;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int fd = open(sp->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND,
			      0644);
		int null = open("/dev/null", O_RDWR);

		dup2(fd, 2);
		dup2(null, 0);
		dup2(null, 1);
		for (int i = 0; sp->env != NULL && sp->env[i] != NULL; i++)
			putenv((char *)sp->env[i]);
		if (sp->listen_fd >= 0) {
			char buf[32];
			if (sp->listen_fd == 3)
				fcntl(3, F_SETFD, 0);
			else if (dup2(sp->listen_fd, 3) < 0)
				_exit(126);
			snprintf(buf, sizeof buf, "%d", (int)getpid());
			setenv("LISTEN_PID", buf, 1);
			setenv("LISTEN_FDS", "1", 1);
		}
		if (sp->as_nobody && geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(TEST_NOBODY) < 0 ||
		     setuid(TEST_NOBODY) < 0))
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(sp->argv[0], (char *const *)sp->argv);
		_exit(127);
	}
	for (slot = 0; slot < SVC_MAX_CHILDREN; slot++)
		if (svc_children[slot] == 0)
			break;
	ck_assert_int_lt(slot, SVC_MAX_CHILDREN);
	svc_children[slot] = pid;
	return pid;
}

/* The exit status of PID (128+signal when killed), or -1 if it is still
 * running after TIMEOUT_MS. */
static int
svc_wait_exit(pid_t pid, int timeout_ms)
{
	long long deadline = svc_now_ms() + timeout_ms;
	int status;

	do {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			svc_forget(pid);
			return WIFEXITED(status) ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
		}
		usleep(10000);
	} while (svc_now_ms() < deadline);
	return -1;
}

/* Whether the file LOG contains TEXT. */
static bool
svc_log_has(const char *log, const char *text)
{
	char *s = read_file(log, NULL);
	bool found = s != NULL && strstr(s, text) != NULL;

	free(s);
	return found;
}

/* How many times TEXT is in LOG. */
static int
svc_log_count(const char *log, const char *text)
{
	char *s = read_file(log, NULL);
	int n = 0;

	for (const char *q = s; q != NULL && (q = strstr(q, text)) != NULL;
	     q++)
		n++;
	free(s);
	return n;
}

static void
svc_wait_log(const char *log, const char *text, int timeout_ms)
{
	long long deadline = svc_now_ms() + timeout_ms;

	while (!svc_log_has(log, text)) {
		if (svc_now_ms() > deadline) {
			char *s = read_file(log, NULL);
			ck_abort_msg("no \"%s\" in the log:\n%s", text,
				     s ? s : "");
		}
		usleep(10000);
	}
}

/* Connects to SOCK served by PID as PID's user: a daemon that is not
 * root serves only its own uid. */
static struct tconn *
svc_open(const char *sock, pid_t pid)
{
	char path[64], *status, *p;
	unsigned long uid = 0, gid = 0;

	/* Once the socket exists, the daemon runs as its final user. */
	if (geteuid() != 0 || access(sock, F_OK) < 0)
		return tc_open(sock);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((status = read_file(path, NULL)) == NULL)
		return tc_open(sock);
	/* "Uid:\treal\teffective...": the effective ones. */
	if ((p = strstr(status, "\nUid:")) != NULL)
		sscanf(p + 5, "%*u %lu", &uid);
	if ((p = strstr(status, "\nGid:")) != NULL)
		sscanf(p + 5, "%*u %lu", &gid);
	free(status);
	return uid == 0 ? tc_open(sock)
			: tc_try_open_as(sock, (uid_t)uid, (gid_t)gid);
}

/* Connects to SOCK once PID serves it. */
static struct tconn *
svc_connect(const char *sock, pid_t pid, const char *log)
{
	long long deadline = svc_now_ms() + 10000;
	struct tconn *c;
	int status;

	while ((c = svc_open(sock, pid)) == NULL) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			char *s = read_file(log, NULL);
			svc_forget(pid);
			ck_abort_msg("the daemon exited (status %d):\n%s", status,
				     s ? s : "");
		}
		ck_assert_msg(svc_now_ms() < deadline, "%s: never served", sock);
		usleep(10000);
	}
	return c;
}

/* daemon.info over a new connection. */
static struct json_object *
svc_info(const char *sock, pid_t pid, const char *log)
{
	struct tconn *c = svc_connect(sock, pid, log);
	struct json_object *r = tc_call(c, "daemon.info", NULL);

	tc_close(c);
	ck_assert_ptr_nonnull(jget(r, "result"));
	return r;
}

/* The argv of asyncd with --config FILE (the empty one if NULL, none if
 * "") and EXTRA, behind PREFIX (a launcher and its options) if not NULL. */
static void
svc_argv(const char **argv, size_t max, const char *const *prefix,
	 const char *config, const char *const *extra)
{
	size_t n = 0;

	for (size_t i = 0; prefix != NULL && prefix[i] != NULL; i++)
		argv[n++] = prefix[i];
	argv[n++] = td_path("ASYNCD", "daemon/asyncd");
	if (config == NULL || config[0] != '\0') {
		argv[n++] = "--config";
		argv[n++] = config != NULL ? config : svc_empty_conf;
	}
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	/* Service tests are about starting and stopping, not about state. */
	argv[n++] = "--state-dir";
	argv[n++] = "none";
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
		ck_assert_uint_lt(n, max - 1);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
}

/* systemd-socket-activate [-l SOCK] with -E for NOTIFY (if not NULL) and
 * the sanitizer settings, since it passes no other environment. */
static void
svc_activate_prefix(const char **prefix, const char *sock, const char *notify)
{
	static const char *const pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS",
					   "LSAN_OPTIONS"};
	static char notify_env[160];
	size_t n = 0;

	prefix[n++] = svc_activate_path();
	if (sock != NULL) {
		prefix[n++] = "-l";
		prefix[n++] = sock;
	}
	if (notify != NULL) {
		snprintf(notify_env, sizeof notify_env, "NOTIFY_SOCKET=%s",
			 notify);
		prefix[n++] = "-E";
		prefix[n++] = notify_env;
	}
	for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++)
		if (getenv(pass[i]) != NULL) {
			prefix[n++] = "-E";
			prefix[n++] = pass[i];
		}
	prefix[n] = NULL;
}

/* A datagram socket for sd_notify messages: a path, or with a leading
 * '@' an abstract name. */
static int
svc_notify_open(const char *name)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(len, sizeof sun.sun_path);
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					  len)),
			 0);
	return fd;
}

/* Waits for a notify message with the line LINE ("READY=1") or, when
 * LINE ends in '=', a line starting with it; returns that line. */
static char *
svc_notify_expect(int fd, const char *line, int timeout_ms)
{
	long long deadline = svc_now_ms() + timeout_ms;
	char seen[4096] = "";
	size_t len = strlen(line);

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = deadline - svc_now_ms();
		char msg[1024], *save = NULL;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			ck_abort_msg("no %s from the daemon; got: %s", line, seen);
		n = recv(fd, msg, sizeof msg - 1, 0);
		ck_assert_int_gt(n, 0);
		msg[n] = '\0';
		strncat(seen, msg, sizeof seen - strlen(seen) - 2);
		strcat(seen, "|");
		for (char *l = strtok_r(msg, "\n", &save); l != NULL;
		     l = strtok_r(NULL, "\n", &save))
			if (line[len - 1] == '=' ? strncmp(l, line, len) == 0
						 : strcmp(l, line) == 0)
				return strdup(l);
	}
}

/* A listening socket at PATH, held by the test as a socket unit would. */
static int
svc_listen(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	return fd;
}

/* The first bytes of /proc/PID/comm. */
static void
svc_comm(pid_t pid, char *buf, size_t size)
{
	char path[64];
	FILE *fp;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	if ((fp = fopen(path, "r")) != NULL) {
		if (fgets(buf, (int)size, fp) == NULL)
			buf[0] = '\0';
		fclose(fp);
	}
}

/* Whether PID runs asyncd yet (comm is the first 15 bytes of its name). */
static bool
svc_runs_asyncd(pid_t pid)
{
	const char *path = td_path("ASYNCD", "daemon/asyncd");
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char comm[32];

	svc_comm(pid, comm, sizeof comm);
	comm[strcspn(comm, "\n")] = '\0';
	return comm[0] != '\0' && strncmp(comm, base, 15) == 0;
}

static bool
svc_is_socket(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* systemd-socket-activate -l SOCK: asyncd starts on the first connection,
 * serves the passed socket (not its own --socket), reports READY=1 and
 * STOPPING=1, and leaves the socket file it did not create. */
START_TEST(test_activation_first_connection)
{
	char sock[128], own[128], notify_path[128], log[128], *line;
	const char *prefix[16], *argv[32];
	const char *extra[] = {"--socket", own, NULL};
	struct json_object *r;
	struct tconn *c;
	int notify;
	pid_t pid;

	svc_path(sock, sizeof sock, "activated.sock");
	svc_path(own, sizeof own, "own.sock");
	svc_path(notify_path, sizeof notify_path, "notify");
	svc_path(log, sizeof log, "asyncd.log");
	notify = svc_notify_open(notify_path);
	svc_activate_prefix(prefix, sock, notify_path);
	svc_argv(argv, 32, prefix, NULL, extra);
	pid = svc_start(&(struct svc_spawn){argv, NULL, -1, log, false});

	/* The launcher listens; asyncd is not running yet. */
	for (int i = 0; i < 500 && !svc_is_socket(sock); i++)
		usleep(10000);
	ck_assert_msg(svc_is_socket(sock), "%s was not created", sock);
	usleep(200000);
	ck_assert_msg(!svc_runs_asyncd(pid),
		      "asyncd started before any connection");

	c = tc_open(sock);
	ck_assert_ptr_nonnull(c);
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}");
	r = tc_recv(c, 10000);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(jint(r, "id"), 1);
	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	/* The launcher execs asyncd: same process. */
	ck_assert_int_eq(jint(r, "result.pid"), pid);
	json_object_put(r);
	tc_close(c);
	ck_assert(svc_runs_asyncd(pid));

	free(svc_notify_expect(notify, "READY=1", 5000));
	ck_assert_msg(access(own, F_OK) < 0,
		      "asyncd bound its own socket despite activation");

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	line = svc_notify_expect(notify, "STOPPING=1", 5000);
	free(line);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
	ck_assert_msg(svc_is_socket(sock),
		      "asyncd removed the socket file it inherited");
	close(notify);
}
END_TEST

/* Activation and notify are spoken by their protocols, and the journal
 * target loads libsystemd only when chosen: the daemon does not link it,
 * whose six dependencies were most of its start-up. */
START_TEST(test_daemon_does_not_link_libsystemd)
{
	char *argv[] = {"ldd", (char *)td_path("ASYNCD", "daemon/asyncd"), NULL};
	struct run_result rr;

	run_program(argv, NULL, NULL, -1, &rr);
	ck_assert_int_eq(rr.status, 0);
	ck_assert_ptr_nonnull(strstr(rr.out, "libc.so"));
	ck_assert_msg(strstr(rr.out, "libsystemd") == NULL, "%s", rr.out);
	run_result_free(&rr);
}
END_TEST

/* sd_notify on an abstract-namespace socket: READY=1 only once the socket
 * is served, a STATUS= with job counts, RELOADING=1 then READY=1 on
 * SIGHUP, STOPPING=1 on SIGTERM. */
START_TEST(test_notify_abstract)
{
	char sock[128], log[128], name[64], env[96], *status;
	const char *argv[32];
	const char *extra[] = {"--socket", sock, NULL};
	const char *envv[] = {env, NULL};
	struct json_object *r;
	int notify;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	snprintf(name, sizeof name, "@asyncd-check-service-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", name);
	notify = svc_notify_open(name);
	svc_argv(argv, 32, NULL, NULL, extra);
	pid = svc_start(&(struct svc_spawn){argv, envv, -1, log, false});

	free(svc_notify_expect(notify, "READY=1", 10000));
	/* Ready means serving: the first connection works at once. */
	struct tconn *c = tc_open(sock);
	ck_assert_msg(c != NULL, "READY=1 before the socket was served");
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.pid"), pid);
	json_object_put(r);
	tc_close(c);

	status = svc_notify_expect(notify, "STATUS=", 10000);
	ck_assert_msg(strstr(status, "queued") != NULL &&
			      strstr(status, "running") != NULL,
		      "STATUS without job counts: %s", status);
	free(status);

	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	free(svc_notify_expect(notify, "RELOADING=1", 5000));
	free(svc_notify_expect(notify, "READY=1", 5000));

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	free(svc_notify_expect(notify, "STOPPING=1", 5000));
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
	close(notify);
}
END_TEST

/* Starts systemd-socket-activate with the test's listening socket LFD
 * (as systemd hands a socket unit's socket to the service); it waits
 * for a connection and then execs asyncd --idle-exit 1. */
static pid_t
svc_start_activated(int lfd, const char *log)
{
	static const char *prefix[16], *argv[32];
	static const char *const extra[] = {"--idle-exit", "1", "--socket",
					    "/nonexistent/asyncd.sock", NULL};

	svc_activate_prefix(prefix, NULL, NULL);
	svc_argv(argv, 32, prefix, NULL, extra);
	return svc_start(&(struct svc_spawn){argv, NULL, lfd, log, false});
}

/* --idle-exit under socket activation: asyncd exits with 0 once idle, the
 * socket stays, and a connection made while no daemon runs is served by
 * the next one. An open connection keeps the daemon alive. */
START_TEST(test_idle_exit_and_restart)
{
	char sock[128], log1[128], log2[128];
	struct json_object *r;
	struct tconn *c;
	pid_t pid1, pid2;
	int lfd;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log1, sizeof log1, "asyncd1.log");
	svc_path(log2, sizeof log2, "asyncd2.log");
	lfd = svc_listen(sock);

	pid1 = svc_start_activated(lfd, log1);
	usleep(200000);
	ck_assert_msg(!svc_runs_asyncd(pid1),
		      "asyncd started before any connection");
	c = tc_open(sock);
	ck_assert_ptr_nonnull(c);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.pid"), pid1);
	json_object_put(r);
	/* Longer than --idle-exit with a client connected. */
	usleep(2500000);
	ck_assert_msg(svc_wait_exit(pid1, 0) < 0,
		      "asyncd exited with a client connected");
	r = tc_call(c, "daemon.info", NULL);
	json_object_put(r);
	tc_close(c);
	ck_assert_int_eq(svc_wait_exit(pid1, 10000), 0);
	ck_assert(svc_log_has(log1, "idle"));

	/* Nothing runs now; the held socket queues the next client. */
	c = tc_open(sock);
	ck_assert_ptr_nonnull(c);
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"daemon.info\"}");
	pid2 = svc_start_activated(lfd, log2);
	r = tc_recv(c, 10000);
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(jint(r, "id"), 7);
	ck_assert_int_eq(jint(r, "result.pid"), pid2);
	ck_assert_int_ne(pid1, pid2);
	json_object_put(r);
	tc_close(c);
	ck_assert_int_eq(svc_wait_exit(pid2, 10000), 0);
	close(lfd);
}
END_TEST

/* Starts asyncd on SOCK, without a launcher, with --config CONFIG (NULL:
 * the empty file; "": no --config) and EXTRA. */
static pid_t
svc_start_daemon(const char *sock, const char *config,
		 const char *const *extra, const char *log,
		 const char *const *env, bool as_nobody)
{
	const char *argv[40], *all[32];
	size_t n = 0;

	all[n++] = "--socket";
	all[n++] = sock;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 31; i++)
		all[n++] = extra[i];
	all[n] = NULL;
	svc_argv(argv, 40, NULL, config, all);
	return svc_start(&(struct svc_spawn){argv, env, -1, log, as_nobody});
}

/* --idle-exit on a socket of its own: not while a job runs, then exit 0
 * and remove the socket file it created. */
START_TEST(test_idle_exit_own_socket)
{
	char sock[128], log[128];
	const char *extra[] = {"--idle-exit", "1", NULL};
	struct json_object *r;
	struct tconn *c;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	pid = svc_start_daemon(sock, NULL, extra, log, NULL, false);
	c = svc_connect(sock, pid, log);
	r = tc_call(c, "job.submit",
		    "{\"kind\":\"sleep\",\"args\":{\"ms\":2500},\"watch\":false}");
	ck_assert_ptr_nonnull(jget(r, "result.job"));
	json_object_put(r);
	tc_close(c);
	/* Idle connections, but the job is unfinished. */
	usleep(1800000);
	ck_assert_msg(svc_wait_exit(pid, 0) < 0,
		      "asyncd exited with a job running");
	ck_assert_int_eq(svc_wait_exit(pid, 10000), 0);
	ck_assert_msg(access(sock, F_OK) < 0, "the socket file stayed");
}
END_TEST

/* Every key reaches daemon.info's limits; comments, blank lines,
 * indentation, ':' and inline comments are understood. */
START_TEST(test_config_limits)
{
	static const char conf[] =
		"# asyncd test configuration\n"
		"\n"
		"max-queued = 7\n"
		"  max-queued-per-user=3\n"
		"keep-finished : 11 ; an inline comment\n"
		"max-connections = 17\n"
		"; another comment\n"
		"max-request = 4096\n"
		"output-hwm = 65536\n"
		"max-running = sleep=2\n";
	char sock[128], log[128], path[128];
	struct json_object *r;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	write_file(path, conf, strlen(conf), 0644);
	pid = svc_start_daemon(sock, path, NULL, log, NULL, false);
	r = svc_info(sock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 7);
	ck_assert_int_eq(jint(r, "result.limits.max_queued_per_user"), 3);
	ck_assert_int_eq(jint(r, "result.limits.keep_finished"), 11);
	ck_assert_int_eq(jint(r, "result.limits.max_connections"), 17);
	ck_assert_int_eq(jint(r, "result.limits.max_request"), 4096);
	ck_assert_int_eq(jint(r, "result.limits.output_hwm"), 65536);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 2);
	json_object_put(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

/* The command line wins over the file, key by key. */
START_TEST(test_config_command_line_wins)
{
	static const char conf[] = "max-queued = 7\n"
				   "keep-finished = 11\n"
				   "max-running = sleep=2\n";
	const char *extra[] = {"--max-queued", "9", "--max-running=sleep=5",
			       NULL};
	char sock[128], log[128], path[128];
	struct json_object *r;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	write_file(path, conf, strlen(conf), 0644);
	pid = svc_start_daemon(sock, path, extra, log, NULL, false);
	r = svc_info(sock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 9);
	ck_assert_int_eq(jint(r, "result.limits.keep_finished"), 11);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 5);
	json_object_put(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

/* A bad file stops the daemon at start with FILE:LINE on stderr. */
START_TEST(test_config_errors)
{
	static const struct {
		const char *conf;
		int line;
		const char *text;
	} cases[] = {
		{"max-queued = 5\n# fine\nno-such-key = 1\n", 3, "no-such-key"},
		{"keep-finished = 5\nmax-queued-per-user = many\n", 2, "many"},
		{"max-queued = 5\n[asyncd]\nmax-queued = 6\n", 2, "section"},
		{"max-request = 12\n", 1, "max-request"},
		/* json-c takes a length as an int. */
		{"max-request = 2147483648\n", 1, "2147483647"},
		{"log-level = loud\n", 1, "loud"},
		{"max-queued\n", 1, "KEY = VALUE"},
		{"config = /etc/other.conf\n", 1, "config"},
	};
	char sock[128], log[128], path[128], where[160];

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		pid_t pid;
		int status;

		write_file(path, cases[i].conf, strlen(cases[i].conf), 0644);
		pid = svc_start_daemon(sock, path, NULL, log, NULL, false);
		status = svc_wait_exit(pid, 10000);
		ck_assert_msg(status > 0 && status < 128,
			      "case %zu: exit status %d", i, status);
		snprintf(where, sizeof where, "%s:%d: ", path, cases[i].line);
		ck_assert_msg(svc_log_has(log, where), "case %zu: no %s", i,
			      where);
		ck_assert_msg(svc_log_has(log, cases[i].text),
			      "case %zu: no %s", i, cases[i].text);
		ck_assert_msg(access(sock, F_OK) < 0, "case %zu: it listened",
			      i);
	}
}
END_TEST

/* --config names a file that must exist; the default file may be missing. */
START_TEST(test_config_missing)
{
	char sock[128], log[128], path[128], home[128], xdg[160], conf[200];
	char env_xdg[200], env_home[200], usock[200];
	const char *env[] = {env_xdg, env_home, NULL};
	struct json_object *r;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "missing.conf");
	pid = svc_start_daemon(sock, path, NULL, log, NULL, false);
	ck_assert_int_eq(svc_wait_exit(pid, 10000), 1);
	ck_assert(svc_log_has(log, path));

	/* A user's daemon reads $XDG_CONFIG_HOME/asyncd/asyncd.conf. */
	svc_path(home, sizeof home, "home");
	ck_assert_int_eq(mkdir(home, 0755), 0);
	snprintf(xdg, sizeof xdg, "%s/xdg", home);
	snprintf(env_xdg, sizeof env_xdg, "XDG_CONFIG_HOME=%s", xdg);
	snprintf(env_home, sizeof env_home, "HOME=%s", home);
	snprintf(usock, sizeof usock, "%s/asyncd.sock", home);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(home, TEST_NOBODY, TEST_NOBODY), 0);
	pid = svc_start_daemon(usock, "", NULL, log, env, true);
	r = svc_info(usock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 1000000);
	json_object_put(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);

	snprintf(conf, sizeof conf, "%s/asyncd", xdg);
	ck_assert_int_eq(mkdir(xdg, 0755), 0);
	ck_assert_int_eq(mkdir(conf, 0755), 0);
	snprintf(conf, sizeof conf, "%s/asyncd/asyncd.conf", xdg);
	write_file(conf, "max-queued = 13\n", 16, 0644);
	pid = svc_start_daemon(usock, "", NULL, log, env, true);
	r = svc_info(usock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 13);
	json_object_put(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

/* SIGHUP applies changed run-time limits, keeps command-line values,
 * ignores keys that apply only at start, and changes nothing when the
 * file has an error. */
START_TEST(test_sighup_reload)
{
	static const char conf1[] = "max-queued = 7\n"
				    "max-queued-per-user = 5\n"
				    "max-running = sleep=2\n";
	static const char conf2[] = "max-queued = 8\n"
				    "max-queued-per-user = 6\n"
				    "max-running = sleep=3\n"
				    "keep-finished = 21\n"
				    "workers = 3\n";
	static const char conf3[] = "max-queued = 9\n"
				    "keep-finished = oops\n";
	const char *extra[] = {"--max-queued-per-user", "4", NULL};
	char sock[128], log[128], path[128];
	struct json_object *r;
	long long deadline;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	write_file(path, conf1, strlen(conf1), 0644);
	pid = svc_start_daemon(sock, path, extra, log, NULL, false);
	r = svc_info(sock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 7);
	ck_assert_int_eq(jint(r, "result.limits.max_queued_per_user"), 4);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 2);
	json_object_put(r);

	write_file(path, conf2, strlen(conf2), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	deadline = svc_now_ms() + 10000;
	for (;;) {
		r = svc_info(sock, pid, log);
		if (jint(r, "result.limits.max_queued") == 8)
			break;
		json_object_put(r);
		ck_assert_msg(svc_now_ms() < deadline, "SIGHUP changed nothing");
		usleep(20000);
	}
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 3);
	ck_assert_int_eq(jint(r, "result.limits.keep_finished"), 21);
	ck_assert_int_eq(jint(r, "result.limits.max_queued_per_user"), 4);
	json_object_put(r);
	svc_wait_log(log, "workers takes effect only at start", 5000);

	write_file(path, conf3, strlen(conf3), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	svc_wait_log(log, "not re-read", 10000);
	ck_assert(svc_log_has(log, ":2: keep-finished"));
	r = svc_info(sock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 8);
	ck_assert_int_eq(jint(r, "result.limits.keep_finished"), 21);
	json_object_put(r);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

/* Waits until daemon.info's PATH is WANT, after a SIGHUP. */
static void
svc_wait_limit(const char *sock, pid_t pid, const char *log, const char *path,
	       int64_t want)
{
	long long deadline = svc_now_ms() + 10000;
	struct json_object *r;

	for (;;) {
		r = svc_info(sock, pid, log);
		int64_t have = jint(r, path);
		json_object_put(r);
		if (have == want)
			return;
		ck_assert_msg(svc_now_ms() < deadline, "%s: %lld, not %lld", path,
			      (long long)have, (long long)want);
		usleep(20000);
	}
}

/* The default per-user cap follows max-running across a SIGHUP; one set
 * in the file stays whatever max-running becomes; one set on the command
 * line stays whatever the file says. */
START_TEST(test_sighup_per_user_cap)
{
	static const char conf1[] = "max-running = sleep=20\n"
				    "max-running = download=5\n";
	static const char conf2[] = "max-running = sleep=30\n"
				    "max-running = download=12\n";
	static const char conf3[] = "max-running = sleep=40\n"
				    "max-running-per-user = sleep=5\n"
				    "max-running-per-user = download=2\n";
	static const char conf4[] = "max-running = sleep=50\n"
				    "max-running-per-user = sleep=6\n"
				    "max-running-per-user = download=3\n";
	const char *extra[] = {"--max-running-per-user", "download=7", NULL};
	const char *sleep_cap = "result.limits.max_running_per_user.sleep";
	const char *dl_cap = "result.limits.max_running_per_user.download";
	char sock[128], log[128], path[128];
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	write_file(path, conf1, strlen(conf1), 0644);
	pid = svc_start_daemon(sock, path, extra, log, NULL, false);
	svc_wait_limit(sock, pid, log, sleep_cap, 18);
	svc_wait_limit(sock, pid, log, dl_cap, 7);

	write_file(path, conf2, strlen(conf2), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	svc_wait_limit(sock, pid, log, "result.limits.max_running.sleep", 30);
	svc_wait_limit(sock, pid, log, sleep_cap, 27);
	svc_wait_limit(sock, pid, log, "result.limits.max_running.download", 12);
	svc_wait_limit(sock, pid, log, dl_cap, 7);

	write_file(path, conf3, strlen(conf3), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	svc_wait_limit(sock, pid, log, "result.limits.max_running.sleep", 40);
	svc_wait_limit(sock, pid, log, sleep_cap, 5);
	svc_wait_log(log, "max-running-per-user: the command line's value stays",
		     5000);

	write_file(path, conf4, strlen(conf4), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	svc_wait_limit(sock, pid, log, "result.limits.max_running.sleep", 50);
	svc_wait_limit(sock, pid, log, sleep_cap, 6);
	svc_wait_limit(sock, pid, log, dl_cap, 7);

	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

/* A reload refuses the whole file for one unknown key or one bad value,
 * of a run-time key or not, as start-up does; the next good file
 * applies. */
START_TEST(test_sighup_refuses_a_file_with_an_unknown_key)
{
	static const char conf1[] = "max-queued = 7\n";
	static const char *const bad[] = {
		"max-queued = 8\nno-such-key = 1\n",
		"max-queued = 8\nworkers = many\n",
		"max-queued = 8\nmax-request = 2147483648\n",
	};
	static const char conf3[] = "max-queued = 9\n";
	char sock[128], log[128], path[128], where[160];
	struct json_object *r;
	long long deadline;
	pid_t pid;

	svc_path(sock, sizeof sock, "asyncd.sock");
	svc_path(log, sizeof log, "asyncd.log");
	svc_path(path, sizeof path, "asyncd.conf");
	write_file(path, conf1, strlen(conf1), 0644);
	pid = svc_start_daemon(sock, path, NULL, log, NULL, false);
	r = svc_info(sock, pid, log);
	ck_assert_int_eq(jint(r, "result.limits.max_queued"), 7);
	json_object_put(r);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(path, bad[i], strlen(bad[i]), 0644);
		ck_assert_int_eq(kill(pid, SIGHUP), 0);
		/* One "not re-read" per refused file. */
		deadline = svc_now_ms() + 10000;
		while (svc_log_count(log, "not re-read") != (int)i + 1) {
			ck_assert_msg(svc_now_ms() < deadline,
				      "file %zu was not refused", i);
			usleep(20000);
		}
		snprintf(where, sizeof where, "%s:2: ", path);
		ck_assert(svc_log_has(log, where));
		r = svc_info(sock, pid, log);
		ck_assert_msg(jint(r, "result.limits.max_queued") == 7,
			      "file %zu applied in part", i);
		json_object_put(r);
	}
	ck_assert(svc_log_has(log, "unknown option: no-such-key"));
	ck_assert(svc_log_has(log, "workers: not a count: many"));
	ck_assert(svc_log_has(log, "2147483647"));

	write_file(path, conf3, strlen(conf3), 0644);
	ck_assert_int_eq(kill(pid, SIGHUP), 0);
	deadline = svc_now_ms() + 10000;
	for (;;) {
		r = svc_info(sock, pid, log);
		if (jint(r, "result.limits.max_queued") == 9)
			break;
		json_object_put(r);
		ck_assert_msg(svc_now_ms() < deadline, "good file not applied");
		usleep(20000);
	}
	json_object_put(r);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(svc_wait_exit(pid, 15000), 0);
}
END_TEST

Suite *
service_suite(void);

Suite *
service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("service");

	tcase_add_unchecked_fixture(tc, svc_case_setup, svc_case_teardown);
	tcase_add_checked_fixture(tc, svc_setup, svc_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_activation_first_connection);
	tcase_add_test(tc, test_notify_abstract);
	tcase_add_test(tc, test_daemon_does_not_link_libsystemd);
	tcase_add_test(tc, test_idle_exit_and_restart);
	tcase_add_test(tc, test_idle_exit_own_socket);
	tcase_add_test(tc, test_config_limits);
	tcase_add_test(tc, test_config_command_line_wins);
	tcase_add_test(tc, test_config_errors);
	tcase_add_test(tc, test_config_missing);
	tcase_add_test(tc, test_sighup_reload);
	tcase_add_test(tc, test_sighup_per_user_cap);
	tcase_add_test(tc, test_sighup_refuses_a_file_with_an_unknown_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(service_suite());
}
