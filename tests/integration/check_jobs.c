/* Jobs against a real asyncd, with sleep jobs: concurrency, detaching,
 * cancel, timeout, dependencies, idempotency keys, watching, ownership,
 * fairness, per-user caps, limits, retention and shutdown. Ordering is checked by the
 * order of events, never by a stopwatch. The cases with a second user
 * need root to connect as it: check_jobs_root, built from this file. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;

static void
start_with(const char *const extra[])
{
	tf_open(&d, &c, extra);
}

static void
setup(void)
{
	start_with(NULL);
}

static void
teardown(void)
{
	tf_close(&d, &c);
}

static const char *
method(struct json_object *ev)
{
	const char *m = jstr(ev, "method");

	return m ? m : "";
}

static bool
is(struct json_object *ev, const char *m, int64_t id)
{
	return strcmp(method(ev), m) == 0 && jint(ev, "params.id") == id;
}

static int64_t
submit_sleep(struct tconn *conn, int ms, const char *extra)
{
	return tc_submit(conn, "{\"kind\":\"sleep\",\"args\":{\"ms\":%d}%s%s}", ms,
			 extra ? "," : "", extra ? extra : "");
}

/* Returns the state of job ID as seen by job.get. */
static char *
state_of(struct tconn *conn, int64_t id)
{
	struct json_object *r = tc_call(conn, "job.get", "{\"id\":%lld}", (long long)id);
	char *s = strdup(jstr(r, "result.job.state"));

	json_object_put(r);
	return s;
}

START_TEST(two_sleeps_run_concurrently)
{
	int64_t a = submit_sleep(c, 300, NULL);
	int64_t b = submit_sleep(c, 300, NULL);
	int started = 0;
	struct json_object *ev;

	/* Both start before either completes. */
	while (started < 2) {
		ev = tc_event(c, 5000);
		ck_assert_ptr_nonnull(ev);
		ck_assert_msg(strcmp(method(ev), "job.completed") != 0,
			      "a job completed before both started");
		if (strcmp(method(ev), "job.started") == 0) {
			ck_assert(jint(ev, "params.id") == a || jint(ev, "params.id") == b);
			ck_assert_str_eq(jstr(ev, "params.kind"), "sleep");
			ck_assert_int_eq(jint(ev, "params.seq"), 1);
			started++;
		}
		json_object_put(ev);
	}
	ev = tc_wait_end(c, a, 5000);
	ck_assert(is(ev, "job.completed", a));
	ck_assert_int_eq(jint(ev, "params.seq"), 2);
	ck_assert_int_eq(jint(ev, "params.result.slept_ms"), 300);
	ck_assert_str_eq(jstr(ev, "params.kind"), "sleep");
	json_object_put(ev);
	json_object_put(tc_wait_end(c, b, 5000));
}
END_TEST

START_TEST(submit_returns_the_queued_job_then_events_follow)
{
	struct json_object *r = tc_call(c, "job.submit",
		"{\"kind\":\"sleep\",\"args\":{\"ms\":10},\"label\":\"nightly\"}");
	int64_t id = jint(r, "result.job.id");

	ck_assert_int_ge(id, 1);
	ck_assert_str_eq(jstr(r, "result.job.kind"), "sleep");
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	ck_assert_str_eq(jstr(r, "result.job.label"), "nightly");
	ck_assert_int_eq(jint(r, "result.job.owner"), geteuid());
	ck_assert_int_eq(json_object_array_length(jget(r, "result.job.after")), 0);
	ck_assert_int_eq(strlen(jstr(r, "result.job.created")), 24);
	ck_assert(jnull(r, "result.job.started"));
	ck_assert(jnull(r, "result.job.finished"));
	ck_assert_int_eq(jint(r, "result.job.args.ms"), 10);
	ck_assert(jnull(r, "result.job.result"));
	ck_assert(jnull(r, "result.job.error"));
	ck_assert(!json_object_get_boolean(jget(r, "result.existing")));
	json_object_put(r);
	struct json_object *ev = tc_event(c, 5000);
	ck_assert(is(ev, "job.started", id));
	json_object_put(ev);
	json_object_put(tc_wait_end(c, id, 5000));
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	ck_assert_int_eq(jint(r, "result.job.result.slept_ms"), 10);
	ck_assert(jnull(r, "result.job.error"));
	ck_assert_ptr_nonnull(jstr(r, "result.job.started"));
	ck_assert_ptr_nonnull(jstr(r, "result.job.finished"));
	/* Ids increase. */
	json_object_put(r);
	ck_assert_int_gt(submit_sleep(c, 0, NULL), id);
}
END_TEST

START_TEST(detached_job_sends_no_events_and_finishes)
{
	int64_t id = submit_sleep(c, 20, "\"watch\":false");
	int64_t marker;
	struct json_object *ev;

	/* A watched job after it: its events come, none of the first's. */
	marker = submit_sleep(c, 60, NULL);
	while ((ev = tc_event(c, 5000)) != NULL) {
		ck_assert_int_eq(jint(ev, "params.id"), marker);
		bool end = strcmp(method(ev), "job.completed") == 0;
		json_object_put(ev);
		if (end)
			break;
	}
	char *s = state_of(c, id);
	ck_assert_str_eq(s, "completed");
	free(s);
}
END_TEST

START_TEST(cancel_running_and_queued_jobs)
{
	static const char *const extra[] = {"--max-running", "sleep=1", NULL};
	teardown();
	start_with(extra);
	int64_t run = submit_sleep(c, 60000, NULL);
	int64_t wait = submit_sleep(c, 60000, NULL);
	struct json_object *ev = tc_event(c, 5000), *r;

	ck_assert(is(ev, "job.started", run));
	json_object_put(ev);
	/* The response comes first, with the job still running. */
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)run);
	ck_assert_str_eq(jstr(r, "result.job.state"), "running");
	json_object_put(r);
	ev = tc_wait_end(c, run, 5000);
	ck_assert(is(ev, "job.failed", run));
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	ck_assert_ptr_nonnull(jstr(ev, "params.error.message"));
	json_object_put(ev);
	/* The queued one started once the slot was free; cancel it. */
	ev = tc_event(c, 5000);
	ck_assert(is(ev, "job.started", wait));
	json_object_put(ev);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)wait);
	json_object_put(r);
	ev = tc_wait_end(c, wait, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	json_object_put(ev);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)wait);
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	/* A job cancelled while queued never starts: job.failed only. */
	int64_t blocker = submit_sleep(c, 60000, NULL);
	int64_t queued = submit_sleep(c, 10, NULL);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)queued));
	while ((ev = tc_event(c, 5000)) != NULL) {
		ck_assert(!is(ev, "job.started", queued));
		bool end = is(ev, "job.failed", queued);
		if (end) {
			ck_assert_int_eq(jint(ev, "params.seq"), 1);
			ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
		}
		json_object_put(ev);
		if (end)
			break;
	}
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)queued);
	ck_assert(jnull(r, "result.job.started"));
	ck_assert_str_eq(jstr(r, "result.job.state"), "failed");
	ck_assert(jnull(r, "result.job.result"));
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "cancelled");
	json_object_put(r);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)blocker));
}
END_TEST

START_TEST(timeout_fails_running_and_queued_jobs)
{
	static const char *const extra[] = {"--max-running", "sleep=1", NULL};
	teardown();
	start_with(extra);
	int64_t a = submit_sleep(c, 60000, "\"timeout_ms\":100");
	int64_t b = submit_sleep(c, 60000, "\"timeout_ms\":50");
	struct json_object *ev;

	ev = tc_wait_end(c, b, 5000);
	ck_assert(is(ev, "job.failed", b));
	ck_assert_str_eq(jstr(ev, "params.error.code"), "timeout");
	ck_assert_int_eq(jint(ev, "params.seq"), 1); /* never started */
	json_object_put(ev);
	ev = tc_wait_end(c, a, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "timeout");
	ck_assert_int_eq(jint(ev, "params.seq"), 2);
	json_object_put(ev);
	/* A job that ends in time is not failed by its timeout. */
	int64_t ok = submit_sleep(c, 10, "\"timeout_ms\":60000");
	ev = tc_wait_end(c, ok, 5000);
	ck_assert(is(ev, "job.completed", ok));
	json_object_put(ev);
}
END_TEST

START_TEST(after_chains_run_in_order)
{
	int64_t a = submit_sleep(c, 50, NULL);
	char after[64];
	snprintf(after, sizeof after, "\"after\":[%lld]", (long long)a);
	int64_t b = submit_sleep(c, 0, after);
	snprintf(after, sizeof after, "\"after\":[%lld,%lld]", (long long)a, (long long)b);
	int64_t cc = submit_sleep(c, 0, after);
	const int64_t order[] = {a, a, b, b, cc, cc};
	const char *const what[] = {"job.started", "job.completed", "job.started",
				    "job.completed", "job.started", "job.completed"};

	for (int i = 0; i < 6; i++) {
		struct json_object *ev = tc_event(c, 5000);
		ck_assert_msg(is(ev, what[i], order[i]), "event %d: %s", i,
			      json_object_to_json_string(ev));
		json_object_put(ev);
	}
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)cc);
	ck_assert_int_eq(jint(r, "result.job.after.1"), b);
	json_object_put(r);
}
END_TEST

START_TEST(failed_dependency_cascades)
{
	int64_t a = submit_sleep(c, 60000, NULL);
	char after[64];
	snprintf(after, sizeof after, "\"after\":[%lld]", (long long)a);
	int64_t b = submit_sleep(c, 0, after);
	snprintf(after, sizeof after, "\"after\":[%lld]", (long long)b);
	int64_t cc = submit_sleep(c, 0, after);
	struct json_object *ev;

	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)a));
	ev = tc_wait_end(c, b, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "dependency-failed");
	ck_assert_int_eq(jint(ev, "params.seq"), 1);
	json_object_put(ev);
	ev = tc_wait_end(c, cc, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "dependency-failed");
	json_object_put(ev);
	ev = tc_wait_end(c, a, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	json_object_put(ev);
	/* Neither dependent ever started. */
	while ((ev = tc_event(c, 200)) != NULL) {
		ck_assert(!is(ev, "job.started", b) && !is(ev, "job.started", cc));
		json_object_put(ev);
	}
	/* After a job that has already failed: fails at once, without start. */
	snprintf(after, sizeof after, "\"after\":[%lld]", (long long)a);
	int64_t late = submit_sleep(c, 0, after);
	ev = tc_event(c, 5000);
	ck_assert(is(ev, "job.failed", late));
	ck_assert_str_eq(jstr(ev, "params.error.code"), "dependency-failed");
	json_object_put(ev);
}
END_TEST

START_TEST(idempotency_key_returns_the_existing_job)
{
	struct json_object *r1 = tc_call(c, "job.submit",
		"{\"kind\":\"sleep\",\"args\":{\"ms\":100},\"key\":\"backup-42\"}");
	struct json_object *r2 = tc_call(c, "job.submit",
		"{\"kind\":\"sleep\",\"args\":{\"ms\":100},\"key\":\"backup-42\"}");

	ck_assert_int_eq(jint(r1, "result.job.id"), jint(r2, "result.job.id"));
	ck_assert(!json_object_get_boolean(jget(r1, "result.existing")));
	ck_assert(json_object_get_boolean(jget(r2, "result.existing")));
	/* Still found once the job has finished. */
	json_object_put(tc_wait_end(c, jint(r1, "result.job.id"), 5000));
	struct json_object *r3 = tc_call(
	    c, "job.submit",
	    "{\"kind\":\"sleep\",\"args\":{\"ms\":100},\"key\":\"backup-42\"}");
	ck_assert_int_eq(jint(r3, "result.job.id"), jint(r1, "result.job.id"));
	ck_assert_str_eq(jstr(r3, "result.job.state"), "completed");
	struct json_object *list = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(list, "result.jobs")),
	                 1);
	json_object_put(list);
	json_object_put(r1);
	json_object_put(r2);
	json_object_put(r3);
}
END_TEST

START_TEST(idempotency_keys_are_per_user)
{
	struct json_object *r1 = tc_call(
	    c, "job.submit",
	    "{\"kind\":\"sleep\",\"args\":{\"ms\":100},\"key\":\"backup-42\"}");
	struct tconn *other = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	struct json_object *r2 = tc_call(
	    other, "job.submit",
	    "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"key\":\"backup-42\"}");

	ck_assert(!json_object_get_boolean(jget(r1, "result.existing")));
	ck_assert_int_ne(jint(r2, "result.job.id"), jint(r1, "result.job.id"));
	ck_assert(!json_object_get_boolean(jget(r2, "result.existing")));
	ck_assert_int_eq(jint(r2, "result.job.owner"), TEST_NOBODY);
	struct json_object *list = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(list, "result.jobs")),
	                 2);
	json_object_put(list);
	json_object_put(r1);
	json_object_put(r2);
	tc_close(other);
}
END_TEST

START_TEST(jobs_outlive_their_connection)
{
	int64_t id = submit_sleep(c, 200, NULL);
	struct tconn *c2;
	struct json_object *r, *ev;

	tc_close(c);
	c = NULL;
	c2 = tc_open(d.sock);
	r = tc_call(c2, "job.watch", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "running");
	json_object_put(r);
	ev = tc_wait_end(c2, id, 5000);
	ck_assert(is(ev, "job.completed", id));
	ck_assert_int_eq(jint(ev, "params.seq"), 2);
	json_object_put(ev);
	/* Watching a finished job returns its result; no event follows. */
	r = tc_call(c2, "job.watch", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	ck_assert_int_eq(jint(r, "result.job.result.slept_ms"), 200);
	json_object_put(r);
	ck_assert_ptr_null(tc_event(c2, 300));
	tc_close(c2);
}
END_TEST

START_TEST(watch_all_sees_current_and_future_jobs)
{
	struct tconn *w = tc_open(d.sock);
	int64_t running = submit_sleep(c, 300, "\"watch\":false");
	struct json_object *r = tc_call(w, "job.watch", "{\"all\":true}");

	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 1);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), running);
	json_object_put(r);
	int64_t later = submit_sleep(c, 0, "\"watch\":false");
	struct json_object *ev = tc_wait_end(w, later, 5000);
	ck_assert(is(ev, "job.completed", later));
	json_object_put(ev);
	ev = tc_wait_end(w, running, 5000);
	ck_assert(is(ev, "job.completed", running));
	json_object_put(ev);
	/* The submitter asked for no events and got none. */
	ck_assert_ptr_null(tc_event(c, 200));
	tc_close(w);
}
END_TEST

START_TEST(exactly_one_terminal_event_per_job)
{
	enum { N = 60 };
	int64_t ids[N];
	int ends[N] = {0};
	uint32_t last_seq[N] = {0};

	for (int i = 0; i < N; i++)
		ids[i] = submit_sleep(c, i % 3 == 0 ? 30 : 0,
				      i % 4 == 0 ? "\"timeout_ms\":30" : NULL);
	for (int i = 0; i < N; i += 5)
		json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[i]));
	int remaining = N;
	while (remaining > 0) {
		struct json_object *ev = tc_event(c, 5000);
		ck_assert_ptr_nonnull(ev);
		int i = (int)(jint(ev, "params.id") - ids[0]);
		ck_assert(i >= 0 && i < N);
		/* Numbered 1, 2, 3 ... with no gap. */
		ck_assert_int_eq(jint(ev, "params.seq"), last_seq[i] + 1);
		last_seq[i]++;
		ck_assert_int_eq(ends[i], 0);
		if (strcmp(method(ev), "job.completed") == 0 ||
		    strcmp(method(ev), "job.failed") == 0) {
			ends[i]++;
			remaining--;
		}
		json_object_put(ev);
	}
	ck_assert_ptr_null(tc_event(c, 300));
}
END_TEST

START_TEST(users_see_only_their_own_jobs)
{
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	int64_t mine = submit_sleep(c, 60000, NULL);
	int64_t theirs = submit_sleep(nobody, 60000, NULL);
	struct json_object *r;

	r = tc_call(nobody, "job.get", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(nobody, "job.cancel", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(nobody, "job.watch", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(nobody, "job.submit",
		    "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"after\":[%lld]}", (long long)mine);
	assert_rpc_error(r, -32602, "after");
	json_object_put(r);
	r = tc_call(nobody, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 1);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), theirs);
	ck_assert_int_eq(jint(r, "result.jobs.0.owner"), TEST_NOBODY);
	json_object_put(r);
	r = tc_call(nobody, "job.watch", "{\"all\":true}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 1);
	json_object_put(r);
	/* Root sees and cancels everyone's. */
	r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	json_object_put(r);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)theirs);
	ck_assert_int_eq(jint(r, "result.job.owner"), TEST_NOBODY);
	json_object_put(r);
	struct json_object *ev = tc_wait_end(nobody, theirs, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	json_object_put(ev);
	/* Another user's watch-all never shows root's jobs. */
	int64_t more = submit_sleep(c, 0, NULL);
	json_object_put(tc_wait_end(c, more, 5000));
	while ((ev = tc_event(nobody, 200)) != NULL) {
		ck_assert_int_ne(jint(ev, "params.id"), more);
		json_object_put(ev);
	}
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)mine));
	tc_close(nobody);
}
END_TEST

START_TEST(scheduling_is_fair_between_users)
{
	static const char *const extra[] = {"--max-running", "sleep=2", NULL};
	teardown();
	start_with(extra);
	struct tconn *watcher = tc_open(d.sock);
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	enum { N = 1000 };
	char *batch = malloc(N * 200 + 10);
	size_t n = 0;
	struct json_object *r, *ev;

	json_object_put(tc_call(watcher, "job.watch", "{\"all\":true}"));
	/* Root queues a thousand long jobs at once: two run, the rest wait. */
	batch[n++] = '[';
	for (int i = 0; i < N; i++)
		n += (size_t)sprintf(batch + n, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
				     "\"job.submit\",\"params\":{\"kind\":\"sleep\",\"args\":"
				     "{\"ms\":60000},\"watch\":false}}", i ? "," : "", i);
	batch[n++] = ']';
	tc_send_raw(c, batch, n);
	tc_send_raw(c, "\n", 1);
	r = tc_recv(c, 10000);
	ck_assert_int_eq(json_object_array_length(r), N);
	int64_t first = jint(r, "0.result.job.id");
	json_object_put(r);
	free(batch);
	for (int started = 0; started < 2;) {
		ev = tc_event(watcher, 5000);
		ck_assert_ptr_nonnull(ev);
		started += strcmp(method(ev), "job.started") == 0;
		json_object_put(ev);
	}
	/* Another user's one job, queued behind 998 of root's. */
	int64_t theirs = submit_sleep(nobody, 0, NULL);
	/* The next free slot is its, not root's third job's. */
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)first));
	for (;;) {
		ev = tc_event(watcher, 5000);
		ck_assert_ptr_nonnull(ev);
		if (strcmp(method(ev), "job.started") == 0) {
			ck_assert_int_eq(jint(ev, "params.id"), theirs);
			json_object_put(ev);
			break;
		}
		json_object_put(ev);
	}
	ev = tc_wait_end(nobody, theirs, 5000);
	ck_assert(is(ev, "job.completed", theirs));
	json_object_put(ev);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.queued"), N - 3);
	json_object_put(r);
	tc_close(nobody);
	tc_close(watcher);
}
END_TEST

/* Submits N sleeps of MS ms on CONN in one batch, unwatched; returns the
 * first id (they are consecutive). */
static int64_t
submit_sleeps(struct tconn *conn, int n, int ms)
{
	char *batch = malloc((size_t)n * 200 + 10);
	size_t len = 0;
	struct json_object *r;
	int64_t first;

	batch[len++] = '[';
	for (int i = 0; i < n; i++)
		len += (size_t)sprintf(batch + len, "%s{\"jsonrpc\":\"2.0\",\"id\":%d,"
				       "\"method\":\"job.submit\",\"params\":{\"kind\":"
				       "\"sleep\",\"args\":{\"ms\":%d},\"watch\":false}}",
				       i ? "," : "", i, ms);
	batch[len++] = ']';
	tc_send_raw(conn, batch, len);
	tc_send_raw(conn, "\n", 1);
	free(batch);
	r = tc_recv(conn, 10000);
	ck_assert_int_eq(json_object_array_length(r), n);
	first = jint(r, "0.result.job.id");
	ck_assert_int_eq(jint(r, "1.result.job.id"), first + 1);
	json_object_put(r);
	return first;
}

/* Waits on WATCHER (watching all) for N job.started events; returns the
 * id of the last. */
static int64_t
wait_started(struct tconn *watcher, int n)
{
	int64_t id = 0;

	while (n > 0) {
		struct json_object *ev = tc_event(watcher, 5000);
		ck_assert_ptr_nonnull(ev);
		if (strcmp(method(ev), "job.started") == 0) {
			id = jint(ev, "params.id");
			n--;
		}
		json_object_put(ev);
	}
	return id;
}

/* The number of CONN's user's jobs in STATE. */
static size_t
count_in_state(struct tconn *conn, const char *state)
{
	struct json_object *r = tc_call(conn, "job.list",
					"{\"state\":\"%s\",\"limit\":10000}", state);
	size_t n = json_object_array_length(jget(r, "result.jobs"));

	json_object_put(r);
	return n;
}

START_TEST(max_running_below_ten_lets_one_user_take_every_slot)
{
	static const char *const extra[] = {"--max-running", "sleep=4", NULL};
	teardown();
	start_with(extra);
	struct tconn *watcher = tc_open(d.sock);
	struct json_object *r;

	json_object_put(tc_call(watcher, "job.watch", "{\"all\":true}"));
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 4);
	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.sleep"), 4);
	json_object_put(r);
	submit_sleeps(c, 10, 3600000);
	wait_started(watcher, 4);
	ck_assert_int_eq(count_in_state(c, "running"), 4);
	ck_assert_int_eq(count_in_state(c, "queued"), 6);
	tc_close(watcher);
}
END_TEST

/* max_running_per_user in daemon.info: the kind's slots minus a tenth,
 * rounded up, from 10 slots on; all of them below. */
START_TEST(daemon_info_shows_the_default_per_user_caps)
{
	struct json_object *r = tc_call(c, "daemon.info", NULL);
	struct json_object *kinds = jget(r, "result.kinds");

	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.sleep"), 90000);
	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.download"), 14);
	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.fetch-user"), 57);
	ck_assert_int_eq(json_object_object_length(
				 jget(r, "result.limits.max_running_per_user")),
			 json_object_array_length(kinds));
	for (size_t i = 0; i < json_object_array_length(kinds); i++) {
		const char *kind = json_object_get_string(json_object_array_get_idx(kinds, i));
		char path[128];
		snprintf(path, sizeof path, "result.limits.max_running.%s", kind);
		int64_t slots = jint(r, path);
		int64_t cap = slots < 10 ? slots : slots - (slots + 9) / 10;
		snprintf(path, sizeof path, "result.limits.max_running_per_user.%s", kind);
		ck_assert_msg(jint(r, path) == cap, "%s: %lld slots, cap %lld", kind,
			      (long long)slots, (long long)jint(r, path));
	}
	json_object_put(r);
}
END_TEST

/* A bad --max-running-per-user stops the daemon at start: exit 2 and a
 * message naming the option. */
START_TEST(bad_max_running_per_user_is_refused_at_start)
{
	static const char *const bad[][2] = {
		{"sleep=0", "not a positive count: 0"},
		{"sleep=many", "not a positive count: many"},
		{"sleep=-1", "not a positive count: -1"},
		{"sleep=", "not a positive count"},
		{"no-such-kind=3", "no job kind no-such-kind"},
		{"sleep", "expected KIND=N"},
		{"=3", "bad job kind"},
	};
	char sock[160];

	snprintf(sock, sizeof sock, "%s/other.sock", d.dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *argv[] = {(char *)td_path("ASYNCD", "daemon/asyncd"),
				"--socket", sock, "--state-dir", "none",
				"--max-running-per-user", (char *)bad[i][0], NULL};
		struct run_result rr;
		run_program(argv, NULL, NULL, -1, &rr);
		ck_assert_msg(rr.status == 2, "%s: exit %d", bad[i][0], rr.status);
		ck_assert_msg(strstr(rr.err, "max-running-per-user") != NULL &&
				      strstr(rr.err, bad[i][1]) != NULL,
			      "%s: %s", bad[i][0], rr.err);
		run_result_free(&rr);
	}
	ck_assert_int_ne(access(sock, F_OK), 0);
}
END_TEST

/* Another user's job starts at once while one user's long jobs fill
 * every slot they may take: the default cap of 10 slots is 9. */
START_TEST(per_user_cap_leaves_room_for_another_user)
{
	static const char *const extra[] = {"--max-running", "sleep=10", NULL};
	teardown();
	start_with(extra);
	struct tconn *watcher = tc_open(d.sock);
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	struct json_object *r, *ev;

	json_object_put(tc_call(watcher, "job.watch", "{\"all\":true}"));
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 10);
	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.sleep"), 9);
	json_object_put(r);
	/* An hour each: none of them ends during the test. */
	int64_t first = submit_sleeps(c, 50, 3600000);
	wait_started(watcher, 9);
	ck_assert_int_eq(count_in_state(c, "running"), 9);
	ck_assert_int_eq(count_in_state(c, "queued"), 41);

	/* The tenth slot is the other user's: their 10 ms sleep runs to its
	 * end while root's jobs hold the other nine. */
	int64_t theirs = submit_sleep(nobody, 10, NULL);
	ev = tc_wait_end(nobody, theirs, 10000);
	ck_assert(is(ev, "job.completed", theirs));
	json_object_put(ev);
	ck_assert_int_eq(wait_started(watcher, 1), theirs);
	ck_assert_int_eq(count_in_state(c, "running"), 9);
	ck_assert_int_eq(count_in_state(c, "queued"), 41);

	/* One of root's ends: root is back in turn with its next job. */
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)first));
	ck_assert_int_eq(wait_started(watcher, 1), first + 9);
	ck_assert_int_eq(count_in_state(c, "running"), 9);
	ck_assert_int_eq(count_in_state(c, "queued"), 40);
	tc_close(nobody);
	tc_close(watcher);
}
END_TEST

/* An explicit --max-running-per-user caps each user. */
START_TEST(explicit_per_user_cap_applies_to_each_user)
{
	static const char *const extra[] = {"--max-running", "sleep=10",
					    "--max-running-per-user", "sleep=3", NULL};
	teardown();
	start_with(extra);
	struct tconn *watcher = tc_open(d.sock);
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	struct json_object *r;

	json_object_put(tc_call(watcher, "job.watch", "{\"all\":true}"));
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_running.sleep"), 10);
	ck_assert_int_eq(jint(r, "result.limits.max_running_per_user.sleep"), 3);
	json_object_put(r);
	submit_sleeps(c, 50, 3600000);
	wait_started(watcher, 3);
	ck_assert_int_eq(count_in_state(c, "running"), 3);
	submit_sleeps(nobody, 5, 3600000);
	wait_started(watcher, 3);
	ck_assert_int_eq(count_in_state(nobody, "running"), 3);
	ck_assert_int_eq(count_in_state(nobody, "queued"), 2);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.running"), 6);
	ck_assert_int_eq(jint(r, "result.jobs.queued"), 49);
	json_object_put(r);
	tc_close(nobody);
	tc_close(watcher);
}
END_TEST

/* Waits for job ID to end, whether CONN watches it or not: job.watch
 * returns it, and its end is either in that answer or the next event. */
static void
wait_finished(struct tconn *conn, int64_t id)
{
	struct json_object *r = tc_call(conn, "job.watch", "{\"id\":%lld}", (long long)id);
	const char *state = jstr(r, "result.job.state");
	bool ended = strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0;

	json_object_put(r);
	if (!ended)
		json_object_put(tc_wait_end(conn, id, 5000));
}

START_TEST(list_filters_and_pages_newest_first)
{
	int64_t ids[6];

	for (int i = 0; i < 6; i++)
		ids[i] = submit_sleep(c, i < 3 ? 0 : 60000, "\"watch\":false");
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[5]));
	for (int i = 0; i < 3; i++)
		wait_finished(c, ids[i]);
	wait_finished(c, ids[5]);
	struct json_object *r = tc_call(c, "job.list", "{}");
	struct json_object *jobs = jget(r, "result.jobs");
	ck_assert_int_eq(json_object_array_length(jobs), 6);
	for (int i = 0; i < 6; i++) {
		char path[16];
		snprintf(path, sizeof path, "%d.id", i);
		ck_assert_int_eq(jint(jobs, path), ids[5 - i]);
	}
	json_object_put(r);
	r = tc_call(c, "job.list", "{\"state\":\"completed\"}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 3);
	json_object_put(r);
	r = tc_call(c, "job.list", "{\"state\":\"running\",\"kind\":\"sleep\"}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	json_object_put(r);
	r = tc_call(c, "job.list", "{\"state\":\"failed\"}");
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), ids[5]);
	json_object_put(r);
	r = tc_call(c, "job.list", "{\"limit\":2}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	json_object_put(r);
	r = tc_call(c, "job.list", "{\"limit\":2,\"before_id\":%lld}", (long long)ids[4]);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), ids[3]);
	ck_assert_int_eq(jint(r, "result.jobs.1.id"), ids[2]);
	json_object_put(r);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), 3);
	ck_assert_int_eq(jint(r, "result.jobs.running"), 2);
	ck_assert_int_eq(jint(r, "result.jobs.failed"), 1);
	ck_assert_int_eq(jint(r, "result.jobs.queued"), 0);
	json_object_put(r);
	for (int i = 3; i < 5; i++)
		json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[i]));
}
END_TEST

START_TEST(overloaded_when_queue_limits_are_reached)
{
	static const char *const extra[] = {"--max-running", "sleep=1", "--max-queued-per-user", "2",
					    "--max-queued", "3", NULL};
	teardown();
	start_with(extra);
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	int64_t run = submit_sleep(c, 60000, NULL);
	struct json_object *ev = tc_event(c, 5000); /* started: not queued now */
	json_object_put(ev);
	int64_t queued1 = submit_sleep(c, 0, NULL);
	int64_t queued2 = submit_sleep(c, 0, NULL);
	struct json_object *r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	assert_rpc_error(r, -32003, NULL);
	json_object_put(r);
	/* Another user still has room, until the global limit. */
	int64_t theirs = submit_sleep(nobody, 0, NULL);
	r = tc_call(nobody, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	assert_rpc_error(r, -32003, NULL);
	json_object_put(r);
	/* Room again once the queue moves: the two queued 0 ms sleeps of
	 * this user run when the first one's slot frees. */
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)run));
	wait_finished(c, queued1);
	wait_finished(c, queued2);
	wait_finished(nobody, theirs);
	submit_sleep(c, 0, NULL);
	tc_close(nobody);
}
END_TEST

START_TEST(finished_jobs_are_kept_up_to_the_limit)
{
	static const char *const extra[] = {"--keep-finished", "5", NULL};
	teardown();
	start_with(extra);
	int64_t first = 0, last = 0;

	for (int i = 0; i < 12; i++) {
		last = submit_sleep(c, 0, NULL);
		if (i == 0)
			first = last;
		json_object_put(tc_wait_end(c, last, 5000));
	}
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)first);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 5);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), last);
	json_object_put(r);
	r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"after\":[%lld]}",
		    (long long)first);
	assert_rpc_error(r, -32602, "after");
	json_object_put(r);
	/* The counts only cover what is kept. */
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), 5);
	json_object_put(r);
}
END_TEST

START_TEST(shutdown_interrupts_jobs_and_refuses_new_ones)
{
	static const char *const extra[] = {"--stop-timeout", "3", NULL};
	teardown();
	start_with(extra);
	/* One that may not run again after a restart (check_store.c has
	 * the others). */
	int64_t running = submit_sleep(c, 60000, "\"on_interrupt\":\"fail\"");
	struct json_object *ev = tc_event(c, 5000), *r;
	long long signalled;
	int status;

	ck_assert(is(ev, "job.started", running));
	json_object_put(ev);
	/* A process that ignores SIGTERM holds the stop open until the
	 * stop timeout: long enough to be refused, whatever the machine. */
	int64_t stubborn = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":"
				     "[\"/bin/sh\",\"-c\",\"trap '' TERM; echo ready; exec sleep 60\"]}}");
	for (;;) {
		ev = tc_event(c, 5000);
		ck_assert_ptr_nonnull(ev);
		bool ready = is(ev, "job.output", stubborn);
		json_object_put(ev);
		if (ready)
			break;
	}
	signalled = td_mono_ms();
	kill(d.pid, SIGTERM);
	ev = tc_wait_end(c, running, 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "interrupted");
	json_object_put(ev);
	r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	assert_rpc_error(r, -32004, NULL);
	json_object_put(r);
	/* Reads still work while it stops. */
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)running);
	ck_assert_str_eq(jstr(r, "result.job.state"), "failed");
	json_object_put(r);
	/* New connections are refused: the socket is gone. */
	ck_assert_int_ne(access(d.sock, F_OK), 0);
	/* The stubborn process is killed at the stop timeout, then the
	 * daemon exits. */
	ev = tc_wait_end(c, stubborn, 10000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "interrupted");
	json_object_put(ev);
	ck_assert_int_ge(td_mono_ms() - signalled, 2900);
	ck_assert(tc_eof(c, 10000));
	ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	d.pid = 0;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", d.dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* watch all with a limit: the newest N in the answer, "more", and the
 * events of every job all the same. */
START_TEST(watch_all_with_a_limit_lists_the_newest_and_watches_all)
{
	struct tconn *w = tc_open(d.sock);
	struct json_object *r, *ev;
	int64_t ids[4];

	for (int i = 0; i < 4; i++)
		ids[i] = submit_sleep(c, 60000, "\"watch\":false");
	r = tc_call(w, "job.watch", "{\"all\":true,\"limit\":2}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), ids[3]);
	ck_assert_int_eq(jint(r, "result.jobs.1.id"), ids[2]);
	ck_assert(json_object_get_boolean(jget(r, "result.more")));
	json_object_put(r);
	/* The oldest, left out of the answer, is watched. */
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[0]));
	ev = tc_wait_end(w, ids[0], 5000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	json_object_put(ev);
	r = tc_call(w, "job.watch", "{\"all\":true,\"limit\":10}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 3);
	ck_assert(!json_object_get_boolean(jget(r, "result.more")));
	json_object_put(r);
	r = tc_call(w, "job.watch", "{\"all\":true}");
	ck_assert_ptr_null(jget(r, "result.more"));
	json_object_put(r);
	r = tc_call(w, "job.watch", "{\"id\":%lld,\"limit\":2}", (long long)ids[1]);
	assert_rpc_error(r, -32602, "limit");
	json_object_put(r);
	r = tc_call(w, "job.watch", "{\"all\":true,\"limit\":0}");
	assert_rpc_error(r, -32602, "limit");
	json_object_put(r);
	for (int i = 1; i < 4; i++)
		json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[i]));
	tc_close(w);
}
END_TEST

static Suite *
jobs_suite(void)
{
	Suite *s = suite_create("jobs");
	TCase *tc = tcase_create("sleep");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_sleeps_run_concurrently);
	tcase_add_test(tc, submit_returns_the_queued_job_then_events_follow);
	tcase_add_test(tc, detached_job_sends_no_events_and_finishes);
	tcase_add_test(tc, cancel_running_and_queued_jobs);
	tcase_add_test(tc, timeout_fails_running_and_queued_jobs);
	tcase_add_test(tc, after_chains_run_in_order);
	tcase_add_test(tc, failed_dependency_cascades);
	tcase_add_test(tc, idempotency_key_returns_the_existing_job);
	tcase_add_test(tc, jobs_outlive_their_connection);
	tcase_add_test(tc, watch_all_sees_current_and_future_jobs);
	tcase_add_test(tc, watch_all_with_a_limit_lists_the_newest_and_watches_all);
	tcase_add_test(tc, exactly_one_terminal_event_per_job);
	suite_add_tcase(s, tc);

	tc = tcase_create("policy");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, list_filters_and_pages_newest_first);
	tcase_add_test(tc, finished_jobs_are_kept_up_to_the_limit);
	tcase_add_test(tc, shutdown_interrupts_jobs_and_refuses_new_ones);
	tcase_add_test(tc, max_running_below_ten_lets_one_user_take_every_slot);
	tcase_add_test(tc, daemon_info_shows_the_default_per_user_caps);
	tcase_add_test(tc, bad_max_running_per_user_is_refused_at_start);
	suite_add_tcase(s, tc);
	return s;
}

/* The cases with a second user, who connects as uid 65534. */
static Suite *
jobs_root_suite(void)
{
	Suite *s = suite_create("jobs as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, idempotency_keys_are_per_user);
	tcase_add_test(tc, users_see_only_their_own_jobs);
	tcase_add_test(tc, scheduling_is_fair_between_users);
	tcase_add_test(tc, overloaded_when_queue_limits_are_reached);
	tcase_add_test(tc, per_user_cap_leaves_room_for_another_user);
	tcase_add_test(tc, explicit_per_user_cap_applies_to_each_user);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(jobs_suite, jobs_root_suite,
			       "to connect as uid 65534");
}
