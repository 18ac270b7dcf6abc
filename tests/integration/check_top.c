/* asyncctl top, the full-screen view, against a real asyncd: in a real
 * pseudo-terminal through tests/top-test.py (python3-pexpect runs it,
 * python3-pyte is the terminal), and its refusal without a terminal.
 * Without those Python modules the pseudo-terminal case cannot run: the
 * program then runs the rest and reports SKIP (77) with the reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

static const char *
script(void)
{
	static char path[300];

	snprintf(path, sizeof path, "%s/tests/top-test.py", ASYNCD_SRCDIR);
	return path;
}

/* Without a terminal (here stdout is a file, stdin a pipe) top refuses:
 * status 2 and why, and nothing on stdout, no escape sequence above all. */
START_TEST(refuses_without_a_terminal)
{
	struct run_result r;
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
			"--socket", d.sock, "top", NULL};

	run_program(argv, NULL, "TERM=xterm", -1, &r);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "needs a terminal") != NULL, "%s", r.err);
	ck_assert_uint_eq(r.out_len, 0);
	run_result_free(&r);
}
END_TEST

/* Usage errors come before anything else. */
START_TEST(refuses_arguments_and_json)
{
	struct run_result r;
	char *ctl = (char *)td_path("ASYNCCTL", "client/asyncctl");
	char *extra[] = {ctl, "--socket", d.sock, "top", "7", NULL};
	char *json[] = {ctl, "--socket", d.sock, "--json", "top", NULL};

	run_program(extra, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "unexpected argument") != NULL, "%s",
		      r.err);
	run_result_free(&r);
	run_program(json, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "--json") != NULL, "%s", r.err);
	run_result_free(&r);
}
END_TEST

/* The view in a pseudo-terminal: jobs of another client appear, a
 * running job's progress moves, l shows its output, p pauses, r resumes,
 * c cancels (job.get agrees each time), it follows a resize, and q
 * quits with status 0 and the terminal restored (tests/top-test.py). */
START_TEST(live_view_in_a_pseudo_terminal)
{
	struct run_result r;
	char *argv[] = {"/usr/bin/python3", (char *)script(),
			(char *)td_path("ASYNCCTL", "client/asyncctl"), d.sock,
			NULL};

	run_program(argv, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == 0, "top-test.py exited %d:\n%s%s", r.status,
		      r.out, r.err);
	ck_assert_msg(strstr(r.out, "top-test passed") != NULL, "%s", r.out);
	run_result_free(&r);
}
END_TEST

static Suite *
top_suite(bool pty)
{
	Suite *s = suite_create("top");
	TCase *tc = tcase_create("top");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, refuses_without_a_terminal);
	tcase_add_test(tc, refuses_arguments_and_json);
	if (pty)
		tcase_add_test(tc, live_view_in_a_pseudo_terminal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	char cmd[400];
	int rc, status;

	/* The script says why when a module is missing (exit 77). */
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s --check", script());
	rc = system(cmd);
	if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 127)
		fprintf(stderr, "SKIP: /usr/bin/python3 is missing\n");
	else if (rc == -1 || !WIFEXITED(rc) ||
		 (WEXITSTATUS(rc) != 0 && WEXITSTATUS(rc) != 77)) {
		fprintf(stderr, "cannot run /usr/bin/python3 %s\n", script());
		return 1;
	}
	if (WEXITSTATUS(rc) == 0)
		return run_suite(top_suite(true));
	status = run_suite(top_suite(false));
	if (status != 0)
		return status;
	fprintf(stderr, "SKIP: the view in a pseudo-terminal was not tested "
			"(the cases without a terminal passed)\n");
	return 77;
}
