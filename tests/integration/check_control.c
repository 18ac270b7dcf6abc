/* Job control against a real asyncd: named queues and their limits,
 * pausing queued jobs, priority, delayed starts, retries, after_any,
 * restart, removal, the answers to bad input, and all of it across a
 * restart of the daemon. (Pausing running jobs: check_pause.c.) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;

static void
setup(void)
{
	tf_open(&d, &c, NULL);
}

static void
teardown(void)
{
	tf_close(&d, &c);
}

/* Stops the daemon cleanly, starts it again on the same state and
 * reconnects. */
static void
restart(void)
{
	tc_close(c);
	ck_assert_int_eq(td_halt(&d, SIGTERM), 0);
	td_restart(&d, NULL);
	c = tc_open(d.sock);
}

static const char *
method(struct json_object *ev)
{
	const char *m = jstr(ev, "method");

	return m != NULL ? m : "";
}

static int64_t
submit_sleep(int ms, const char *extra)
{
	return tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":%d}%s%s}", ms,
			 extra != NULL ? "," : "", extra != NULL ? extra : "");
}

/* job.get of ID; the caller puts it. */
static struct json_object *
get_job(int64_t id)
{
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);

	ck_assert_msg(jget(r, "result.job") != NULL, "job %lld: %s",
		      (long long)id, json_object_to_json_string(r));
	return r;
}

static char *
state_of(int64_t id)
{
	struct json_object *r = get_job(id);
	char *s = strdup(jstr(r, "result.job.state"));

	json_object_put(r);
	return s;
}

static void
assert_state(int64_t id, const char *want)
{
	char *s = state_of(id);

	ck_assert_msg(strcmp(s, want) == 0, "job %lld is %s, not %s",
		      (long long)id, s, want);
	free(s);
}

/* The next event that is one of JOB's, with METHOD; other events are
 * dropped. */
static struct json_object *
next_event_of(int64_t id, const char *m)
{
	for (;;) {
		struct json_object *ev = tc_event(c, 10000);
		ck_assert_msg(ev != NULL, "no %s of job %lld", m, (long long)id);
		if (jint(ev, "params.id") == id && strcmp(method(ev), m) == 0)
			return ev;
		json_object_put(ev);
	}
}

/* Watches ID until it ends; returns its job.get response then. */
static struct json_object *
wait_end(int64_t id)
{
	struct json_object *r = tc_call(c, "job.watch", "{\"id\":%lld}", (long long)id);
	const char *state = jstr(r, "result.job.state");

	if (strcmp(state, "completed") != 0 && strcmp(state, "failed") != 0)
		json_object_put(tc_wait_end(c, id, 15000));
	json_object_put(r);
	return get_job(id);
}

/* The queue NAME in queue.list, or NULL; the caller puts LIST. */
static struct json_object *
find_queue(struct json_object **list, const char *name)
{
	struct json_object *qs;

	*list = tc_call(c, "queue.list", NULL);
	qs = jget(*list, "result.queues");
	for (size_t i = 0; i < json_object_array_length(qs); i++) {
		struct json_object *q = json_object_array_get_idx(qs, i);
		if (strcmp(jstr(q, "name"), name) == 0)
			return q;
	}
	return NULL;
}

/* ---- Queues ------------------------------------------------------------- */

/* A queue with max_running 2 never has 3 running, and lets the next one
 * go when one ends; other queues are not held by it. */
START_TEST(queue_limit_holds_and_moves_on)
{
	struct json_object *r, *list, *q, *ev;
	int64_t ids[4], other;
	int running = 0, max_seen = 0, ended = 0;

	r = tc_call(c, "queue.set", "{\"name\":\"enc\",\"max_running\":2}");
	ck_assert_str_eq(jstr(r, "result.queue.name"), "enc");
	ck_assert_int_eq(jint(r, "result.queue.max_running"), 2);
	ck_assert(!json_object_get_boolean(jget(r, "result.queue.paused")));
	json_object_put(r);
	for (int i = 0; i < 4; i++)
		ids[i] = submit_sleep(200, "\"queue\":\"enc\"");
	other = submit_sleep(0, NULL);
	/* Count what runs from the events alone: never more than 2. */
	while (ended < 4) {
		ev = tc_event(c, 10000);
		ck_assert_ptr_nonnull(ev);
		if (jint(ev, "params.id") != other) {
			if (strcmp(method(ev), "job.started") == 0)
				running++;
			else if (strcmp(method(ev), "job.completed") == 0) {
				running--;
				ended++;
			}
		}
		if (running > max_seen)
			max_seen = running;
		json_object_put(ev);
	}
	ck_assert_int_eq(max_seen, 2);
	assert_state(other, "completed");
	for (int i = 0; i < 4; i++)
		assert_state(ids[i], "completed");
	/* It stays listed: it has a setting of its own. */
	q = find_queue(&list, "enc");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(jint(q, "queued"), 0);
	ck_assert_int_eq(jint(q, "running"), 0);
	json_object_put(list);
}
END_TEST

START_TEST(queue_list_counts_and_pause)
{
	struct json_object *r, *list, *q;
	int64_t blocker, held;

	json_object_put(tc_call(c, "queue.set", "{\"name\":\"q1\",\"max_running\":1}"));
	blocker = submit_sleep(60000, "\"queue\":\"q1\"");
	held = submit_sleep(0, "\"queue\":\"q1\"");
	json_object_put(next_event_of(blocker, "job.started"));
	q = find_queue(&list, "q1");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(jint(q, "owner"), (int64_t)geteuid());
	ck_assert_int_eq(jint(q, "running"), 1);
	ck_assert_int_eq(jint(q, "queued"), 1);
	json_object_put(list);

	/* Paused: the running one goes on, nothing new starts. */
	r = tc_call(c, "queue.pause", "{\"name\":\"q1\"}");
	ck_assert(json_object_get_boolean(jget(r, "result.changed")));
	ck_assert(json_object_get_boolean(jget(r, "result.queue.paused")));
	json_object_put(r);
	r = tc_call(c, "queue.pause", "{\"name\":\"q1\"}");
	ck_assert(!json_object_get_boolean(jget(r, "result.changed")));
	json_object_put(r);
	json_object_put(tc_call(c, "queue.set", "{\"name\":\"q1\",\"max_running\":null}"));
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)blocker));
	json_object_put(next_event_of(blocker, "job.failed"));
	assert_state(held, "queued");
	r = tc_call(c, "queue.resume", "{\"name\":\"q1\"}");
	ck_assert(json_object_get_boolean(jget(r, "result.changed")));
	ck_assert(jnull(r, "result.queue.max_running"));
	json_object_put(r);
	json_object_put(wait_end(held));
	assert_state(held, "completed");
	/* Without jobs or settings it is not listed any more. */
	ck_assert_ptr_null(find_queue(&list, "q1"));
	json_object_put(list);
	r = tc_call(c, "queue.resume", "{\"name\":\"q1\"}");
	assert_rpc_error(r, -32602, "name");
	json_object_put(r);
}
END_TEST

START_TEST(queue_params_are_checked)
{
	static const char *const bad[][2] = {
		{"{\"name\":\"a b\",\"max_running\":1}", "name"},
		{"{\"name\":\"\",\"max_running\":1}", "name"},
		{"{\"name\":\"x\",\"max_running\":0}", "max_running"},
		{"{\"name\":\"x\",\"max_running\":1025}", "max_running"},
		{"{\"name\":\"x\",\"max_running\":\"2\"}", "max_running"},
		{"{\"name\":\"x\"}", "max_running"},
		{"{\"max_running\":1}", "name"},
		{"{\"name\":\"x\",\"max_running\":1,\"color\":1}", "color"},
	};
	char longname[80];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct json_object *r = tc_call(c, "queue.set", "%s", bad[i][0]);
		assert_rpc_error(r, -32602, bad[i][1]);
		json_object_put(r);
	}
	memset(longname, 'q', 65);
	longname[65] = '\0';
	struct json_object *r = tc_call(c, "job.submit",
		"{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"queue\":\"%s\"}", longname);
	assert_rpc_error(r, -32602, "queue");
	json_object_put(r);
	longname[64] = '\0'; /* 64 bytes: fine */
	json_object_put(wait_end(submit_sleep(0, NULL)));
	r = tc_call(c, "job.submit",
		    "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"queue\":\"%s\"}", longname);
	ck_assert_ptr_nonnull(jget(r, "result.job"));
	ck_assert_str_eq(jstr(r, "result.job.queue"), longname);
	json_object_put(r);
	/* The other methods' params, each refused with its field. */
	static const char *const calls[][3] = {
		{"queue.list", "{\"x\":1}", "x"},
		{"queue.pause", "{}", "name"},
		{"job.pause", "{}", "id"},
		{"job.resume", "{\"id\":0}", "id"},
		{"job.update", "{\"id\":1}", "priority"},
		{"job.restart", "{\"id\":1,\"watch\":\"yes\"}", "watch"},
		{"job.remove", "{\"id\":\"1\"}", "id"},
		{"job.clean", "{\"queue\":\"a b\"}", "queue"},
	};
	for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
		r = tc_call(c, calls[i][0], "%s", calls[i][1]);
		assert_rpc_error(r, -32602, calls[i][2]);
		json_object_put(r);
	}
	/* Only uid 0 names another owner. */
	if (geteuid() != 0) {
		r = tc_call(c, "queue.set", "{\"name\":\"x\",\"max_running\":1,\"owner\":%u}",
			    (unsigned)geteuid() + 1);
		assert_rpc_error(r, -32602, "owner");
		json_object_put(r);
	}
}
END_TEST

/* A user has at most 1,000 queues. */
START_TEST(a_user_has_at_most_1000_queues)
{
	struct json_object *r;

	for (int i = 0; i < 1000; i++) {
		r = tc_call(c, "queue.set", "{\"name\":\"q%d\",\"max_running\":1}", i);
		ck_assert_msg(jget(r, "result.queue") != NULL, "queue %d: %s", i,
			      json_object_to_json_string(r));
		json_object_put(r);
	}
	r = tc_call(c, "queue.set", "{\"name\":\"one-more\",\"max_running\":1}");
	assert_rpc_error(r, -32003, NULL);
	json_object_put(r);
	r = tc_call(c, "job.submit",
		    "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"queue\":\"one-more\"}");
	assert_rpc_error(r, -32003, NULL);
	json_object_put(r);
	/* The existing ones still take jobs. */
	json_object_put(wait_end(submit_sleep(0, "\"queue\":\"q999\"")));
}
END_TEST

/* ---- Pause of queued jobs, priority -------------------------------------- */

START_TEST(a_paused_queued_job_does_not_start)
{
	struct json_object *r, *ev;
	int64_t blocker, job;

	json_object_put(tc_call(c, "queue.set", "{\"name\":\"one\",\"max_running\":1}"));
	blocker = submit_sleep(60000, "\"queue\":\"one\"");
	job = submit_sleep(0, "\"queue\":\"one\"");
	/* On a connection that watches the job, the answer comes first,
	 * then the event. */
	struct tconn *w = tc_open(d.sock);
	json_object_put(tc_call(w, "job.watch", "{\"id\":%lld}", (long long)job));
	tc_send(w, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.pause\","
		   "\"params\":{\"id\":%lld}}", (long long)job);
	r = tc_recv(w, 10000);
	ck_assert_int_eq(jint(r, "id"), 7);
	ck_assert(json_object_get_boolean(jget(r, "result.changed")));
	ck_assert(json_object_get_boolean(jget(r, "result.job.paused")));
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	json_object_put(r);
	ev = tc_recv(w, 10000);
	ck_assert_str_eq(method(ev), "job.paused");
	ck_assert_int_eq(jint(ev, "params.id"), job);
	ck_assert_int_ge(jint(ev, "params.seq"), 1);
	json_object_put(ev);
	tc_close(w);
	json_object_put(next_event_of(job, "job.paused"));
	r = tc_call(c, "job.pause", "{\"id\":%lld}", (long long)job);
	ck_assert(!json_object_get_boolean(jget(r, "result.changed")));
	json_object_put(r);

	/* Its slot frees, and it still waits. */
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)blocker));
	json_object_put(next_event_of(blocker, "job.failed"));
	int64_t after = submit_sleep(0, "\"queue\":\"one\"");
	json_object_put(wait_end(after));
	assert_state(job, "queued");

	r = tc_call(c, "job.resume", "{\"id\":%lld}", (long long)job);
	ck_assert(json_object_get_boolean(jget(r, "result.changed")));
	ck_assert(!json_object_get_boolean(jget(r, "result.job.paused")));
	json_object_put(r);
	json_object_put(next_event_of(job, "job.resumed"));
	r = wait_end(job);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	json_object_put(r);
	r = tc_call(c, "job.resume", "{\"id\":%lld}", (long long)job);
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	r = tc_call(c, "job.pause", "{\"id\":%lld}", (long long)job);
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
}
END_TEST

/* Within one user's queue, higher priority first, then in submission
 * order; job.update reorders a queued job. */
START_TEST(priority_orders_a_users_jobs)
{
	struct json_object *r, *ev;
	int64_t blocker, low, mid1, mid2, high;
	int64_t want[4], got[4];
	int n = 0;

	json_object_put(tc_call(c, "queue.set", "{\"name\":\"one\",\"max_running\":1}"));
	blocker = submit_sleep(60000, "\"queue\":\"one\"");
	json_object_put(next_event_of(blocker, "job.started"));
	low = submit_sleep(0, "\"queue\":\"one\",\"priority\":-5");
	mid1 = submit_sleep(0, "\"queue\":\"one\"");
	mid2 = submit_sleep(0, "\"queue\":\"one\"");
	high = submit_sleep(0, "\"queue\":\"one\",\"priority\":100");
	r = tc_call(c, "job.update", "{\"id\":%lld,\"priority\":50}", (long long)mid2);
	ck_assert_int_eq(jint(r, "result.job.priority"), 50);
	json_object_put(r);
	r = tc_call(c, "job.update", "{\"id\":%lld,\"priority\":50}", (long long)blocker);
	assert_rpc_error(r, -32007, NULL);
	json_object_put(r);
	r = tc_call(c, "job.update", "{\"id\":%lld,\"priority\":101}", (long long)low);
	assert_rpc_error(r, -32602, "priority");
	json_object_put(r);
	want[0] = high, want[1] = mid2, want[2] = mid1, want[3] = low;
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)blocker));
	while (n < 4) {
		ev = tc_event(c, 10000);
		ck_assert_ptr_nonnull(ev);
		if (strcmp(method(ev), "job.started") == 0)
			got[n++] = jint(ev, "params.id");
		json_object_put(ev);
	}
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(got[i], want[i]);
}
END_TEST

/* ---- Delayed start ------------------------------------------------------- */

START_TEST(delay_holds_a_job_until_its_time)
{
	long long t0 = td_mono_ms();
	int64_t id = submit_sleep(0, "\"delay_ms\":700");
	struct json_object *r = get_job(id), *ev;

	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	ck_assert(!jnull(r, "result.job.not_before"));
	json_object_put(r);
	ev = next_event_of(id, "job.started");
	ck_assert_int_ge(td_mono_ms() - t0, 650);
	json_object_put(ev);
	json_object_put(tc_wait_end(c, id, 5000));
}
END_TEST

START_TEST(not_before_in_the_past_starts_at_once_and_bad_times_are_refused)
{
	struct json_object *r;
	int64_t id;

	id = submit_sleep(0, "\"not_before\":\"2001-02-03T04:05:06.789+01:00\"");
	r = get_job(id);
	ck_assert(jnull(r, "result.job.not_before")); /* due already */
	json_object_put(r);
	json_object_put(wait_end(id));
	static const char *const bad[][2] = {
		{"\"not_before\":\"tomorrow\"", "not_before"},
		{"\"not_before\":\"2026-13-01T00:00:00Z\"", "not_before"},
		{"\"not_before\":\"2026-02-30T00:00:00Z\"", "not_before"},
		{"\"not_before\":\"2026-11-30T18:00:00\"", "not_before"},
		{"\"not_before\":5", "not_before"},
		{"\"delay_ms\":-1", "delay_ms"},
		{"\"delay_ms\":31536000001", "delay_ms"},
		{"\"delay_ms\":10,\"not_before\":\"2030-01-01T00:00:00Z\"", "delay_ms"},
		{"\"delay_ms\":5000,\"timeout_ms\":1000", "timeout_ms"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0},%s}",
			    bad[i][0]);
		assert_rpc_error(r, -32602, bad[i][1]);
		json_object_put(r);
	}
}
END_TEST

/* ---- Retries -------------------------------------------------------------- */

/* A failing job is retried MAX times: job.retrying each time, then
 * exactly one terminal event. */
START_TEST(retries_then_exactly_one_end)
{
	int64_t id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":"
				  "\"/no/such/file\"},\"retry\":{\"max\":2,"
				  "\"delay_ms\":50,\"backoff\":3}}");
	int started = 0, retrying = 0, ends = 0;
	long long last_retry_at = 0;
	struct json_object *ev, *r;

	while (ends == 0) {
		ev = tc_event(c, 10000);
		ck_assert_ptr_nonnull(ev);
		if (jint(ev, "params.id") == id) {
			const char *m = method(ev);
			if (strcmp(m, "job.started") == 0) {
				started++;
			} else if (strcmp(m, "job.retrying") == 0) {
				retrying++;
				ck_assert_int_eq(jint(ev, "params.attempt"), retrying);
				ck_assert_str_eq(jstr(ev, "params.error.code"), "not-found");
				ck_assert_ptr_nonnull(jstr(ev, "params.retry_at"));
				last_retry_at = 1;
			} else if (strcmp(m, "job.failed") == 0) {
				ends++;
				ck_assert_str_eq(jstr(ev, "params.error.code"), "not-found");
			} else {
				ck_assert_msg(strcmp(m, "job.completed") != 0, "completed?");
			}
		}
		json_object_put(ev);
	}
	ck_assert_int_eq(started, 3);
	ck_assert_int_eq(retrying, 2);
	ck_assert(last_retry_at);
	/* Nothing after the end. */
	ev = tc_event(c, 300);
	ck_assert_msg(ev == NULL || jint(ev, "params.id") != id, "an event after the end");
	json_object_put(ev);
	r = get_job(id);
	ck_assert_int_eq(jint(r, "result.job.attempts"), 3);
	ck_assert_int_eq(jint(r, "result.job.retry.max"), 2);
	ck_assert_int_eq(jint(r, "result.job.retry.delay_ms"), 50);
	ck_assert(jnull(r, "result.job.retry_at"));
	json_object_put(r);
}
END_TEST

/* A retried job that then succeeds completes once; a cancel is never
 * retried. */
START_TEST(retry_until_it_works_and_cancel_is_final)
{
	char path[200];
	struct json_object *ev, *r;
	int64_t id;

	snprintf(path, sizeof path, "%s/appears", d.dir);
	id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"},"
			  "\"retry\":{\"max\":5,\"delay_ms\":300,\"backoff\":1}}", path);
	ev = next_event_of(id, "job.retrying");
	json_object_put(ev);
	write_file(path, "here\n", 5, 0644);
	ev = tc_wait_end(c, id, 10000);
	ck_assert_str_eq(method(ev), "job.completed");
	json_object_put(ev);

	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000},"
			  "\"retry\":{\"max\":5}}");
	json_object_put(next_event_of(id, "job.started"));
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id));
	ev = tc_wait_end(c, id, 10000);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	json_object_put(ev);
	r = get_job(id);
	ck_assert_int_eq(jint(r, "result.job.attempts"), 1);
	json_object_put(r);
}
END_TEST

START_TEST(retry_params_are_checked)
{
	static const char *const bad[][2] = {
		{"\"retry\":{}", "retry.max"},
		{"\"retry\":{\"max\":0}", "retry.max"},
		{"\"retry\":{\"max\":101}", "retry.max"},
		{"\"retry\":{\"max\":1,\"delay_ms\":86400001}", "retry.delay_ms"},
		{"\"retry\":{\"max\":1,\"backoff\":0.5}", "retry.backoff"},
		{"\"retry\":{\"max\":1,\"backoff\":\"2\"}", "retry.backoff"},
		{"\"retry\":{\"max\":1,\"tries\":2}", "retry.tries"},
		{"\"retry\":3", "retry"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct json_object *r = tc_call(
			c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0},%s}",
			bad[i][0]);
		assert_rpc_error(r, -32602, bad[i][1]);
		json_object_put(r);
	}
	struct json_object *r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":"
						   "{\"ms\":0},\"retry\":{\"max\":1}}");
	ck_assert_int_eq(jint(r, "result.job.retry.delay_ms"), 1000);
	ck_assert_int_eq(jint(r, "result.job.retry.backoff"), 2);
	json_object_put(r);
}
END_TEST

/* ---- Dependencies on any outcome ------------------------------------------ */

START_TEST(after_any_runs_after_a_failure)
{
	int64_t bad = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":"
				   "\"/no/such/file\"}}");
	char after[64];
	struct json_object *r;

	snprintf(after, sizeof after, "\"after_any\":[%lld]", (long long)bad);
	int64_t hook = submit_sleep(0, after);
	snprintf(after, sizeof after, "\"after\":[%lld]", (long long)bad);
	int64_t strict = submit_sleep(0, after);
	r = wait_end(hook);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	json_object_put(r);
	r = wait_end(strict);
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "dependency-failed");
	json_object_put(r);
	r = get_job(hook);
	ck_assert_int_eq(jint(r, "result.job.after_any.0"), bad);
	json_object_put(r);
	r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0},"
				     "\"after_any\":[999999]}");
	assert_rpc_error(r, -32602, "after_any");
	json_object_put(r);
}
END_TEST

/* ---- Restart, removal ----------------------------------------------------- */

START_TEST(restart_makes_a_new_job_like_the_old)
{
	int64_t old = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				   "\"label\":\"again\",\"queue\":\"rq\","
				   "\"priority\":7,\"retry\":{\"max\":3},"
				   "\"timeout_ms\":60000}");
	struct json_object *r;
	int64_t fresh;

	json_object_put(wait_end(old));
	r = tc_call(c, "job.restart", "{\"id\":%lld}", (long long)old);
	fresh = jint(r, "result.job.id");
	ck_assert_int_gt(fresh, old);
	ck_assert_int_eq(jint(r, "result.job.restarted_from"), old);
	ck_assert_str_eq(jstr(r, "result.job.label"), "again");
	ck_assert_str_eq(jstr(r, "result.job.queue"), "rq");
	ck_assert_int_eq(jint(r, "result.job.priority"), 7);
	ck_assert_int_eq(jint(r, "result.job.retry.max"), 3);
	ck_assert_int_eq(jint(r, "result.job.args.ms"), 1);
	ck_assert_int_eq(jint(r, "result.job.attempts"), 0);
	json_object_put(r);
	r = wait_end(fresh);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	json_object_put(r);

	/* A queued or running job cannot be restarted. */
	int64_t busy = submit_sleep(60000, NULL);
	r = tc_call(c, "job.restart", "{\"id\":%lld}", (long long)busy);
	assert_rpc_error(r, -32006, NULL);
	json_object_put(r);
	r = tc_call(c, "job.restart", "{\"id\":999999}");
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)busy));
}
END_TEST

START_TEST(remove_and_clean_forget_finished_jobs)
{
	struct json_object *r;
	int64_t ok1, ok2, bad, busy;

	ok1 = submit_sleep(0, "\"queue\":\"a\"");
	ok2 = submit_sleep(0, "\"queue\":\"b\"");
	bad = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":\"/no/such\"},"
			   "\"queue\":\"a\"}");
	busy = submit_sleep(60000, "\"queue\":\"a\"");
	json_object_put(wait_end(ok1));
	json_object_put(wait_end(ok2));
	json_object_put(wait_end(bad));

	r = tc_call(c, "job.remove", "{\"id\":%lld}", (long long)busy);
	assert_rpc_error(r, -32006, NULL);
	json_object_put(r);
	r = tc_call(c, "job.remove", "{\"id\":%lld}", (long long)ok2);
	ck_assert_int_eq(jint(r, "result.removed"), 1);
	json_object_put(r);
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)ok2);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);

	r = tc_call(c, "job.clean", "{\"state\":\"running\"}");
	assert_rpc_error(r, -32602, "state");
	json_object_put(r);
	r = tc_call(c, "job.clean", "{\"before\":\"yesterday\"}");
	assert_rpc_error(r, -32602, "before");
	json_object_put(r);
	r = tc_call(c, "job.clean", "{\"before\":\"2001-01-01T00:00:00Z\"}");
	ck_assert_int_eq(jint(r, "result.removed"), 0);
	json_object_put(r);
	r = tc_call(c, "job.clean", "{\"state\":\"failed\",\"queue\":\"a\"}");
	ck_assert_int_eq(jint(r, "result.removed"), 1);
	json_object_put(r);
	assert_state(ok1, "completed");
	r = tc_call(c, "job.clean", "{}");
	ck_assert_int_eq(jint(r, "result.removed"), 1);
	json_object_put(r);
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)ok1);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	assert_state(busy, "running");
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), 0);
	ck_assert_int_eq(jint(r, "result.jobs.failed"), 0);
	json_object_put(r);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)busy));
}
END_TEST

/* A stop with a user's jobs waiting in several queues of one kind lets
 * go of them cleanly (the sanitizer build checks the memory). */
START_TEST(a_stop_with_jobs_waiting_in_several_queues)
{
	static const char *const extra[] = {"--max-running", "sleep=1", NULL};
	int64_t blocker;

	tf_close(&d, &c);
	tf_open(&d, &c, extra);
	blocker = submit_sleep(60000, "\"queue\":\"a\"");
	json_object_put(next_event_of(blocker, "job.started"));
	for (int i = 0; i < 3; i++) {
		submit_sleep(0, "\"queue\":\"b\"");
		submit_sleep(0, "\"queue\":\"c\",\"priority\":5");
		submit_sleep(0, "\"queue\":\"d\",\"priority\":-5");
	}
	assert_state(blocker, "running");
	/* teardown: the daemon must stop and exit 0 */
}
END_TEST

/* ---- Across a restart of the daemon ------------------------------------- */

START_TEST(every_control_survives_a_restart)
{
	struct json_object *r, *list, *q, *ev;
	int64_t blocker, paused, delayed, low, high, retried, removed;

	json_object_put(tc_call(c, "queue.set", "{\"name\":\"keep\",\"max_running\":1}"));
	json_object_put(tc_call(c, "queue.set", "{\"name\":\"held\",\"max_running\":3}"));
	json_object_put(tc_call(c, "queue.pause", "{\"name\":\"held\"}"));
	blocker = submit_sleep(60000, "\"queue\":\"keep\"");
	paused = submit_sleep(0, "\"queue\":\"keep\"");
	r = tc_call(c, "job.pause", "{\"id\":%lld}", (long long)paused);
	ck_assert(json_object_get_boolean(jget(r, "result.changed")));
	json_object_put(r);
	delayed = submit_sleep(0, "\"delay_ms\":1500");
	low = submit_sleep(0, "\"queue\":\"held\",\"priority\":-1");
	high = submit_sleep(0, "\"queue\":\"held\",\"priority\":9");
	retried = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":"
			       "\"/no/such/file\"},\"retry\":{\"max\":1,"
			       "\"delay_ms\":2000}}");
	json_object_put(next_event_of(retried, "job.retrying"));
	removed = submit_sleep(0, NULL);
	json_object_put(wait_end(removed));
	json_object_put(tc_call(c, "job.remove", "{\"id\":%lld}", (long long)removed));

	restart();

	/* Queues and their settings. */
	q = find_queue(&list, "keep");
	ck_assert_ptr_nonnull(q);
	ck_assert_int_eq(jint(q, "max_running"), 1);
	json_object_put(list);
	q = find_queue(&list, "held");
	ck_assert_ptr_nonnull(q);
	ck_assert(json_object_get_boolean(jget(q, "paused")));
	ck_assert_int_eq(jint(q, "max_running"), 3);
	ck_assert_int_eq(jint(q, "queued"), 2);
	json_object_put(list);
	/* The paused job, the delay, the retry, the removal. */
	r = get_job(paused);
	ck_assert(json_object_get_boolean(jget(r, "result.job.paused")));
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	json_object_put(r);
	r = get_job(delayed);
	ck_assert(!jnull(r, "result.job.not_before"));
	json_object_put(r);
	r = get_job(retried);
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	ck_assert(!jnull(r, "result.job.retry_at"));
	json_object_put(r);
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)removed);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);

	/* And they go on: the retry runs its last attempt and fails, the
	 * delayed one runs, the held queue starts high before low. */
	r = wait_end(retried);
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "not-found");
	ck_assert_int_eq(jint(r, "result.job.attempts"), 2);
	json_object_put(r);
	json_object_put(wait_end(delayed));
	assert_state(delayed, "completed");
	json_object_put(tc_call(c, "job.watch", "{\"all\":true}"));
	json_object_put(tc_call(c, "queue.resume", "{\"name\":\"held\"}"));
	for (;;) { /* the first of the two to start is the high one */
		ev = tc_event(c, 10000);
		ck_assert_ptr_nonnull(ev);
		int64_t id = jint(ev, "params.id");
		bool started = strcmp(method(ev), "job.started") == 0 &&
			       (id == high || id == low);
		json_object_put(ev);
		if (started) {
			ck_assert_int_eq(id, high);
			break;
		}
	}
	json_object_put(wait_end(low));
	assert_state(paused, "queued");
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)blocker));
	json_object_put(wait_end(blocker));
	assert_state(paused, "queued");
	json_object_put(tc_call(c, "job.resume", "{\"id\":%lld}", (long long)paused));
	json_object_put(wait_end(paused));
	assert_state(paused, "completed");
}
END_TEST

/* ---- Between users (root) ------------------------------------------------- */

/* Two users' queues of one name are two queues; one user's paused or
 * full queue holds nobody else; uid 0 acts on another's queue by owner,
 * and a user sees only their own. */
START_TEST(queues_belong_to_their_user)
{
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	struct json_object *r;
	int64_t mine, theirs;

	json_object_put(tc_call(c, "queue.set", "{\"name\":\"encode\",\"max_running\":1}"));
	json_object_put(tc_call(c, "queue.pause", "{\"name\":\"encode\"}"));
	mine = submit_sleep(0, "\"queue\":\"encode\"");
	theirs = tc_submit(nobody, "{\"kind\":\"sleep\",\"args\":{\"ms\":0},"
				   "\"queue\":\"encode\"}");
	json_object_put(tc_wait_end(nobody, theirs, 10000));
	assert_state(mine, "queued");

	/* nobody sees one queue, theirs; root sees both. */
	r = tc_call(nobody, "queue.list", NULL);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.queues")), 0);
	json_object_put(r);
	r = tc_call(nobody, "queue.set", "{\"name\":\"encode\",\"max_running\":2}");
	ck_assert_int_eq(jint(r, "result.queue.owner"), TEST_NOBODY);
	ck_assert(!json_object_get_boolean(jget(r, "result.queue.paused")));
	json_object_put(r);
	r = tc_call(c, "queue.list", NULL);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.queues")), 2);
	json_object_put(r);
	r = tc_call(nobody, "queue.pause", "{\"name\":\"encode\",\"owner\":0}");
	assert_rpc_error(r, -32602, "owner");
	json_object_put(r);
	r = tc_call(c, "queue.pause", "{\"name\":\"encode\",\"owner\":%d}", TEST_NOBODY);
	ck_assert_int_eq(jint(r, "result.queue.owner"), TEST_NOBODY);
	ck_assert(json_object_get_boolean(jget(r, "result.queue.paused")));
	json_object_put(r);
	/* A user's controls reach only their own jobs. */
	r = tc_call(nobody, "job.pause", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(nobody, "job.restart", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(nobody, "job.clean", "{}");
	ck_assert_int_eq(jint(r, "result.removed"), 1); /* theirs, not root's */
	json_object_put(r);
	json_object_put(tc_call(c, "queue.resume", "{\"name\":\"encode\"}"));
	json_object_put(wait_end(mine));
	tc_close(nobody);
}
END_TEST

/* uid 0 restarts another user's job: the new job is that user's. */
START_TEST(root_restarts_a_users_job_as_that_user)
{
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	int64_t old = tc_submit(nobody, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	struct json_object *r;

	json_object_put(tc_wait_end(nobody, old, 10000));
	r = tc_call(c, "job.restart", "{\"id\":%lld}", (long long)old);
	ck_assert_int_eq(jint(r, "result.job.owner"), TEST_NOBODY);
	ck_assert_int_eq(jint(r, "result.job.restarted_from"), old);
	int64_t fresh = jint(r, "result.job.id");
	json_object_put(r);
	r = tc_call(nobody, "job.get", "{\"id\":%lld}", (long long)fresh);
	ck_assert_ptr_nonnull(jget(r, "result.job"));
	json_object_put(r);
	json_object_put(wait_end(fresh));
	tc_close(nobody);
}
END_TEST

static Suite *
control_root_suite(void)
{
	Suite *s = suite_create("control as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, queues_belong_to_their_user);
	tcase_add_test(tc, root_restarts_a_users_job_as_that_user);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
control_suite(void)
{
	Suite *s = suite_create("control");
	TCase *tc = tcase_create("queues");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, queue_limit_holds_and_moves_on);
	tcase_add_test(tc, queue_list_counts_and_pause);
	tcase_add_test(tc, queue_params_are_checked);
	tcase_add_test(tc, a_user_has_at_most_1000_queues);
	suite_add_tcase(s, tc);

	tc = tcase_create("jobs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_paused_queued_job_does_not_start);
	tcase_add_test(tc, priority_orders_a_users_jobs);
	tcase_add_test(tc, delay_holds_a_job_until_its_time);
	tcase_add_test(tc, not_before_in_the_past_starts_at_once_and_bad_times_are_refused);
	tcase_add_test(tc, retries_then_exactly_one_end);
	tcase_add_test(tc, retry_until_it_works_and_cancel_is_final);
	tcase_add_test(tc, retry_params_are_checked);
	tcase_add_test(tc, after_any_runs_after_a_failure);
	tcase_add_test(tc, restart_makes_a_new_job_like_the_old);
	tcase_add_test(tc, remove_and_clean_forget_finished_jobs);
	tcase_add_test(tc, a_stop_with_jobs_waiting_in_several_queues);
	suite_add_tcase(s, tc);

	tc = tcase_create("restart");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_control_survives_a_restart);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(control_suite, control_root_suite,
			       "the cases connect as a second user");
}
