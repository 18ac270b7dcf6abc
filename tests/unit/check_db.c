/* The state database's statements: all of them fit the schema (the
 * daemon prepares each on first use, so a start would not find out), and
 * each job.list filter walks an index in id order (EXPLAIN QUERY PLAN),
 * never the table and a sort. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../daemon/db.h"
#include "../testutil.h"

static char dir[64];

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/asyncd-db.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(db_open(dir, DB_SYNC_NORMAL), 0);
}

static void
teardown(void)
{
	char cmd[128];

	db_close();
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The plan of db_list for F uses INDEX and sorts nothing. */
static void
assert_plan(const struct db_filter *f, const char *index)
{
	char *plan = db_list_plan(f);

	ck_assert_msg(strstr(plan, index) != NULL, "no %s in:\n%s", index, plan);
	ck_assert_msg(strstr(plan, "TEMP B-TREE") == NULL, "a sort in:\n%s", plan);
	free(plan);
}

START_TEST(every_statement_prepares)
{
	ck_assert_msg(db_prepare_all() == 0, "%s", db_last_error());
}
END_TEST

START_TEST(list_filters_seek_by_index)
{
	struct db_filter f = {.owner = -1, .state = -1, .kind = "fetch-user"};

	assert_plan(&f, "USING INDEX jobs_kind (kind=? AND id<?)");
	f.owner = 1000; /* a user's own jobs of a kind: the kind's index */
	assert_plan(&f, "USING INDEX jobs_kind (kind=? AND id<?)");
	f.kind = NULL;
	f.state = 3;
	assert_plan(&f, "USING INDEX jobs_owner (owner=? AND id<?)");
	f.owner = -1; /* uid 0, no kind: the table in id order, bounded */
	f.state = -1;
	assert_plan(&f, "USING INTEGER PRIMARY KEY (rowid<?)");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("db");
	TCase *tc = tcase_create("statements");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_statement_prepares);
	tcase_add_test(tc, list_filters_seek_by_index);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
