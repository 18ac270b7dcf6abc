/* Durable state against a real asyncd on a real state directory: jobs,
 * results, keys and ids across a stop, a kill -9 and a restart; what each
 * kind of running job does then; the refusals at start. */
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;

static void
teardown(void)
{
	if (c != NULL)
		tc_close(c);
	c = NULL;
	if (d.pid > 0)
		ck_assert_int_eq(td_stop(&d), 0);
}

/* Ends the process group of a process job whose shell wrote its pid ($$,
 * the group's id: the daemon runs each job in a group of its own) as the
 * first line of PATH. A crash (SIGKILL) of the daemon leaves its running
 * jobs' processes behind, and the daemon started again does not know
 * them: without this, a `sleep 600` outlived the test by ten minutes. */
static void
kill_orphan_group(const char *path)
{
	char *text = read_file(path, NULL);

	ck_assert_msg(text != NULL, "no pid in %s", path);
	long pgid = atol(text);
	free(text);
	ck_assert_int_gt(pgid, 1);
	ck_assert_int_eq(kill(-(pid_t)pgid, SIGKILL), 0);
}

/* Stops the daemon with SIG, starts it again on the same state with
 * EXTRA, and reconnects. */
static void
restart(int sig, const char *const extra[])
{
	tc_close(c);
	c = NULL;
	int status = td_halt(&d, sig);
	if (sig == SIGTERM)
		ck_assert_int_eq(status, 0);
	td_restart(&d, extra);
	c = tc_open(d.sock);
	ck_assert_ptr_nonnull(c);
}

static struct json_object *
get_job(int64_t id)
{
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);

	ck_assert_msg(jget(r, "result.job") != NULL, "job %lld: %s",
		      (long long)id, json_object_to_json_string(r));
	return r;
}

static void
assert_state(int64_t id, const char *state, const char *error_code)
{
	struct json_object *r = get_job(id);

	ck_assert_str_eq(jstr(r, "result.job.state"), state);
	if (error_code != NULL)
		ck_assert_str_eq(jstr(r, "result.job.error.code"), error_code);
	json_object_put(r);
}

static int64_t
attempts_of(int64_t id)
{
	struct json_object *r = get_job(id);
	int64_t n = jint(r, "result.job.attempts");

	json_object_put(r);
	return n;
}

/* Waits until job ID has started, by job.get. */
static void
wait_started_quietly(int64_t id)
{
	for (int i = 0; i < 500; i++) {
		struct json_object *r = get_job(id);
		bool running = strcmp(jstr(r, "result.job.state"), "running") == 0;
		json_object_put(r);
		if (running)
			return;
		usleep(10000);
	}
	ck_abort_msg("job %lld did not start", (long long)id);
}

/* Waits for job ID to start (its job.started event). */
static void
wait_started(int64_t id)
{
	for (;;) {
		struct json_object *ev = tc_event(c, 10000);
		ck_assert_msg(ev != NULL, "job %lld did not start", (long long)id);
		bool started = strcmp(jstr(ev, "method"), "job.started") == 0 &&
			       jint(ev, "params.id") == id;
		json_object_put(ev);
		if (started)
			return;
	}
}

/* Watches job ID until it ends; returns its final state. */
static char *
wait_finished(int64_t id)
{
	struct json_object *r = tc_call(c, "job.watch", "{\"id\":%lld}", (long long)id);
	char *state = strdup(jstr(r, "result.job.state"));

	json_object_put(r);
	if (strcmp(state, "completed") != 0 && strcmp(state, "failed") != 0) {
		free(state);
		r = tc_wait_end(c, id, 10000);
		state = strdup(strcmp(jstr(r, "method"), "job.completed") == 0
				       ? "completed"
				       : "failed");
		json_object_put(r);
	}
	return state;
}

/* A stop and a start keep every kind of job as PROTOCOL.md says: results,
 * queued jobs with their dependencies, keys, ids; a running sleep is
 * queued again, a running process fails with "interrupted". */
START_TEST(stop_and_restart_keep_jobs)
{
	struct json_object *r;

	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t done = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0},"
				    "\"label\":\"first\"}");
	json_object_put(tc_wait_end(c, done, 5000));
	int64_t sleeper = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000}}");
	wait_started(sleeper);
	int64_t waiter = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				      "\"after\":[%lld],\"key\":\"k-waiter\"}",
				   (long long)sleeper);
	int64_t proc = tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":"
				    "[\"sleep\",\"600\"]}}");
	wait_started(proc);

	restart(SIGTERM, NULL);

	r = get_job(done);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	ck_assert_int_eq(jint(r, "result.job.result.slept_ms"), 0);
	ck_assert_str_eq(jstr(r, "result.job.label"), "first");
	json_object_put(r);
	/* Queued again and started again: a second attempt. */
	assert_state(sleeper, "running", NULL);
	ck_assert_int_eq(attempts_of(sleeper), 2);
	r = get_job(waiter);
	ck_assert_str_eq(jstr(r, "result.job.state"), "queued");
	ck_assert_int_eq(jint(r, "result.job.after.0"), sleeper);
	json_object_put(r);
	assert_state(proc, "failed", "interrupted");
	/* The key still finds its job. */
	r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":5},"
				     "\"key\":\"k-waiter\"}");
	ck_assert_int_eq(jint(r, "result.job.id"), waiter);
	ck_assert(json_object_get_boolean(jget(r, "result.existing")));
	json_object_put(r);
	/* Ids go on above the highest ever given. */
	int64_t next = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	ck_assert_int_gt(next, proc);
	/* The dependency still holds: ending the sleeper runs the waiter. */
	r = tc_call(c, "job.watch", "{\"id\":%lld}", (long long)waiter);
	json_object_put(r);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)sleeper);
	json_object_put(r);
	r = tc_wait_end(c, waiter, 5000);
	ck_assert_str_eq(jstr(r, "params.error.code"), "dependency-failed");
	json_object_put(r);
}
END_TEST

/* A dependency that completes after a restart releases its waiter. */
START_TEST(dependency_completes_after_restart)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t gate = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1500}}");
	wait_started(gate);
	int64_t waiter = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				      "\"after\":[%lld]}", (long long)gate);
	restart(SIGTERM, NULL);
	char *state = wait_finished(waiter);
	ck_assert_str_eq(state, "completed");
	free(state);
	assert_state(gate, "completed", NULL);
	ck_assert_int_eq(attempts_of(gate), 2);
}
END_TEST

/* on_interrupt decides both ways, for a stop and for a crash. */
START_TEST(on_interrupt_both_ways)
{
	char mark[256], pids[256], args[1024];

	td_start(&d, NULL);
	c = tc_open(d.sock);
	snprintf(mark, sizeof mark, "%s/runs", d.dir);
	snprintf(pids, sizeof pids, "%s/pids", d.dir);
	snprintf(args, sizeof args,
		 "{\"argv\":[\"sh\",\"-c\","
		 "\"echo $$ >> %s; echo run >> %s; exec sleep 600\"]}",
		 pids, mark);
	int64_t again = tc_submit(c, "{\"kind\":\"process\",\"args\":%s,"
				     "\"on_interrupt\":\"requeue\"}", args);
	int64_t failing = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000},"
				       "\"on_interrupt\":\"fail\"}");
	wait_started(again);
	wait_started(failing);
	for (int i = 0; i < 500; i++) {
		struct stat st;
		if (stat(mark, &st) == 0 && st.st_size == 4)
			break;
		usleep(10000);
	}

	restart(SIGKILL, NULL);
	/* The first run's process outlived the crash; the second one is
	 * the new daemon's, which ends it when it stops. */
	kill_orphan_group(pids);

	assert_state(failing, "failed", "interrupted");
	/* The process runs again: its second run appends a second line. */
	for (int i = 0; i < 1000; i++) {
		size_t len = 0;
		char *text = read_file(mark, &len);
		free(text);
		if (len == 8)
			break;
		usleep(10000);
	}
	size_t len = 0;
	char *text = read_file(mark, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_str_eq(text, "run\nrun\n");
	free(text);
	assert_state(again, "running", NULL);
	ck_assert_int_eq(attempts_of(again), 2);
	/* A bad value is refused, naming the field. */
	struct json_object *r = tc_call(c, "job.submit",
					"{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
					"\"on_interrupt\":\"retry\"}");
	assert_rpc_error(r, -32602, "on_interrupt");
	json_object_put(r);
}
END_TEST

/* A job is queued again at most PROTO_INTERRUPT_REQUEUES times. */
START_TEST(requeues_are_bounded)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000}}");
	wait_started(id);
	for (int i = 0; i < 3; i++) {
		restart(SIGKILL, NULL);
		assert_state(id, "running", NULL);
		ck_assert_int_eq(attempts_of(id), i + 2);
	}
	restart(SIGKILL, NULL);
	assert_state(id, "failed", "interrupted");
	ck_assert_int_eq(attempts_of(id), 4);
}
END_TEST

/* A queued job's timeout counts from submission, across a restart. */
START_TEST(timeout_counts_across_restart)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t gate = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":600000}}");
	int64_t waiter = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				      "\"after\":[%lld],\"timeout_ms\":300}",
				   (long long)gate);
	tc_close(c);
	c = NULL;
	ck_assert_int_eq(td_halt(&d, SIGTERM), 0);
	usleep(500000); /* past the timeout while the daemon is down */
	td_restart(&d, NULL);
	c = tc_open(d.sock);
	/* Failed at start, before anything else could run it. */
	assert_state(waiter, "failed", "timeout");
	assert_state(gate, "running", NULL);
}
END_TEST

/* kill -9 in the middle of pipelined submits from several clients: every
 * answered submit is there after the restart, with its args and key. */
START_TEST(kill9_keeps_every_answered_submit)
{
	enum { NCONN = 4, PER_CONN = 2500, BURST = 100 };
	struct tconn *conns[NCONN];
	static int64_t ids[NCONN][PER_CONN];
	int sent[NCONN] = {0}, answered[NCONN] = {0}, total_sent = 0;
	int64_t max_id = 0;

	td_start(&d, NULL);
	for (int k = 0; k < NCONN; k++)
		conns[k] = tc_open(d.sock);
	/* Bursts round-robin; the kill comes while requests are in flight. */
	while (total_sent < NCONN * PER_CONN / 2) {
		for (int k = 0; k < NCONN; k++) {
			for (int b = 0; b < BURST && sent[k] < PER_CONN; b++) {
				tc_send(conns[k],
					"{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
					"\"job.submit\",\"params\":{\"kind\":\"sleep\","
					"\"args\":{\"ms\":3600000},\"watch\":false,"
					"\"key\":\"c%d-%d\"}}",
					sent[k], k, sent[k]);
				sent[k]++;
				total_sent++;
			}
		}
	}
	kill(d.pid, SIGKILL);
	/* Everything that reached a socket before the kill counts. */
	for (int k = 0; k < NCONN; k++) {
		struct json_object *r;
		while ((r = tc_recv(conns[k], 2000)) != NULL) {
			int n = (int)jint(r, "id");
			ck_assert_int_eq(n, answered[k]);
			ids[k][n] = jint(r, "result.job.id");
			if (ids[k][n] > max_id)
				max_id = ids[k][n];
			answered[k]++;
			json_object_put(r);
		}
		tc_close(conns[k]);
	}
	ck_assert_int_gt(answered[0] + answered[1] + answered[2] + answered[3], 0);
	td_halt(&d, SIGKILL);
	td_restart(&d, NULL);
	c = tc_open(d.sock);
	for (int k = 0; k < NCONN; k++) {
		for (int n = 0; n < answered[k]; n++) {
			struct json_object *r = tc_call(
				c, "job.submit",
				"{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				"\"watch\":false,\"key\":\"c%d-%d\"}", k, n);
			ck_assert_msg(json_object_get_boolean(jget(r, "result.existing")),
				      "answered submit c%d-%d is gone", k, n);
			ck_assert_int_eq(jint(r, "result.job.id"), ids[k][n]);
			ck_assert_int_eq(jint(r, "result.job.args.ms"), 3600000);
			json_object_put(r);
		}
	}
	int64_t next = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	ck_assert_int_gt(next, max_id);
}
END_TEST

/* A job whose completion a client saw never runs again, even after a
 * kill -9 right after it. */
START_TEST(reported_completion_is_final)
{
	enum { N = 200 };
	int64_t ids[N];
	char mark[256], args[512];

	td_start(&d, NULL);
	c = tc_open(d.sock);
	snprintf(mark, sizeof mark, "%s/runs", d.dir);
	snprintf(args, sizeof args,
		 "{\"argv\":[\"sh\",\"-c\",\"echo x >> %s\"]}", mark);
	int64_t proc = tc_submit(c, "{\"kind\":\"process\",\"args\":%s,"
				    "\"on_interrupt\":\"requeue\"}", args);
	json_object_put(tc_wait_end(c, proc, 10000));
	for (int i = 0; i < N; i++)
		ids[i] = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	for (int i = 0; i < N; i++) {
		struct json_object *ev = tc_wait_end(c, ids[i], 5000);
		ck_assert_str_eq(jstr(ev, "method"), "job.completed");
		json_object_put(ev);
	}
	restart(SIGKILL, NULL);
	for (int i = 0; i < N; i++) {
		assert_state(ids[i], "completed", NULL);
		ck_assert_int_eq(attempts_of(ids[i]), 1);
	}
	assert_state(proc, "completed", NULL);
	size_t len = 0;
	char *text = read_file(mark, &len);
	ck_assert_str_eq(text, "x\n");
	free(text);
	struct json_object *r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), N + 1);
	json_object_put(r);
}
END_TEST

/* Pages job.list with PARAMS (a JSON object without braces) to the
 * oldest job; returns the ids found, in order, in IDS (at most MAX), and
 * how many answers it took in *PAGES. */
static int
list_all(const char *params, int64_t *ids, int max, int *pages)
{
	int64_t before = 0;
	int n = 0;

	*pages = 0;
	do {
		struct json_object *r =
			before ? tc_call(c, "job.list", "{%s,\"before_id\":%lld}",
					 params, (long long)before)
			       : tc_call(c, "job.list", "{%s}", params);
		struct json_object *jobs = jget(r, "result.jobs");
		ck_assert_msg(jobs != NULL, "%s", json_object_to_json_string(r));
		for (size_t i = 0; i < json_object_array_length(jobs); i++) {
			ck_assert_int_lt(n, max);
			ids[n++] = jint(json_object_array_get_idx(jobs, i), "id");
		}
		before = jget(r, "result.next_before_id") != NULL
				 ? jint(r, "result.next_before_id")
				 : 0;
		(*pages)++;
		json_object_put(r);
	} while (before != 0);
	return n;
}

/* Finished jobs beyond --keep-finished go, on disk too; the rest are read
 * back from the database, beyond what memory keeps. */
START_TEST(keep_finished_on_disk)
{
	static const char *const keep[] = {"--keep-finished", "300", NULL};
	enum { N = 400 };
	int64_t ids[N];

	td_start(&d, keep);
	c = tc_open(d.sock);
	for (int i = 0; i < N; i++)
		ids[i] = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	for (int i = 0; i < N; i++)
		json_object_put(tc_wait_end(c, ids[i], 5000));
	restart(SIGTERM, keep);
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)ids[0]);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	/* The oldest kept one: on disk only, more than memory holds. */
	assert_state(ids[N - 300], "completed", NULL);
	int64_t listed[N];
	int pages;
	ck_assert_int_eq(list_all("\"limit\":10000", listed, N, &pages), 300);
	ck_assert_int_eq(listed[0], ids[N - 1]);
	ck_assert_int_eq(listed[299], ids[N - 300]);
	r = tc_call(c, "job.list", "{\"limit\":5,\"before_id\":%lld}",
		    (long long)ids[N - 10]);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), ids[N - 11]);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 5);
	json_object_put(r);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), 300);
	ck_assert_str_eq(jstr(r, "result.store.sync"), "normal");
	ck_assert_ptr_nonnull(strstr(jstr(r, "result.store.path"), "/asyncd.db"));
	ck_assert_int_gt(jint(r, "result.store.bytes"), 0);
	json_object_put(r);
}
END_TEST

/* Other users see only their own jobs from the database too. */
START_TEST(list_from_disk_is_per_user)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t mine = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	json_object_put(tc_wait_end(c, mine, 5000));
	restart(SIGTERM, NULL);
	struct tconn *other = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	int64_t theirs = tc_submit(other, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	json_object_put(tc_wait_end(other, theirs, 5000));
	struct json_object *r = tc_call(other, "job.list", NULL);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 1);
	ck_assert_int_eq(jint(r, "result.jobs.0.id"), theirs);
	json_object_put(r);
	r = tc_call(other, "job.get", "{\"id\":%lld}", (long long)mine);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	tc_close(other);
	r = tc_call(c, "job.list", NULL);
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 2);
	json_object_put(r);
}
END_TEST

/* Submits N sleep 0 jobs on C, unwatched, in batches; waits until
 * nothing is queued or running. */
static void
run_sleeps(int n)
{
	enum { BATCH = 1000 };
	char *batch = malloc(BATCH * 160 + 8);

	for (int done = 0; done < n; done += BATCH) {
		int k = n - done < BATCH ? n - done : BATCH;
		size_t len = 0;
		batch[len++] = '[';
		for (int i = 0; i < k; i++)
			len += (size_t)sprintf(batch + len,
					       "%s{\"jsonrpc\":\"2.0\",\"id\":%d,"
					       "\"method\":\"job.submit\",\"params\":"
					       "{\"kind\":\"sleep\",\"args\":{\"ms\":0},"
					       "\"watch\":false}}", i ? "," : "", i);
		batch[len++] = ']';
		batch[len++] = '\n';
		tc_send_raw(c, batch, len);
		struct json_object *r = tc_recv(c, 10000);
		ck_assert_int_eq(json_object_array_length(r), k);
		json_object_put(r);
	}
	free(batch);
	for (int i = 0; i < 1000; i++) {
		struct json_object *r = tc_call(c, "daemon.info", NULL);
		bool idle = jint(r, "result.jobs.queued") == 0 &&
			    jint(r, "result.jobs.running") == 0;
		json_object_put(r);
		if (idle)
			return;
		usleep(10000);
	}
	ck_abort_msg("the sleeps did not end");
}

/* job.list finds a rare kind among many jobs in one answer (an index),
 * and a filter no index serves looks at a bounded part of the jobs per
 * answer, saying where to go on, until it has seen them all. */
static void
assert_list_bounded(bool indexed_kind, int jobs)
{
	int64_t ids[8];
	int pages;

	int64_t user = tc_submit(c, "{\"kind\":\"fetch-user\",\"args\":"
				    "{\"uid\":0},\"watch\":false}");
	int64_t failed = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000},"
				      "\"timeout_ms\":1,\"watch\":false}");
	run_sleeps(jobs);
	ck_assert_int_eq(list_all("\"kind\":\"fetch-user\"", ids, 8, &pages), 1);
	ck_assert_int_eq(ids[0], user);
	if (indexed_kind)
		ck_assert_int_eq(pages, 1);
	else
		ck_assert_int_gt(pages, 1);
	ck_assert_int_eq(list_all("\"state\":\"failed\"", ids, 8, &pages), 1);
	ck_assert_int_eq(ids[0], failed);
	ck_assert_int_gt(pages, 1);
	/* A short answer with next_before_id says nothing of the rest. */
	struct json_object *r = tc_call(c, "job.list", "{\"state\":\"failed\"}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	ck_assert_int_gt(jint(r, "result.next_before_id"), failed);
	json_object_put(r);
	/* A full page needs no next_before_id: its last id is where to go
	 * on. */
	r = tc_call(c, "job.list", "{\"limit\":5}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 5);
	ck_assert_ptr_null(jget(r, "result.next_before_id"));
	json_object_put(r);
}

START_TEST(list_seeks_and_bounds_its_work)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	assert_list_bounded(true, 9000);
}
END_TEST

/* Runs asyncctl with the arguments up to a NULL against the daemon. */
static void
ctl(struct run_result *r, ...)
{
	va_list ap;

	va_start(ap, r);
	tctl_vrun(r, d.sock, NULL, NULL, ap);
	va_end(ap);
}

/* In memory there is no index: a bound too (of more jobs, cheaper to
 * look at than rows). */
START_TEST(list_in_memory_bounds_its_work)
{
	td_start(&d, (const char *const[]){"--state-dir", "none",
					   "--keep-finished", "30000", NULL});
	c = tc_open(d.sock);
	assert_list_bounded(false, 20000);
	/* asyncctl list goes on where a short answer says. */
	struct run_result r;
	ctl(&r, "list", "--kind", "fetch-user", (char *)NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "fetch-user") != NULL, "%s", r.out);
	run_result_free(&r);
	ctl(&r, "list", "--state", "failed", "--limit", "3", (char *)NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, " failed ") != NULL, "%s", r.out);
	run_result_free(&r);
}
END_TEST

/* --state-dir none: memory only, as daemon.info says. */
START_TEST(memory_only)
{
	static const char *const none[] = {"--state-dir", "none", NULL};

	td_start(&d, none);
	c = tc_open(d.sock);
	struct json_object *r = tc_call(c, "daemon.info", NULL);
	ck_assert(jnull(r, "result.store"));
	json_object_put(r);
	ck_assert_int_ne(access(d.state, F_OK), 0);
}
END_TEST

/* Runs asyncd on DIR's state and returns its exit status and log. */
static int
start_refused(const char *state, char **log)
{
	char sock[256];
	char *argv[] = {(char *)td_path("ASYNCD", "daemon/asyncd"), "--socket", sock,
			"--config", "/dev/null", "--state-dir", (char *)state,
			NULL};
	struct run_result rr;

	snprintf(sock, sizeof sock, "%s/other.sock", d.dir);
	run_program(argv, NULL, NULL, -1, &rr);
	*log = strdup(rr.err ? rr.err : "");
	int status = rr.status;
	run_result_free(&rr);
	return status;
}

static void
assert_refused(const char *state, const char *words)
{
	char *log;
	int status = start_refused(state, &log);

	ck_assert_msg(status == 1 && strstr(log, words) != NULL,
		      "status %d, log: %s", status, log);
	free(log);
}

/* A second daemon on the same state directory is refused, by its lock. */
START_TEST(second_daemon_refused)
{
	td_start(&d, NULL);
	c = tc_open(d.sock);
	assert_refused(d.state, "in use by another asyncd");
}
END_TEST

/* Directories others could tamper with are refused. */
START_TEST(unsafe_state_dirs_refused)
{
	char dir[256];

	td_start(&d, (const char *const[]){"--state-dir", "none", NULL});
	snprintf(dir, sizeof dir, "%s/open", d.dir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	assert_refused(dir, "writable by others");
	ck_assert_int_eq(chmod(dir, 0700), 0);
	/* Another user's directory: made so as root, or one of the
	 * system's as anyone else. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(dir, TEST_NOBODY, TEST_NOBODY), 0);
		assert_refused(dir, "owned by uid 65534");
	} else {
		assert_refused("/var/cache", "owned by uid 0");
	}
	assert_refused("relative/dir", "not an absolute path");
}
END_TEST

/* Writes LEN bytes of DATA as DIR/asyncd.db, making DIR. */
static void
plant_db(const char *dir, const void *data, size_t len)
{
	char path[300];

	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	write_file(path, data, len, 0600);
}

static void
sql(const char *path, const char *statements)
{
	sqlite3 *db;
	char *err = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_exec(db, statements, NULL, NULL, &err) == SQLITE_OK,
		      "%s", err ? err : "");
	sqlite3_close(db);
}

/* The integer the one-row QUERY gives on the database at PATH. */
static long long
sql_int(const char *path, const char *query)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, query, -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* What is not asyncd's current database is refused and kept as it is. */
START_TEST(foreign_corrupt_and_newer_databases_refused)
{
	char dir[256], path[300];
	static const char junk[] = "this is not a database, but it is 64 bytes long....\n";

	td_start(&d, (const char *const[]){"--state-dir", "none", NULL});
	snprintf(dir, sizeof dir, "%s/junk", d.dir);
	plant_db(dir, junk, sizeof junk - 1);
	assert_refused(dir, "not a readable SQLite database");
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	size_t len = 0;
	char *kept = read_file(path, &len);
	ck_assert_uint_eq(len, sizeof junk - 1);
	ck_assert_int_eq(memcmp(kept, junk, len), 0);
	free(kept);

	snprintf(dir, sizeof dir, "%s/foreign", d.dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	sql(path, "CREATE TABLE songs(title TEXT)");
	assert_refused(dir, "another program");

	/* A database of ours written by a future version. */
	snprintf(dir, sizeof dir, "%s/newer", d.dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	sql(path, "PRAGMA application_id = 1634957668;"
		  "PRAGMA user_version = 99; CREATE TABLE jobs(id INTEGER)");
	assert_refused(dir, "written by a newer asyncd");

	/* A damaged page: the integrity check at start finds it. */
	snprintf(dir, sizeof dir, "%s/damaged", d.dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	sql(path, "PRAGMA application_id = 1634957668; PRAGMA user_version = 1;"
		  "CREATE TABLE t(x TEXT); CREATE INDEX tx ON t(x);"
		  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
		  "WHERE i < 2000) INSERT INTO t SELECT printf('%0100d', i) FROM n");
	int fd = open(path, O_WRONLY);
	static const char garbage[4096] = {[0 ... 4095] = 0x5a};
	ck_assert_int_eq(pwrite(fd, garbage, sizeof garbage, 8192), 4096);
	close(fd);
	assert_refused(dir, "integrity check");
}
END_TEST

/* A database made by the first schema version opens, and its jobs go on:
 * tests/fixtures/state-v1.sql is such a database, dumped as SQL. */
START_TEST(first_schema_version_opens)
{
	char dir[256], path[300], fixture[512];
	size_t len = 0;

	snprintf(fixture, sizeof fixture, "%s/tests/fixtures/state-v1.sql",
		 ASYNCD_SRCDIR);
	char *dump = read_file(fixture, &len);
	ck_assert_ptr_nonnull(dump);
	dump = realloc(dump, len + 1);
	dump[len] = '\0';
	snprintf(dir, sizeof dir, "/tmp/asyncd-v1.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/asyncd.db", dir);
	sql(path, dump);
	free(dump);
	/* Made by root: give its jobs to whoever runs the test. */
	char owner[128];
	snprintf(owner, sizeof owner,
		 "UPDATE jobs SET owner = %u, key = replace(key, '0/', '%u/')",
		 (unsigned)geteuid(), (unsigned)geteuid());
	sql(path, owner);

	td_start(&d, (const char *const[]){"--state-dir", dir, NULL});
	c = tc_open(d.sock);
	/* Job 1 completed, 2 failed, 3 was running, 4 queued behind 3. */
	struct json_object *r = get_job(1);
	ck_assert_str_eq(jstr(r, "result.job.state"), "completed");
	ck_assert_int_eq(jint(r, "result.job.result.slept_ms"), 5);
	json_object_put(r);
	assert_state(2, "failed", "cancelled");
	/* The counts schema 3 keeps beside the rows were made from them. */
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.jobs.failed"), 1);
	json_object_put(r);
	char *state = wait_finished(4);
	ck_assert_str_eq(state, "completed");
	free(state);
	assert_state(3, "completed", NULL);
	ck_assert_int_eq(attempts_of(3), 2);
	r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
				     "\"key\":\"fixture\"}");
	ck_assert_int_eq(jint(r, "result.job.id"), 1);
	json_object_put(r);
	ck_assert_int_gt(tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}"), 4);
	teardown();
	/* Every migration ran: schema 5 has job.list's indexes. */
	ck_assert_int_eq(sql_int(path, "PRAGMA user_version"), 5);
	ck_assert_int_eq(sql_int(path, "SELECT count(*) FROM sqlite_master WHERE"
				       " name IN ('jobs_kind', 'jobs_owner')"), 2);
	snprintf(fixture, sizeof fixture, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(fixture), 0);
}
END_TEST

/* ---- Retained output -------------------------------------------------- */

/* Submits a detached process job running the shell SCRIPT. */
static int64_t
submit_script(const char *script, const char *extra)
{
	return tc_submit(c, "{\"kind\":\"process\",\"args\":{\"argv\":"
			    "[\"sh\",\"-c\",\"%s\"]},\"watch\":false%s%s}",
			 script, extra ? "," : "", extra ? extra : "");
}

/* Calls job.watch with SINCE and returns the response; the replayed
 * events are in EVENTS (the caller frees each), *N of them. */
static struct json_object *
watch_since(int64_t id, int64_t since, struct json_object **events, int *n)
{
	struct json_object *e;

	/* Live events an earlier watch queued are not part of the replay. */
	while ((e = tc_event(c, 0)) != NULL)
		json_object_put(e);
	struct json_object *r = tc_call(c, "job.watch", "{\"id\":%lld,\"since\":%lld}",
					(long long)id, (long long)since);
	*n = (int)jint(r, "result.replayed");
	for (int i = 0; i < *n; i++) {
		events[i] = tc_event(c, 5000);
		ck_assert_ptr_nonnull(events[i]);
	}
	return r;
}

static void
put_all(struct json_object **events, int n)
{
	for (int i = 0; i < n; i++)
		json_object_put(events[i]);
}

static void
wait_end_of(int64_t id)
{
	char *state = wait_finished(id);
	free(state);
}

/* since replays started, output and the end, with their first seq, before
 * and after a restart; since N skips what the client saw. */
START_TEST(since_replays_before_and_after_restart)
{
	struct json_object *ev[16], *r;
	int n;

	td_start(&d, NULL);
	c = tc_open(d.sock);
	int64_t id = submit_script("printf one; printf two >&2; sleep 0.2; "
				   "printf three; exit 2", NULL);
	wait_end_of(id);
	for (int round = 0; round < 2; round++) {
		r = watch_since(id, 0, ev, &n);
		ck_assert_int_eq(n, 5);
		ck_assert_str_eq(jstr(ev[0], "method"), "job.started");
		ck_assert_int_eq(jint(ev[0], "params.seq"), 1);
		ck_assert_str_eq(jstr(ev[1], "params.data"), "one");
		ck_assert_str_eq(jstr(ev[1], "params.stream"), "stdout");
		ck_assert_str_eq(jstr(ev[2], "params.data"), "two");
		ck_assert_str_eq(jstr(ev[2], "params.stream"), "stderr");
		ck_assert_str_eq(jstr(ev[3], "params.data"), "three");
		ck_assert_int_eq(jint(ev[3], "params.offset"), 3);
		ck_assert_str_eq(jstr(ev[4], "method"), "job.failed");
		ck_assert_int_eq(jint(ev[4], "params.error.exit_code"), 2);
		for (int i = 0; i < n; i++) {
			ck_assert_int_eq(jint(ev[i], "params.seq"), i + 1);
			json_object_put(ev[i]);
		}
		json_object_put(r);
		/* What a client saw up to seq 3 is not sent again. */
		r = watch_since(id, 3, ev, &n);
		ck_assert_int_eq(n, 2);
		ck_assert_int_eq(jint(ev[0], "params.seq"), 4);
		for (int i = 0; i < n; i++)
			json_object_put(ev[i]);
		json_object_put(r);
		if (round == 0)
			restart(SIGKILL, NULL);
	}
	/* Bad values name the field. */
	r = tc_call(c, "job.watch", "{\"id\":%lld,\"since\":-1}", (long long)id);
	assert_rpc_error(r, -32602, "since");
	json_object_put(r);
	r = tc_call(c, "job.watch", "{\"all\":true,\"since\":0}");
	assert_rpc_error(r, -32602, "since");
	json_object_put(r);
}
END_TEST

/* A running job: the replay, then its live events, without a gap. */
START_TEST(since_then_live)
{
	struct json_object *ev[16], *r;
	char fifo[256];
	int n;

	td_start(&d, NULL);
	c = tc_open(d.sock);
	snprintf(fifo, sizeof fifo, "%s/go", d.dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	char script[512];
	snprintf(script, sizeof script, "printf before; read x < %s; printf after",
		 fifo);
	int64_t id = submit_script(script, NULL);
	/* Until "before" is kept. */
	for (int i = 0; i < 500; i++) {
		r = watch_since(id, 0, ev, &n);
		json_object_put(r);
		for (int k = 0; k < n; k++)
			json_object_put(ev[k]);
		if (n == 2)
			break;
		usleep(10000);
	}
	ck_assert_int_eq(n, 2);
	tc_close(c);
	c = tc_open(d.sock);
	r = watch_since(id, 1, ev, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_str_eq(jstr(ev[0], "params.data"), "before");
	json_object_put(ev[0]);
	json_object_put(r);
	int fd = open(fifo, O_WRONLY);
	ck_assert_int_ge(write(fd, "\n", 1), 1);
	close(fd);
	struct json_object *live = tc_event(c, 5000);
	ck_assert_str_eq(jstr(live, "params.data"), "after");
	ck_assert_int_eq(jint(live, "params.seq"), 3);
	json_object_put(live);
	live = tc_wait_end(c, id, 5000);
	ck_assert_int_eq(jint(live, "params.seq"), 4);
	json_object_put(live);
}
END_TEST

/* Kept output of many small chunks in several segments: "replayed" and
 * the events agree for a since before all, inside a segment and near the
 * end, from the counts kept as chunks come and, after a restart, from
 * the segment files read again. */
START_TEST(since_counts_across_segments)
{
	/* Segments of a quarter of this: a few of them. */
	static const char *const small[] = {"--keep-output", "40000", NULL};
	enum { MAX = 4096 };
	struct json_object **ev = calloc(MAX, sizeof *ev), *r;
	int64_t seqs[MAX];
	int n, all;

	td_start(&d, small);
	c = tc_open(d.sock);
	int64_t id = submit_script("for i in $(seq 1000); do echo line$i; "
				   "sleep 0.001; done", NULL);
	wait_end_of(id);
	for (int round = 0; round < 2; round++) {
		r = watch_since(id, 0, ev, &all);
		ck_assert_int_gt(all, 100); /* small chunks, not one */
		ck_assert_int_lt(all, MAX);
		for (int i = 0; i < all; i++) {
			seqs[i] = jint(ev[i], "params.seq");
			if (i > 0)
				ck_assert_int_gt(seqs[i], seqs[i - 1]);
		}
		put_all(ev, all);
		json_object_put(r);
		for (int k = 1; k < 4; k++) {
			int at = all * k / 4;
			r = watch_since(id, seqs[at], ev, &n);
			ck_assert_int_eq(n, all - at - 1);
			for (int i = 0; i < n; i++)
				ck_assert_int_eq(jint(ev[i], "params.seq"),
						 seqs[at + 1 + i]);
			put_all(ev, n);
			json_object_put(r);
		}
		if (round == 0)
			restart(SIGTERM, small);
	}
	free(ev);
}
END_TEST

/* Past --keep-output the oldest chunks go; the offsets show the gap. */
START_TEST(keep_output_drops_oldest_chunks)
{
	static const char *const small[] = {"--keep-output", "100000", NULL};
	struct json_object *ev[64], *r;
	int n;

	td_start(&d, small);
	c = tc_open(d.sock);
	int64_t id = submit_script("yes | head -c 400000", NULL);
	wait_end_of(id);
	r = watch_since(id, 1, ev, &n);
	ck_assert_int_ge(n, 2);
	long long kept = 0, first = jint(ev[0], "params.offset"), end = 0;
	for (int i = 0; i < n - 1; i++) {
		ck_assert_str_eq(jstr(ev[i], "params.stream"), "stdout");
		size_t len = strlen(jstr(ev[i], "params.data"));
		kept += (long long)len;
		end = jint(ev[i], "params.offset") + (long long)len;
	}
	ck_assert_int_gt(first, 0);
	ck_assert_int_le(kept, 100000);
	ck_assert_int_eq(end, 400000);
	ck_assert_str_eq(jstr(ev[n - 1], "method"), "job.completed");
	put_all(ev, n);
	json_object_put(r);
}
END_TEST

/* Past --keep-output-total the oldest finished job's output goes; a job
 * dropped past --keep-finished takes its output files along. */
START_TEST(keep_output_total_and_removal)
{
	static const char *const small[] = {"--keep-output-total", "150000",
					    "--keep-finished", "2", NULL};
	struct json_object *ev[64], *r;
	char path[300];
	int n;

	td_start(&d, small);
	c = tc_open(d.sock);
	int64_t old = submit_script("yes | head -c 100000", NULL);
	wait_end_of(old);
	int64_t young = submit_script("yes | head -c 100000", NULL);
	wait_end_of(young);
	r = watch_since(old, 0, ev, &n);
	ck_assert_int_eq(n, 2); /* started and the end: its output is gone */
	put_all(ev, n);
	json_object_put(r);
	r = watch_since(young, 0, ev, &n);
	ck_assert_int_gt(n, 2);
	put_all(ev, n);
	json_object_put(r);
	snprintf(path, sizeof path, "%s/output/%lld-stdout-0", d.state,
		 (long long)young);
	ck_assert_int_eq(access(path, F_OK), 0);
	for (int i = 0; i < 3; i++)
		wait_end_of(tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}"));
	/* Gone with its job, once the commit that forgets it is done. */
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)young);
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* asyncctl log: a detached job's stdout and stderr, byte for byte, also
 * after a restart; -f follows to the end with wait's exit status. */
START_TEST(asyncctl_log_of_a_detached_job)
{
	char data[256], script[600], env[256];
	struct run_result rr;

	td_start(&d, NULL);
	c = tc_open(d.sock);
	snprintf(data, sizeof data, "%s/data", d.dir);
	unsigned char bytes[70000];
	for (size_t i = 0; i < sizeof bytes; i++)
		bytes[i] = (unsigned char)(i * 7 + i / 251);
	write_file(data, bytes, sizeof bytes, 0644);
	snprintf(script, sizeof script, "cat %s; printf oops >&2; exit 1", data);
	int64_t id = submit_script(script, NULL);
	wait_end_of(id);
	restart(SIGTERM, NULL);
	char idtext[32];
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(env, sizeof env, "ASYNCD_SOCKET=%s", d.sock);
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "log",
			idtext, NULL};
	run_program(argv, NULL, env, -1, &rr);
	ck_assert_int_eq(rr.status, 0);
	ck_assert_uint_eq(rr.out_len, sizeof bytes);
	ck_assert_int_eq(memcmp(rr.out, bytes, sizeof bytes), 0);
	ck_assert_uint_eq(rr.err_len, 4);
	ck_assert_int_eq(memcmp(rr.err, "oops", 4), 0);
	run_result_free(&rr);
	char *argv_f[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "log",
			  "-f", idtext, NULL};
	run_program(argv_f, NULL, env, -1, &rr);
	ck_assert_int_eq(rr.status, 1);
	ck_assert_uint_eq(rr.out_len, sizeof bytes);
	run_result_free(&rr);

	/* A running one: -f gives what was kept, then the rest, live. */
	int64_t live = submit_script("printf a; sleep 0.5; printf b", NULL);
	snprintf(idtext, sizeof idtext, "%lld", (long long)live);
	run_program(argv_f, NULL, env, -1, &rr);
	ck_assert_int_eq(rr.status, 0);
	ck_assert_uint_eq(rr.out_len, 2);
	ck_assert_int_eq(memcmp(rr.out, "ab", 2), 0);
	run_result_free(&rr);
}
END_TEST

/* Without a state directory the output is kept in memory, the same way. */
START_TEST(since_in_memory)
{
	static const char *const none[] = {"--state-dir", "none", NULL};
	struct json_object *ev[16], *r;
	int n;

	td_start(&d, none);
	c = tc_open(d.sock);
	int64_t id = submit_script("printf mem", NULL);
	wait_end_of(id);
	r = watch_since(id, 0, ev, &n);
	ck_assert_int_eq(n, 3);
	ck_assert_str_eq(jstr(ev[1], "params.data"), "mem");
	put_all(ev, n);
	json_object_put(r);
}
END_TEST

/* Starts asyncctl ARGS... in the background with its stdout and stderr in
 * files under the test's directory; returns its pid. */
static pid_t
spawn_ctl(const char *out, const char *err, const char *const args[])
{
	char *argv[16];
	int n = 0;

	argv[n++] = (char *)td_path("ASYNCCTL", "client/asyncctl");
	argv[n++] = "--socket";
	argv[n++] = d.sock;
	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int
wait_ctl(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A follower whose daemon restarts goes on where it was: asyncctl wait
 * sees the job end after the restart; asyncctl log -f of a process that
 * the restart interrupted prints its output once and exits 1. */
START_TEST(followers_resume_across_restart)
{
	char out[256], err[256], idtext[32], mark[256];

	td_start(&d, NULL);
	c = tc_open(d.sock);
	snprintf(out, sizeof out, "%s/out", d.dir);
	snprintf(err, sizeof err, "%s/err", d.dir);
	int64_t id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1500},"
				  "\"watch\":false}");
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	pid_t ctl = spawn_ctl(out, err, (const char *const[]){"wait", idtext, NULL});
	usleep(300000);
	restart(SIGTERM, NULL);
	ck_assert_int_eq(wait_ctl(ctl), 0);
	char *text = read_file(err, NULL);
	ck_assert_ptr_nonnull(strstr(text, "reconnecting"));
	free(text);

	snprintf(mark, sizeof mark, "%s/started", d.dir);
	char script[1024], pid_file[256];
	snprintf(pid_file, sizeof pid_file, "%s/pid", d.dir);
	snprintf(script, sizeof script,
		 "printf a; echo $$ > %s; touch %s; sleep 600", pid_file, mark);
	id = submit_script(script, NULL);
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	for (int i = 0; i < 500 && access(mark, F_OK) < 0; i++)
		usleep(10000);
	ctl = spawn_ctl(out, err, (const char *const[]){"log", "-f", idtext, NULL});
	usleep(300000);
	restart(SIGKILL, NULL);
	kill_orphan_group(pid_file);
	ck_assert_int_eq(wait_ctl(ctl), 1);
	size_t len = 0;
	text = read_file(out, &len);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(text[0], 'a');
	free(text);
	text = read_file(err, NULL);
	ck_assert_msg(strstr(text, "interrupted") != NULL, "%s", text);
	free(text);

	/* asyncctl watch (every job) goes on too, and sees the end of a job
	 * that the restart queued again, once. */
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1500},"
			  "\"watch\":false}");
	wait_started_quietly(id);
	ctl = spawn_ctl(out, err, (const char *const[]){"watch", NULL});
	usleep(300000);
	restart(SIGTERM, NULL);
	char *state = wait_finished(id);
	ck_assert_str_eq(state, "completed");
	free(state);
	usleep(300000);
	kill(ctl, SIGINT);
	ck_assert_int_eq(wait_ctl(ctl), 0);
	char want[64];
	snprintf(want, sizeof want, "job %lld completed", (long long)id);
	text = read_file(out, NULL);
	char *at = strstr(text, want);
	ck_assert_msg(at != NULL, "%s", text);
	ck_assert_ptr_null(strstr(at + 1, want));
	free(text);
}
END_TEST

/* A full disk: submits get -32005 with the reason, jobs acknowledged
 * before are kept, running ones go on (a process whose output cannot be
 * kept too), and all is written once there is room again. */
START_TEST(full_disk_refuses_then_recovers)
{
	char mnt[128], state[160], filler[200], cmd[300];
	struct json_object *r;

	snprintf(mnt, sizeof mnt, "/tmp/asyncd-full.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(mnt));
	snprintf(cmd, sizeof cmd, "mount -t tmpfs -o size=4m,mode=0700 tmpfs %s", mnt);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(state, sizeof state, "%s/state", mnt);
	td_start(&d, (const char *const[]){"--state-dir", state, NULL});
	c = tc_open(d.sock);
	int64_t before = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":1500},"
				      "\"watch\":false}");
	int64_t talker = submit_script("sleep 0.5; head -c 3000000 /dev/urandom", NULL);
	/* Fill what is left. */
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	snprintf(cmd, sizeof cmd, "dd if=/dev/zero of=%s bs=64k 2>/dev/null", filler);
	ck_assert_int_ne(system(cmd), 0);
	/* The first write that finds the disk full refuses what follows. */
	int64_t code = 0;
	for (int i = 0; i < 200 && code == 0; i++) {
		r = tc_call(c, "job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":0},"
					     "\"label\":\"%0200d\"}", i);
		if (jget(r, "error") != NULL) {
			code = jint(r, "error.code");
			ck_assert_ptr_nonnull(jstr(r, "error.data.reason"));
		}
		json_object_put(r);
	}
	ck_assert_int_eq(code, -32005);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert(!json_object_get_boolean(jget(r, "result.store.available")));
	json_object_put(r);
	/* Running jobs go on, the process although its output is not kept. */
	char *st = wait_finished(talker);
	ck_assert_str_eq(st, "completed");
	free(st);
	st = wait_finished(before);
	ck_assert_str_eq(st, "completed");
	free(st);
	/* Room again: within the second of the retry it writes. */
	ck_assert_int_eq(unlink(filler), 0);
	for (int i = 0; i < 300; i++) {
		r = tc_call(c, "daemon.info", NULL);
		bool ok = json_object_get_boolean(jget(r, "result.store.available"));
		json_object_put(r);
		if (ok)
			break;
		usleep(10000);
	}
	int64_t after = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	ck_assert_int_gt(after, before);
	/* What was acknowledged is on disk: a crash loses none of it. */
	restart(SIGKILL, (const char *const[]){"--state-dir", state, NULL});
	assert_state(before, "completed", NULL);
	assert_state(talker, "completed", NULL);
	tc_close(c);
	c = NULL;
	ck_assert_int_eq(td_stop(&d), 0);
	snprintf(cmd, sizeof cmd, "umount %s && rmdir %s", mnt, mnt);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* A stop gives processes --stop-timeout after SIGTERM, then SIGKILL, and
 * records them as on_interrupt says. */
START_TEST(stop_timeout_kills_and_records)
{
	static const char *const quick[] = {"--stop-timeout", "1", NULL};
	char mark[256], script[512];

	td_start(&d, quick);
	c = tc_open(d.sock);
	snprintf(mark, sizeof mark, "%s/trapped", d.dir);
	snprintf(script, sizeof script, "trap '' TERM; touch %s; sleep 600 & wait",
		 mark);
	int64_t id = submit_script(script, NULL);
	for (int i = 0; i < 500 && access(mark, F_OK) < 0; i++)
		usleep(10000);
	restart(SIGTERM, quick);
	assert_state(id, "failed", "interrupted");
	char *log = read_file(d.log, NULL);
	ck_assert_ptr_nonnull(strstr(log, "still there after SIGTERM; SIGKILL"));
	free(log);

	/* One that gets done as it is stopped is done, never run again. */
	ck_assert_int_eq(unlink(mark), 0);
	snprintf(script, sizeof script,
		 "trap 'exit 0' TERM; touch %s; sleep 600 & wait", mark);
	id = submit_script(script, "\"on_interrupt\":\"requeue\"");
	for (int i = 0; i < 500 && access(mark, F_OK) < 0; i++)
		usleep(10000);
	restart(SIGTERM, quick);
	assert_state(id, "completed", NULL);
	ck_assert_int_eq(attempts_of(id), 1);
}
END_TEST

/* A replay larger than the output high-water mark goes out in pieces as
 * the client reads, with the live output that came meanwhile after it:
 * asyncctl log -f gives every byte once, in order. */
START_TEST(long_replay_then_live_in_order)
{
	static const char *const small_hwm[] = {"--output-hwm", "65536", NULL};
	char mark[256], script[512], idtext[32], env[256];
	struct run_result rr, want;

	td_start(&d, small_hwm);
	c = tc_open(d.sock);
	snprintf(mark, sizeof mark, "%s/half", d.dir);
	snprintf(script, sizeof script,
		 "seq 1 300000; touch %s; sleep 1; seq 300001 400000", mark);
	int64_t id = submit_script(script, NULL);
	for (int i = 0; i < 1000 && access(mark, F_OK) < 0; i++)
		usleep(10000);
	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	snprintf(env, sizeof env, "ASYNCD_SOCKET=%s", d.sock);
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "log",
			"-f", idtext, NULL};
	run_program(argv, NULL, env, -1, &rr);
	ck_assert_int_eq(rr.status, 0);
	char *seq[] = {"seq", "1", "400000", NULL};
	run_program(seq, NULL, NULL, -1, &want);
	ck_assert_uint_eq(rr.out_len, want.out_len);
	ck_assert_int_eq(memcmp(rr.out, want.out, want.out_len), 0);
	run_result_free(&rr);

	/* A client that does not read while the job goes on: the live
	 * output waits behind the replay, then all comes in order. */
	ck_assert_int_eq(unlink(mark), 0);
	id = submit_script(script, NULL);
	for (int i = 0; i < 1000 && access(mark, F_OK) < 0; i++)
		usleep(10000);
	struct tconn *slow = tc_open(d.sock);
	tc_send(slow, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.watch\","
		      "\"params\":{\"id\":%lld,\"since\":0}}", (long long)id);
	usleep(1500000); /* the second half is written meanwhile */
	struct json_object *m;
	char *got = malloc(want.out_len + 1);
	size_t len = 0;
	uint32_t last_seq = 0;
	bool ended = false;
	while (!ended && (m = tc_recv(slow, 10000)) != NULL) {
		const char *method = jstr(m, "method");
		if (method != NULL) {
			ck_assert_int_gt(jint(m, "params.seq"), last_seq);
			last_seq = (uint32_t)jint(m, "params.seq");
			ended = strcmp(method, "job.completed") == 0;
		}
		if (method != NULL && strcmp(method, "job.output") == 0) {
			const char *data = jstr(m, "params.data");
			size_t n = strlen(data);
			ck_assert_int_eq(jint(m, "params.offset"), (int64_t)len);
			ck_assert_uint_le(len + n, want.out_len);
			memcpy(got + len, data, n);
			len += n;
		}
		json_object_put(m);
	}
	ck_assert(ended);
	ck_assert_uint_eq(len, want.out_len);
	ck_assert_int_eq(memcmp(got, want.out, len), 0);
	free(got);
	tc_close(slow);
	run_result_free(&want);
}
END_TEST

/* A second since for a job whose replay to this connection is still
 * being sent is refused, naming the field; the first goes on whole. */
START_TEST(second_since_during_a_replay_is_refused)
{
	static const char *const small_hwm[] = {"--output-hwm", "65536", NULL};
	char lines[512];

	td_start(&d, small_hwm);
	c = tc_open(d.sock);
	int64_t id = submit_script("yes | head -c 400000", NULL);
	wait_end_of(id);
	/* Both in one write: the first replay is past the mark when the
	 * second is read, so it is still running. */
	int n = snprintf(lines, sizeof lines,
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.watch\","
			 "\"params\":{\"id\":%lld,\"since\":0}}\n"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.watch\","
			 "\"params\":{\"id\":%lld,\"since\":0}}\n",
			 (long long)id, (long long)id);
	tc_send_raw(c, lines, (size_t)n);
	struct json_object *m, *refused = NULL;
	int64_t replayed = -1, events = 0;
	while ((m = tc_recv(c, 5000)) != NULL) {
		const char *method = jstr(m, "method");
		if (method != NULL)
			events++;
		else if (jint(m, "id") == 1)
			replayed = jint(m, "result.replayed");
		else
			refused = json_object_get(m);
		bool done = method != NULL && strcmp(method, "job.completed") == 0;
		json_object_put(m);
		if (done && refused != NULL)
			break;
	}
	ck_assert_ptr_nonnull(refused);
	assert_rpc_error(refused, -32602, "since");
	json_object_put(refused);
	ck_assert_int_gt(replayed, 2);
	ck_assert_int_eq(events, replayed);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stop_and_restart_keep_jobs);
	tcase_add_test(tc, dependency_completes_after_restart);
	tcase_add_test(tc, on_interrupt_both_ways);
	tcase_add_test(tc, requeues_are_bounded);
	tcase_add_test(tc, timeout_counts_across_restart);
	tcase_add_test(tc, kill9_keeps_every_answered_submit);
	tcase_add_test(tc, reported_completion_is_final);
	tcase_add_test(tc, keep_finished_on_disk);
	tcase_add_test(tc, memory_only);
	tcase_add_test(tc, list_seeks_and_bounds_its_work);
	tcase_add_test(tc, list_in_memory_bounds_its_work);
	tcase_add_test(tc, second_daemon_refused);
	tcase_add_test(tc, unsafe_state_dirs_refused);
	tcase_add_test(tc, foreign_corrupt_and_newer_databases_refused);
	tcase_add_test(tc, first_schema_version_opens);
	tcase_add_test(tc, since_replays_before_and_after_restart);
	tcase_add_test(tc, since_then_live);
	tcase_add_test(tc, keep_output_drops_oldest_chunks);
	tcase_add_test(tc, since_counts_across_segments);
	tcase_add_test(tc, keep_output_total_and_removal);
	tcase_add_test(tc, asyncctl_log_of_a_detached_job);
	tcase_add_test(tc, since_in_memory);
	tcase_add_test(tc, followers_resume_across_restart);
	tcase_add_test(tc, stop_timeout_kills_and_records);
	tcase_add_test(tc, long_replay_then_live_in_order);
	tcase_add_test(tc, second_since_during_a_replay_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

/* The cases that connect as another uid: check_store_root. */
static Suite *
store_root_suite(void)
{
	Suite *s = suite_create("store_root");
	TCase *tc = tcase_create("store_root");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, list_from_disk_is_per_user);
	tcase_add_test(tc, full_disk_refuses_then_recovers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(store_suite, store_root_suite,
			       "to connect as uid 65534 and to mount a tmpfs");
}
