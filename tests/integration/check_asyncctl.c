/* asyncctl end to end: each command, its output and its exit status,
 * against a real asyncd. */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;

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

/* Runs asyncctl --socket SOCK with the arguments up to a NULL. */
static void
ctl(struct run_result *r, ...)
{
	va_list ap;

	va_start(ap, r);
	tctl_vrun(r, d.sock, NULL, NULL, ap);
	va_end(ap);
}

#define CTL(r, ...) ctl(r, __VA_ARGS__, (char *)NULL)

/* ctl() with STDIN_DATA on standard input. */
static void
ctl_in(struct run_result *r, const char *stdin_data, ...)
{
	va_list ap;

	va_start(ap, stdin_data);
	tctl_vrun(r, d.sock, stdin_data, NULL, ap);
	va_end(ap);
}

START_TEST(sleep_waits_and_reports)
{
	struct run_result r;

	CTL(&r, "sleep", "30");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "completed") && strstr(r.out, "slept 30 ms"), "%s", r.out);
	run_result_free(&r);
}
END_TEST

START_TEST(detach_prints_the_id_and_returns)
{
	struct run_result r;
	char id[32];

	CTL(&r, "--detach", "--label", "bg", "sleep", "60000");
	ck_assert_int_eq(r.status, 0);
	char line[40];
	snprintf(id, sizeof id, "%lld", atoll(r.out));
	snprintf(line, sizeof line, "%s\n", id);
	ck_assert_int_gt(atoll(id), 0);
	ck_assert_str_eq(r.out, line);
	run_result_free(&r);
	/* It is running; get shows it. */
	CTL(&r, "get", id);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "running") && strstr(r.out, "label=bg"), "%s", r.out);
	run_result_free(&r);
	CTL(&r, "list", "--state", "running");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "running") && strstr(r.out, "bg"), "%s", r.out);
	run_result_free(&r);
	CTL(&r, "cancel", id);
	ck_assert_int_eq(r.status, 0);
	run_result_free(&r);
	/* wait on a failed job: 1. */
	CTL(&r, "wait", id);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "cancelled"), "%s", r.err);
	run_result_free(&r);
}
END_TEST

START_TEST(json_prints_every_line)
{
	struct run_result r;
	int lines = 0;

	CTL(&r, "--json", "sleep", "0");
	ck_assert_int_eq(r.status, 0);
	for (char *p = r.out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	/* The response, job.started, job.completed. */
	ck_assert_int_eq(lines, 3);
	ck_assert(strstr(r.out, "\"method\":\"job.started\"") != NULL);
	ck_assert(strstr(r.out, "\"method\":\"job.completed\"") != NULL);
	ck_assert(strncmp(r.out, "{\"jsonrpc\":\"2.0\",\"id\":", 22) == 0);
	run_result_free(&r);
}
END_TEST

START_TEST(timeout_and_after_options)
{
	struct run_result r;

	CTL(&r, "--timeout", "0.05", "sleep", "60000");
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "timeout"), "%s", r.err);
	run_result_free(&r);
	CTL(&r, "--detach", "sleep", "50");
	char first[32];
	snprintf(first, sizeof first, "%lld", atoll(r.out));
	run_result_free(&r);
	CTL(&r, "--json", "--after", first, "sleep", "0");
	ck_assert_int_eq(r.status, 0);
	char want[64];
	snprintf(want, sizeof want, "\"after\":[%s]", first);
	ck_assert_msg(strstr(r.out, want), "%s", r.out);
	run_result_free(&r);
	/* The first had completed before the second started. */
	CTL(&r, "get", first);
	ck_assert_msg(strstr(r.out, "completed"), "%s", r.out);
	run_result_free(&r);
}
END_TEST

START_TEST(errors_from_the_daemon_exit_4)
{
	struct run_result r;

	CTL(&r, "get", "999");
	ck_assert_int_eq(r.status, 4);
	ck_assert_msg(strstr(r.err, "no such job"), "%s", r.err);
	run_result_free(&r);
	CTL(&r, "cancel", "999");
	ck_assert_int_eq(r.status, 4);
	run_result_free(&r);
	CTL(&r, "--after", "999", "sleep", "1");
	ck_assert_int_eq(r.status, 4);
	ck_assert_msg(strstr(r.err, "after"), "%s", r.err);
	run_result_free(&r);
	CTL(&r, "list", "--state", "sleeping");
	ck_assert_int_eq(r.status, 4);
	run_result_free(&r);
}
END_TEST

START_TEST(usage_errors_exit_2)
{
	struct run_result r;

	CTL(&r, "frobnicate");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "sleep");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "sleep", "soon");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "get", "x");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "--state", "queued", "sleep", "1");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "--timeout", "-1", "sleep", "1");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "call", "daemon.info", "{nope");
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
	CTL(&r, "--help");
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "Usage") != NULL);
	run_result_free(&r);
}
END_TEST

START_TEST(unreachable_daemon_exits_3)
{
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket",
			"/nonexistent/asyncd.sock", "info", NULL};
	struct run_result r;

	run_program(argv, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "cannot reach"), "%s", r.err);
	run_result_free(&r);
	/* $ASYNCD_SOCKET is honoured. */
	char env[200];
	snprintf(env, sizeof env, "ASYNCD_SOCKET=%s", d.sock);
	char *argv2[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "info", NULL};
	run_program(argv2, NULL, env, -1, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "protocol 2"), "%s", r.out);
	run_result_free(&r);
}
END_TEST

START_TEST(info_call_and_watch)
{
	struct run_result r;

	CTL(&r, "info");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "asyncd ") && strstr(r.out, "kinds: sleep"), "%s", r.out);
	run_result_free(&r);
	CTL(&r, "call", "daemon.info");
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "\"protocol\":2") != NULL);
	run_result_free(&r);
	CTL(&r, "call", "job.get", "{\"id\":5}");
	ck_assert_int_eq(r.status, 4);
	ck_assert(strstr(r.out, "-32001") != NULL);
	run_result_free(&r);
	CTL(&r, "--detach", "sleep", "100");
	char id[32];
	snprintf(id, sizeof id, "%lld", atoll(r.out));
	run_result_free(&r);
	CTL(&r, "watch", id);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "completed"), "%s", r.out);
	run_result_free(&r);
	CTL(&r, "wait", id);
	ck_assert_int_eq(r.status, 0);
	run_result_free(&r);
}
END_TEST

START_TEST(ctrl_c_cancels_what_it_submitted)
{
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket", d.sock,
			"sleep", "60000", NULL};
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", 1);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	/* Wait until its job runs, then interrupt it. */
	struct tconn *c = tc_open(d.sock);
	int64_t id = 0;
	for (int i = 0; i < 500 && id == 0; i++) {
		struct json_object *r = tc_call(c, "job.list", "{\"state\":\"running\"}");
		if (json_object_array_length(jget(r, "result.jobs")) > 0)
			id = jint(r, "result.jobs.0.id");
		json_object_put(r);
		usleep(10000);
	}
	ck_assert_int_gt(id, 0);
	kill(pid, SIGINT);
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 1);
	struct json_object *r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "failed");
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "cancelled");
	json_object_put(r);
	tc_close(c);
}
END_TEST

/* Waits until the file OUT holds WANT; returns its text (malloc'd). */
static char *
wait_for_text(const char *out, const char *want)
{
	char *text = NULL;

	for (int i = 0; i < 1000; i++) {
		free(text);
		text = read_file(out, NULL);
		if (text != NULL && strstr(text, want) != NULL)
			return text;
		usleep(10000);
	}
	ck_abort_msg("never saw %s in: %s", want, text ? text : "");
	return NULL;
}

START_TEST(watch_without_ids_follows_every_job_until_interrupted)
{
	char out[] = "/tmp/asyncd-watch.XXXXXX";
	int fd = mkstemp(out), status;
	pid_t pid = fork();

	if (pid == 0) {
		dup2(fd, 1);
		execl(td_path("ASYNCCTL", "client/asyncctl"), "asyncctl", "--socket", d.sock,
		      "--json", "watch", (char *)NULL);
		_exit(127);
	}
	/* Its watch is in place once its response is out. */
	free(wait_for_text(out, "\"result\":{\"jobs\":[]}"));
	struct tconn *c = tc_open(d.sock);
	int64_t id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"watch\":false}");
	char want[96];
	snprintf(want, sizeof want, "\"method\":\"job.completed\",\"params\":{\"id\":%lld,", (long long)id);
	char *text = wait_for_text(out, want);
	snprintf(want, sizeof want, "\"method\":\"job.started\",\"params\":{\"id\":%lld,", (long long)id);
	ck_assert(strstr(text, want) != NULL);
	free(text);
	kill(pid, SIGINT);
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	tc_close(c);
	close(fd);
	unlink(out);
}
END_TEST

/* A job command whose daemon is gone for good, interrupted while it
 * tries to reconnect: it says so and exits 3, as unreachable. */
START_TEST(ctrl_c_while_reconnecting_exits_3)
{
	char err[] = "/tmp/asyncd-reconnect.XXXXXX";
	int fd = mkstemp(err), status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(fd, 2);
		execl(td_path("ASYNCCTL", "client/asyncctl"), "asyncctl", "--socket",
		      d.sock, "sleep", "60000", (char *)NULL);
		_exit(127);
	}
	struct tconn *c = tc_open(d.sock);
	int64_t id = 0;
	for (int i = 0; i < 500 && id == 0; i++) {
		struct json_object *r = tc_call(c, "job.list", "{\"state\":\"running\"}");
		if (json_object_array_length(jget(r, "result.jobs")) > 0)
			id = jint(r, "result.jobs.0.id");
		json_object_put(r);
		usleep(10000);
	}
	ck_assert_int_gt(id, 0);
	tc_close(c);
	td_halt(&d, SIGKILL);
	free(wait_for_text(err, "reconnecting"));
	kill(pid, SIGINT);
	waitpid(pid, &status, 0);
	ck_assert_msg(WIFEXITED(status), "asyncctl died of signal %d",
		      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	ck_assert_int_eq(WEXITSTATUS(status), 3);
	char *text = read_file(err, NULL);
	ck_assert_ptr_nonnull(strstr(text, "asyncctl: lost the connection to asyncd\n"));
	free(text);
	close(fd);
	unlink(err);
	td_restart(&d, NULL); /* for the teardown's clean stop */
}
END_TEST

/* batch: one job.submit's params a line, pipelined, followed as wait
 * follows; a refused line exits 4 after the others ran, a line that is
 * not JSON exits 2 before any runs, --detach prints the ids. */
START_TEST(batch_runs_many_jobs_from_stdin)
{
	char lines[64 * 80], path[200];
	size_t len = 0;
	struct run_result r;

	for (int i = 0; i < 50; i++)
		len += (size_t)snprintf(lines + len, sizeof lines - len,
					"{\"kind\":\"process\",\"args\":{\"argv\":"
					"[\"echo\",\"job%d\"]}}\n", i);
	ctl_in(&r, lines, "batch", NULL);
	ck_assert_msg(r.status == 0, "%s", r.err);
	for (int i = 0; i < 50; i++) {
		char want[16];
		snprintf(want, sizeof want, "job%d\n", i);
		ck_assert_msg(strstr(r.out, want) != NULL, "no %s in %s", want, r.out);
	}
	run_result_free(&r);

	snprintf(path, sizeof path, "%s/appears", d.dir);
	snprintf(lines, sizeof lines,
		 "{\"kind\":\"sleep\",\"args\":{\"ms\":1}}\n\n"
		 "{\"kind\":\"no-such-kind\"}\n"
		 "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"}}\n", path);
	ctl_in(&r, lines, "batch", NULL);
	ck_assert_int_eq(r.status, 4);
	ck_assert_msg(strstr(r.err, "line 3: invalid params: kind") != NULL, "%s", r.err);
	ck_assert_msg(strstr(r.err, "not-found") != NULL, "%s", r.err);
	run_result_free(&r);

	ctl_in(&r, "{\"kind\":\"sleep\",\"args\":{\"ms\":1}}\n[1]\n", "batch", NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "line 2 is not a JSON object"));
	run_result_free(&r);

	ctl_in(&r, "{\"kind\":\"sleep\",\"args\":{\"ms\":1}}\n"
		   "{\"kind\":\"sleep\",\"args\":{\"ms\":1}}\n",
	       "--detach", "batch", NULL);
	ck_assert_int_eq(r.status, 0);
	unsigned long long a, b;
	ck_assert_int_eq(sscanf(r.out, "%llu\n%llu\n", &a, &b), 2);
	ck_assert_uint_eq(b, a + 1);
	run_result_free(&r);
}
END_TEST

static Suite *
asyncctl_suite(void)
{
	Suite *s = suite_create("asyncctl");
	TCase *tc = tcase_create("commands");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sleep_waits_and_reports);
	tcase_add_test(tc, detach_prints_the_id_and_returns);
	tcase_add_test(tc, json_prints_every_line);
	tcase_add_test(tc, timeout_and_after_options);
	tcase_add_test(tc, errors_from_the_daemon_exit_4);
	tcase_add_test(tc, usage_errors_exit_2);
	tcase_add_test(tc, unreachable_daemon_exits_3);
	tcase_add_test(tc, info_call_and_watch);
	tcase_add_test(tc, ctrl_c_cancels_what_it_submitted);
	tcase_add_test(tc, watch_without_ids_follows_every_job_until_interrupted);
	tcase_add_test(tc, ctrl_c_while_reconnecting_exits_3);
	tcase_add_test(tc, batch_runs_many_jobs_from_stdin);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(asyncctl_suite());
}
