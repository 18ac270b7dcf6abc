/* process jobs against a real asyncd: exit statuses and signals, exact
 * stdout and stderr, cwd, env, stdin, exec failures, argument errors,
 * cancel and timeout of a whole process group, leftover processes,
 * the progress channel, backpressure, running as another user (and a
 * daemon that is not root), the process limit, and asyncctl process end
 * to end. Running as another user needs root: check_process_root, built
 * from this file, has those cases.
 *
 * The test process is a child subreaper: the processes a job leaves
 * behind are reparented to it (not to a PID 1 that may never reap them),
 * so that it can reap them by process group and then see the group gone
 * with kill(-pgid, 0) == ESRCH. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../proto/base64.h"
#include "../testutil.h"

#define END_MS 20000 /* the longest any job here may take to end */
/* A job's PATH when it runs as root, and as anyone else. */
#define JOB_PATH_ROOT                                                          \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define JOB_PATH_USER "/usr/local/bin:/usr/bin:/bin"

static struct tdaemon d;
static struct tconn *c;

/* What a followed job produced. */
struct pjob {
	int64_t id;
	struct json_object *end; /* its job.completed or job.failed */
	char *out, *err;
	size_t out_len, err_len;
	bool base64_seen;
	int nprogress;
	int64_t progress[64][2]; /* done, total (-1: null) */
	size_t progress_at[64];  /* stdout bytes received before it */
	/* Stdout bytes received before each of the first stderr bytes. */
	size_t err_at[64];
};


static void
start_with(const char *const extra[])
{
	tf_open(&d, &c, extra);
}

static void
setup(void)
{
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	/* Not to be seen in a job's environment. */
	setenv("ASYNCD_TEST_SECRET", "leaked", 1);
	start_with(NULL);
}

static void
teardown(void)
{
	tf_close(&d, &c);
}

static void
pjob_free(struct pjob *j)
{
	json_object_put(j->end);
	free(j->out);
	free(j->err);
	memset(j, 0, sizeof *j);
}

/* A JSON string literal for S (malloc'd). */
static char *
jquote(const char *s)
{
	struct json_object *o = json_object_new_string(s);
	char *q = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	json_object_put(o);
	return q;
}

/* A JSON array of the strings in ARGV (NULL-terminated), malloc'd. */
static char *
jargv(const char *const argv[])
{
	struct json_object *a = json_object_new_array();
	char *s;

	for (int i = 0; argv[i] != NULL; i++)
		json_object_array_add(a, json_object_new_string(argv[i]));
	s = strdup(json_object_to_json_string_ext(
		a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(a);
	return s;
}

static void
append(char **buf, size_t *len, const void *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Adds one job.output event to J, checking that offsets leave no gap. */
static void
take_output(struct pjob *j, struct json_object *ev)
{
	const char *stream = jstr(ev, "params.stream");
	const char *enc = jstr(ev, "params.encoding");
	const char *data = jstr(ev, "params.data");
	bool is_out = strcmp(stream, "stdout") == 0;
	size_t *len = is_out ? &j->out_len : &j->err_len;
	char **buf = is_out ? &j->out : &j->err;

	ck_assert_msg(is_out || strcmp(stream, "stderr") == 0, "stream %s", stream);
	ck_assert_int_eq(jint(ev, "params.offset"), (int64_t)*len);
	for (size_t i = j->err_len; !is_out && i < 64; i++)
		j->err_at[i] = j->out_len;
	if (strcmp(enc, "base64") == 0) {
		size_t n = strlen(data);
		unsigned char *raw = malloc(n / 4 * 3 + 3);
		long m = base64_decode(data, n, raw);
		ck_assert_int_gt(m, 0);
		ck_assert_int_le(m, 64 * 1024);
		append(buf, len, raw, (size_t)m);
		free(raw);
		j->base64_seen = true;
	} else {
		ck_assert_str_eq(enc, "utf-8");
		append(buf, len, data, strlen(data));
	}
}

/* Collects J's events on CONN until its terminal one. */
static void
follow(struct tconn *conn, struct pjob *j)
{
	long long deadline = td_mono_ms() + END_MS;

	for (;;) {
		long long left = deadline - td_mono_ms();
		ck_assert_msg(left > 0, "job %lld did not end", (long long)j->id);
		struct json_object *ev = tc_event(conn, (int)left);
		ck_assert_msg(ev != NULL, "job %lld did not end", (long long)j->id);
		const char *m = jstr(ev, "method");
		if (m == NULL || jint(ev, "params.id") != j->id) {
			json_object_put(ev);
			continue;
		}
		if (strcmp(m, "job.output") == 0) {
			take_output(j, ev);
		} else if (strcmp(m, "job.progress") == 0) {
			ck_assert_int_lt(j->nprogress, 64);
			ck_assert_str_eq(jstr(ev, "params.unit"), "items");
			j->progress[j->nprogress][0] = jint(ev, "params.done");
			j->progress[j->nprogress][1] =
				jnull(ev, "params.total") ? -1 : jint(ev, "params.total");
			j->progress_at[j->nprogress] = j->out_len;
			j->nprogress++;
		} else if (strcmp(m, "job.completed") == 0 ||
			   strcmp(m, "job.failed") == 0) {
			j->end = ev;
			return;
		}
		json_object_put(ev);
	}
}

/* Submits a process job on CONN with the args members ARGS_FMT and
 * follows it to its end. */
static void
run_on(struct tconn *conn, struct pjob *j, const char *args_fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
run_on(struct tconn *conn, struct pjob *j, const char *args_fmt, ...)
{
	char *args;
	va_list ap;

	memset(j, 0, sizeof *j);
	va_start(ap, args_fmt);
	ck_assert_int_ge(vasprintf(&args, args_fmt, ap), 0);
	va_end(ap);
	j->id = tc_submit(conn, "{\"kind\":\"process\",\"args\":{%s}}", args);
	free(args);
	follow(conn, j);
}

/* Runs ARGV (NULL-terminated) with further args members EXTRA (may be
 * NULL) on the default connection. */
static void
run_argv(struct pjob *j, const char *extra, const char *const argv[])
{
	char *a = jargv(argv);

	run_on(c, j, "\"argv\":%s%s%s", a, extra ? "," : "", extra ? extra : "");
	free(a);
}

/* Runs sh -c SCRIPT. */
static void
run_sh(struct pjob *j, const char *extra, const char *script)
{
	const char *argv[] = {"sh", "-c", script, NULL};

	run_argv(j, extra, argv);
}

static void
assert_completed(const struct pjob *j)
{
	ck_assert_msg(strcmp(jstr(j->end, "method"), "job.completed") == 0,
		      "job failed: %s", json_object_to_json_string(j->end));
	ck_assert_int_eq(jint(j->end, "params.result.exit_code"), 0);
}

static void
assert_failed(const struct pjob *j, const char *code)
{
	ck_assert_msg(strcmp(jstr(j->end, "method"), "job.failed") == 0,
		      "job did not fail: %s", json_object_to_json_string(j->end));
	ck_assert_str_eq(jstr(j->end, "params.error.code"), code);
	ck_assert_ptr_nonnull(jstr(j->end, "params.error.message"));
}

static void
assert_out(const struct pjob *j, const char *out, const char *err)
{
	ck_assert_uint_eq(j->out_len, strlen(out));
	ck_assert_uint_eq(j->err_len, strlen(err));
	if (*out != '\0')
		ck_assert_str_eq(j->out, out);
	if (*err != '\0')
		ck_assert_str_eq(j->err, err);
}

/* Reaps what is left of process group PGID (adopted by this subreaper)
 * and asserts that nothing of it is alive within a short while (SIGKILL
 * takes effect asynchronously). */
static void
assert_group_gone(pid_t pgid)
{
	siginfo_t si;

	for (int i = 0; i < 200; i++) {
		memset(&si, 0, sizeof si);
		while (waitid(P_PGID, (id_t)pgid, &si, WEXITED | WNOHANG) == 0 &&
		       si.si_pid != 0)
			memset(&si, 0, sizeof si);
		if (kill(-pgid, 0) < 0 && errno == ESRCH)
			return;
		usleep(10000);
	}
	ck_abort_msg("process group %d is still there", (int)pgid);
}

/* Kills and reaps what is left of group PGID. */
static void
kill_group(pid_t pgid)
{
	kill(-pgid, SIGKILL);
	assert_group_gone(pgid);
}

/* Waits for the first stdout chunk of job ID and returns it as a number
 * (a script's echo $$). */
static pid_t
first_stdout_pid(struct tconn *conn, int64_t id)
{
	long long deadline = td_mono_ms() + END_MS;

	for (;;) {
		struct json_object *ev = tc_event(conn, (int)(deadline - td_mono_ms()));
		ck_assert_ptr_nonnull(ev);
		const char *m = jstr(ev, "method");
		if (m != NULL && strcmp(m, "job.output") == 0 &&
		    jint(ev, "params.id") == id) {
			pid_t pid = (pid_t)atoi(jstr(ev, "params.data"));
			json_object_put(ev);
			ck_assert_int_gt(pid, 1);
			return pid;
		}
		ck_assert_msg(m == NULL || strcmp(m, "job.failed") != 0,
			      "job failed: %s", json_object_to_json_string(ev));
		json_object_put(ev);
	}
}

/* A file in the daemon's directory. */
static char *
dpath(const char *name)
{
	char *p;

	ck_assert_int_ge(asprintf(&p, "%s/%s", d.dir, name), 0);
	return p;
}

/* LEN bytes of every value, deterministic. */
static unsigned char *
pattern(size_t len)
{
	unsigned char *b = malloc(len);

	for (size_t i = 0; i < len; i++)
		b[i] = (unsigned char)(i * 131 + (i >> 9) + (i >> 17));
	return b;
}

/* ---- Exit statuses ------------------------------------------------------ */

START_TEST(exit_zero_completes_with_pid_and_elapsed)
{
	const char *argv[] = {"true", NULL};
	struct pjob j;

	run_argv(&j, NULL, argv);
	assert_completed(&j);
	ck_assert_int_gt(jint(j.end, "params.result.pid"), 1);
	ck_assert_int_ge(jint(j.end, "params.result.elapsed_ms"), 0);
	assert_out(&j, "", "");
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)j.id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	json_object_put(r);
	pjob_free(&j);
}
END_TEST

START_TEST(exit_status_fails_with_exit_code)
{
	const char *argv[] = {"false", NULL};
	struct pjob j;

	run_sh(&j, NULL, "exit 3");
	assert_failed(&j, "exit-status");
	ck_assert_int_eq(jint(j.end, "params.error.exit_code"), 3);
	ck_assert(jget(j.end, "params.error.signal") == NULL);
	pjob_free(&j);

	run_argv(&j, NULL, argv);
	assert_failed(&j, "exit-status");
	ck_assert_int_eq(jint(j.end, "params.error.exit_code"), 1);
	pjob_free(&j);
}
END_TEST

START_TEST(death_by_signal_fails_with_signal)
{
	struct pjob j;

	run_sh(&j, NULL, "kill -TERM $$");
	assert_failed(&j, "signal");
	ck_assert_int_eq(jint(j.end, "params.error.signal"), SIGTERM);
	ck_assert(jget(j.end, "params.error.exit_code") == NULL);
	pjob_free(&j);

	run_sh(&j, NULL, "kill -KILL $$");
	assert_failed(&j, "signal");
	ck_assert_int_eq(jint(j.end, "params.error.signal"), SIGKILL);
	pjob_free(&j);
}
END_TEST

/* ---- Output ------------------------------------------------------------- */

START_TEST(stdout_and_stderr_are_separate_and_exact)
{
	struct pjob j;

	run_sh(&j, NULL,
	       "printf 'out1\\n'; printf 'err1\\n' >&2; printf 'h\\303\\251 \\342\\234\\223'; "
	       "printf 'err2' >&2");
	assert_completed(&j);
	assert_out(&j, "out1\nh\xc3\xa9 \xe2\x9c\x93", "err1\nerr2");
	ck_assert(!j.base64_seen); /* valid UTF-8 arrives as utf-8 */
	pjob_free(&j);
}
END_TEST

START_TEST(binary_output_is_exact)
{
	static const char expect[] = "\xff\x00\x01" "abc\x80\n";
	struct pjob j;

	run_sh(&j, NULL, "printf '\\377\\000\\001abc\\200\\n'");
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, sizeof expect - 1);
	ck_assert_mem_eq(j.out, expect, sizeof expect - 1);
	ck_assert(j.base64_seen);
	pjob_free(&j);
}
END_TEST

/* 1 MiB on stdout and 300 KiB on stderr: many times a pipe's buffer. */
START_TEST(large_output_is_exact)
{
	size_t big = 1024 * 1024, small = 300 * 1024;
	unsigned char *data = pattern(big);
	char *file = dpath("big"), *script;
	struct pjob j;

	write_file(file, data, big, 0644);
	ck_assert_int_ge(asprintf(&script, "head -c %zu %s; head -c %zu %s >&2",
				  big, file, small, file), 0);
	run_sh(&j, NULL, script);
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, big);
	ck_assert_mem_eq(j.out, data, big);
	ck_assert_uint_eq(j.err_len, small);
	ck_assert_mem_eq(j.err, data, small);
	pjob_free(&j);
	free(script);
	free(file);
	free(data);
}
END_TEST

/* Output keeps the order the daemon read it in across streams, though a
 * JSON watcher's chunks are encoded on worker threads. The program writes
 * 40 times 100 KiB of binary (base64 to encode) to stdout and then a byte
 * to stderr, which the daemon can read only once all of that stdout but
 * what one pipe holds has been read: no stderr byte may arrive before. */
START_TEST(stderr_does_not_overtake_earlier_stdout)
{
	enum { STEPS = 40, STEP = 100 * 1024 };
	unsigned char *data = pattern(STEP);
	char *file = dpath("step"), *script;
	int fds[2];
	size_t pipe_size;
	struct pjob j;

	ck_assert_int_eq(pipe(fds), 0);
	pipe_size = (size_t)fcntl(fds[0], F_GETPIPE_SZ);
	close(fds[0]);
	close(fds[1]);
	write_file(file, data, STEP, 0644);
	ck_assert_int_ge(asprintf(&script, "for i in $(seq %d); do cat %s; "
				  "printf E >&2; done", STEPS, file), 0);
	run_sh(&j, NULL, script);
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, (size_t)STEPS * STEP);
	for (size_t i = 0; i < STEPS; i++)
		ck_assert_mem_eq(j.out + i * STEP, data, STEP);
	ck_assert_uint_eq(j.err_len, STEPS);
	for (size_t i = 0; i < STEPS; i++)
		ck_assert_msg(j.err_at[i] + pipe_size >= (i + 1) * STEP,
			      "stderr byte %zu came after %zu bytes of stdout",
			      i, j.err_at[i]);
	pjob_free(&j);
	free(script);
	free(file);
	free(data);
}
END_TEST

/* With a small high-water mark and a client that does not read, the
 * program is held (it blocks writing to its pipe) instead of the daemon
 * buffering its output; once the client reads, every byte arrives. */
START_TEST(slow_client_holds_the_program_and_loses_nothing)
{
	static const char *const extra[] = {"--output-hwm", "65536", NULL};
	size_t big = 4 * 1024 * 1024;
	unsigned char *data;
	char *file, *script;
	struct tconn *other;
	struct pjob j = {0};

	teardown();
	start_with(extra);
	data = pattern(big);
	file = dpath("big");
	write_file(file, data, big, 0644);
	ck_assert_int_ge(asprintf(&script, "head -c %zu %s", big, file), 0);
	const char *argv[] = {"sh", "-c", script, NULL};
	char *a = jargv(argv);
	j.id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	free(a);

	sleep(1); /* head alone needs a few ms */
	other = tc_open(d.sock);
	struct json_object *r = tc_call(other, "job.get", "{\"id\":%lld}", (long long)j.id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "running");
	json_object_put(r);
	tc_close(other);

	follow(c, &j);
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, big);
	ck_assert_mem_eq(j.out, data, big);
	pjob_free(&j);
	free(script);
	free(file);
	free(data);
}
END_TEST

/* Two connections watch one job, and one of them does not read: the job
 * waits for it (nothing is buffered past its high-water mark) until
 * --output-hwm-timeout closes it; the other then gets every byte. */
START_TEST(a_slow_watcher_holds_the_job_and_the_other_loses_nothing)
{
	static const char *const extra[] = {"--output-hwm", "65536",
					    "--output-hwm-timeout", "2", NULL};
	size_t big = 4 * 1024 * 1024;
	unsigned char *data;
	char *file, *go, *script;
	struct tconn *slow;
	struct pjob j = {0};

	teardown();
	start_with(extra);
	data = pattern(big);
	file = dpath("big");
	go = dpath("go");
	write_file(file, data, big, 0644);
	/* It writes only once both watch. */
	ck_assert_int_ge(asprintf(&script, "while [ ! -e %s ]; do sleep 0.01; done; "
				  "head -c %zu %s", go, big, file), 0);
	const char *argv[] = {"sh", "-c", script, NULL};
	char *a = jargv(argv);
	j.id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	free(a);
	slow = tc_open(d.sock);
	json_object_put(tc_call(slow, "job.watch", "{\"id\":%lld}", (long long)j.id));
	write_file(go, "", 0, 0644);

	/* For a second the reader gets little more than the two
	 * connections' buffers hold: the job waits for the slow one. */
	long long until = td_mono_ms() + 1000;
	for (long long left; (left = until - td_mono_ms()) > 0;) {
		struct json_object *ev = tc_event(c, (int)left);
		if (ev == NULL)
			break;
		if (jint(ev, "params.id") == j.id &&
		    strcmp(jstr(ev, "method"), "job.output") == 0)
			take_output(&j, ev);
		json_object_put(ev);
	}
	ck_assert_msg(j.out_len < big / 2, "%zu bytes arrived past a stalled watcher",
		      j.out_len);

	/* The slow one is closed (what it holds unread stays unread), and
	 * the job goes on for the other. */
	follow(c, &j);
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, big);
	ck_assert_mem_eq(j.out, data, big);
	struct pollfd pfd = {.fd = tc_fd(slow), .events = POLLIN};
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_msg(pfd.revents & POLLHUP, "the slow watcher is still open");
	tc_close(slow);
	pjob_free(&j);
	free(script);
	free(go);
	free(file);
	free(data);
}
END_TEST

/* A leftover process that holds the pipes gets its second after the
 * program's exit only while its output flows: a client that does not
 * read for longer loses none of it. */
START_TEST(leftover_output_waits_for_a_slow_client)
{
	static const char *const extra[] = {"--output-hwm", "65536", NULL};
	size_t big = 4 * 1024 * 1024;
	unsigned char *data;
	char *file, *script;
	struct pjob j = {0};

	teardown();
	start_with(extra);
	data = pattern(big);
	file = dpath("big");
	write_file(file, data, big, 0644);
	/* The program exits at once; what it left behind writes it all. */
	ck_assert_int_ge(asprintf(&script, "head -c %zu %s & exit 0", big, file), 0);
	const char *argv[] = {"sh", "-c", script, NULL};
	char *a = jargv(argv);
	j.id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	free(a);

	sleep(3); /* three times the linger, reading nothing */
	follow(c, &j);
	assert_completed(&j);
	ck_assert_uint_eq(j.out_len, big);
	ck_assert_mem_eq(j.out, data, big);
	pjob_free(&j);
	free(script);
	free(file);
	free(data);
}
END_TEST

/* ---- Environment of the program ----------------------------------------- */

START_TEST(cwd_defaults_to_root_and_can_be_given)
{
	const char *argv[] = {"pwd", NULL};
	char real[PATH_MAX], *extra, *expect;
	struct pjob j;

	run_argv(&j, NULL, argv);
	assert_completed(&j);
	assert_out(&j, "/\n", "");
	pjob_free(&j);

	ck_assert_ptr_nonnull(realpath(d.dir, real));
	ck_assert_int_ge(asprintf(&extra, "\"cwd\":\"%s\"", real), 0);
	ck_assert_int_ge(asprintf(&expect, "%s\n", real), 0);
	run_argv(&j, extra, argv);
	assert_completed(&j);
	assert_out(&j, expect, "");
	pjob_free(&j);

	run_argv(&j, "\"cwd\":\"/no/such/dir\"", argv);
	assert_failed(&j, "not-found");
	ck_assert_ptr_nonnull(strstr(jstr(j.end, "params.error.message"), "/no/such/dir"));
	pjob_free(&j);
	free(extra);
	free(expect);
}
END_TEST

/* Exactly PATH, HOME, USER, LANG, ASYNCD_PROGRESS_FD and the given ones;
 * nothing of the daemon's environment. The jobs are the test's own user's:
 * its HOME and USER, and root's PATH only for root. */
START_TEST(environment_is_minimal_plus_given)
{
	const char *argv[] = {"env", NULL};
	struct passwd *pw = getpwuid(geteuid());
	const char *path = geteuid() == 0 ? JOB_PATH_ROOT : JOB_PATH_USER;
	char *expect;
	struct pjob j;

	ck_assert_ptr_nonnull(pw);
	run_argv(&j, "\"env\":{\"FOO\":\"bar baz\",\"EMPTY\":\"\"}", argv);
	assert_completed(&j);
	ck_assert_int_ge(asprintf(&expect,
	                          "PATH=%s\nHOME=%s\nUSER=%s\nLANG=C.UTF-8\n"
	                          "FOO=bar baz\nEMPTY=\nASYNCD_PROGRESS_FD=3\n",
	                          path, pw->pw_dir, pw->pw_name),
	                 0);
	assert_out(&j, expect, "");
	pjob_free(&j);
	free(expect);

	/* A given variable replaces a minimal one. */
	run_argv(&j, "\"env\":{\"LANG\":\"fr_FR.UTF-8\",\"PATH\":\"/bin\"}", argv);
	assert_completed(&j);
	ck_assert_int_ge(asprintf(&expect,
	                          "PATH=/bin\nHOME=%s\nUSER=%s\n"
	                          "LANG=fr_FR.UTF-8\nASYNCD_PROGRESS_FD=3\n",
	                          pw->pw_dir, pw->pw_name),
	                 0);
	assert_out(&j, expect, "");
	pjob_free(&j);
	free(expect);
}

/* PATH is searched in the child with the job's PATH: a directory with no
 * such file and one with a non-executable file are passed over. */
START_TEST(program_is_looked_up_in_the_jobs_path)
{
	char *bin1 = dpath("bin1"), *bin2 = dpath("bin2"), *bin3 = dpath("bin3");
	char *f2, *f3, *extra;
	const char *argv[] = {"myprog", "arg1", NULL};
	static const char script[] = "#!/bin/sh\necho \"mine $1\"\n";
	struct pjob j;

	ck_assert_int_eq(mkdir(bin1, 0755), 0);
	ck_assert_int_eq(mkdir(bin2, 0755), 0);
	ck_assert_int_eq(mkdir(bin3, 0755), 0);
	ck_assert_int_ge(asprintf(&f2, "%s/myprog", bin2), 0);
	ck_assert_int_ge(asprintf(&f3, "%s/myprog", bin3), 0);
	write_file(f2, script, strlen(script), 0644);
	write_file(f3, script, strlen(script), 0755);
	ck_assert_int_ge(asprintf(&extra, "\"env\":{\"PATH\":\"%s:%s:%s\"}", bin1,
				  bin2, bin3), 0);
	run_argv(&j, extra, argv);
	assert_completed(&j);
	assert_out(&j, "mine arg1\n", "");
	pjob_free(&j);

	/* Only the non-executable one: permission-denied, like execvp. */
	free(extra);
	ck_assert_int_ge(asprintf(&extra, "\"env\":{\"PATH\":\"%s:%s\"}", bin1, bin2), 0);
	run_argv(&j, extra, argv);
	assert_failed(&j, "permission-denied");
	pjob_free(&j);
	free(extra);
	free(f2);
	free(f3);
	free(bin1);
	free(bin2);
	free(bin3);
}
END_TEST

START_TEST(stdin_comes_from_the_given_file)
{
	const char *argv[] = {"cat", NULL};
	static const char text[] = "line 1\nline 2\n";
	char *file = dpath("input"), *extra;
	struct pjob j;

	write_file(file, text, strlen(text), 0644);
	ck_assert_int_ge(asprintf(&extra, "\"stdin\":\"%s\"", file), 0);
	run_argv(&j, extra, argv);
	assert_completed(&j);
	assert_out(&j, text, "");
	pjob_free(&j);

	run_argv(&j, NULL, argv); /* /dev/null */
	assert_completed(&j);
	assert_out(&j, "", "");
	pjob_free(&j);

	run_argv(&j, "\"stdin\":\"/no/such/file\"", argv);
	assert_failed(&j, "not-found");
	pjob_free(&j);
	free(extra);
	free(file);
}
END_TEST

/* Descriptors 0-3 only (3: the progress pipe), its own session and group,
 * no blocked or ignored signal. */
START_TEST(child_starts_clean)
{
	/* ls lists the descriptors of the shell, the program spawned. */
	const char *fds[] = {"sh", "-c", "ls /proc/$$/fd", NULL};
	const char *stat[] = {"cat", "/proc/self/stat", NULL};
	const char *sig[] = {"grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status", NULL};
	int pid, pgrp, sid;
	struct pjob j;

	run_argv(&j, NULL, fds);
	assert_completed(&j);
	assert_out(&j, "0\n1\n2\n3\n", "");
	pjob_free(&j);

	run_argv(&j, NULL, stat);
	assert_completed(&j);
	const char *after_comm = strrchr(j.out, ')');
	ck_assert_ptr_nonnull(after_comm);
	ck_assert_int_eq(sscanf(after_comm, ") %*c %*d %d %d", &pgrp, &sid), 2);
	pid = (int)jint(j.end, "params.result.pid");
	ck_assert_int_eq(pgrp, pid);
	ck_assert_int_eq(sid, pid);
	pjob_free(&j);

	run_argv(&j, NULL, sig);
	assert_completed(&j);
	assert_out(&j, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", "");
	pjob_free(&j);
}
END_TEST

/* ---- Exec failures ------------------------------------------------------ */

START_TEST(missing_program_fails_not_found)
{
	const char *bare[] = {"no-such-program-for-asyncd", NULL};
	const char *abs[] = {"/no/such/program", NULL};
	struct pjob j;

	/* The job is created (the submit succeeds), then fails. */
	run_argv(&j, NULL, bare);
	assert_failed(&j, "not-found");
	ck_assert_ptr_nonnull(strstr(jstr(j.end, "params.error.message"),
				     "no-such-program-for-asyncd"));
	pjob_free(&j);

	run_argv(&j, NULL, abs);
	assert_failed(&j, "not-found");
	pjob_free(&j);
}
END_TEST

START_TEST(unexecutable_program_fails_permission_denied)
{
	char *plain = dpath("plain"), *noshebang = dpath("noshebang");
	const char *argv1[] = {plain, NULL};
	const char *argv2[] = {noshebang, NULL};
	const char *argv3[] = {"/tmp", NULL};
	struct pjob j;

	write_file(plain, "#!/bin/sh\necho hi\n", 18, 0644);
	run_argv(&j, NULL, argv1);
	assert_failed(&j, "permission-denied");
	pjob_free(&j);

	/* Executable but no #!: no shell is tried. */
	write_file(noshebang, "echo hi\n", 8, 0755);
	run_argv(&j, NULL, argv2);
	assert_failed(&j, "permission-denied");
	assert_out(&j, "", "");
	pjob_free(&j);

	run_argv(&j, NULL, argv3); /* a directory */
	assert_failed(&j, "permission-denied");
	pjob_free(&j);
	free(plain);
	free(noshebang);
}
END_TEST

/* ---- Arguments ---------------------------------------------------------- */

START_TEST(bad_args_are_rejected_with_the_field)
{
	static const struct {
		const char *args, *field;
	} cases[] = {
		{"{}", "args.argv"},
		{"{\"argv\":[]}", "args.argv"},
		{"{\"argv\":\"ls\"}", "args.argv"},
		{"{\"argv\":[1]}", "args.argv.0"},
		{"{\"argv\":[\"ls\",null]}", "args.argv.1"},
		{"{\"argv\":[\"\"]}", "args.argv.0"},
		{"{\"argv\":[\"ls\",\"a\\u0000b\"]}", "args.argv.1"},
		{"{\"argv\":[\"ls\"],\"env\":{\"X\":1}}", "args.env.X"},
		{"{\"argv\":[\"ls\"],\"env\":\"X=1\"}", "args.env"},
		{"{\"argv\":[\"ls\"],\"env\":{\"A=B\":\"c\"}}", "args.env.A=B"},
		{"{\"argv\":[\"ls\"],\"env\":{\"\":\"c\"}}", "args.env."},
		{"{\"argv\":[\"ls\"],\"env\":{\"ASYNCD_PROGRESS_FD\":\"5\"}}",
		 "args.env.ASYNCD_PROGRESS_FD"},
		{"{\"argv\":[\"ls\"],\"cwd\":\"tmp\"}", "args.cwd"},
		{"{\"argv\":[\"ls\"],\"cwd\":7}", "args.cwd"},
		{"{\"argv\":[\"ls\"],\"stdin\":\"input\"}", "args.stdin"},
		{"{\"argv\":[\"ls\"],\"shell\":true}", "args.shell"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct json_object *r = tc_call(
			c, "job.submit", "{\"kind\":\"process\",\"args\":%s}", cases[i].args);
		assert_rpc_error(r, -32602, cases[i].field);
		json_object_put(r);
	}
	/* Nothing was created, and the daemon still serves. */
	struct json_object *r = tc_call(c, "job.list", "{}");
	ck_assert_uint_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	json_object_put(r);
	const char *argv[] = {"true", NULL};
	struct pjob j;
	run_argv(&j, NULL, argv);
	assert_completed(&j);
	pjob_free(&j);
}
END_TEST

/* ---- Stopping ----------------------------------------------------------- */

/* A group that ignores SIGTERM gets SIGKILL after the grace period, and
 * the job ends (cancelled) only then, with nothing of the group left. */
START_TEST(cancel_kills_a_term_ignoring_group_after_the_grace)
{
	char *a;
	const char *argv[] = {"sh", "-c", "trap '' TERM; sleep 60 & echo $$; wait; wait",
			      NULL};
	struct pjob j = {0};

	a = jargv(argv);
	j.id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	free(a);
	pid_t pgid = first_stdout_pid(c, j.id);
	long long t0 = td_mono_ms();
	struct json_object *r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)j.id);
	ck_assert_ptr_nonnull(jget(r, "result"));
	json_object_put(r);
	follow(c, &j);
	assert_failed(&j, "cancelled");
	/* SIGTERM alone did nothing: the end came with the SIGKILL. */
	ck_assert_int_ge(td_mono_ms() - t0, 4500);
	assert_group_gone(pgid);
	pjob_free(&j);
}
END_TEST

/* The leader dies of SIGTERM at once; a member of its group that ignores
 * it is killed too. */
START_TEST(cancel_leaves_nothing_of_the_group)
{
	/* The subshell prints the leader's pid once its trap is set. */
	const char *argv[] = {"sh", "-c",
			      "(trap '' TERM; echo $$; sleep 60; sleep 1) & wait", NULL};
	char *a = jargv(argv);
	struct pjob j = {0};

	j.id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	free(a);
	pid_t pgid = first_stdout_pid(c, j.id);
	struct json_object *r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)j.id);
	json_object_put(r);
	follow(c, &j);
	assert_failed(&j, "cancelled");
	assert_group_gone(pgid);
	pjob_free(&j);
}
END_TEST

START_TEST(timeout_kills_the_group)
{
	const char *argv[] = {"sh", "-c", "sleep 60 & echo $$; wait", NULL};
	char *a = jargv(argv);
	struct pjob j = {0};

	j.id = tc_submit(c, "{\"kind\":\"process\",\"timeout_ms\":500,"
			 "\"args\":{\"argv\":%s}}", a);
	free(a);
	pid_t pgid = first_stdout_pid(c, j.id);
	follow(c, &j);
	assert_failed(&j, "timeout");
	assert_group_gone(pgid);
	pjob_free(&j);
}
END_TEST

/* A leftover process holding stdout open does not keep the job alive:
 * it ends a moment after the program itself. */
START_TEST(leftover_holding_the_pipe_does_not_hang_the_job)
{
	struct pjob j;
	long long t0 = td_mono_ms();

	run_sh(&j, NULL, "sleep 30 & echo started");
	assert_completed(&j);
	assert_out(&j, "started\n", "");
	ck_assert_int_lt(td_mono_ms() - t0, 25000);
	/* The leftover is still there: the job did not wait for it. */
	pid_t pgid = (pid_t)jint(j.end, "params.result.pid");
	ck_assert_int_eq(kill(-pgid, 0), 0);
	kill_group(pgid);
	pjob_free(&j);
}
END_TEST

/* ---- Progress ----------------------------------------------------------- */

START_TEST(progress_lines_in_both_formats_and_malformed_ones_ignored)
{
	struct pjob j;

	run_sh(&j, NULL,
	       "p=$ASYNCD_PROGRESS_FD; "
	       "echo '{\"done\":1,\"total\":4}' >&$p; sleep 0.3; "
	       "echo 2/4 >&$p; sleep 0.3; "
	       "echo garbage >&$p; echo '{\"done\":\"x\"}' >&$p; echo '-1/4' >&$p; "
	       "echo '{\"done\":9,\"extra\":1}' >&$p; "
	       /* valid but longer than the line buffer */
	       "printf '{\"done\":5%300s}\\n' '' >&$p; "
	       "sleep 0.3; echo '{\"done\":3}' >&$p; sleep 0.3; "
	       "printf '4/4' >&$p");
	assert_completed(&j);
	/* The last line has no newline: it is not a complete line. */
	ck_assert_int_eq(j.nprogress, 3);
	ck_assert_int_eq(j.progress[0][0], 1);
	ck_assert_int_eq(j.progress[0][1], 4);
	ck_assert_int_eq(j.progress[1][0], 2);
	ck_assert_int_eq(j.progress[1][1], 4);
	ck_assert_int_eq(j.progress[2][0], 3);
	ck_assert_int_eq(j.progress[2][1], -1);
	pjob_free(&j);
}
END_TEST

/* Lines faster than the rate limit: fewer events, and the last value is
 * always among them. */
START_TEST(progress_is_rate_limited_and_the_last_value_arrives)
{
	struct pjob j;

	run_sh(&j, NULL,
	       "i=1; while [ $i -le 200 ]; do echo $i/200; i=$((i+1)); done "
	       ">&$ASYNCD_PROGRESS_FD");
	assert_completed(&j);
	ck_assert_int_ge(j.nprogress, 1);
	ck_assert_int_lt(j.nprogress, 200);
	ck_assert_int_eq(j.progress[j.nprogress - 1][0], 200);
	ck_assert_int_eq(j.progress[j.nprogress - 1][1], 200);
	pjob_free(&j);
}
END_TEST

/* A line held back by the rate limit is sent a moment later, while the
 * program still runs, not only at its end. */
START_TEST(progress_held_back_is_sent_while_the_program_runs)
{
	struct pjob j;

	run_sh(&j, NULL,
	       "p=$ASYNCD_PROGRESS_FD; echo 1/3 >&$p; echo 2/3 >&$p; sleep 1; "
	       "echo after");
	assert_completed(&j);
	assert_out(&j, "after\n", "");
	ck_assert_int_eq(j.nprogress, 2);
	ck_assert_int_eq(j.progress[1][0], 2);
	ck_assert_uint_eq(j.progress_at[1], 0); /* before "after" */
	pjob_free(&j);
}
END_TEST

/* ---- Users -------------------------------------------------------------- */

START_TEST(program_runs_as_the_submitting_user)
{
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	char *script, *expect, *secret = dpath("secret"), *extra;
	struct pjob j;

	run_on(nobody, &j, "\"argv\":[\"sh\",\"-c\",\"id -u; id -g; id -G; "
	       "echo $USER $HOME; grep ^CapEff /proc/self/status\"]");
	assert_completed(&j);
	assert_out(&j, "65534\n65534\n65534\nnobody /nonexistent\n"
		   "CapEff:\t0000000000000000\n", "");
	pjob_free(&j);

	/* A root-owned 0755 directory is not writable for it. */
	ck_assert_int_ge(asprintf(&script, "touch %s/by-nobody", d.dir), 0);
	ck_assert_int_ge(asprintf(&expect, "%s/by-nobody", d.dir), 0);
	char *q = jquote(script);
	run_on(nobody, &j, "\"argv\":[\"sh\",\"-c\",%s]", q);
	assert_failed(&j, "exit-status");
	ck_assert_int_eq(jint(j.end, "params.error.exit_code"), 1);
	ck_assert_uint_gt(j.err_len, 0);
	ck_assert_int_eq(access(expect, F_OK), -1);
	pjob_free(&j);

	/* stdin is opened as the user. */
	write_file(secret, "root only\n", 10, 0600);
	ck_assert_int_ge(asprintf(&extra, "\"argv\":[\"cat\"],\"stdin\":\"%s\"", secret), 0);
	run_on(nobody, &j, "%s", extra);
	assert_failed(&j, "permission-denied");
	assert_out(&j, "", "");
	pjob_free(&j);
	run_on(c, &j, "%s", extra); /* root may */
	assert_completed(&j);
	assert_out(&j, "root only\n", "");
	pjob_free(&j);

	tc_close(nobody);
	free(q);
	free(script);
	free(expect);
	free(secret);
	free(extra);
}
END_TEST

/* The supplementary groups are those the user database gives the user,
 * not the daemon's and not only the connection's gid. The database is
 * the test's own (nss_wrapper), so that such a user always exists. */
START_TEST(program_gets_the_users_groups_from_the_database)
{
	struct tnss nss;
	struct pjob j;

	tnss_init(&nss,
	          "root:x:0:0:root:/root:/bin/sh\n"
	          "asyncd-groups:x:4242:4242::/nonexistent:/bin/sh\n",
	          "root:x:0:\n"
	          "asyncd-groups:x:4242:\n"
	          "asyncd-one:x:4300:asyncd-groups\n"
	          "asyncd-two:x:4301:root,asyncd-groups\n"
	          "asyncd-none:x:4302:root\n");
	teardown();
	tf_open_env(&d, &c, NULL, nss.env);
	struct tconn *user = tc_open_as(d.sock, 4242, 4242);
	run_on(user, &j,
	       "\"argv\":[\"sh\",\"-c\",\"id -u; "
	       "id -G | tr ' ' '\\\\n' | sort -n -u; echo $USER $HOME\"]");
	assert_completed(&j);
	assert_out(&j, "4242\n4242\n4300\n4301\nasyncd-groups /nonexistent\n",
	           "");
	pjob_free(&j);
	tc_close(user);
	tnss_free(&nss);
}
END_TEST

/* Starts asyncd as TEST_NOBODY on DIR/asyncd.sock; returns its pid. */
static pid_t
start_as_nobody(const char *dir, char *sock, size_t size)
{
	const char *asyncd = td_path("ASYNCD", "daemon/asyncd");
	pid_t pid;

	snprintf(sock, size, "%s/asyncd.sock", dir);
	ck_assert_int_eq(chown(dir, TEST_NOBODY, TEST_NOBODY), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char log[160];
		int null = open("/dev/null", O_RDWR);
		snprintf(log, sizeof log, "%s/asyncd.log", dir);
		dup2(null, 0);
		dup2(null, 1);
		dup2(open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
		if (setgroups(0, NULL) < 0 || setgid(TEST_NOBODY) < 0 ||
		    setuid(TEST_NOBODY) < 0)
			_exit(126);
		execl(asyncd, asyncd, "--socket", sock, "--config", "/dev/null",
		      "--state-dir", "none", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
		usleep(10000);
	ck_assert_int_eq(access(sock, F_OK), 0);
	return pid;
}

/* A daemon that is not root runs programs for its own user only, as it
 * is: it cannot act for anyone else, and does not serve anyone else
 * (root included: its connection is closed at accept). */
START_TEST(non_root_daemon_runs_programs_for_its_own_user_only)
{
	char dir[] = "/tmp/asyncd-test-nobody.XXXXXX", sock[128], cmd[160];
	struct tconn *root, *nobody;
	int status;
	struct pjob j;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	pid_t pid = start_as_nobody(dir, sock, sizeof sock);
	root = tc_open(sock);
	ck_assert_ptr_nonnull(root);
	ck_assert(tc_eof(root, 5000));

	nobody = tc_open_as(sock, TEST_NOBODY, TEST_NOBODY);
	run_on(nobody, &j, "\"argv\":[\"sh\",\"-c\",\"id -u; id -G; echo $USER\"]");
	assert_completed(&j);
	assert_out(&j, "65534\n65534\nnobody\n", "");
	pjob_free(&j);

	tc_close(root);
	tc_close(nobody);
	kill(pid, SIGTERM);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- Limits ------------------------------------------------------------- */

START_TEST(process_limit_defaults_to_cpus_and_can_be_set)
{
	static const char *const extra[] = {"--max-processes", "1", NULL};
	struct json_object *r = tc_call(c, "daemon.info", NULL);
	const char *argv[] = {"sh", "-c", "sleep 0.3", NULL};
	char *a = jargv(argv);

	ck_assert_int_eq(jint(r, "result.limits.max_running.process"),
			 sysconf(_SC_NPROCESSORS_ONLN));
	json_object_put(r);
	teardown();
	start_with(extra);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_running.process"), 1);
	json_object_put(r);

	/* One at a time: the second starts after the first has ended. */
	int64_t id1 = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	int64_t id2 = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":%s}}", a);
	bool first_ended = false;
	for (;;) {
		struct json_object *ev = tc_event(c, END_MS);
		ck_assert_ptr_nonnull(ev);
		const char *m = jstr(ev, "method");
		int64_t id = jint(ev, "params.id");
		if (strcmp(m, "job.completed") == 0 && id == id1)
			first_ended = true;
		if (strcmp(m, "job.started") == 0 && id == id2)
			ck_assert(first_ended);
		bool done = strcmp(m, "job.completed") == 0 && id == id2;
		json_object_put(ev);
		if (done)
			break;
	}
	free(a);
}
END_TEST

/* ---- asyncctl ----------------------------------------------------------- */

/* Runs asyncctl --socket SOCK ARGS... (NULL-terminated). */
static void
ctl(struct run_result *r, const char *stdin_data, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;

	argv[n++] = (char *)td_path("ASYNCCTL", "client/asyncctl");
	argv[n++] = "--socket";
	argv[n++] = d.sock;
	va_start(ap, stdin_data);
	for (char *s; (s = va_arg(ap, char *)) != NULL && n < 31;)
		argv[n++] = s;
	va_end(ap);
	argv[n] = NULL;
	run_program(argv, stdin_data, NULL, -1, r);
}

START_TEST(asyncctl_process_writes_output_byte_for_byte)
{
	struct run_result r;

	ctl(&r, NULL, "process", "--", "printf", "a\\tb%s\\000\\377|%s\\n", "\xc3\xa9", "-x",
	    NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.out_len, 11);
	ck_assert_mem_eq(r.out, "a\tb\xc3\xa9\0\xff|-x\n", 11);
	ck_assert_uint_eq(r.err_len, 0);
	run_result_free(&r);

	ctl(&r, NULL, "process", "--", "sh", "-c", "printf out; printf err >&2", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "out");
	ck_assert_str_eq(r.err, "err");
	run_result_free(&r);

	size_t big = 300 * 1024;
	unsigned char *data = pattern(big);
	char *file = dpath("big");
	write_file(file, data, big, 0644);
	ctl(&r, NULL, "process", "--", "cat", file, NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.out_len, big);
	ck_assert_mem_eq(r.out, data, big);
	run_result_free(&r);
	free(file);
	free(data);
}
END_TEST

START_TEST(asyncctl_process_exit_status_is_1_when_the_program_fails)
{
	struct run_result r;

	ctl(&r, NULL, "process", "--", "sh", "-c", "echo partial; exit 7", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "partial\n");
	ck_assert_ptr_nonnull(strstr(r.err, "exit-status"));
	run_result_free(&r);

	ctl(&r, NULL, "process", "--", "no-such-program-for-asyncd", NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "not-found"));
	run_result_free(&r);

	ctl(&r, NULL, "process", NULL);
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
}
END_TEST

START_TEST(asyncctl_process_options)
{
	char real[PATH_MAX], *expect, *input = dpath("input");
	struct run_result r;

	/* The caller's working directory by default. */
	ck_assert_ptr_nonnull(realpath(d.dir, real));
	ck_assert_int_eq(chdir(real), 0);
	ck_assert_int_ge(asprintf(&expect, "%s\n", real), 0);
	ctl(&r, NULL, "process", "--", "pwd", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, expect);
	run_result_free(&r);

	/* --stdin relative to it, --env, --cwd. */
	write_file(input, "from stdin\n", 11, 0644);
	ctl(&r, NULL, "process", "--cwd", "/usr", "--env", "A=1", "--env", "B=x=y",
	    "--stdin", "input", "--", "sh", "-c", "pwd; echo $A $B; cat", NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "/usr\n1 x=y\nfrom stdin\n");
	run_result_free(&r);
	ck_assert_int_eq(chdir("/"), 0);
	free(expect);
	free(input);
}
END_TEST

/* Job ID's state, as job.get on the default connection says. */
static char *
state_of(int64_t id)
{
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}",
					(long long)id);
	char *state = strdup(jstr(r, "result.job.state"));

	json_object_put(r);
	return state;
}

/* Waits until job ID is no longer queued. */
static void
wait_not_queued(int64_t id)
{
	for (int i = 0; i < 1000; i++) {
		char *state = state_of(id);
		bool queued = strcmp(state, "queued") == 0;
		free(state);
		if (!queued)
			return;
		usleep(10000);
	}
	ck_abort_msg("job %lld did not start", (long long)id);
}

/* The daemon stops while jobs of every kind run and a client has
 * stopped reading: a process that ignores SIGTERM floods that client's
 * connection, so that even its SIGKILL does not end the job (its pipes
 * are not read while the client is blocked) and the stop's grace
 * (--stop-timeout 1, + 2 s) runs out. The daemon must still exit 0 in
 * time, which under the sanitizers means that every kind let go of its
 * job's state (timers, pipes, pool items, curl handles) and nothing
 * leaked. After a restart the process job fails as one that was
 * running when the daemon stopped: it was torn down, not ended. */
START_TEST(forced_stop_releases_every_running_job)
{
	const char *const extra[] = {"--stop-timeout", "1", NULL};
	char big[128], dest[128];
	struct thttpd h;
	struct tconn *stalled;
	int64_t ids[6];
	int fd;

	tf_close(&d, &c);
	th_start(&h);
	start_with(extra);
	snprintf(big, sizeof big, "%s/big", d.dir);
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 256 << 20), 0);
	close(fd);
	snprintf(dest, sizeof dest, "%s/slow.bin", d.dir);

	stalled = tc_open(d.sock);
	ids[0] = tc_submit(stalled, "{\"kind\":\"process\",\"args\":{\"argv\":"
				    "[\"sh\",\"-c\",\"trap '' TERM; "
				    "exec cat /dev/zero\"]}}");
	ids[1] = tc_submit(stalled, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000},"
				    "\"on_interrupt\":\"fail\"}");
	ids[2] = tc_submit(stalled, "{\"kind\":\"read-file\",\"args\":"
				    "{\"path\":\"%s\"}}", big);
	ids[3] = tc_submit(stalled, "{\"kind\":\"fetch-user\",\"args\":"
				    "{\"uid\":%u}}", (unsigned)getuid());
	ids[4] = tc_submit(stalled, "{\"kind\":\"download\",\"args\":"
				    "{\"url\":\"%s/slow/100000000?rate=65536\","
				    "\"dest\":\"%s\"}}", h.base, dest);
	ids[5] = tc_submit(stalled, "{\"kind\":\"download\",\"args\":"
				    "{\"url\":\"%s/slow/100000000?rate=10000000\","
				    "\"stream\":true}}", h.base);
	/* From here on nobody reads the stalled connection. */
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		wait_not_queued(ids[i]);
	usleep(500000); /* the flood fills the connection's buffers */
	char *state = state_of(ids[0]);
	ck_assert_str_eq(state, "running");
	free(state);

	/* The stalled connection stays open until the daemon is gone. */
	ck_assert_int_eq(td_halt(&d, SIGTERM), 0);
	tc_close(stalled);
	tc_close(c);
	th_stop(&h);

	td_restart(&d, NULL);
	c = tc_open(d.sock);
	for (int i = 0; i < 1000; i++) {
		state = state_of(ids[0]);
		bool failed = strcmp(state, "failed") == 0;
		free(state);
		if (failed)
			break;
		usleep(10000);
	}
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}",
					(long long)ids[0]);
	ck_assert_str_eq(jstr(r, "result.job.state"), "failed");
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "interrupted");
	ck_assert_str_eq(jstr(r, "result.job.error.message"),
			 "the daemon stopped while it ran");
	json_object_put(r);
}
END_TEST

static Suite *
process_suite(void)
{
	Suite *s = suite_create("process");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, exit_zero_completes_with_pid_and_elapsed);
	tcase_add_test(tc, exit_status_fails_with_exit_code);
	tcase_add_test(tc, death_by_signal_fails_with_signal);
	tcase_add_test(tc, stdout_and_stderr_are_separate_and_exact);
	tcase_add_test(tc, binary_output_is_exact);
	tcase_add_test(tc, large_output_is_exact);
	tcase_add_test(tc, stderr_does_not_overtake_earlier_stdout);
	tcase_add_test(tc, slow_client_holds_the_program_and_loses_nothing);
	tcase_add_test(tc, a_slow_watcher_holds_the_job_and_the_other_loses_nothing);
	tcase_add_test(tc, leftover_output_waits_for_a_slow_client);
	tcase_add_test(tc, cwd_defaults_to_root_and_can_be_given);
	tcase_add_test(tc, environment_is_minimal_plus_given);
	tcase_add_test(tc, program_is_looked_up_in_the_jobs_path);
	tcase_add_test(tc, stdin_comes_from_the_given_file);
	tcase_add_test(tc, child_starts_clean);
	tcase_add_test(tc, missing_program_fails_not_found);
	tcase_add_test(tc, unexecutable_program_fails_permission_denied);
	tcase_add_test(tc, bad_args_are_rejected_with_the_field);
	tcase_add_test(tc, process_limit_defaults_to_cpus_and_can_be_set);
	suite_add_tcase(s, tc);

	tc = tcase_create("stop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, cancel_kills_a_term_ignoring_group_after_the_grace);
	tcase_add_test(tc, cancel_leaves_nothing_of_the_group);
	tcase_add_test(tc, timeout_kills_the_group);
	tcase_add_test(tc, leftover_holding_the_pipe_does_not_hang_the_job);
	tcase_add_test(tc, forced_stop_releases_every_running_job);
	suite_add_tcase(s, tc);

	tc = tcase_create("progress");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, progress_lines_in_both_formats_and_malformed_ones_ignored);
	tcase_add_test(tc, progress_is_rate_limited_and_the_last_value_arrives);
	tcase_add_test(tc, progress_held_back_is_sent_while_the_program_runs);
	suite_add_tcase(s, tc);

	tc = tcase_create("asyncctl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, asyncctl_process_writes_output_byte_for_byte);
	tcase_add_test(tc, asyncctl_process_exit_status_is_1_when_the_program_fails);
	tcase_add_test(tc, asyncctl_process_options);
	suite_add_tcase(s, tc);
	return s;
}

/* Programs run as other users: only a root daemon can, and only root
 * connects as them. */
static Suite *
process_root_suite(void)
{
	Suite *s = suite_create("process as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, program_runs_as_the_submitting_user);
	tcase_add_test(tc, program_gets_the_users_groups_from_the_database);
	tcase_add_test(tc, non_root_daemon_runs_programs_for_its_own_user_only);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(process_suite, process_root_suite,
			       "to run programs as other users");
}
