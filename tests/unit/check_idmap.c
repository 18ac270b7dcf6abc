/* Unit tests of the job id map: against a plain array under churn. */
#include <stdlib.h>

#include <check.h>

#include "../../daemon/idmap.h"
#include "../testutil.h"

START_TEST(idmap_matches_a_reference_under_churn)
{
	enum { N = 200000 };
	static void *ref[N + 1];
	struct idmap m;
	unsigned seed = 1;

	idmap_init(&m);
	/* Insert in id order, delete at random, as the job table does. */
	for (uint64_t id = 1; id <= N; id++) {
		idmap_put(&m, id, &ref[id]);
		ref[id] = &ref[id];
		if (id % 3 == 0) {
			uint64_t victim = 1 + (uint64_t)rand_r(&seed) % id;
			idmap_del(&m, victim);
			ref[victim] = NULL;
		}
	}
	size_t count = 0;
	for (uint64_t id = 1; id <= N; id++) {
		ck_assert_ptr_eq(idmap_get(&m, id), ref[id]);
		count += ref[id] != NULL;
	}
	ck_assert_uint_eq(m.count, count);
	ck_assert_ptr_null(idmap_get(&m, N + 1));
	ck_assert_ptr_null(idmap_get(&m, 0));
	/* Emptying it shrinks it back. */
	for (uint64_t id = 1; id <= N; id++)
		idmap_del(&m, id);
	ck_assert_uint_eq(m.count, 0);
	ck_assert_uint_le(m.mask + 1, 64);
	idmap_free(&m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("idmap");
	TCase *tc = tcase_create("churn");

	tcase_add_test(tc, idmap_matches_a_reference_under_churn);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
