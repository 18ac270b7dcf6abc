/* fetch-user against a real asyncd, compared field by field with what
 * this process reads from the user database, and against a database of
 * the test's own (nss_wrapper) that it changes under the daemon; argument
 * errors; asyncctl fetch-user. A look-up by another user needs root to
 * connect as it: check_fetch_user_root, built from this file. */
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;
static struct tnss nss;

/* The test's own user database: a user in two more groups, and one whose
 * primary group has no entry. */
#define NSS_PASSWD_ROOT "root:x:0:0:root:/root:/bin/sh\n"
#define NSS_PASSWD_OTHER "asyncd-nogroup:x:4243:4999::/:/bin/false\n"
#define NSS_PASSWD_USER(gecos)                                                 \
	"asyncd-test:x:4242:4242:" gecos ":/home/asyncd-test:/bin/sh\n"
#define NSS_GROUP                                                              \
	"root:x:0:\n"                                                          \
	"asyncd-test:x:4242:\n"                                                \
	"asyncd-one:x:4300:asyncd-test\n"                                      \
	"asyncd-two:x:4301:root,asyncd-test\n"

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

/* A daemon that sees the test's database, not the host's. */
static void
nss_setup(void)
{
	tnss_init(&nss,
	          NSS_PASSWD_ROOT NSS_PASSWD_USER("before") NSS_PASSWD_OTHER,
	          NSS_GROUP);
	tf_open_env(&d, &c, NULL, nss.env);
}

static void
nss_teardown(void)
{
	tf_close(&d, &c);
	tnss_free(&nss);
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
	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	json_object_put(r);
}

/* RESULT's groups as "GID:NAME" words sorted by gid ("-" for no name),
 * since the database decides their order. */
static void
groups_of(struct json_object *result, char *buf, size_t size)
{
	struct json_object *list = jget(result, "groups");
	size_t n = list != NULL ? json_object_array_length(list) : 0, len = 0;
	int64_t gids[64];

	ck_assert_ptr_nonnull(list);
	ck_assert_uint_le(n, 64);
	for (size_t i = 0; i < n; i++)
		gids[i] = jint(json_object_array_get_idx(list, i), "gid");
	buf[0] = '\0';
	for (size_t done = 0; done < n; done++) {
		/* The smallest gid left: a selection sort, n is tiny. */
		size_t min = 0;
		for (size_t i = 1; i < n; i++)
			if (gids[i] < gids[min])
				min = i;
		struct json_object *g = json_object_array_get_idx(list, min);
		const char *name = jstr(g, "name");
		ck_assert(name != NULL || jnull(g, "name"));
		len += (size_t)snprintf(buf + len, size - len, "%s%lld:%s",
		                        done ? " " : "", (long long)gids[min],
		                        name ? name : "-");
		ck_assert_uint_lt(len, size);
		gids[min] = INT64_MAX;
	}
}

/* Every field, by name and by uid, exactly as the test's files say. */
START_TEST(a_user_of_the_database_field_by_field)
{
	const char *args[] = {"{\"name\":\"asyncd-test\"}", "{\"uid\":4242}"};
	struct json_object *ev, *result;
	char groups[256];

	for (int i = 0; i < 2; i++) {
		ev = fetch(c, args[i]);
		ck_assert_msg(strcmp(jstr(ev, "method"), "job.completed") == 0,
		              "%s: %s (is libnss-wrapper installed? see %s)",
		              args[i], json_object_to_json_string(ev), d.log);
		result = jget(ev, "params.result");
		ck_assert_int_eq(jint(result, "uid"), 4242);
		ck_assert_int_eq(jint(result, "gid"), 4242);
		ck_assert_str_eq(jstr(result, "name"), "asyncd-test");
		ck_assert_str_eq(jstr(result, "gecos"), "before");
		ck_assert_str_eq(jstr(result, "home"), "/home/asyncd-test");
		ck_assert_str_eq(jstr(result, "shell"), "/bin/sh");
		groups_of(result, groups, sizeof groups);
		ck_assert_str_eq(groups, "4242:asyncd-test 4300:asyncd-one "
		                         "4301:asyncd-two");
		json_object_put(ev);
	}
	/* A primary group without an entry has no name. */
	ev = fetch(c, "{\"name\":\"asyncd-nogroup\"}");
	result = jget(ev, "params.result");
	ck_assert_str_eq(jstr(result, "gecos"), "");
	groups_of(result, groups, sizeof groups);
	ck_assert_str_eq(groups, "4999:-");
	json_object_put(ev);
	/* The host's users are not in it. */
	ev = fetch(c, "{\"uid\":65534}");
	ck_assert_str_eq(jstr(ev, "params.error.code"), "no-such-user");
	json_object_put(ev);
}
END_TEST

/* Fetches ARGS and returns the result's gecos, or the error code. */
static char *
gecos_or_error(const char *args)
{
	struct json_object *ev = fetch(c, args);
	const char *v = jstr(ev, "params.result.gecos");
	char *copy;

	if (v == NULL)
		v = jstr(ev, "params.error.code");
	ck_assert_ptr_nonnull(v);
	copy = strdup(v);
	json_object_put(ev);
	return copy;
}

/* Asserts that a look-up of ARGS gives WANT (a gecos or an error code). */
static void
assert_gecos(const char *args, const char *want)
{
	char *got = gecos_or_error(args);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(repeated_lookups_see_a_changed_user_at_once)
{
	const char *by_name = "{\"name\":\"asyncd-test\"}";
	const char *by_uid = "{\"uid\":4242}";
	char groups[256];

	for (int i = 0; i < 3; i++) { /* the second and third may be cached */
		assert_gecos(by_name, "before");
		assert_gecos(by_uid, "before");
	}
	/* The passwd file changes: the very next look-up sees it. */
	tnss_replace(nss.passwd, NSS_PASSWD_ROOT NSS_PASSWD_USER("after"));
	assert_gecos(by_name, "after");
	assert_gecos(by_uid, "after");
	/* So does a change of the group file alone. */
	tnss_replace(nss.group, NSS_GROUP "asyncd-three:x:4302:asyncd-test\n");
	struct json_object *ev = fetch(c, by_name);
	groups_of(jget(ev, "params.result"), groups, sizeof groups);
	ck_assert_str_eq(groups, "4242:asyncd-test 4300:asyncd-one "
	                         "4301:asyncd-two 4302:asyncd-three");
	json_object_put(ev);
	/* And the user's removal. */
	tnss_replace(nss.passwd, NSS_PASSWD_ROOT);
	assert_gecos(by_name, "no-such-user");
	assert_gecos(by_uid, "no-such-user");
}
END_TEST

/* An editor that writes the file in place (same inode, no rename): the
 * next look-up sees it, however often it was answered from the cache. */
START_TEST(an_in_place_write_is_seen_at_once)
{
	/* Of one length: only the time and the events tell them apart. */
	static const char *const gecos[] = {"before", "edited", "before",
					    "edited"};
	const char *by_name = "{\"name\":\"asyncd-test\"}";
	const char *by_uid = "{\"uid\":4242}";
	char text[256];

	for (int round = 1; round < 4; round++) {
		for (int i = 0; i < 3; i++) { /* the later ones cached */
			assert_gecos(by_name, gecos[round - 1]);
			assert_gecos(by_uid, gecos[round - 1]);
		}
		snprintf(text, sizeof text,
			 NSS_PASSWD_ROOT "asyncd-test:x:4242:4242:%s:"
					 "/home/asyncd-test:/bin/sh\n",
			 gecos[round]);
		tnss_write_in_place(nss.passwd, text);
		assert_gecos(by_name, gecos[round]);
		assert_gecos(by_uid, gecos[round]);
	}
}
END_TEST

/* The daemon stopped while a request comes and then the file changes, so
 * that both wait for the same loop pass, the request first: its answer
 * is still the changed file's. (A change that lands during a pass, which
 * no test can time, is what passwd_watch_generation's own read covers.) */
START_TEST(a_change_in_the_same_loop_pass_is_seen)
{
	struct json_object *r;
	int64_t id;

	assert_gecos("{\"uid\":4242}", "before");
	assert_gecos("{\"uid\":4242}", "before"); /* cached */
	ck_assert_int_eq(kill(d.pid, SIGSTOP), 0);
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":9001,\"method\":"
		   "\"job.submit\",\"params\":{\"kind\":\"fetch-user\","
		   "\"args\":{\"uid\":4242}}}\n");
	tnss_write_in_place(nss.passwd,
			    NSS_PASSWD_ROOT NSS_PASSWD_USER("edited"));
	ck_assert_int_eq(kill(d.pid, SIGCONT), 0);
	while ((r = tc_recv(c, 30000)) != NULL && jget(r, "id") == NULL)
		json_object_put(r); /* events: none are expected */
	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(jint(r, "id"), 9001);
	id = jint(r, "result.job.id");
	json_object_put(r);
	r = tc_wait_end(c, id, 30000);
	ck_assert_str_eq(jstr(r, "params.result.gecos"), "edited");
	json_object_put(r);
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

static Suite *
fetch_user_suite(void)
{
	Suite *s = suite_create("fetch-user");
	TCase *tc = tcase_create("lookups");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, root_by_uid_and_by_name);
	tcase_add_test(tc, other_users_by_uid_and_by_name);
	tcase_add_test(tc, unknown_user_is_no_such_user);
	tcase_add_test(tc, bad_args_are_invalid_params);
	tcase_add_test(tc, many_lookups_pipelined);
	tcase_add_test(tc, cancel_a_lookup);
	suite_add_tcase(s, tc);

	tc = tcase_create("own database");
	tcase_add_checked_fixture(tc, nss_setup, nss_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_user_of_the_database_field_by_field);
	tcase_add_test(tc, repeated_lookups_see_a_changed_user_at_once);
	tcase_add_test(tc, an_in_place_write_is_seen_at_once);
	tcase_add_test(tc, a_change_in_the_same_loop_pass_is_seen);
	suite_add_tcase(s, tc);

	tc = tcase_create("asyncctl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, asyncctl_fetch_user);
	tcase_add_test(tc, asyncctl_fetch_user_exit_statuses);
	suite_add_tcase(s, tc);
	return s;
}

/* A look-up by another user, who connects as uid 65534. */
static Suite *
fetch_user_root_suite(void)
{
	Suite *s = suite_create("fetch-user as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, own_record_as_another_user);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(fetch_user_suite, fetch_user_root_suite,
			       "to connect as uid 65534");
}
