/* asyncctl's job control end to end: queues, priorities, delayed starts,
 * retries, after-any, pause and resume, restart, rm and clean, each
 * through the real asyncctl against a real asyncd, with its output and
 * its exit status. Waits are on job states and events, with deadlines. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../proto/proto.h"
#include "../testutil.h"

static struct tdaemon d;

/* A file read-file cannot open: its jobs fail with not-found. */
#define MISSING "/nonexistent/asyncd-ctl-control"

static void
setup(void)
{
	td_start(&d, NULL);
}

static void
teardown(void)
{
	ck_assert_int_eq(td_stop(&d), 0);
}

/* Runs asyncctl --socket SOCK with the arguments up to a NULL, with ENV
 * ("K=V" or NULL) added to its environment. */
static void
ctl_env(struct run_result *r, const char *env, ...)
{
	va_list ap;

	va_start(ap, env);
	tctl_vrun(r, d.sock, NULL, env, ap);
	va_end(ap);
}

#define CTL(r, ...) ctl_env(r, NULL, __VA_ARGS__, (char *)NULL)
#define CTL_ENV(r, env, ...) ctl_env(r, env, __VA_ARGS__, (char *)NULL)

/* Runs asyncctl --detach ARGS..., which must print one job id; returns it
 * as text in BUF. */
#define DETACH(buf, ...)                                                      \
	do {                                                                  \
		struct run_result r_;                                         \
		CTL(&r_, "--detach", __VA_ARGS__);                            \
		ck_assert_msg(r_.status == 0, "%s", r_.err);                  \
		ck_assert_int_gt(atoll(r_.out), 0);                           \
		snprintf(buf, sizeof buf, "%lld", atoll(r_.out));             \
		run_result_free(&r_);                                         \
	} while (0)

/* Runs asyncctl with ARGS (up to a NULL) and expects exit STATUS, and
 * OUT on its stdout and ERR on its stderr unless NULL; LINE is the
 * test's. */
static void
expect_at(int line, int status, const char *out, const char *err, ...)
{
	char *argv[32] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket", d.sock};
	struct run_result r;
	int n = 3;
	va_list ap;

	va_start(ap, err);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	run_program(argv, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == status, "line %d: %s %s: exit %d, not %d: %s%s",
		      line, argv[3], n > 4 ? argv[4] : "", r.status, status, r.out,
		      r.err);
	ck_assert_msg(out == NULL || strstr(r.out, out) != NULL,
		      "line %d: no \"%s\" in: %s", line, out, r.out);
	ck_assert_msg(err == NULL || strstr(r.err, err) != NULL,
		      "line %d: no \"%s\" in: %s", line, err, r.err);
	run_result_free(&r);
}

#define EXPECT_OUT(status, out, ...) \
	expect_at(__LINE__, status, out, NULL, __VA_ARGS__, (char *)NULL)
#define EXPECT_ERR(status, err, ...) \
	expect_at(__LINE__, status, NULL, err, __VA_ARGS__, (char *)NULL)

/* job.get of ID, over a connection of the test's own. */
static struct json_object *
get_job(struct tconn *c, const char *id)
{
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%s}", id);

	ck_assert_msg(jget(r, "result.job") != NULL, "job %s: %s", id,
		      json_object_to_json_string(r));
	return r;
}

/* Whether job ID is in STATE now. */
static bool
in_state(struct tconn *c, const char *id, const char *state)
{
	struct json_object *r = get_job(c, id);
	bool yes = strcmp(jstr(r, "result.job.state"), state) == 0;

	json_object_put(r);
	return yes;
}

/* Waits (10 s at most) until job ID is in STATE. */
static void
await_state(struct tconn *c, const char *id, const char *state)
{
	long long deadline = td_mono_ms() + 10000;

	while (!in_state(c, id, state)) {
		ck_assert_msg(td_mono_ms() < deadline, "job %s never %s", id, state);
		usleep(10000);
	}
}

/* A time member of job ID, in ms since the epoch (-1: null). */
static long long
job_time(struct tconn *c, const char *id, const char *member)
{
	char path[64];
	long long ms = -1;
	struct json_object *r = get_job(c, id);

	snprintf(path, sizeof path, "result.job.%s", member);
	if (!jnull(r, path))
		ck_assert_int_eq(proto_parse_time(jstr(r, path), &ms), 0);
	json_object_put(r);
	return ms;
}

/* The queue NAME of queue.list: *RUNNING and *QUEUED; false if absent. */
static bool
queue_counts(struct tconn *c, const char *name, int64_t *running,
	     int64_t *queued)
{
	struct json_object *r = tc_call(c, "queue.list", NULL);
	struct json_object *qs = jget(r, "result.queues");
	bool found = false;

	for (size_t i = 0; qs != NULL && i < json_object_array_length(qs); i++) {
		struct json_object *q = json_object_array_get_idx(qs, i);
		if (strcmp(jstr(q, "name"), name) == 0) {
			*running = jint(q, "running");
			*queued = jint(q, "queued");
			found = true;
		}
	}
	json_object_put(r);
	return found;
}

/* Waits (10 s at most) until queue NAME runs RUNNING jobs and holds
 * QUEUED. */
static void
await_queue(struct tconn *c, const char *name, int64_t running, int64_t queued)
{
	long long deadline = td_mono_ms() + 10000;
	int64_t r = -1, q = -1;

	while (!queue_counts(c, name, &r, &q) || r != running || q != queued) {
		ck_assert_msg(td_mono_ms() < deadline,
			      "queue %s: running %lld queued %lld, not %lld %lld",
			      name, (long long)r, (long long)q, (long long)running,
			      (long long)queued);
		usleep(10000);
	}
}

/* The line of TEXT that starts with PREFIX (malloc'd), or NULL. */
static char *
line_starting(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *end = strchr(p, '\n');
		if (strncmp(p, prefix, n) == 0)
			return strndup(p, end ? (size_t)(end - p) : strlen(p));
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

/* How many times NEEDLE occurs in TEXT. */
static int
count_of(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* An asyncctl running in the background, its stdout and stderr in
 * files. */
struct bg {
	pid_t pid;
	char out[40], err[40];
};

static void
bg_start(struct bg *b, ...)
{
	char *argv[32] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket", d.sock};
	int n = 3, fo, fe;
	va_list ap;

	va_start(ap, b);
	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	snprintf(b->out, sizeof b->out, "/tmp/asyncd-ctl-out.XXXXXX");
	snprintf(b->err, sizeof b->err, "/tmp/asyncd-ctl-err.XXXXXX");
	fo = mkstemp(b->out);
	fe = mkstemp(b->err);
	ck_assert(fo >= 0 && fe >= 0);
	b->pid = fork();
	ck_assert_int_ge(b->pid, 0);
	if (b->pid == 0) {
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fo);
	close(fe);
}

#define BG(b, ...) bg_start(b, __VA_ARGS__, (char *)NULL)

/* Waits (10 s at most) until the file PATH holds WANT; returns its text
 * (malloc'd). */
static char *
await_text(const char *path, const char *want)
{
	long long deadline = td_mono_ms() + 10000;
	char *text = NULL;

	for (;;) {
		free(text);
		text = read_file(path, NULL);
		if (text != NULL && strstr(text, want) != NULL)
			return text;
		ck_assert_msg(td_mono_ms() < deadline, "never saw \"%s\" in: %s",
			      want, text ? text : "");
		usleep(10000);
	}
}

/* Waits for the background asyncctl to exit; returns its exit status. */
static int
bg_wait(struct bg *b)
{
	int status;

	ck_assert_int_eq(waitpid(b->pid, &status, 0), b->pid);
	ck_assert_msg(WIFEXITED(status), "asyncctl died of signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void
bg_free(struct bg *b)
{
	unlink(b->out);
	unlink(b->err);
}

/* ---- Queues ------------------------------------------------------------- */

START_TEST(queue_max_running_and_list)
{
	struct tconn *c = tc_open(d.sock);
	struct run_result r;
	char id[4][32], want[160], *line;
	int64_t running, queued;
	int owner;

	CTL(&r, "queue", "work", "--max-running", "2");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strstr(r.out, "NAME") && strstr(r.out, "MAX-RUNNING"), "%s", r.out);
	line = line_starting(r.out, "work ");
	ck_assert_msg(line != NULL, "%s", r.out);
	snprintf(want, sizeof want, "%-16s  %6u  %11s  %6s  %6d  %7d", "work",
		 (unsigned)getuid(), "2", "no", 0, 0);
	ck_assert_str_eq(line, want);
	free(line);
	run_result_free(&r);
	for (int i = 0; i < 4; i++)
		DETACH(id[i], "--queue", "work", "sleep", "60000");
	await_queue(c, "work", 2, 2);

	/* The table shows them: 2 running, 2 queued. */
	CTL(&r, "queue");
	ck_assert_int_eq(r.status, 0);
	line = line_starting(r.out, "work ");
	ck_assert_msg(line != NULL, "%s", r.out);
	char name[70], max[16], paused[8];
	ck_assert_int_eq(sscanf(line, "%69s %d %15s %7s %lld %lld", name, &owner, max,
				paused, (long long *)&queued, (long long *)&running),
			 6);
	ck_assert_int_eq(owner, (int)getuid());
	ck_assert_str_eq(max, "2");
	ck_assert_str_eq(paused, "no");
	ck_assert_int_eq(queued, 2);
	ck_assert_int_eq(running, 2);
	free(line);
	run_result_free(&r);

	/* list --queue: all four, with the queue's name. */
	CTL(&r, "list", "--queue", "work");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "QUEUE"), "%s", r.out);
	ck_assert_int_eq(count_of(r.out, " work "), 4);
	ck_assert_int_eq(count_of(r.out, "running    sleep       work"), 2);
	ck_assert_int_eq(count_of(r.out, "queued     sleep       work"), 2);
	for (int i = 0; i < 4; i++) {
		snprintf(want, sizeof want, "\n%8s  ", id[i]);
		ck_assert_msg(strstr(r.out, want), "no job %s in: %s", id[i], r.out);
	}
	run_result_free(&r);
	CTL(&r, "list", "--queue", "work", "--state", "queued");
	ck_assert_int_eq(count_of(r.out, " work "), 2);
	run_result_free(&r);
	EXPECT_OUT(0, "\"jobs\":[]", "--json", "list", "--queue", "elsewhere");

	/* The queue alone; raising its limit starts a third. */
	EXPECT_OUT(0, "            2      no       2        2", "queue", "work");
	EXPECT_OUT(0, "            3      no       2        2", "queue", "work",
		   "--max-running", "3");
	await_queue(c, "work", 3, 1);
	EXPECT_OUT(0, "         none      no       1        3", "queue", "work",
		   "--max-running", "none");
	await_queue(c, "work", 4, 0);
	EXPECT_OUT(0, "\"queues\":[{\"name\":\"work\"", "--json", "queue");

	/* A queue with no jobs and no settings: shown with the defaults. */
	EXPECT_OUT(0, "         none      no       0        0", "queue", "nowhere");
	EXPECT_ERR(0, "queue nowhere has no jobs or settings of its own", "queue",
		   "nowhere");
	/* No such note for a queue that has jobs. */
	CTL(&r, "queue", "work");
	ck_assert_msg(strstr(r.out, "         none      no       0        4"), "%s", r.out);
	ck_assert_str_eq(r.err, "");
	run_result_free(&r);
	EXPECT_ERR(4, "max_running", "queue", "work", "--max-running", "5000");
	tc_close(c);
}
END_TEST

START_TEST(queue_pause_and_resume)
{
	struct tconn *c = tc_open(d.sock);
	char held[32];

	/* Only a queue that exists can be paused. */
	EXPECT_ERR(4, "name", "queue", "pause", "nosuch");
	EXPECT_OUT(0, NULL, "queue", "hold", "--max-running", "4");
	EXPECT_OUT(0, "queue hold: paused\n", "queue", "pause", "hold");
	EXPECT_OUT(0, "queue hold: already paused\n", "queue", "pause", "hold");
	EXPECT_OUT(0, "            4     yes       0        0", "queue");
	DETACH(held, "--queue", "hold", "sleep", "0");
	/* A job of another queue submitted later runs to its end meanwhile;
	 * the held one is still queued after it. */
	EXPECT_OUT(0, "completed", "--queue", "other", "sleep", "0");
	ck_assert(in_state(c, held, "queued"));
	EXPECT_OUT(0, "            4     yes       1        0", "queue", "hold");
	EXPECT_OUT(0, "queue hold: resumed\n", "queue", "resume", "hold");
	EXPECT_OUT(0, "queue hold: not paused\n", "queue", "resume", "hold");
	EXPECT_OUT(0, NULL, "wait", held);
	EXPECT_OUT(0, "\"changed\":false", "--json", "queue", "resume", "hold");
	tc_close(c);
}
END_TEST

/* ---- Submit options ----------------------------------------------------- */

START_TEST(priority_orders_a_queue)
{
	struct tconn *c = tc_open(d.sock);
	char blocker[32], low[32], high[32];
	struct json_object *r, *ev;
	int64_t first = 0;

	EXPECT_OUT(0, NULL, "queue", "one", "--max-running", "1");
	DETACH(blocker, "--queue", "one", "sleep", "60000");
	await_state(c, blocker, "running");
	DETACH(low, "--queue", "one", "--priority", "-5", "sleep", "0");
	DETACH(high, "--queue", "one", "--priority", "5", "sleep", "0");
	EXPECT_OUT(0, "  priority       5\n", "get", high);
	EXPECT_OUT(0, "\"priority\":-5", "--json", "get", low);
	r = tc_call(c, "job.watch", "{\"all\":true}");
	json_object_put(r);
	EXPECT_OUT(0, NULL, "cancel", blocker);
	/* The first of the two to start is the high one, submitted last. */
	while (first == 0 && (ev = tc_event(c, 10000)) != NULL) {
		if (strcmp(jstr(ev, "method"), "job.started") == 0 &&
		    jint(ev, "params.id") != atoll(blocker))
			first = jint(ev, "params.id");
		json_object_put(ev);
	}
	ck_assert_int_eq(first, atoll(high));
	EXPECT_OUT(0, NULL, "wait", low, high);
	ck_assert_int_le(job_time(c, high, "finished"), job_time(c, low, "started"));
	tc_close(c);
}
END_TEST

START_TEST(in_holds_a_job_until_then)
{
	static const struct {
		const char *text;
		long long ms;
	} durations[] = {
		{"90", 90000},     {"500ms", 500},    {"30s", 30000},
		{"1.5s", 1500},    {"5m", 300000},    {"2h", 7200000},
		{"1d", 86400000},  {"0.25m", 15000},
	};
	struct tconn *c = tc_open(d.sock);
	char id[32];
	struct run_result r;

	DETACH(id, "--in", "1s", "sleep", "0");
	CTL(&r, "get", id);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "queued") && strstr(r.out, "  not before     "),
		      "%s", r.out);
	run_result_free(&r);
	long long created = job_time(c, id, "created");
	long long not_before = job_time(c, id, "not_before");
	ck_assert_int_gt(not_before, created);
	ck_assert_int_le(not_before - created, 1000);
	EXPECT_OUT(0, NULL, "wait", id);
	ck_assert_int_ge(job_time(c, id, "started"), not_before);

	/* Each unit: the short ones run, the long ones are cancelled. */
	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		DETACH(id, "--in", durations[i].text, "sleep", "0");
		long long delay = job_time(c, id, "not_before") -
				  job_time(c, id, "created");
		ck_assert_msg(delay > durations[i].ms - 1000 && delay <= durations[i].ms,
			      "--in %s: not_before %lld ms after created",
			      durations[i].text, delay);
		if (durations[i].ms < 15000) {
			EXPECT_OUT(0, NULL, "wait", id);
			continue;
		}
		ck_assert(in_state(c, id, "queued"));
		EXPECT_OUT(0, NULL, "cancel", id);
	}
	tc_close(c);
}
END_TEST

/* T (seconds since the epoch) as RFC 3339 with the offset +02:00. */
static void
format_plus2(time_t t, char *buf, size_t size)
{
	time_t local = t + 2 * 3600;
	struct tm tm;

	gmtime_r(&local, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S+02:00", &tm);
}

START_TEST(at_takes_rfc3339_and_local_clock_times)
{
	struct tconn *c = tc_open(d.sock);
	char id[32], at[64], want[64], hhmm[16];
	time_t now = time(NULL), t;
	struct tm tm;

	/* RFC 3339 with an offset, sent as it is; due in a second or two. */
	t = now + 2;
	format_plus2(t, at, sizeof at);
	DETACH(id, "--at", at, "sleep", "0");
	ck_assert_int_eq(job_time(c, id, "not_before"), (long long)t * 1000);
	EXPECT_OUT(0, NULL, "wait", id);
	ck_assert_int_ge(job_time(c, id, "started"), (long long)t * 1000);

	/* HH:MM on a local clock 5:30 ahead of UTC (no summer time): the
	 * next such minute, here two minutes or less from now... */
	t = (now / 60 + 2) * 60;
	time_t local = t + 5 * 3600 + 30 * 60;
	gmtime_r(&local, &tm);
	strftime(hhmm, sizeof hhmm, "%H:%M", &tm);
	struct run_result r;
	CTL_ENV(&r, "TZ=XYZ-5:30", "--json", "--detach", "--at", hhmm, "sleep", "0");
	ck_assert_msg(r.status == 0, "%s", r.err);
	proto_format_time((long long)t * 1000, want);
	ck_assert_msg(strstr(r.out, want), "--at %s: want %s in %s", hhmm, want, r.out);
	run_result_free(&r);
	/* ...and one a minute or two ago is tomorrow's, with seconds. */
	t = (now / 60 - 1) * 60 + 30;
	local = t + 5 * 3600 + 30 * 60;
	gmtime_r(&local, &tm);
	strftime(hhmm, sizeof hhmm, "%H:%M:%S", &tm);
	CTL_ENV(&r, "TZ=XYZ-5:30", "--json", "--detach", "--at", hhmm, "sleep", "0");
	ck_assert_msg(r.status == 0, "%s", r.err);
	proto_format_time((long long)(t + 86400) * 1000, want);
	ck_assert_msg(strstr(r.out, want), "--at %s: want %s in %s", hhmm, want, r.out);
	run_result_free(&r);

	/* Both --in and --at: the daemon's error. */
	EXPECT_ERR(4, "delay_ms", "--in", "1s", "--at", at, "sleep", "0");
	tc_close(c);
}
END_TEST

START_TEST(retry_prints_each_attempt_and_ends_failed)
{
	struct tconn *c = tc_open(d.sock);
	struct run_result r;
	char id[32], want[96];

	CTL(&r, "--retry", "2", "--retry-delay", "100ms", "read-file", MISSING);
	ck_assert_msg(r.status == 1, "exit %d: %s", r.status, r.err);
	ck_assert_str_eq(r.out, "");
	/* Its id, from the last line: "job N failed: ...". */
	char *last = strstr(r.err, " failed: not-found: ");
	ck_assert_msg(last != NULL, "%s", r.err);
	while (last > r.err && last[-1] != '\n')
		last--;
	ck_assert_int_eq(sscanf(last, "job %31[0-9] failed", id), 1);
	for (int attempt = 1; attempt <= 2; attempt++) {
		snprintf(want, sizeof want, "job %s: attempt %d failed (not-found: ",
			 id, attempt);
		char *line = strstr(r.err, want);
		ck_assert_msg(line != NULL, "no \"%s\" in: %s", want, r.err);
		line = strstr(line, "); retrying at ");
		ck_assert_ptr_nonnull(line);
		int h, m, s;
		char end;
		ck_assert_int_eq(sscanf(line, "); retrying at %2d:%2d:%2d%c", &h, &m,
					&s, &end), 4);
		ck_assert_int_eq(end, '\n');
	}
	ck_assert_int_eq(count_of(r.err, "retrying at"), 2);
	ck_assert_int_eq(count_of(r.err, "failed: not-found"), 1);
	run_result_free(&r);
	struct json_object *job = get_job(c, id);
	ck_assert_int_eq(jint(job, "result.job.attempts"), 3);
	ck_assert_int_eq(jint(job, "result.job.retry.max"), 2);
	ck_assert_int_eq(jint(job, "result.job.retry.delay_ms"), 100);
	json_object_put(job);
	EXPECT_OUT(0, "  retry          2 times, after 100 ms, backoff 2\n", "get", id);

	/* --json: the events as they are, one job.retrying per retry. */
	CTL(&r, "--json", "--retry", "1", "--retry-delay", "0", "read-file", MISSING);
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(count_of(r.out, "\"method\":\"job.retrying\""), 1);
	ck_assert_int_eq(count_of(r.out, "\"method\":\"job.started\""), 2);
	ck_assert_int_eq(count_of(r.out, "\"method\":\"job.failed\""), 1);
	ck_assert_str_eq(r.err, "");
	run_result_free(&r);

	/* A retried job that ends well exits 0. */
	EXPECT_OUT(0, "slept 0 ms", "--retry", "3", "sleep", "0");
	/* Limits are the daemon's. */
	EXPECT_ERR(4, "retry.max", "--retry", "0", "sleep", "0");
	EXPECT_ERR(4, "retry.max", "--retry-delay", "1s", "sleep", "0");
	tc_close(c);
}
END_TEST

START_TEST(after_any_runs_after_a_failure)
{
	char failed[32], want[64];

	DETACH(failed, "read-file", MISSING);
	snprintf(want, sizeof want, "\"after_any\":[%s]", failed);
	struct run_result r;
	CTL(&r, "--json", "--after-any", failed, "sleep", "0");
	ck_assert_msg(r.status == 0, "%s%s", r.out, r.err);
	ck_assert_msg(strstr(r.out, want) && strstr(r.out, "\"method\":\"job.completed\""),
		      "%s", r.out);
	run_result_free(&r);
	/* What --after does instead. */
	EXPECT_ERR(1, "dependency-failed", "--after", failed, "sleep", "0");
	snprintf(want, sizeof want, "  after any      [%s]\n", failed);
	char id[32];
	DETACH(id, "--after-any", failed, "sleep", "0");
	EXPECT_OUT(0, want, "get", id);
	EXPECT_ERR(4, "after_any", "--after-any", "999999", "sleep", "0");
}
END_TEST

/* ---- Pause, resume ------------------------------------------------------ */

START_TEST(pause_and_resume_a_queued_job)
{
	struct tconn *c = tc_open(d.sock);
	char blocker[32], id[32] = "", other[32], want[64];
	struct json_object *r;
	struct bg follower, waiter;
	char *text;

	EXPECT_OUT(0, NULL, "queue", "solo", "--max-running", "1");
	DETACH(blocker, "--queue", "solo", "sleep", "60000");
	await_state(c, blocker, "running");
	/* A job command follows its job, held behind the blocker. */
	BG(&follower, "--queue", "solo", "sleep", "0");
	long long deadline = td_mono_ms() + 10000;
	while (id[0] == '\0') {
		r = tc_call(c, "job.list", "{\"queue\":\"solo\",\"state\":\"queued\"}");
		if (json_object_array_length(jget(r, "result.jobs")) > 0)
			snprintf(id, sizeof id, "%lld", (long long)jint(r, "result.jobs.0.id"));
		json_object_put(r);
		ck_assert_msg(td_mono_ms() < deadline, "the job never came");
		usleep(10000);
	}
	/* And wait --json watches it too. */
	BG(&waiter, "--json", "wait", id);
	free(await_text(waiter.out, "\"result\":{\"job\""));

	snprintf(want, sizeof want, "job %s: not paused\n", id);
	EXPECT_OUT(0, want, "resume", id);
	snprintf(want, sizeof want, "job %s: paused\n", id);
	EXPECT_OUT(0, want, "pause", id);
	snprintf(want, sizeof want, "job %s: already paused\n", id);
	EXPECT_OUT(0, want, "pause", id);
	EXPECT_OUT(0, "  paused         yes\n", "get", id);
	snprintf(want, sizeof want, "job %s: paused\n", id);
	free(await_text(follower.err, want));
	free(await_text(waiter.out, "\"method\":\"job.paused\""));

	/* The queue's slot is free, yet the paused job stays: one submitted
	 * after it runs to its end. */
	EXPECT_OUT(0, NULL, "cancel", blocker);
	DETACH(other, "--queue", "solo", "sleep", "0");
	EXPECT_OUT(0, NULL, "wait", other);
	ck_assert(in_state(c, id, "queued"));

	snprintf(want, sizeof want, "job %s: resumed\n", id);
	EXPECT_OUT(0, want, "resume", id);
	ck_assert_int_eq(bg_wait(&follower), 0);
	text = read_file(follower.out, NULL);
	snprintf(want, sizeof want, "job %s completed: slept 0 ms\n", id);
	ck_assert_str_eq(text, want);
	free(text);
	text = read_file(follower.err, NULL);
	snprintf(want, sizeof want, "job %s: paused\njob %s: resumed\n", id, id);
	ck_assert_str_eq(text, want);
	free(text);
	ck_assert_int_eq(bg_wait(&waiter), 0);
	text = read_file(waiter.out, NULL);
	ck_assert_int_eq(count_of(text, "\"method\":\"job.resumed\""), 1);
	ck_assert_int_eq(count_of(text, "\"method\":\"job.completed\""), 1);
	free(text);
	bg_free(&follower);
	bg_free(&waiter);

	/* A finished job, one that does not exist, one that is not an id. */
	EXPECT_ERR(4, "finished", "pause", id);
	EXPECT_ERR(4, "no such job", "resume", "999999");
	EXPECT_ERR(2, "not a job id", "pause", "x");
	EXPECT_ERR(2, "expected job ids", "resume");
	tc_close(c);
}
END_TEST

/* ---- Restart, rm, clean ------------------------------------------------- */

START_TEST(restart_jobs)
{
	struct tconn *c = tc_open(d.sock);
	char failed[32], again[32], ok[32], held[32], want[96];
	struct run_result r;

	DETACH(failed, "read-file", MISSING);
	EXPECT_OUT(1, NULL, "wait", failed);
	/* --detach: the new id, alone on its line. */
	CTL(&r, "restart", "--detach", failed);
	ck_assert_msg(r.status == 0, "%s", r.err);
	snprintf(again, sizeof again, "%lld", atoll(r.out));
	snprintf(want, sizeof want, "%s\n", again);
	ck_assert_str_eq(r.out, want);
	ck_assert_int_gt(atoll(again), atoll(failed));
	run_result_free(&r);
	snprintf(want, sizeof want, "  restarted from %s\n", failed);
	EXPECT_OUT(1, NULL, "wait", again);
	EXPECT_OUT(0, want, "get", again);
	/* Followed: it says which job it made and ends as that job does. */
	CTL(&r, "restart", failed);
	ck_assert_int_eq(r.status, 1);
	snprintf(want, sizeof want, "job %s restarted as job ", failed);
	ck_assert_msg(strstr(r.err, want) && strstr(r.err, "failed: not-found"), "%s", r.err);
	run_result_free(&r);

	DETACH(ok, "sleep", "0");
	EXPECT_OUT(0, NULL, "wait", ok);
	EXPECT_OUT(0, "completed: slept 0 ms", "restart", ok);
	EXPECT_OUT(0, "\"restarted_from\":", "--json", "--detach", "restart", ok);

	/* Not finished yet: the daemon's error. */
	DETACH(held, "--in", "1h", "sleep", "0");
	EXPECT_ERR(4, "not finished", "restart", held);
	EXPECT_ERR(2, "expected job ids", "restart");
	EXPECT_ERR(2, "--queue goes with --failed", "restart", "--queue", "q", ok);
	tc_close(c);
}
END_TEST

/* The ids, one a line, asyncctl printed in OUT: N of them into IDS. */
static int
ids_of(const char *out, long long *ids, int max)
{
	int n = 0;

	for (const char *p = out; *p != '\0' && n < max; p = strchr(p, '\n') + 1)
		ids[n++] = atoll(p);
	return n;
}

START_TEST(restart_failed_jobs)
{
	struct tconn *c = tc_open(d.sock);
	char f1[32], f2[32], f3[32], done[32], id[32];
	long long first[4], second[4];
	struct run_result r;

	DETACH(f1, "--queue", "rq", "read-file", MISSING);
	DETACH(f2, "--queue", "rq", "read-file", MISSING);
	DETACH(done, "--queue", "rq", "sleep", "0");
	DETACH(f3, "read-file", MISSING);
	EXPECT_OUT(1, NULL, "wait", f1, f2, f3, done);

	/* The two failed ones of rq, the oldest first. */
	CTL(&r, "restart", "--failed", "--queue", "rq", "--detach");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(ids_of(r.out, first, 4), 2);
	run_result_free(&r);
	for (int i = 0; i < 2; i++) {
		snprintf(id, sizeof id, "%lld", first[i]);
		struct json_object *j = get_job(c, id);
		ck_assert_int_eq(jint(j, "result.job.restarted_from"), atoll(i ? f2 : f1));
		ck_assert_str_eq(jstr(j, "result.job.queue"), "rq");
		json_object_put(j);
		EXPECT_OUT(1, NULL, "wait", id);
	}
	/* Again: what failed since, not the jobs already restarted. */
	CTL(&r, "restart", "--failed", "--queue", "rq", "--detach");
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_int_eq(ids_of(r.out, second, 4), 2);
	run_result_free(&r);
	for (int i = 0; i < 2; i++) {
		snprintf(id, sizeof id, "%lld", second[i]);
		struct json_object *j = get_job(c, id);
		ck_assert_int_eq(jint(j, "result.job.restarted_from"), first[i]);
		json_object_put(j);
		EXPECT_OUT(1, NULL, "wait", id);
	}
	/* Followed, in every queue: f3 and the last two; they fail again. */
	CTL(&r, "restart", "--failed");
	ck_assert_int_eq(r.status, 1);
	ck_assert_int_eq(count_of(r.err, " restarted as job "), 3);
	char want[64];
	snprintf(want, sizeof want, "job %s restarted as", f3);
	ck_assert_msg(strstr(r.err, want), "%s", r.err);
	ck_assert_int_eq(count_of(r.err, "failed: not-found"), 3);
	run_result_free(&r);

	EXPECT_ERR(0, "no failed jobs", "restart", "--failed", "--queue", "empty");
	EXPECT_ERR(2, "--failed takes no job ids", "restart", "--failed", f1);
	tc_close(c);
}
END_TEST

START_TEST(rm_and_clean)
{
	struct tconn *c = tc_open(d.sock);
	char done[32], running[32], c1[32], c2[32], c3[32], want[64];

	DETACH(done, "sleep", "0");
	EXPECT_OUT(0, NULL, "wait", done);
	snprintf(want, sizeof want, "job %s: removed\n", done);
	EXPECT_OUT(0, want, "rm", done);
	EXPECT_ERR(4, "no such job", "get", done);
	EXPECT_ERR(4, "no such job", "rm", done);
	DETACH(running, "sleep", "60000");
	await_state(c, running, "running");
	EXPECT_ERR(4, "not finished", "rm", running);
	EXPECT_OUT(0, NULL, "cancel", running);

	DETACH(c1, "--queue", "cq", "sleep", "0");
	DETACH(c2, "--queue", "cq", "read-file", MISSING);
	DETACH(c3, "--queue", "cq", "read-file", MISSING);
	EXPECT_OUT(1, NULL, "wait", c1, c2, c3);
	EXPECT_OUT(0, "removed 2 jobs\n", "clean", "--state", "failed", "--queue", "cq");
	EXPECT_OUT(0, NULL, "get", c1);
	EXPECT_ERR(4, "no such job", "get", c2);
	EXPECT_OUT(0, "removed 1 job\n", "clean", "--queue", "cq");
	EXPECT_ERR(4, "no such job", "get", c1);
	EXPECT_OUT(0, "{\"removed\":0}", "--json", "clean", "--queue", "cq");
	/* The cancelled sleep is the last failed job left. */
	EXPECT_OUT(0, "removed 1 job\n", "clean", "--state", "failed");
	EXPECT_ERR(4, "state", "clean", "--state", "queued");
	EXPECT_ERR(2, "unexpected argument", "clean", "now");
	tc_close(c);
}
END_TEST

/* ---- Usage ---------------------------------------------------------------- */

START_TEST(bad_values_are_usage_errors)
{
	static const struct {
		const char *args[6];
		const char *says;
	} cases[] = {
		{{"--in", "5x", "sleep", "0"}, "bad value for --in: 5x (a DURATION"},
		{{"--in", "-1s", "sleep", "0"}, "bad value for --in"},
		{{"--in", "", "sleep", "0"}, "bad value for --in"},
		{{"--in", "1.5w", "sleep", "0"}, "bad value for --in"},
		{{"--in", "1 s", "sleep", "0"}, "bad value for --in"},
		{{"--in", "1e3", "sleep", "0"}, "bad value for --in"},
		{{"--in", "s", "sleep", "0"}, "bad value for --in"},
		{{"--in", "99999999999999d", "sleep", "0"}, "bad value for --in"},
		{{"--retry-delay", "soon", "sleep", "0"}, "bad value for --retry-delay"},
		{{"--at", "25:00", "sleep", "0"}, "bad value for --at: 25:00 (a TIME"},
		{{"--at", "12:60", "sleep", "0"}, "bad value for --at"},
		{{"--at", "9:30", "sleep", "0"}, "bad value for --at"},
		{{"--at", "tomorrow", "sleep", "0"}, "bad value for --at"},
		{{"--at", "2026-13-01T00:00:00Z", "sleep", "0"}, "bad value for --at"},
		{{"--at", "2026-12-01T00:00:00", "sleep", "0"}, "bad value for --at"},
		{{"--priority", "high", "sleep", "0"}, "bad value for --priority"},
		{{"--priority", "1.5", "sleep", "0"}, "bad value for --priority"},
		{{"--retry", "x", "sleep", "0"}, "bad value for --retry"},
		{{"--retry", "-1", "sleep", "0"}, "bad value for --retry"},
		{{"--after-any", "0", "sleep", "0"}, "bad value for --after-any"},
		{{"--max-running", "lots", "queue", "q"}, "bad value for --max-running"},
		{{"--queue", "q", "get", "1"}, "--queue does not apply"},
		{{"--priority", "1", "restart", "1"}, "--priority does not apply"},
		{{"--failed", "list"}, "--failed does not apply"},
		{{"queue", "pause"}, "expected pause NAME"},
		{{"queue", "a", "b"}, "unexpected argument"},
		{{"queue", "--max-running", "2"}, "needs a queue NAME"},
		{{"queue", "resume", "q", "--max-running", "2"}, "does not apply"},
		{{"rm"}, "expected job ids"},
		{{"rm", "1", "two"}, "not a job id: two"},
	};
	struct run_result r;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *const *a = cases[i].args;
		CTL(&r, a[0], a[1], a[2], a[3], a[4], a[5]);
		ck_assert_msg(r.status == 2, "%s %s: exit %d", a[0], a[1] ? a[1] : "",
			      r.status);
		ck_assert_msg(strstr(r.err, cases[i].says), "%s %s: %s", a[0],
			      a[1] ? a[1] : "", r.err);
		run_result_free(&r);
	}
	/* Values the client reads but the daemon judges. */
	EXPECT_ERR(4, "priority", "--priority", "500", "sleep", "0");
	EXPECT_ERR(4, "queue", "--queue", "no room", "sleep", "0");
	EXPECT_ERR(4, "delay_ms", "--in", "400d", "sleep", "0");
	/* Nothing was made by any of them. */
	EXPECT_OUT(0, "\"jobs\":[]", "--json", "list");
}
END_TEST

static Suite *
ctl_control_suite(void)
{
	Suite *s = suite_create("ctl_control");
	TCase *tc = tcase_create("job control");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, queue_max_running_and_list);
	tcase_add_test(tc, queue_pause_and_resume);
	tcase_add_test(tc, priority_orders_a_queue);
	tcase_add_test(tc, in_holds_a_job_until_then);
	tcase_add_test(tc, at_takes_rfc3339_and_local_clock_times);
	tcase_add_test(tc, retry_prints_each_attempt_and_ends_failed);
	tcase_add_test(tc, after_any_runs_after_a_failure);
	tcase_add_test(tc, pause_and_resume_a_queued_job);
	tcase_add_test(tc, restart_jobs);
	tcase_add_test(tc, restart_failed_jobs);
	tcase_add_test(tc, rm_and_clean);
	tcase_add_test(tc, bad_values_are_usage_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(ctl_control_suite());
}
