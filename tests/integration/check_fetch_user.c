/* fetch-user against a real asyncd, compared field by field with what
 * this process reads from the user database; argument errors; asyncctl
 * fetch-user. */
#include <grp.h>
#include <pwd.h>
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

/* Submits fetch-user with ARGS on CONN and returns its terminal event. */
static struct json_object *
fetch(struct tconn *conn, const char *args)
{
	int64_t id = tc_submit(conn, "{\"kind\":\"fetch-user\",\"args\":%s}", args);

	return tc_wait_end(conn, id, 30000);
}

/* Asserts that RESULT describes the user database's entry PW. */
static void
assert_user(struct json_object *result, const struct passwd *pw)
{
	gid_t groups[1024];
	int n = 1024;

	ck_assert_int_eq(jint(result, "uid"), pw->pw_uid);
	ck_assert_int_eq(jint(result, "gid"), pw->pw_gid);
	ck_assert_str_eq(jstr(result, "name"), pw->pw_name);
	ck_assert_str_eq(jstr(result, "gecos"), pw->pw_gecos);
	ck_assert_str_eq(jstr(result, "home"), pw->pw_dir);
	ck_assert_str_eq(jstr(result, "shell"), pw->pw_shell);
	ck_assert_int_ge(getgrouplist(pw->pw_name, pw->pw_gid, groups, &n), 1);
	struct json_object *list = jget(result, "groups");
	ck_assert_ptr_nonnull(list);
	ck_assert_int_eq((int)json_object_array_length(list), n);
	for (int i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(list, (size_t)i);
		struct group *gr = getgrgid(groups[i]);
		ck_assert_int_eq(jint(g, "gid"), groups[i]);
		if (gr != NULL)
			ck_assert_str_eq(jstr(g, "name"), gr->gr_name);
		else
			ck_assert(jnull(g, "name"));
	}
}

/* Fetches ARGS and compares with the entry of UID. */
static void
assert_fetch_matches(struct tconn *conn, const char *args, uid_t uid)
{
	struct json_object *ev = fetch(conn, args);
	struct passwd *pw = getpwuid(uid);

	ck_assert_ptr_nonnull(pw);
	ck_assert_msg(strcmp(jstr(ev, "method"), "job.completed") == 0,
		      "fetch-user %s: %s", args, json_object_to_json_string(ev));
	ck_assert_str_eq(jstr(ev, "params.kind"), "fetch-user");
	assert_user(jget(ev, "params.result"), pw);
	json_object_put(ev);
}

START_TEST(root_by_uid_and_by_name)
{
	assert_fetch_matches(c, "{\"uid\":0}", 0);
	assert_fetch_matches(c, "{\"name\":\"root\"}", 0);
}
END_TEST

START_TEST(other_users_by_uid_and_by_name)
{
	struct passwd *pw = getpwuid(TEST_NOBODY);
	char args[256];

	ck_assert_ptr_nonnull(pw);
	snprintf(args, sizeof args, "{\"name\":\"%s\"}", pw->pw_name);
	assert_fetch_matches(c, args, TEST_NOBODY);
	assert_fetch_matches(c, "{\"uid\":65534}", TEST_NOBODY);
	/* Every user the database enumerates (the first 50), by uid. */
	uid_t uids[50];
	int n = 0;
	setpwent();
	while (n < 50 && (pw = getpwent()) != NULL)
		uids[n++] = pw->pw_uid;
	endpwent();
	for (int i = 0; i < n; i++) {
		snprintf(args, sizeof args, "{\"uid\":%u}", (unsigned)uids[i]);
		assert_fetch_matches(c, args, uids[i]);
	}
	ck_assert_int_gt(n, 1);
}
END_TEST

START_TEST(own_record_as_another_user)
{
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	int64_t id = tc_submit(nobody, "{\"kind\":\"fetch-user\",\"args\":"
				       "{\"uid\":%d}}", TEST_NOBODY);
	struct json_object *ev = tc_wait_end(nobody, id, 30000);

	ck_assert_str_eq(jstr(ev, "method"), "job.completed");
	assert_user(jget(ev, "params.result"), getpwuid(TEST_NOBODY));
	json_object_put(ev);
	/* The job is its own. */
	struct json_object *r = tc_call(nobody, "job.get", "{\"id\":%lld}",
					(long long)id);
	ck_assert_int_eq(jint(r, "result.job.owner"), TEST_NOBODY);
	json_object_put(r);
	tc_close(nobody);
}
END_TEST

START_TEST(unknown_user_is_no_such_user)
{
	char args[64];
	uid_t uid = 4000000000u;
	struct json_object *ev;

	while (getpwuid(uid) != NULL)
		uid++;
	snprintf(args, sizeof args, "{\"uid\":%u}", (unsigned)uid);
	ev = fetch(c, args);
	ck_assert_str_eq(jstr(ev, "method"), "job.failed");
	ck_assert_str_eq(jstr(ev, "params.error.code"), "no-such-user");
	json_object_put(ev);

	ck_assert_ptr_null(getpwnam("no-such-user-asyncd"));
	ev = fetch(c, "{\"name\":\"no-such-user-asyncd\"}");
	ck_assert_str_eq(jstr(ev, "method"), "job.failed");
	ck_assert_str_eq(jstr(ev, "params.error.code"), "no-such-user");
	json_object_put(ev);
	/* The highest uid there is. */
	if (getpwuid(4294967294u) == NULL) {
		ev = fetch(c, "{\"uid\":4294967294}");
		ck_assert_str_eq(jstr(ev, "params.error.code"), "no-such-user");
		json_object_put(ev);
	}
}
END_TEST

static void
submit_refused(const char *args, const char *field)
{
	struct json_object *r = tc_call(
		c, "job.submit", "{\"kind\":\"fetch-user\",\"args\":%s}", args);

	assert_rpc_error(r, -32602, field);
	json_object_put(r);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.protocol"), 1);
	json_object_put(r);
}

/* Runs a user administration command; false when it is not there. */
static bool
admin(const char *cmd)
{
	char line[256];

	snprintf(line, sizeof line, "%s >/dev/null 2>&1", cmd);
	return system(line) == 0;
}

START_TEST(repeated_lookups_see_a_changed_user_at_once)
{
	const char *user = "asyncd-cache-test";
	struct json_object *ev;

	admin("userdel asyncd-cache-test");
	if (geteuid() != 0 || !admin("useradd -M -c before asyncd-cache-test")) {
		/* Needs root and useradd (package passwd). */
		fprintf(stderr, "skipped: cannot add a user here\n");
		return;
	}
	char args[128];
	snprintf(args, sizeof args, "{\"name\":\"%s\"}", user);
	for (int i = 0; i < 3; i++) { /* the second and third may be cached */
		ev = fetch(c, args);
		ck_assert_str_eq(jstr(ev, "params.result.gecos"), "before");
		json_object_put(ev);
	}
	/* /etc/passwd changes: the very next look-up sees it. */
	ck_assert(admin("usermod -c after asyncd-cache-test"));
	ev = fetch(c, args);
	ck_assert_str_eq(jstr(ev, "params.result.gecos"), "after");
	json_object_put(ev);
	ck_assert(admin("userdel asyncd-cache-test"));
	ev = fetch(c, args);
	ck_assert_str_eq(jstr(ev, "params.error.code"), "no-such-user");
	json_object_put(ev);
}
END_TEST

START_TEST(bad_args_are_invalid_params)
{
	submit_refused("{\"uid\":0,\"name\":\"root\"}", "args.name");
	submit_refused("{}", "args.uid");
	submit_refused("{\"uid\":-1}", "args.uid");
	submit_refused("{\"uid\":4294967295}", "args.uid");
	submit_refused("{\"uid\":\"0\"}", "args.uid");
	submit_refused("{\"uid\":1.0}", "args.uid");
	submit_refused("{\"uid\":null}", "args.uid");
	submit_refused("{\"name\":5}", "args.name");
	submit_refused("{\"name\":\"\"}", "args.name");
	submit_refused("{\"uid\":0,\"home\":\"/\"}", "args.home");
	struct json_object *r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	json_object_put(r);
}
END_TEST

START_TEST(many_lookups_pipelined)
{
	enum { N = 300 };
	int64_t ids[N];
	struct json_object *ev;

	for (int i = 0; i < N; i++)
		ids[i] = tc_submit(c, "{\"kind\":\"fetch-user\",\"args\":"
				      "{\"uid\":%d}}", i % 2 ? 0 : TEST_NOBODY);
	for (int i = N - 1; i >= 0; i--) {
		ev = tc_wait_end(c, ids[i], 60000);
		ck_assert_str_eq(jstr(ev, "method"), "job.completed");
		ck_assert_int_eq(jint(ev, "params.result.uid"),
				 i % 2 ? 0 : TEST_NOBODY);
		json_object_put(ev);
	}
}
END_TEST

START_TEST(cancel_a_lookup)
{
	int64_t id = tc_submit(c, "{\"kind\":\"fetch-user\",\"args\":{\"uid\":0}}");
	struct json_object *r = tc_call(c, "job.cancel", "{\"id\":%lld}",
					(long long)id);
	struct json_object *ev = tc_wait_end(c, id, 30000);

	/* The look-up may have finished first; either way exactly one end. */
	if (jget(r, "error") != NULL) {
		assert_rpc_error(r, -32002, NULL);
		ck_assert_str_eq(jstr(ev, "method"), "job.completed");
	} else {
		ck_assert_str_eq(jstr(ev, "method"), "job.failed");
		ck_assert_str_eq(jstr(ev, "params.error.code"), "cancelled");
	}
	json_object_put(r);
	json_object_put(ev);
	/* Only job.started is left: no second end. */
	while ((ev = tc_event(c, 200)) != NULL) {
		ck_assert_str_eq(jstr(ev, "method"), "job.started");
		json_object_put(ev);
	}
}
END_TEST

/* ---- asyncctl fetch-user ------------------------------------------------ */

static void
ctl(struct run_result *r, const char *opt, const char *arg)
{
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
			"--socket", d.sock, "fetch-user", (char *)opt,
			(char *)arg, NULL};

	if (opt == NULL) {
		argv[4] = (char *)arg;
		argv[5] = NULL;
	}
	run_program(argv, NULL, NULL, -1, r);
}

START_TEST(asyncctl_fetch_user)
{
	struct run_result r;
	char line[512];

	ctl(&r, NULL, "root");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "name:   root\n"));
	ck_assert_ptr_nonnull(strstr(r.out, "uid:    0\n"));
	snprintf(line, sizeof line, "home:   %s\n", getpwuid(0)->pw_dir);
	ck_assert_ptr_nonnull(strstr(r.out, line));
	ck_assert_ptr_nonnull(strstr(r.out, "groups: 0(root)"));
	run_result_free(&r);

	ctl(&r, NULL, "65534");
	ck_assert_int_eq(r.status, 0);
	snprintf(line, sizeof line, "name:   %s\n", getpwuid(TEST_NOBODY)->pw_name);
	ck_assert_ptr_nonnull(strstr(r.out, line));
	run_result_free(&r);

	/* --json: the events, the last one the result. */
	ctl(&r, "--json", "0");
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "\"method\":\"job.completed\""));
	ck_assert_ptr_nonnull(strstr(r.out, "\"name\":\"root\""));
	run_result_free(&r);
}
END_TEST

START_TEST(asyncctl_fetch_user_exit_statuses)
{
	struct run_result r;

	ctl(&r, NULL, "no-such-user-asyncd");
	ck_assert_int_eq(r.status, 1);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "no-such-user"));
	run_result_free(&r);

	ctl(&r, NULL, "4294967295"); /* refused by the daemon */
	ck_assert_int_eq(r.status, 4);
	ck_assert_ptr_nonnull(strstr(r.err, "args.uid"));
	run_result_free(&r);

	ctl(&r, NULL, NULL); /* no argument */
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("fetch-user");
	TCase *tc = tcase_create("lookups");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, root_by_uid_and_by_name);
	tcase_add_test(tc, other_users_by_uid_and_by_name);
	tcase_add_test(tc, own_record_as_another_user);
	tcase_add_test(tc, unknown_user_is_no_such_user);
	tcase_add_test(tc, repeated_lookups_see_a_changed_user_at_once);
	tcase_add_test(tc, bad_args_are_invalid_params);
	tcase_add_test(tc, many_lookups_pipelined);
	tcase_add_test(tc, cancel_a_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("asyncctl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, asyncctl_fetch_user);
	tcase_add_test(tc, asyncctl_fetch_user_exit_statuses);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
