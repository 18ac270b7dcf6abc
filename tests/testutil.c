/* Test helpers shared by the integration suites. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../proto/line-client.h"
#include "testutil.h"

/* A connection of the tests; request ids start past a million, clear of
 * the ids tests write into their own lines. */
struct tconn {
	struct line_client *lc;
	int64_t next_id;
};

long long
td_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
td_path(const char *env, const char *fallback)
{
	const char *p = getenv(env);
	static char buf[4][512];
	static int k;

	if (p != NULL && *p != '\0')
		return p;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", ASYNCD_BUILDDIR, fallback);
	return buf[k];
}

static void
remove_tree(const char *dir)
{
	char cmd[256];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

void
test_require_root(const char *why)
{
	if (geteuid() == 0)
		return;
	printf("SKIP: needs root %s\n", why);
	fflush(stdout);
	exit(77);
}

void
td_start(struct tdaemon *d, const char *const extra[])
{
	td_start_env(d, extra, NULL);
}

void
td_start_env(struct tdaemon *d, const char *const extra[],
	     const char *const env[])
{
	td_start_how(d, extra, env, NULL);
}

void
td_start_how(struct tdaemon *d, const char *const extra[],
	     const char *const env[], const struct td_how *how)
{
	d->env = env;
	d->how = how != NULL ? *how : (struct td_how){0};
	snprintf(d->dir, sizeof d->dir, "/tmp/asyncd-test.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(d->dir));
	chmod(d->dir, 0755); /* tests connect as other users too */
	snprintf(d->sock, sizeof d->sock, "%s/asyncd.sock", d->dir);
	snprintf(d->log, sizeof d->log, "%s/asyncd.log", d->dir);
	snprintf(d->state, sizeof d->state, "%s/state", d->dir);
	if (d->how.as_uid)
		ck_assert_int_eq(chown(d->dir, d->how.uid, d->how.uid), 0);
	td_restart(d, extra);
}

void
td_restart(struct tdaemon *d, const char *const extra[])
{
	const char *asyncd = td_path("ASYNCD", "daemon/asyncd");
	char *argv[64];
	int n = 0;

	argv[n++] = (char *)asyncd;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = d->state;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	/* Never the machine's /etc/asyncd/asyncd.conf. */
	argv[n++] = "--config";
	argv[n++] = "/dev/null";
	for (int i = 0; extra != NULL && extra[i] != NULL && n < 62; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;

	d->pid = fork();
	ck_assert_int_ge(d->pid, 0);
	if (d->pid == 0) {
		/* Appended: a restarted daemon's log follows the first's. */
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 2);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		for (int i = 0; d->env != NULL && d->env[i] != NULL; i++)
			putenv((char *)d->env[i]);
		if (d->how.nofile != 0) {
			struct rlimit rl;
			getrlimit(RLIMIT_NOFILE, &rl);
			rl.rlim_cur = d->how.nofile;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				_exit(126);
		}
		if (d->how.as_uid &&
		    (setgroups(0, NULL) < 0 || setgid(d->how.uid) < 0 ||
		     setuid(d->how.uid) < 0))
			_exit(126);
		execv(asyncd, argv);
		_exit(127);
	}
	/* Ready once it answers. */
	for (int i = 0; i < 500; i++) {
		struct tconn *c;
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			ck_abort_msg("asyncd exited at start (status %d), see %s",
				     status, d->log);
		if (access(d->sock, F_OK) == 0 &&
		    (c = d->how.as_uid ? tc_try_open_as(d->sock, d->how.uid,
						    d->how.uid)
				       : tc_open(d->sock)) != NULL) {
			struct json_object *r = tc_call(c, "daemon.info", NULL);
			json_object_put(r);
			tc_close(c);
			return;
		}
		usleep(10000);
	}
	ck_abort_msg("asyncd did not start");
}

int
td_stop(struct tdaemon *d)
{
	int rc = td_halt(d, SIGTERM);

	if (rc >= 0)
		remove_tree(d->dir);
	return rc;
}

int
td_halt(struct tdaemon *d, int sig)
{
	int status = 0;

	if (d->pid <= 0)
		return -1;
	kill(d->pid, sig);
	for (int i = 0; i < 1500; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			break;
		usleep(10000);
		if (i == 1499) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &status, 0);
		}
	}
	d->pid = 0;
	/* Keep the log visible when the daemon did not stop cleanly. A
	 * sanitizer's report in it (of asyncd-net, whose stderr is the
	 * daemon's) fails the stop as the daemon's own would. */
	char *log = read_file(d->log, NULL);
	bool report = log != NULL && strstr(log, "Sanitizer") != NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || report) {
		if (sig != SIGKILL || report)
			fprintf(stderr, "asyncd log:\n%s\n", log ? log : "");
	}
	free(log);
	if (report)
		return 99;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void
th_start(struct thttpd *h)
{
	const char *prog = td_path("TESTHTTPD", "tests/httpd/testhttpd");
	char portfile[128], log[128];
	char *port = NULL;

	memset(h, 0, sizeof *h);
	snprintf(h->dir, sizeof h->dir, "/tmp/asyncd-httpd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(h->dir));
	snprintf(portfile, sizeof portfile, "%s/port", h->dir);
	snprintf(log, sizeof log, "%s/httpd.log", h->dir);
	h->pid = fork();
	ck_assert_int_ge(h->pid, 0);
	if (h->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		dup2(null, 1); /* it prints the port there too */
		execl(prog, prog, "--port", "0", "--port-file", portfile, "-v",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && (port = read_file(portfile, NULL)) == NULL;
	     i++)
		usleep(10000);
	ck_assert_msg(port != NULL, "testhttpd did not start (%s)", prog);
	snprintf(h->base, sizeof h->base, "http://127.0.0.1:%d", atoi(port));
	free(port);
}

void
th_stop(struct thttpd *h)
{
	if (h->pid > 0) {
		kill(h->pid, SIGTERM);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
	if (h->dir[0] != '\0')
		remove_tree(h->dir);
	h->dir[0] = '\0';
}

void
tf_open(struct tdaemon *d, struct tconn **c, const char *const extra[])
{
	tf_open_env(d, c, extra, NULL);
}

void
tf_open_env(struct tdaemon *d, struct tconn **c, const char *const extra[],
            const char *const env[])
{
	td_start_env(d, extra, env);
	*c = tc_open(d->sock);
	ck_assert_ptr_nonnull(*c);
}

void
tf_close(struct tdaemon *d, struct tconn **c)
{
	tc_close(*c);
	*c = NULL;
	if (d->pid > 0)
		ck_assert_int_eq(td_stop(d), 0);
}

void
tnss_init(struct tnss *n, const char *passwd, const char *group)
{
	const char *asan = getenv("ASAN_OPTIONS");

	snprintf(n->dir, sizeof n->dir, "/tmp/asyncd-nss.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(n->dir));
	chmod(n->dir, 0755); /* a daemon may switch to other users */
	snprintf(n->passwd, sizeof n->passwd, "%s/passwd", n->dir);
	snprintf(n->group, sizeof n->group, "%s/group", n->dir);
	write_file(n->passwd, passwd, strlen(passwd), 0644);
	write_file(n->group, group, strlen(group), 0644);
	snprintf(n->env_passwd, sizeof n->env_passwd, "NSS_WRAPPER_PASSWD=%s",
	         n->passwd);
	snprintf(n->env_group, sizeof n->env_group, "NSS_WRAPPER_GROUP=%s",
	         n->group);
	/* An ASan build aborts when a preloaded library comes before libasan.
	 * nss_wrapper replaces only NSS functions, whose ASan checks the
	 * daemon's look-ups can do without, so the order may stay. */
	snprintf(n->env_asan, sizeof n->env_asan,
	         "ASAN_OPTIONS=%s%sverify_asan_link_order=0", asan ? asan : "",
	         asan && *asan ? ":" : "");
	n->env[0] = "LD_PRELOAD=libnss_wrapper.so";
	n->env[1] = n->env_passwd;
	n->env[2] = n->env_group;
	n->env[3] = n->env_asan;
	n->env[4] = NULL;
}

void
tnss_replace(const char *path, const char *text)
{
	char tmp[160];
	struct stat st;
	struct timespec times[2];
	int fd;

	ck_assert_int_eq(stat(path, &st), 0);
	snprintf(tmp, sizeof tmp, "%s.new", path);
	write_file(tmp, text, strlen(text), 0644);
	/* File times move in clock ticks of a few milliseconds: a change
	 * right after a look-up could otherwise keep the old time. */
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_sec++;
	fd = open(tmp, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(futimens(fd, times), 0);
	close(fd);
	/* A new file, as vipw and useradd write it: nss_wrapper reloads a
	 * file only when it was replaced or its time in seconds moved. */
	ck_assert_int_eq(rename(tmp, path), 0);
}

void
tnss_write_in_place(const char *path, const char *text)
{
	struct stat st;
	struct timespec times[2];
	int fd;

	ck_assert_int_eq(stat(path, &st), 0);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	/* nss_wrapper reloads a file whose time in seconds moved. */
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	times[1].tv_sec++;
	ck_assert_int_eq(futimens(fd, times), 0);
	close(fd);
}

void
tnss_free(struct tnss *n)
{
	remove_tree(n->dir);
}

/* A line from the daemon that is not JSON fails the test. */
static void
tc_not_json(void *arg UNUSED, const char *line, size_t len)
{
	ck_abort_msg("not JSON: %.*s", (int)(len > 200 ? 200 : len), line);
}

struct tconn *
tc_open(const char *sock)
{
	struct line_client *lc = line_client_connect(sock);
	struct tconn *c;

	if (lc == NULL)
		return NULL;
	c = calloc(1, sizeof *c);
	ck_assert_ptr_nonnull(c);
	c->lc = lc;
	line_client_on_bad_line(lc, tc_not_json, NULL);
	return c;
}

struct tconn *
tc_try_open_as(const char *sock, uid_t uid, gid_t gid)
{
	struct tconn *c;

	ck_assert_msg(geteuid() == 0,
	              "connecting as uid %u needs root: "
	              "the case belongs in a _root program",
	              (unsigned)uid);
	/* SO_PEERCRED records the effective ids at connect(). */
	ck_assert_int_eq(setegid(gid), 0);
	ck_assert_int_eq(seteuid(uid), 0);
	c = tc_open(sock);
	ck_assert_int_eq(seteuid(0), 0);
	ck_assert_int_eq(setegid(0), 0);
	return c;
}

struct tconn *
tc_open_as(const char *sock, uid_t uid, gid_t gid)
{
	struct tconn *c = tc_try_open_as(sock, uid, gid);

	ck_assert_ptr_nonnull(c);
	return c;
}

void
tc_close(struct tconn *c)
{
	if (c == NULL)
		return;
	line_client_free(c->lc);
	free(c);
}

int
tc_fd(struct tconn *c)
{
	return line_client_fd(c->lc);
}

void
tc_shutdown_write(struct tconn *c)
{
	shutdown(line_client_fd(c->lc), SHUT_WR);
}

void
tc_send_raw(struct tconn *c, const char *line, size_t len)
{
	ck_assert_msg(line_client_write(c->lc, line, len) == 0, "send: %s",
		      strerror(errno));
}

void
tc_send(struct tconn *c, const char *fmt, ...)
{
	char *line;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	tc_send_raw(c, line, (size_t)n);
	tc_send_raw(c, "\n", 1);
	free(line);
}

/* The tests' timeouts: a negative one (a deadline passed) waits not at
 * all, where the line client would wait for ever. */
static int
tc_timeout(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : timeout_ms;
}

struct json_object *
tc_recv(struct tconn *c, int timeout_ms)
{
	enum line_client_status st;

	return line_client_recv(c->lc, tc_timeout(timeout_ms), &st);
}

bool
tc_eof(struct tconn *c, int timeout_ms)
{
	return line_client_wait_closed(c->lc, tc_timeout(timeout_ms));
}

struct json_object *
tc_call(struct tconn *c, const char *method, const char *params_fmt, ...)
{
	int64_t id = ++c->next_id + 1000000;
	enum line_client_status st;
	struct json_object *msg;
	char *params = NULL;
	va_list ap;

	if (params_fmt != NULL) {
		va_start(ap, params_fmt);
		ck_assert_int_ge(vasprintf(&params, params_fmt, ap), 0);
		va_end(ap);
		tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\",\"params\":%s}",
			(long long)id, method, params);
	} else {
		tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\"}",
			(long long)id, method);
	}
	free(params);
	msg = line_client_await_response(c->lc, id, 10000, &st);
	ck_assert_msg(msg != NULL, "no response to %s", method);
	return msg;
}

struct json_object *
tc_event(struct tconn *c, int timeout_ms)
{
	enum line_client_status st;

	return line_client_next(c->lc, tc_timeout(timeout_ms), &st);
}

/* Whether MSG is the job.completed or job.failed of the job *ARG. */
static bool
tc_is_end_of(void *arg, struct json_object *msg)
{
	const char *m = jstr(msg, "method");

	return m != NULL &&
	       (strcmp(m, "job.completed") == 0 || strcmp(m, "job.failed") == 0) &&
	       jint(msg, "params.id") == *(int64_t *)arg;
}

struct json_object *
tc_wait_end(struct tconn *c, int64_t id, int timeout_ms)
{
	enum line_client_status st;
	struct json_object *msg;

	msg = line_client_await(c->lc, tc_is_end_of, &id, tc_timeout(timeout_ms),
				&st);
	ck_assert_msg(msg != NULL, "job %lld did not end in time", (long long)id);
	return msg;
}

int64_t
tc_submit(struct tconn *c, const char *params_fmt, ...)
{
	char *params;
	va_list ap;

	va_start(ap, params_fmt);
	ck_assert_int_ge(vasprintf(&params, params_fmt, ap), 0);
	va_end(ap);
	struct json_object *r = tc_call(c, "job.submit", "%s", params);
	ck_assert_msg(jget(r, "result") != NULL, "submit %s failed: %s", params,
		      json_object_to_json_string(r));
	int64_t id = jint(r, "result.job.id");
	json_object_put(r);
	free(params);
	return id;
}

struct json_object *
jget(struct json_object *obj, const char *path)
{
	char *copy = strdup(path), *save = NULL;

	for (char *t = strtok_r(copy, ".", &save); t && obj; t = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(obj, json_type_array)) {
			obj = json_object_array_get_idx(obj, (size_t)atoi(t));
		} else if (!json_object_is_type(obj, json_type_object) ||
			   !json_object_object_get_ex(obj, t, &obj)) {
			obj = NULL;
		}
	}
	free(copy);
	return obj;
}

int64_t
jint(struct json_object *obj, const char *path)
{
	struct json_object *v = jget(obj, path);

	ck_assert_msg(v != NULL && json_object_is_type(v, json_type_int),
		      "%s is not an integer in %s", path,
		      obj ? json_object_to_json_string(obj) : "NULL");
	return json_object_get_int64(v);
}

const char *
jstr(struct json_object *obj, const char *path)
{
	struct json_object *v = jget(obj, path);

	return v != NULL && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

bool
jnull(struct json_object *obj, const char *path)
{
	struct json_object *parent = obj;
	const char *dot = strrchr(path, '.');
	const char *last = dot ? dot + 1 : path;
	struct json_object *v;

	if (dot != NULL) {
		char *head = strndup(path, (size_t)(dot - path));
		parent = jget(obj, head);
		free(head);
	}
	return parent != NULL && json_object_object_get_ex(parent, last, &v) && v == NULL;
}

void
assert_rpc_error(struct json_object *r, int code, const char *field)
{
	ck_assert_msg(r != NULL, "no response");
	ck_assert_msg(jget(r, "error") != NULL, "expected error %d, got %s", code,
		      json_object_to_json_string(r));
	ck_assert_int_eq(jint(r, "error.code"), code);
	ck_assert_ptr_nonnull(jstr(r, "error.message"));
	if (field != NULL)
		ck_assert_str_eq(jstr(r, "error.data.field"), field);
}

static void
drain_fd(int fd, char **buf, size_t *len)
{
	size_t cap = 4096;
	ssize_t n;

	*buf = malloc(cap + 1);
	*len = 0;
	while ((n = read(fd, *buf + *len, cap - *len)) > 0 || (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		*len += (size_t)n;
		if (*len == cap) {
			cap *= 2;
			*buf = realloc(*buf, cap + 1);
		}
	}
	(*buf)[*len] = '\0';
}

void
run_program(char *const argv[], const char *stdin_data, const char *env_set,
	    int uid, struct run_result *r)
{
	char out_tmpl[] = "/tmp/asyncd-test-out.XXXXXX";
	char err_tmpl[] = "/tmp/asyncd-test-err.XXXXXX";
	int out = mkstemp(out_tmpl), err = mkstemp(err_tmpl);
	int in_pipe[2];
	int status;
	pid_t pid;

	ck_assert_int_ge(out, 0);
	ck_assert_int_ge(err, 0);
	ck_assert_int_eq(pipe(in_pipe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in_pipe[0], 0);
		dup2(out, 1);
		dup2(err, 2);
		close(in_pipe[1]);
		if (env_set != NULL)
			putenv((char *)env_set);
		if (uid >= 0 && (setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0))
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in_pipe[0]);
	if (stdin_data != NULL)
		(void)!write(in_pipe[1], stdin_data, strlen(stdin_data));
	close(in_pipe[1]);
	waitpid(pid, &status, 0);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	lseek(out, 0, SEEK_SET);
	lseek(err, 0, SEEK_SET);
	drain_fd(out, &r->out, &r->out_len);
	drain_fd(err, &r->err, &r->err_len);
	close(out);
	close(err);
	unlink(out_tmpl);
	unlink(err_tmpl);
}

void
run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
}

void
write_file(const char *path, const void *data, size_t len, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		ck_assert_msg(n > 0, "write %s", path);
		p += n;
		len -= (size_t)n;
	}
	fchmod(fd, (mode_t)mode);
	close(fd);
}

char *
read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	char *buf;
	size_t n;

	if (fd < 0)
		return NULL;
	drain_fd(fd, &buf, &n);
	close(fd);
	if (len != NULL)
		*len = n;
	return buf;
}

int
run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
td_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t len = sizeof sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

void
tctl_vrun(struct run_result *r, const char *sock, const char *stdin_data,
	  const char *env_set, va_list ap)
{
	char *argv[40] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
			  "--socket", (char *)sock};
	int n = 3;

	while (n < 39 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	argv[n] = NULL;
	run_program(argv, stdin_data, env_set, -1, r);
}
