/* job.pause and job.resume of running jobs against a real asyncd: a
 * process group really stops (its CPU time does not grow) and a cancel,
 * a timeout or a stop of the daemon still ends it through SIGTERM; a
 * sleep's clock stops, across restarts too (SIGTERM and kill -9); a
 * read-file sends no chunk while paused, whatever its watcher's
 * backpressure does, and every byte after; a download receives nothing
 * while paused (no progress, no stall timeout, no retry begun) and
 * completes whole; the answers and events, "changed": false without an
 * event, and -32002 for a finished job.
 *
 * Most cases wait for events. Where a case must show that nothing
 * happens while a job is paused, it waits a short time for an event
 * that must not come, and says why that long. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "../../proto/base64.h"
#include "../testutil.h"

#define END_MS 20000 /* the longest any job here may take to end */
#define MiB (1024 * 1024)
/* Room past the expected bytes for a chunk that would overrun them. */
#define SLACK (64 * 1024)

static struct tdaemon d;
static struct tconn *c;
static char work[64]; /* a scratch directory, 0755 */

static void
setup(void)
{
	snprintf(work, sizeof work, "/tmp/asyncd-pause.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(work));
	chmod(work, 0755);
}

static void
teardown(void)
{
	char cmd[128];

	tf_close(&d, &c);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", work);
}

static void
start(const char *const extra[])
{
	tf_open(&d, &c, extra);
}

/* ---- Requests and events ------------------------------------------------ */

/* job.pause (PAUSE) or job.resume of ID on CONN: asserts that it
 * answered "changed": CHANGED with the job in STATE, its "paused" now
 * PAUSE. */
static void
set_paused_in(struct tconn *conn, int64_t id, bool pause, bool changed,
              const char *state)
{
	const char *method = pause ? "job.pause" : "job.resume";
	struct json_object *r =
	    tc_call(conn, method, "{\"id\":%lld}", (long long)id);

	ck_assert_msg(jget(r, "result") != NULL, "%s: %s", method,
	              json_object_to_json_string(r));
	ck_assert_int_eq(json_object_get_boolean(jget(r, "result.changed")),
	                 changed);
	ck_assert_int_eq(jint(r, "result.job.id"), id);
	ck_assert_int_eq(json_object_get_boolean(jget(r, "result.job.paused")),
	                 pause);
	ck_assert_str_eq(jstr(r, "result.job.state"), state);
	json_object_put(r);
}

static void
set_paused(struct tconn *conn, int64_t id, bool pause, bool changed)
{
	set_paused_in(conn, id, pause, changed, "running");
}

/* Asserts what job.get says of ID: STATE and PAUSED. */
static void
assert_job(struct tconn *conn, int64_t id, const char *state, bool paused)
{
	struct json_object *r =
	    tc_call(conn, "job.get", "{\"id\":%lld}", (long long)id);

	ck_assert_str_eq(jstr(r, "result.job.state"), state);
	ck_assert_int_eq(json_object_get_boolean(jget(r, "result.job.paused")),
	                 paused);
	json_object_put(r);
}

/* The next event of job ID on CONN (those of other jobs are dropped)
 * within MS, or NULL. */
static struct json_object *
next_event_of(struct tconn *conn, int64_t id, int ms)
{
	long long end = td_mono_ms() + ms;

	for (;;) {
		long long left = end - td_mono_ms();
		struct json_object *ev =
		    tc_event(conn, left > 0 ? (int)left : 0);
		if (ev == NULL)
			return NULL;
		if (jget(ev, "params.id") != NULL &&
		    jint(ev, "params.id") == id)
			return ev;
		json_object_put(ev);
	}
}

/* Asserts that the next event of ID on CONN is METHOD; returns its seq. */
static int64_t
expect_event(struct tconn *conn, int64_t id, const char *method)
{
	struct json_object *ev = next_event_of(conn, id, END_MS);
	int64_t seq;

	ck_assert_msg(ev != NULL, "no %s of job %lld", method, (long long)id);
	ck_assert_msg(strcmp(jstr(ev, "method"), method) == 0,
	              "wanted %s, got %s", method,
	              json_object_to_json_string(ev));
	seq = jint(ev, "params.seq");
	json_object_put(ev);
	return seq;
}

/* Asserts that no event of ID comes on CONN for MS milliseconds. */
static void
expect_quiet(struct tconn *conn, int64_t id, int ms)
{
	struct json_object *ev = next_event_of(conn, id, ms);

	ck_assert_msg(ev == NULL, "while paused: %.200s",
	              ev != NULL ? json_object_to_json_string(ev) : "");
}

/* job.cancel of ID on CONN. */
static void
cancel(struct tconn *conn, int64_t id)
{
	struct json_object *r =
	    tc_call(conn, "job.cancel", "{\"id\":%lld}", (long long)id);

	ck_assert_msg(jget(r, "result") != NULL, "%s",
	              json_object_to_json_string(r));
	json_object_put(r);
}

/* Waits for ID's end and asserts that it failed with CODE. */
static void
expect_failure(struct tconn *conn, int64_t id, const char *code)
{
	struct json_object *ev = tc_wait_end(conn, id, END_MS);

	ck_assert_msg(strcmp(jstr(ev, "method"), "job.failed") == 0 &&
	                  strcmp(jstr(ev, "params.error.code"), code) == 0,
	              "wanted %s: %s", code, json_object_to_json_string(ev));
	json_object_put(ev);
}

/* Appends the decoded data of job.output EV to BUF (LEN bytes, room for
 * CAP), checking that its offset follows what came before. */
static void
take_output(struct json_object *ev, unsigned char *buf, size_t *len, size_t cap)
{
	const char *text = jstr(ev, "params.data");
	size_t n = strlen(text);

	ck_assert_msg(jint(ev, "params.offset") == (int64_t)*len, "%.200s",
	              json_object_to_json_string(ev));
	if (strcmp(jstr(ev, "params.encoding"), "base64") == 0) {
		ck_assert_int_le(*len + n / 4 * 3, cap);
		long k = base64_decode(text, n, buf + *len);
		ck_assert_int_ge(k, 0);
		*len += (size_t)k;
	} else {
		ck_assert_int_le(*len + n, cap);
		memcpy(buf + *len, text, n);
		*len += n;
	}
}

/* ---- Processes ---------------------------------------------------------- */

/* What /proc/PID/stat says: state letter, parent, CPU time (user +
 * system, in clock ticks). False when PID is gone. */
static bool
proc_stat(pid_t pid, char *state, pid_t *ppid, long long *cpu)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	size_t n;
	char *p;
	FILE *f;
	int pp;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "(comm)": state ppid pgrp session tty_nr tpgid flags
	 * minflt cminflt majflt cmajflt utime stime. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1,
	           " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	           state, &pp, &ut, &st) != 4)
		return false;
	*ppid = pp;
	*cpu = (long long)(ut + st);
	return true;
}

/* Whether PID runs the program named COMM. */
static bool
proc_is(pid_t pid, const char *comm)
{
	char path[64], *text;
	bool is;

	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	text = read_file(path, NULL);
	is = text != NULL && strncmp(text, comm, strlen(comm)) == 0 &&
	     text[strlen(comm)] == '\n';
	free(text);
	return is;
}

/* The daemon's child running COMM (the job's program; the daemon
 * spawns it directly), waiting for it to be there. */
static pid_t
job_process(const char *comm)
{
	long long end = td_mono_ms() + END_MS;

	while (td_mono_ms() < end) {
		DIR *dir = opendir("/proc");
		struct dirent *e;
		pid_t found = 0;

		ck_assert_ptr_nonnull(dir);
		while (found == 0 && (e = readdir(dir)) != NULL) {
			pid_t pid = (pid_t)atoi(e->d_name), ppid;
			long long cpu;
			char state;
			if (pid > 0 && proc_stat(pid, &state, &ppid, &cpu) &&
			    ppid == d.pid && proc_is(pid, comm))
				found = pid;
		}
		closedir(dir);
		if (found != 0)
			return found;
		usleep(10000);
	}
	ck_abort_msg("no process %s of the daemon", comm);
	return 0;
}

/* Waits until PID is stopped (STOPPED) or runs again, and returns its
 * CPU time. */
static long long
proc_wait_state(pid_t pid, bool stopped)
{
	long long end = td_mono_ms() + END_MS, cpu = 0;
	char state = '?';
	pid_t ppid;

	while (td_mono_ms() < end) {
		ck_assert_msg(proc_stat(pid, &state, &ppid, &cpu),
		              "process %d is gone", (int)pid);
		if ((state == 'T') == stopped)
			return cpu;
		usleep(5000);
	}
	ck_abort_msg("process %d is in state %c", (int)pid, state);
	return 0;
}

/* A busy loop: it uses CPU time for as long as it runs. */
#define BUSY_ARGV "[\"sh\",\"-c\",\"while :; do :; done\"]"

START_TEST(paused_process_stops_and_resumed_runs_again)
{
	long long cpu, cpu_later, end;
	int64_t id, seq;
	pid_t pid, ppid;
	char state;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":" BUSY_ARGV
	                  "}}");
	seq = expect_event(c, id, "job.started");
	pid = job_process("sh");

	set_paused(c, id, true, true);
	ck_assert_int_eq(expect_event(c, id, "job.paused"), seq + 1);
	assert_job(c, id, "running", true);
	cpu = proc_wait_state(pid, true);
	/* A stopped process shows itself by what does not happen: its CPU
	 * time does not move. 300 ms is 30 clock ticks, against a busy
	 * loop that would take nearly all of them. */
	usleep(300000);
	ck_assert(proc_stat(pid, &state, &ppid, &cpu_later));
	ck_assert_int_eq(state, 'T');
	ck_assert_int_eq(cpu_later, cpu);

	set_paused(c, id, false, true);
	ck_assert_int_eq(expect_event(c, id, "job.resumed"), seq + 2);
	assert_job(c, id, "running", false);
	proc_wait_state(pid, false);
	end = td_mono_ms() + END_MS;
	while (proc_stat(pid, &state, &ppid, &cpu_later) && cpu_later == cpu &&
	       td_mono_ms() < end)
		usleep(10000);
	ck_assert_msg(cpu_later > cpu, "no CPU time after job.resume");

	cancel(c, id);
	expect_failure(c, id, "cancelled");
}
END_TEST

/* Sets a trap for SIGTERM that writes "term" to TARGET, says "ready",
 * and loops without end. The loop forks nothing: a shell stopped while
 * it forks (dash uses vfork) waits in state D, not T, until its child
 * runs again. */
#define TERM_ARGV(target)                                                      \
	"[\"sh\",\"-c\",\"trap 'echo term" target                              \
	"; exit 7' TERM; echo ready; while :; do :; done\"]"

/* Reads ID's stdout on C until it said "ready\n". */
static void
wait_ready(int64_t id)
{
	struct json_object *ev = next_event_of(c, id, END_MS);

	while (ev != NULL && strcmp(jstr(ev, "method"), "job.output") != 0) {
		json_object_put(ev);
		ev = next_event_of(c, id, END_MS);
	}
	ck_assert_msg(ev != NULL, "job %lld never got ready", (long long)id);
	ck_assert_str_eq(jstr(ev, "params.data"), "ready\n");
	json_object_put(ev);
}

/* Follows ID to its end, which must be failure CODE after the program
 * acted on SIGTERM (its trap wrote "term"): the group was continued,
 * not left stopped until the SIGKILL after the grace. */
static void
expect_terminated(int64_t id, const char *code)
{
	unsigned char out[256] = "ready\n"; /* wait_ready() took it */
	size_t len = 6;
	struct json_object *ev;

	while ((ev = next_event_of(c, id, END_MS)) != NULL &&
	       strcmp(jstr(ev, "method"), "job.output") == 0) {
		take_output(ev, out, &len, sizeof out - 1);
		json_object_put(ev);
	}
	ck_assert_msg(ev != NULL, "job %lld did not end", (long long)id);
	ck_assert_str_eq(jstr(ev, "method"), "job.failed");
	ck_assert_str_eq(jstr(ev, "params.error.code"), code);
	json_object_put(ev);
	out[len] = '\0';
	ck_assert_str_eq((char *)out, "ready\nterm\n");
}

START_TEST(paused_process_is_cancelled_through_sigterm)
{
	int64_t id;

	start(NULL);
	id = tc_submit(
	    c, "{\"kind\":\"process\",\"args\":{\"argv\":" TERM_ARGV("") "}}");
	wait_ready(id);
	set_paused(c, id, true, true);
	expect_event(c, id, "job.paused");
	proc_wait_state(job_process("sh"), true);
	cancel(c, id);
	expect_terminated(id, "cancelled");
}
END_TEST

START_TEST(paused_process_times_out_through_sigterm)
{
	int64_t id;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"process\",\"timeout_ms\":2500,"
	                  "\"args\":{\"argv\":" TERM_ARGV("") "}}");
	wait_ready(id);
	set_paused(c, id, true, true);
	expect_event(c, id, "job.paused");
	expect_terminated(id, "timeout");
}
END_TEST

START_TEST(daemon_stop_ends_a_paused_process)
{
	/* A grace past the time td_stop waits: if the SIGTERM were not
	 * acted on, the daemon would still wait for its SIGKILL. */
	const char *extra[] = {"--stop-timeout", "60", NULL};
	char marker[128], args[512], *text;
	int64_t id;

	start(extra);
	snprintf(marker, sizeof marker, "%s/term", work);
	snprintf(
	    args, sizeof args,
	    "{\"kind\":\"process\",\"args\":{\"argv\":" TERM_ARGV(" > %s") "}}",
	    marker);
	id = tc_submit(c, "%s", args);
	wait_ready(id);
	set_paused(c, id, true, true);
	expect_event(c, id, "job.paused");
	proc_wait_state(job_process("sh"), true);
	ck_assert_int_eq(td_stop(&d), 0);
	text = read_file(marker, NULL);
	ck_assert_msg(text != NULL, "the program never got its SIGTERM");
	ck_assert_str_eq(text, "term\n");
	free(text);
}
END_TEST

/* ---- Sleep -------------------------------------------------------------- */

START_TEST(paused_sleep_stops_its_clock)
{
	struct json_object *ev;
	long long t0, elapsed;
	int64_t id;

	start(NULL);
	t0 = td_mono_ms();
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":300}}");
	set_paused(c, id, true, true);
	expect_event(c, id, "job.started");
	expect_event(c, id, "job.paused");
	/* 1 s paused, far more than the 300 ms it sleeps: a clock that went
	 * on would complete the job meanwhile. */
	expect_quiet(c, id, 1000);
	assert_job(c, id, "running", true);
	set_paused(c, id, false, true);
	expect_event(c, id, "job.resumed");
	ev = tc_wait_end(c, id, END_MS);
	elapsed = td_mono_ms() - t0;
	ck_assert_str_eq(jstr(ev, "method"), "job.completed");
	ck_assert_int_eq(jint(ev, "params.result.slept_ms"), 300);
	json_object_put(ev);
	/* 300 ms of sleep around a pause of at least 1 s, less a little for
	 * the whole milliseconds the daemon counts in. */
	ck_assert_msg(elapsed >= 1295, "completed after %lld ms", elapsed);
}
END_TEST

/* A sleep paused, then the daemon stopped by SIG and started again: the
 * job waits queued and paused, and once resumed sleeps only what it had
 * left, though its first deadline has passed by then. */
static void
sleep_left_across_a_restart(int sig)
{
	const int ms = 1500;
	long long t0, paused_at, resumed_at, left;
	struct json_object *ev, *r;
	int64_t id;
	int status;

	start(NULL);
	t0 = td_mono_ms();
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":%d}}", ms);
	set_paused(c, id, true, true);
	paused_at = td_mono_ms();
	expect_event(c, id, "job.started");
	expect_event(c, id, "job.paused");
	tc_close(c);
	c = NULL;
	status = td_halt(&d, sig);
	if (sig == SIGTERM)
		ck_assert_int_eq(status, 0);
	td_restart(&d, NULL);
	c = tc_open(d.sock);
	ck_assert_ptr_nonnull(c);
	r = tc_call(c, "job.watch", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	ck_assert(json_object_get_boolean(jget(r, "result.job.paused")));
	json_object_put(r);
	/* Past the first deadline, which a kept deadline would have the
	 * job sleep to; it must not start meanwhile either. */
	left = t0 + ms + 100 - td_mono_ms();
	expect_quiet(c, id, left > 0 ? (int)left : 0);
	resumed_at = td_mono_ms();
	set_paused_in(c, id, false, true, "queued");
	expect_event(c, id, "job.resumed");
	expect_event(c, id, "job.started");
	ev = tc_wait_end(c, id, END_MS);
	ck_assert_str_eq(jstr(ev, "method"), "job.completed");
	json_object_put(ev);
	/* It had at least MS less the time before the pause left. */
	left = ms - (paused_at - t0);
	ck_assert_msg(td_mono_ms() - resumed_at >= left - 5,
	              "slept %lld ms of the %lld it had left",
	              td_mono_ms() - resumed_at, left);
}

START_TEST(paused_sleep_keeps_its_time_left_across_a_stop)
{
	sleep_left_across_a_restart(SIGTERM);
}
END_TEST

START_TEST(paused_sleep_keeps_its_time_left_across_a_crash)
{
	sleep_left_across_a_restart(SIGKILL);
}
END_TEST

/* ---- read-file ---------------------------------------------------------- */

/* Writes N bytes that are not all text to PATH; returns them. */
static unsigned char *
make_file(const char *path, size_t n)
{
	unsigned char *b = malloc(n);
	uint32_t x = 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		b[i] = (unsigned char)(x >> 16);
	}
	write_file(path, b, n, 0644);
	return b;
}

/* Reads ID's output on C into BUF until METHOD comes; returns that
 * event. */
static struct json_object *
read_until(int64_t id, const char *method, unsigned char *buf, size_t *len,
           size_t cap)
{
	struct json_object *ev;

	while ((ev = next_event_of(c, id, END_MS)) != NULL) {
		const char *m = jstr(ev, "method");
		if (strcmp(m, method) == 0)
			return ev;
		ck_assert_msg(strcmp(m, "job.failed") != 0, "%s",
		              json_object_to_json_string(ev));
		if (strcmp(m, "job.output") == 0)
			take_output(ev, buf, len, cap);
		json_object_put(ev);
	}
	ck_abort_msg("no %s of job %lld", method, (long long)id);
	return NULL;
}

/* Submits a read-file of a fresh file of N bytes at PATH on C: its
 * watcher, which reads nothing yet. */
static int64_t
submit_read(const char *path)
{
	return tc_submit(
	    c, "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"}}", path);
}

/* A high-water mark far below the file: the job is held back by its
 * watcher's backpressure as well as by the pause. */
static const char *const small_hwm[] = {"--output-hwm", "65536", NULL};

START_TEST(paused_read_file_sends_nothing_until_resumed)
{
	const size_t n = 8 * MiB;
	unsigned char *want, *got = malloc(n + SLACK);
	struct json_object *ev;
	struct tconn *ctl;
	size_t len = 0;
	char path[128];
	int64_t id;

	start(small_hwm);
	ctl = tc_open(d.sock);
	snprintf(path, sizeof path, "%s/data", work);
	want = make_file(path, n);
	id = submit_read(path);
	/* From another connection: C reads nothing, so the daemon reads no
	 * request of it. */
	set_paused(ctl, id, true, true);
	/* Reading C up to its job.paused drains it, which would let a job
	 * held by backpressure alone go on. */
	json_object_put(read_until(id, "job.paused", got, &len, n + SLACK));
	ck_assert_uint_lt(len, n);
	/* Nothing to wait for: 300 ms without a chunk, with the watcher
	 * drained, show that only the pause holds the job. */
	expect_quiet(c, id, 300);
	assert_job(ctl, id, "running", true);
	set_paused(ctl, id, false, true);
	expect_event(c, id, "job.resumed");
	ev = read_until(id, "job.completed", got, &len, n + SLACK);
	ck_assert_int_eq(jint(ev, "params.result.bytes"), (int64_t)n);
	json_object_put(ev);
	ck_assert_uint_eq(len, n);
	ck_assert(memcmp(got, want, n) == 0);
	free(want);
	free(got);
	tc_close(ctl);
}
END_TEST

START_TEST(read_file_resumed_under_backpressure_reads_on_when_drained)
{
	const size_t n = 8 * MiB;
	unsigned char *want, *got = malloc(n + SLACK);
	struct json_object *ev;
	struct tconn *ctl;
	size_t len = 0;
	char path[128];
	int64_t id;

	start(small_hwm);
	ctl = tc_open(d.sock);
	snprintf(path, sizeof path, "%s/data", work);
	want = make_file(path, n);
	id = submit_read(path);
	/* Paused and resumed while C still reads nothing: the resume must
	 * leave the job to the backpressure, which lets it go on as C
	 * drains. */
	set_paused(ctl, id, true, true);
	set_paused(ctl, id, false, true);
	ev = read_until(id, "job.completed", got, &len, n + SLACK);
	json_object_put(ev);
	ck_assert_uint_eq(len, n);
	ck_assert(memcmp(got, want, n) == 0);
	free(want);
	free(got);
	tc_close(ctl);
}
END_TEST

START_TEST(paused_read_file_is_cancelled)
{
	struct tconn *ctl;
	char path[128];
	int64_t id;

	start(small_hwm);
	ctl = tc_open(d.sock);
	snprintf(path, sizeof path, "%s/data", work);
	free(make_file(path, 8 * MiB));
	id = submit_read(path);
	set_paused(ctl, id, true, true);
	cancel(ctl, id);
	/* C drains everything sent before, up to the end. */
	expect_failure(c, id, "cancelled");
	tc_close(ctl);
}
END_TEST

/* ---- Download ----------------------------------------------------------- */

static unsigned char
pattern(uint64_t i)
{
	return (unsigned char)((i * 131 + 7) % 251);
}

/* The SHA-256 of the first N bytes of the server's pattern. */
static void
pattern_sha(size_t n, char out[65])
{
	unsigned char *b = malloc(n), md[32];
	unsigned int k = 0;

	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i);
	EVP_Digest(b, n, md, &k, EVP_sha256(), NULL);
	for (unsigned i = 0; i < k; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(b);
}

static size_t
collect_cb(char *p, size_t size, size_t n, void *arg)
{
	strncat(arg, p, size * n < 31 ? size * n : 31);
	return size * n;
}

/* The server's request count for KEY (/count?key=KEY). */
static long
httpd_count(const struct thttpd *h, const char *key)
{
	char url[160], body[64] = "";
	CURL *e = curl_easy_init();

	snprintf(url, sizeof url, "%s/count?key=%s", h->base, key);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	return atol(body);
}

/* Whether the daemon's log holds NEEDLE. */
static bool
log_has(const char *needle)
{
	char *text = read_file(d.log, NULL);
	bool has = text != NULL && strstr(text, needle) != NULL;

	free(text);
	return has;
}

/* Submits a download of URL_PATH on H to DEST; returns its id. */
static int64_t
submit_download(const struct thttpd *h, const char *url_path, const char *dest)
{
	return tc_submit(c,
	                 "{\"kind\":\"download\",\"args\":{\"url\":\"%s%s\","
	                 "\"dest\":\"%s\"}}",
	                 h->base, url_path, dest);
}

/* Waits for a job.progress of ID with bytes received; returns them. */
static int64_t
wait_progress(int64_t id)
{
	struct json_object *ev;
	int64_t done = 0;

	while (done == 0 && (ev = next_event_of(c, id, END_MS)) != NULL) {
		ck_assert_msg(strcmp(jstr(ev, "method"), "job.progress") == 0 ||
		                  strcmp(jstr(ev, "method"), "job.started") ==
		                      0,
		              "%s", json_object_to_json_string(ev));
		if (strcmp(jstr(ev, "method"), "job.progress") == 0)
			done = jint(ev, "params.done");
		json_object_put(ev);
	}
	ck_assert_int_gt(done, 0);
	return done;
}

START_TEST(paused_download_receives_nothing_until_resumed)
{
	/* A stall timeout well inside the pause below. */
	const char *extra[] = {"--download-stall-timeout", "1", NULL};
	const size_t n = 300000;
	char url[64], dest[128], sha[65];
	struct json_object *ev;
	int64_t id, done;
	struct thttpd h;
	size_t len;
	char *body;

	th_start(&h);
	start(extra);
	snprintf(url, sizeof url, "/slow/%zu?rate=200000", n);
	snprintf(dest, sizeof dest, "%s/slow", work);
	id = submit_download(&h, url, dest);
	done = wait_progress(id);
	set_paused(c, id, true, true);
	/* Bytes that came before the pause may still be reported. */
	while ((ev = next_event_of(c, id, END_MS)) != NULL &&
	       strcmp(jstr(ev, "method"), "job.progress") == 0) {
		done = jint(ev, "params.done");
		json_object_put(ev);
	}
	ck_assert_ptr_nonnull(ev);
	ck_assert_str_eq(jstr(ev, "method"), "job.paused");
	json_object_put(ev);
	ck_assert_int_lt(done, (int64_t)n);
	/* Running, it reports progress 10 times a second; paused, nothing
	 * for 6.5 s: longer than libcurl's 5 s speed average plus the 1 s
	 * stall timeout, so a stall check that counted the pause would have
	 * failed the job by then. */
	expect_quiet(c, id, 6500);
	assert_job(c, id, "running", true);
	set_paused(c, id, false, true);
	expect_event(c, id, "job.resumed");
	ev = tc_wait_end(c, id, END_MS);
	ck_assert_msg(strcmp(jstr(ev, "method"), "job.completed") == 0, "%s",
	              json_object_to_json_string(ev));
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(ev, "params.result.sha256"), sha);
	ck_assert_int_eq(jint(ev, "params.result.bytes"), (int64_t)n);
	json_object_put(ev);
	body = read_file(dest, &len);
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq((unsigned char)body[i], pattern(i));
	free(body);
	th_stop(&h);
}
END_TEST

START_TEST(paused_download_begins_no_retry_until_resumed)
{
	const size_t n = 5000;
	char dest[128], sha[65];
	struct json_object *ev;
	struct thttpd h;
	int64_t id;

	th_start(&h);
	start(NULL);
	snprintf(dest, sizeof dest, "%s/retried", work);
	id = submit_download(&h, "/fail5xx/5000?key=p", dest);
	/* Its first attempt got a 503: it waits 1 s to retry. */
	for (long long end = td_mono_ms() + END_MS;
	     !log_has("retry 1 of") && td_mono_ms() < end;)
		usleep(10000);
	ck_assert(log_has("retry 1 of"));
	set_paused(c, id, true, true);
	/* 1.5 s paused, past the 1 s the retry waits for: it must not begin
	 * meanwhile. */
	expect_event(c, id, "job.started");
	expect_event(c, id, "job.paused");
	expect_quiet(c, id, 1500);
	ck_assert_int_eq(httpd_count(&h, "p"), 1);
	set_paused(c, id, false, true);
	ev = tc_wait_end(c, id, END_MS);
	ck_assert_msg(strcmp(jstr(ev, "method"), "job.completed") == 0, "%s",
	              json_object_to_json_string(ev));
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(ev, "params.result.sha256"), sha);
	json_object_put(ev);
	ck_assert_int_eq(httpd_count(&h, "p"), 2);
	th_stop(&h);
}
END_TEST

START_TEST(paused_download_is_cancelled)
{
	char dest[128], part[160];
	struct stat st;
	struct thttpd h;
	int64_t id;

	th_start(&h);
	start(NULL);
	snprintf(dest, sizeof dest, "%s/cancelled", work);
	id = submit_download(&h, "/slow/1000000?rate=100000", dest);
	wait_progress(id);
	set_paused(c, id, true, true);
	cancel(c, id);
	expect_failure(c, id, "cancelled");
	snprintf(part, sizeof part, "%s.part", dest);
	ck_assert_int_ne(lstat(part, &st), 0);
	th_stop(&h);
}
END_TEST

/* ---- fetch-user --------------------------------------------------------- */

/* Starts the daemon with a user database whose passwd is a FIFO: a
 * look-up waits on the pool, in open(), until release_lookup(). */
static void
start_with_fifo_passwd(struct tnss *n)
{
	tnss_init(n, "", "");
	ck_assert_int_eq(unlink(n->passwd), 0);
	ck_assert_int_eq(mkfifo(n->passwd, 0644), 0);
	tf_open_env(&d, &c, NULL, n->env);
}

/* Opens the FIFO for writing, which waits for the look-up to open it,
 * and closes it: the look-up reads an empty database. */
static void
release_lookup(struct tnss *n)
{
	int fd = open(n->passwd, O_WRONLY);

	ck_assert_int_ge(fd, 0);
	close(fd);
}

START_TEST(fetch_user_answer_waits_for_resume)
{
	struct json_object *ev;
	struct tnss n;
	int64_t id;

	start_with_fifo_passwd(&n);
	id = tc_submit(c, "{\"kind\":\"fetch-user\",\"args\":{\"uid\":4242}}");
	expect_event(c, id, "job.started");
	set_paused(c, id, true, true);
	expect_event(c, id, "job.paused");
	release_lookup(&n);
	for (long long end = td_mono_ms() + END_MS;
	     !log_has("paused: answer held") && td_mono_ms() < end;)
		usleep(10000);
	ck_assert(log_has("paused: answer held"));
	/* Held, the answer cannot end the job: 200 ms to show that nothing
	 * comes. */
	expect_quiet(c, id, 200);
	set_paused(c, id, false, true);
	expect_event(c, id, "job.resumed");
	ev = tc_wait_end(c, id, END_MS);
	/* The answer of an empty user database. */
	ck_assert_msg(
	    strcmp(jstr(ev, "method"), "job.failed") == 0 &&
	        strcmp(jstr(ev, "params.error.code"), "no-such-user") == 0,
	    "%s", json_object_to_json_string(ev));
	json_object_put(ev);
	tnss_free(&n);
}
END_TEST

/* Whether a thread of the daemon waits in open() for a FIFO's writer
 * (its wchan says so). */
static bool
daemon_waits_on_fifo(void)
{
	char path[64], wchan[64];
	struct dirent *e;
	bool waits = false;
	DIR *tasks;

	snprintf(path, sizeof path, "/proc/%d/task", (int)d.pid);
	if ((tasks = opendir(path)) == NULL)
		return false;
	while (!waits && (e = readdir(tasks)) != NULL) {
		snprintf(path, sizeof path, "/proc/%d/task/%.16s/wchan",
			 (int)d.pid, e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		waits = fgets(wchan, sizeof wchan, f) != NULL &&
			strcmp(wchan, "wait_for_partner") == 0;
		fclose(f);
	}
	closedir(tasks);
	return waits;
}

/* Waits until the look-up, on a worker, waits to open the FIFO. */
static void
wait_for_lookup(void)
{
	long long end = td_mono_ms() + END_MS;

	while (!daemon_waits_on_fifo() && td_mono_ms() < end)
		usleep(2000);
	ck_assert_msg(daemon_waits_on_fifo(), "no look-up waits on the FIFO");
}

START_TEST(paused_fetch_user_is_cancelled)
{
	struct tnss n;
	int64_t id;

	start_with_fifo_passwd(&n);
	id = tc_submit(c, "{\"kind\":\"fetch-user\",\"args\":{\"uid\":4242}}");
	/* Its look-up waits on the FIFO, on the pool: a cancel before a
	 * worker took it would drop it unread, and nothing could then end
	 * this test's writer's open. */
	expect_event(c, id, "job.started");
	wait_for_lookup();
	set_paused(c, id, true, true);
	cancel(c, id);
	expect_failure(c, id, "cancelled");
	/* The look-up is still on the pool: let it end, for a clean stop. */
	release_lookup(&n);
	tnss_free(&n);
}
END_TEST

/* ---- A stop of the daemon ----------------------------------------------- */

START_TEST(daemon_stop_with_paused_jobs_of_every_kind)
{
	const char *const extra[] = {"--stop-timeout", "1", NULL};
	char big[128], dest[128];
	struct tconn *stalled;
	struct thttpd h;
	int64_t ids[5];
	int fd;

	th_start(&h);
	start(extra);
	snprintf(big, sizeof big, "%s/big", work);
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 256 << 20), 0);
	close(fd);
	snprintf(dest, sizeof dest, "%s/slow.bin", work);
	/* Their watcher reads nothing: paused by backpressure too. */
	stalled = tc_open(d.sock);
	ids[0] = tc_submit(stalled, "{\"kind\":\"process\",\"args\":{\"argv\":"
	                            "[\"sh\",\"-c\",\"trap '' TERM; "
	                            "exec cat /dev/zero\"]}}");
	ids[1] =
	    tc_submit(stalled, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000},"
	                       "\"on_interrupt\":\"fail\"}");
	ids[2] = tc_submit(stalled,
	                   "{\"kind\":\"read-file\",\"args\":"
	                   "{\"path\":\"%s\"}}",
	                   big);
	ids[3] = tc_submit(stalled,
	                   "{\"kind\":\"download\",\"args\":"
	                   "{\"url\":\"%s/slow/100000000?rate=65536\","
	                   "\"dest\":\"%s\"}}",
	                   h.base, dest);
	ids[4] = tc_submit(stalled,
	                   "{\"kind\":\"download\",\"args\":"
	                   "{\"url\":\"%s/slow/100000000?rate=10000000\","
	                   "\"stream\":true}}",
	                   h.base);
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		set_paused(c, ids[i], true, true);
	/* The process ignores SIGTERM: its SIGKILL comes after the 1 s
	 * grace; the others end at once. Under the sanitizers a clean exit
	 * also means that nothing leaked. */
	ck_assert_int_eq(td_halt(&d, SIGTERM), 0);
	tc_close(stalled);
	tc_close(c);
	c = NULL;
	th_stop(&h);

	td_restart(&d, NULL);
	c = tc_open(d.sock);
	ck_assert_ptr_nonnull(c);
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		if (i == 3)
			continue;
		struct json_object *r =
		    tc_call(c, "job.get", "{\"id\":%lld}", (long long)ids[i]);
		ck_assert_str_eq(jstr(r, "result.job.error.code"),
		                 "interrupted");
		json_object_put(r);
	}
	/* Queued again by the restart, the download to a file waits
	 * paused. */
	assert_job(c, ids[3], "queued", true);
}
END_TEST

/* ---- Answers ------------------------------------------------------------ */

START_TEST(pause_and_resume_that_change_nothing_say_so_and_emit_nothing)
{
	int64_t id, seq;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000}}");
	expect_event(c, id, "job.started");
	set_paused(c, id, true, true);
	seq = expect_event(c, id, "job.paused");
	set_paused(c, id, true, false);
	set_paused(c, id, false, true);
	/* The very next event: the second pause emitted nothing. */
	ck_assert_int_eq(expect_event(c, id, "job.resumed"), seq + 1);
	set_paused(c, id, false, false);
	set_paused(c, id, true, true);
	ck_assert_int_eq(expect_event(c, id, "job.paused"), seq + 2);
	/* Cancelled while paused. */
	cancel(c, id);
	struct json_object *ev = tc_wait_end(c, id, END_MS);
	ck_assert_str_eq(jstr(ev, "method"), "job.failed");
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	ck_assert_int_eq(jint(ev, "params.seq"), seq + 3);
	json_object_put(ev);
}
END_TEST

START_TEST(paused_job_still_times_out)
{
	int64_t id;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"sleep\",\"timeout_ms\":300,"
	                  "\"args\":{\"ms\":60000}}");
	set_paused(c, id, true, true);
	expect_failure(c, id, "timeout");
}
END_TEST

START_TEST(pause_and_resume_of_a_finished_job_is_32002)
{
	struct json_object *r;
	int64_t id;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	json_object_put(tc_wait_end(c, id, END_MS));
	r = tc_call(c, "job.pause", "{\"id\":%lld}", (long long)id);
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	r = tc_call(c, "job.resume", "{\"id\":%lld}", (long long)id);
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	/* The daemon still serves. */
	assert_job(c, id, "completed", false);
}
END_TEST

static Suite *
pause_suite(void)
{
	Suite *s = suite_create("pause");
	TCase *tc;

	tc = tcase_create("process");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, paused_process_stops_and_resumed_runs_again);
	tcase_add_test(tc, paused_process_is_cancelled_through_sigterm);
	tcase_add_test(tc, paused_process_times_out_through_sigterm);
	tcase_add_test(tc, daemon_stop_ends_a_paused_process);
	suite_add_tcase(s, tc);

	tc = tcase_create("sleep");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, paused_sleep_stops_its_clock);
	tcase_add_test(tc, paused_sleep_keeps_its_time_left_across_a_stop);
	tcase_add_test(tc, paused_sleep_keeps_its_time_left_across_a_crash);
	suite_add_tcase(s, tc);

	tc = tcase_create("read-file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, paused_read_file_sends_nothing_until_resumed);
	tcase_add_test(
	    tc, read_file_resumed_under_backpressure_reads_on_when_drained);
	tcase_add_test(tc, paused_read_file_is_cancelled);
	suite_add_tcase(s, tc);

	tc = tcase_create("download");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, paused_download_receives_nothing_until_resumed);
	tcase_add_test(tc, paused_download_begins_no_retry_until_resumed);
	tcase_add_test(tc, paused_download_is_cancelled);
	suite_add_tcase(s, tc);

	tc = tcase_create("fetch-user");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fetch_user_answer_waits_for_resume);
	tcase_add_test(tc, paused_fetch_user_is_cancelled);
	suite_add_tcase(s, tc);

	tc = tcase_create("stop");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, daemon_stop_with_paused_jobs_of_every_kind);
	suite_add_tcase(s, tc);

	tc = tcase_create("answers");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(
	    tc, pause_and_resume_that_change_nothing_say_so_and_emit_nothing);
	tcase_add_test(tc, paused_job_still_times_out);
	tcase_add_test(tc, pause_and_resume_of_a_finished_job_is_32002);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(pause_suite());
}
