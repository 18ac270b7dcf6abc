/* The job table, the scheduler and the watches, in process, with a fake
 * kind whose jobs end when the test says: the state machine, slots and
 * fair turns, dependencies, cancels, event order and backpressure,
 * deterministic and without a clock. The loop runs one pass at a time
 * (pump()); nothing here waits for time to pass. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <json-c/json.h>

#include "../../daemon/jobs.h"
#include "../../daemon/kinds.h"
#include "../../daemon/log.h"
#include "../../daemon/metrics.h"
#include "../../daemon/options.h"
#include "../../daemon/output-queue.h"
#include "../../daemon/pool.h"
#include "../../daemon/rpc.h"
#include "../../daemon/runtime.h"
#include "../../daemon/sched.h"
#include "../../daemon/server.h"
#include "../../daemon/watch.h"
#include "../testutil.h"

#define FAKE_SLOTS 2
#define MAX_JOBS 32

/* ---- The fake kind ------------------------------------------------------- */

/* What the kind was asked to do, in order. */
static struct job *started[MAX_JOBS];
static unsigned nstarted, ncancelled, nresumed;

static int
fake_validate(struct json_object *args UNUSED, struct param_error *err UNUSED)
{
	return 0;
}

static void
fake_start(struct job *job, struct json_object *args UNUSED)
{
	ck_assert_uint_lt(nstarted, MAX_JOBS);
	started[nstarted++] = job;
	job->priv = job; /* running: the kind holds state */
}

static void
fake_cancel(struct job *job UNUSED)
{
	ncancelled++; /* the test ends it, as a real kind would later */
}

static void
fake_free(struct job *job)
{
	job->priv = NULL;
}

static void
fake_resume(struct job *job UNUSED)
{
	nresumed++;
}

static const struct job_kind kind_fake = {
	.name = "fake",
	.validate = fake_validate,
	.start = fake_start,
	.cancel = fake_cancel,
	.free = fake_free,
	.resume = fake_resume,
	.default_max_running = FAKE_SLOTS,
};

static const struct job_kind *const fake_kinds[] = {&kind_fake};

/* Ends JOB as its kind would. */
static void
fake_complete(struct job *job)
{
	struct json_object *result = json_object_new_object();

	json_object_object_add(result, "ok", json_object_new_boolean(true));
	job->priv = NULL;
	job_complete(job, result);
}

static void
fake_fail(struct job *job)
{
	job->priv = NULL;
	job_fail(job, "io-error", "the fake failed", NULL);
}

/* ---- Set-up -------------------------------------------------------------- */

static char dir[64], sock_path[128];

static void
setup(void)
{
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	signal(SIGPIPE, SIG_IGN); /* as the daemon: a closed peer is EPIPE */
	log_set_level(LOG_WARNING);
	options_defaults();
	daemon_base = event_base_new();
	ck_assert_ptr_nonnull(daemon_base);
	kinds_use(fake_kinds, 1);
	pool_init(1); /* JSON watchers' output is encoded there */
	ck_assert_int_eq(jobs_init(NULL, DB_SYNC_NORMAL), 0);
	rpc_init();
	server_init(&(const struct server_handlers){
		.line = rpc_handle_line,
		.too_large = rpc_too_large,
		.closed = watch_conn_closed,
		.drained = watch_conn_drained,
	});
	strcpy(dir, "/tmp/asyncd-core-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock_path, sizeof sock_path, "%s/sock", dir);
	ck_assert_int_eq(server_listen_path(sock_path, 0600), 0);
	nstarted = ncancelled = nresumed = 0;
}

static void
teardown(void)
{
	server_free();
	jobs_free();
	pool_free();
	metrics_free();
	rpc_free();
	event_base_free(daemon_base);
	daemon_base = NULL;
	free(daemon_opts.allowed_schemes);
	free(daemon_opts.download_dir);
	daemon_opts.allowed_schemes = daemon_opts.download_dir = NULL;
	unlink(sock_path);
	rmdir(dir);
}

/* Runs the loop passes that have something to do now, and no more. */
static void
pump(void)
{
	for (int i = 0; i < 8; i++)
		event_base_loop(daemon_base, EVLOOP_NONBLOCK);
}

/* Runs the loop until JOB's output has come back from the pool, and
 * then as pump() does. */
static void
pump_output(struct job *job)
{
	while (output_queue_busy(job->outq))
		event_base_loop(daemon_base, EVLOOP_ONCE);
	pump();
}

static const struct peer user_a = {.uid = 1001, .gid = 1001, .pid = 1};
static const struct peer user_b = {.uid = 1002, .gid = 1002, .pid = 2};

static struct job *
submit(const struct peer *peer, const uint64_t *after, unsigned nafter)
{
	struct json_object *args = json_object_new_object();
	struct submit_request req = {
		.kind = &kind_fake,
		.args = args,
		.after = after,
		.nafter = nafter,
		.on_interrupt = -1,
	};
	struct param_error err;
	struct job *job;
	bool existing;

	ck_assert_int_eq(jobs_submit(peer, NULL, &req, &job, &existing, &err), 0);
	json_object_put(args);
	return job;
}

/* The error code of failed JOB. */
static char *
error_code(const struct job *job)
{
	struct json_object *e = json_tokener_parse(job->error);
	struct json_object *code;
	char *s;

	ck_assert(json_object_object_get_ex(e, "code", &code));
	s = strdup(json_object_get_string(code));
	json_object_put(e);
	return s;
}

static void
assert_failed_with(const struct job *job, const char *code)
{
	char *got;

	ck_assert_int_eq(job->state, JOB_FAILED);
	got = error_code(job);
	ck_assert_str_eq(got, code);
	free(got);
}

/* ---- The state machine --------------------------------------------------- */

START_TEST(a_job_starts_on_the_next_pass_and_ends_once)
{
	struct job *job = submit(&user_a, NULL, 0);
	uint64_t id = job->id;

	ck_assert_int_eq(job->state, JOB_QUEUED);
	ck_assert_uint_eq(nstarted, 0);
	pump();
	ck_assert_uint_eq(nstarted, 1);
	ck_assert_ptr_eq(started[0], job);
	ck_assert_int_eq(job->state, JOB_RUNNING);
	ck_assert_uint_eq(job->attempts, 1);
	ck_assert_uint_eq(job->seq, 1); /* job.started */
	fake_complete(job);
	ck_assert_int_eq(job->state, JOB_COMPLETED);
	ck_assert_str_eq(job->result, "{\"ok\":true}");
	ck_assert_uint_eq(job->seq, 2);
	ck_assert_ptr_null(job->error);
	pump();
	ck_assert_uint_eq(nstarted, 1);
	ck_assert_ptr_eq(jobs_lookup(&user_a, id), job);
	ck_assert_ptr_null(jobs_lookup(&user_b, id)); /* another user's */
}
END_TEST

START_TEST(a_queued_job_cancelled_never_starts)
{
	struct job *job = submit(&user_a, NULL, 0);

	ck_assert_int_eq(jobs_cancel(job), 0);
	pump();
	ck_assert_uint_eq(nstarted, 0);
	ck_assert_uint_eq(ncancelled, 0);
	assert_failed_with(job, "cancelled");
	ck_assert_int_eq(jobs_cancel(job), -32002); /* it has ended */
}
END_TEST

/* The kind is asked to stop and ends the job when it has; whatever it
 * reports, the job fails with the stop's reason. */
START_TEST(a_running_job_cancelled_fails_cancelled_when_its_kind_ends_it)
{
	struct job *job = submit(&user_a, NULL, 0);

	pump();
	ck_assert_int_eq(jobs_cancel(job), 0);
	pump();
	ck_assert_uint_eq(ncancelled, 1);
	ck_assert_int_eq(job->state, JOB_RUNNING); /* until the kind ends it */
	fake_complete(job);
	assert_failed_with(job, "cancelled");
}
END_TEST

START_TEST(a_failed_dependency_fails_its_dependents_without_starting_them)
{
	struct job *a = submit(&user_a, NULL, 0);
	uint64_t after_a = a->id;
	struct job *b = submit(&user_a, &after_a, 1);
	uint64_t after_b = b->id;
	struct job *c = submit(&user_a, &after_b, 1);

	pump();
	ck_assert_uint_eq(nstarted, 1); /* only a: b and c wait */
	fake_fail(a);
	pump();
	ck_assert_uint_eq(nstarted, 1);
	assert_failed_with(b, "dependency-failed");
	assert_failed_with(c, "dependency-failed");
}
END_TEST

START_TEST(a_completed_dependency_lets_its_dependent_start)
{
	struct job *a = submit(&user_a, NULL, 0);
	uint64_t after_a = a->id;
	struct job *b = submit(&user_a, &after_a, 1);

	pump();
	ck_assert_uint_eq(nstarted, 1);
	fake_complete(a);
	pump();
	ck_assert_uint_eq(nstarted, 2);
	ck_assert_ptr_eq(started[1], b);
}
END_TEST

/* ---- The scheduler ------------------------------------------------------- */

START_TEST(slots_bound_running_jobs_and_one_user_goes_in_order)
{
	struct job *jobs[5];

	for (int i = 0; i < 5; i++)
		jobs[i] = submit(&user_a, NULL, 0);
	pump();
	ck_assert_uint_eq(nstarted, FAKE_SLOTS);
	ck_assert_ptr_eq(started[0], jobs[0]);
	ck_assert_ptr_eq(started[1], jobs[1]);
	fake_complete(jobs[1]);
	pump();
	ck_assert_uint_eq(nstarted, 3);
	ck_assert_ptr_eq(started[2], jobs[2]);
	ck_assert_int_eq(jobs[3]->state, JOB_QUEUED);
}
END_TEST

/* User b arrives behind four of user a's jobs, and gets the next free
 * slot. */
START_TEST(a_user_who_arrives_goes_before_a_user_already_served)
{
	struct job *a[4], *b;

	for (int i = 0; i < 4; i++)
		a[i] = submit(&user_a, NULL, 0);
	pump();
	ck_assert_uint_eq(nstarted, 2);
	b = submit(&user_b, NULL, 0);
	pump();
	ck_assert_uint_eq(nstarted, 2); /* no slot is free */
	fake_complete(a[0]);
	pump();
	ck_assert_uint_eq(nstarted, 3);
	ck_assert_ptr_eq(started[2], b);
	fake_complete(a[1]);
	pump();
	ck_assert_ptr_eq(started[3], a[2]);
}
END_TEST

/* ---- Watches, through a real connection ---------------------------------- */

static int
client_connect(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	pump(); /* accepted */
	return fd;
}

static void
client_send(int fd, const char *line)
{
	size_t len = strlen(line);

	ck_assert_int_eq(write(fd, line, len), (ssize_t)len);
	pump();
}

/* Reads what FD has now; returns the bytes read. */
static size_t
client_drain(int fd, char *keep, size_t size)
{
	static char buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		if (keep != NULL && total + (size_t)n < size) {
			memcpy(keep + total, buf, (size_t)n);
			keep[total + (size_t)n] = '\0';
		}
		total += (size_t)n;
	}
	ck_assert(n < 0 && errno == EAGAIN);
	return total;
}

/* The id of the job the last job.submit on FD created. */
static uint64_t
submitted_id(const char *response)
{
	const char *p = strstr(response, "\"job\":{\"id\":");

	ck_assert_ptr_nonnull(p);
	return strtoull(p + strlen("\"job\":{\"id\":"), NULL, 10);
}

START_TEST(a_watcher_gets_started_then_completed_in_seq_order)
{
	int fd = client_connect();
	char got[8192], want[160];
	struct job *job;

	client_send(fd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
			"\"params\":{\"kind\":\"fake\",\"args\":{}}}\n");
	/* The response names the queued job; the start follows a pass later. */
	pump();
	ck_assert_uint_gt(client_drain(fd, got, sizeof got), 0);
	ck_assert_ptr_nonnull(strstr(got, "\"state\":\"queued\""));
	ck_assert_uint_eq(nstarted, 1);
	job = started[0];
	ck_assert_uint_eq(job->id, submitted_id(got));
	ck_assert_ptr_nonnull(strstr(got, "\"method\":\"job.started\""));
	snprintf(want, sizeof want, "\"method\":\"job.completed\",\"params\":"
		 "{\"id\":%llu,\"seq\":2,\"kind\":\"fake\",\"result\":{\"ok\":true}}",
		 (unsigned long long)job->id);
	fake_complete(job);
	pump();
	client_drain(fd, got, sizeof got);
	ck_assert_ptr_nonnull(strstr(got, want));
	close(fd);
	pump();
}
END_TEST

/* Writes output for JOB until a watcher is past its high-water mark;
 * returns the bytes written. */
static size_t
produce_until_blocked(struct job *job)
{
	static const char data[16384] = {'x'};
	size_t total = 0;

	while (!job_output_blocked(job)) {
		job_output(job, STREAM_DATA, data, sizeof data);
		total += sizeof data;
		pump_output(job); /* the connections write what they can */
		ck_assert_uint_lt(total, 64 * 1024 * 1024);
	}
	return total;
}

/* Connects *A and *B; a job submitted on *A is watched by *B too, and
 * produces until a watcher is past a 4 KiB mark; then *A reads all it
 * got. Returns the job, still held by *B. */
static struct job *
held_by_the_second_watcher(int *a, int *b)
{
	char req[160];
	struct job *job;

	daemon_opts.output_hwm = 4096;
	*a = client_connect();
	*b = client_connect();
	client_send(*a, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
			"\"params\":{\"kind\":\"fake\",\"args\":{}}}\n");
	pump();
	ck_assert_uint_eq(nstarted, 1);
	job = started[0];
	snprintf(req, sizeof req, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		 "\"job.watch\",\"params\":{\"id\":%llu}}\n",
		 (unsigned long long)job->id);
	client_send(*b, req);
	produce_until_blocked(job);
	ck_assert_uint_eq(nresumed, 0);
	while (client_drain(*a, NULL, 0) > 0)
		pump();
	return job;
}

/* Two connections watch one job; the kind pauses while either is past
 * the mark and resumes only once both have drained. */
START_TEST(the_slowest_watcher_holds_the_job_until_it_drains)
{
	int a, b;
	struct job *job = held_by_the_second_watcher(&a, &b);

	/* One of the two read everything: the other still holds the job. */
	ck_assert_uint_eq(nresumed, 0);
	ck_assert(job_output_blocked(job));
	/* Now the other: the kind is told once. */
	while (client_drain(b, NULL, 0) > 0 || client_drain(a, NULL, 0) > 0)
		pump();
	ck_assert_uint_eq(nresumed, 1);
	ck_assert(!job_output_blocked(job));
	fake_complete(job);
	pump();
	close(a);
	close(b);
	pump();
}
END_TEST

/* A watcher that goes away stops holding the job. */
START_TEST(a_closed_watcher_no_longer_holds_the_job)
{
	int a, b;
	struct job *job = held_by_the_second_watcher(&a, &b);

	close(b);
	pump();
	while (client_drain(a, NULL, 0) > 0)
		pump();
	ck_assert_uint_eq(nresumed, 1);
	fake_complete(job);
	pump();
	close(a);
	pump();
}
END_TEST

static Suite *
core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_job_starts_on_the_next_pass_and_ends_once);
	tcase_add_test(tc, a_queued_job_cancelled_never_starts);
	tcase_add_test(tc, a_running_job_cancelled_fails_cancelled_when_its_kind_ends_it);
	tcase_add_test(tc, a_failed_dependency_fails_its_dependents_without_starting_them);
	tcase_add_test(tc, a_completed_dependency_lets_its_dependent_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("scheduler");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, slots_bound_running_jobs_and_one_user_goes_in_order);
	tcase_add_test(tc, a_user_who_arrives_goes_before_a_user_already_served);
	suite_add_tcase(s, tc);

	tc = tcase_create("watches");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_watcher_gets_started_then_completed_in_seq_order);
	tcase_add_test(tc, the_slowest_watcher_holds_the_job_until_it_drains);
	tcase_add_test(tc, a_closed_watcher_no_longer_holds_the_job);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(core_suite());
}
