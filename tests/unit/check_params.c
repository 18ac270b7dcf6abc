/* Unit tests of the params table reader: each type's checks and its
 * exact reason, the order problems are reported in, defaults, checks of
 * a row's own. */
#include <string.h>

#include <check.h>
#include <json-c/json.h>

#include "../../daemon/params.h"
#include "../testutil.h"

struct sample {
	int64_t n;
	bool flag;
	const char *s, *path;
	int mode;
	struct json_object *obj;
};

static const char *const modes[] = {"auto", "base64", "raw", NULL};
static int checks_run;

/* A row's own check: refuses "bad". */
static int
check_not_bad(struct json_object *value, const char *field,
	      struct param_error *err)
{
	checks_run++;
	if (strcmp(json_object_get_string(value), "bad") == 0)
		return param_fail(err, field, "is bad");
	return 0;
}

static const struct param_field sample_fields[] = {
	{PARAM_INT("n", struct sample, n), .required = true, .min = -5,
	 .max = 10},
	{PARAM_BOOL("flag", struct sample, flag)},
	{PARAM_STRING("s", struct sample, s), .max_len = 4,
	 .check = check_not_bad},
	{PARAM_PATH("path", struct sample, path)},
	{PARAM_ENUM("mode", struct sample, mode), .max_len = 8,
	 .values = modes},
	{PARAM_OBJECT("obj", struct sample, obj)},
	{PARAM_ANY("any")},
	PARAM_END,
};

/* The object read last: strings read from it point into it. */
static struct json_object *parsed;

/* Reads TEXT against sample_fields under "args."; S starts as the
 * defaults. */
static int
read_sample(const char *text, struct sample *s, struct param_error *err)
{
	json_object_put(parsed);
	parsed = json_tokener_parse(text);
	ck_assert_ptr_nonnull(parsed);
	*s = (struct sample){.n = 99, .flag = true, .mode = -1};
	memset(err, 0, sizeof *err);
	return params_read(parsed, "args.", sample_fields, s, err);
}

static void
teardown(void)
{
	json_object_put(parsed);
	parsed = NULL;
}

/* Expects TEXT refused with FIELD and REASON. */
static void
refused(const char *text, const char *field, const char *reason)
{
	struct param_error err;
	struct sample s;

	ck_assert_int_eq(read_sample(text, &s, &err), -1);
	ck_assert_str_eq(err.field, field);
	ck_assert_str_eq(err.reason, reason);
}

START_TEST(values_land_in_their_members)
{
	struct param_error err;
	struct sample s;

	ck_assert_int_eq(read_sample("{\"n\":-5,\"flag\":false,\"s\":\"abcd\","
				     "\"path\":\"/x\",\"mode\":\"raw\","
				     "\"obj\":{},\"any\":[1]}",
				     &s, &err),
			 0);
	ck_assert_int_eq(s.n, -5);
	ck_assert(!s.flag);
	ck_assert_str_eq(s.s, "abcd");
	ck_assert_str_eq(s.path, "/x");
	ck_assert_int_eq(s.mode, 2);
	ck_assert_ptr_nonnull(s.obj);
}
END_TEST

START_TEST(absent_members_keep_the_defaults)
{
	struct param_error err;
	struct sample s;

	ck_assert_int_eq(read_sample("{\"n\":10}", &s, &err), 0);
	ck_assert_int_eq(s.n, 10);
	ck_assert(s.flag);
	ck_assert_int_eq(s.mode, -1);
	ck_assert_ptr_null(s.s);
	ck_assert_ptr_null(s.obj);
}
END_TEST

START_TEST(each_type_names_its_problem)
{
	refused("{}", "args.n", "required");
	refused("{\"n\":\"1\"}", "args.n", "must be an integer");
	refused("{\"n\":1.5}", "args.n", "must be an integer");
	refused("{\"n\":11}", "args.n", "must be an integer from -5 to 10");
	refused("{\"n\":-6}", "args.n", "must be an integer from -5 to 10");
	/* Past int64, not the value json-c clamps it to. */
	refused("{\"n\":99999999999999999999}", "args.n",
		"must be an integer from -5 to 10");
	refused("{\"n\":1,\"flag\":1}", "args.flag", "must be true or false");
	refused("{\"n\":1,\"s\":5}", "args.s", "must be a string");
	refused("{\"n\":1,\"s\":\"abcde\"}", "args.s", "longer than 4 bytes");
	refused("{\"n\":1,\"s\":\"a\\u0000b\"}", "args.s",
		"contains a NUL character");
	refused("{\"n\":1,\"path\":\"x\"}", "args.path",
		"must be an absolute path");
	refused("{\"n\":1,\"path\":null}", "args.path", "must be a string");
	refused("{\"n\":1,\"mode\":\"b64\"}", "args.mode",
		"must be \"auto\", \"base64\" or \"raw\"");
	refused("{\"n\":1,\"mode\":\"base64base64\"}", "args.mode",
		"longer than 8 bytes");
	refused("{\"n\":1,\"obj\":[]}", "args.obj", "must be an object");
}
END_TEST

START_TEST(unknown_members_first_then_rows_in_table_order)
{
	/* An unknown member wins over every row, named in a short,
	 * printable piece. */
	refused("{\"s\":5,\"zz\":1}", "args.zz", "unknown field");
	refused("{\"n\":1,\"\\u0001\\u00e9x\":1}", "args.???x",
		"unknown field");
	refused("{\"n\":1,\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}",
		"args.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "unknown field");
	/* Then the rows in the table's order, not the request's. */
	refused("{\"obj\":1,\"flag\":1,\"n\":1}", "args.flag",
		"must be true or false");
	refused("{\"flag\":1}", "args.n", "required");
}
END_TEST

START_TEST(a_rows_check_runs_after_its_type)
{
	checks_run = 0;
	refused("{\"n\":1,\"s\":\"bad\"}", "args.s", "is bad");
	ck_assert_int_eq(checks_run, 1);
	refused("{\"n\":1,\"s\":7}", "args.s", "must be a string");
	ck_assert_int_eq(checks_run, 1);
	/* Before the rows that follow it. */
	refused("{\"n\":1,\"s\":\"bad\",\"path\":\"x\"}", "args.s", "is bad");
}
END_TEST

START_TEST(no_params_is_an_empty_object)
{
	static const struct param_field none[] = {PARAM_END};
	struct param_error err;
	struct sample s = {.n = 3};

	ck_assert_int_eq(params_read(NULL, "", none, NULL, &err), 0);
	ck_assert_int_eq(params_read(NULL, "", sample_fields, &s, &err), -1);
	ck_assert_str_eq(err.field, "n");
	ck_assert_str_eq(err.reason, "required");
	/* One row on its own: no check of the other members. */
	struct json_object *obj = json_tokener_parse("{\"zz\":1,\"n\":4}");
	ck_assert_int_eq(params_read_field(obj, "", &sample_fields[0], &s,
					   &err),
			 0);
	ck_assert_int_eq(s.n, 4);
	json_object_put(obj);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("params");
	TCase *tc = tcase_create("table");

	tcase_add_checked_fixture(tc, NULL, teardown);

	tcase_add_test(tc, values_land_in_their_members);
	tcase_add_test(tc, absent_members_keep_the_defaults);
	tcase_add_test(tc, each_type_names_its_problem);
	tcase_add_test(tc, unknown_members_first_then_rows_in_table_order);
	tcase_add_test(tc, a_rows_check_runs_after_its_type);
	tcase_add_test(tc, no_params_is_an_empty_object);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
