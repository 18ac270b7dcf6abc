/* The progress-line parser of process jobs: both formats, what is
 * malformed, lines split across reads, and the bound on a line. */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../daemon/kinds/process/progress.h"
#include "../testutil.h"

struct seen {
	int n;
	uint64_t done[16];
	int64_t total[16];
};

static void
record(void *arg, uint64_t done, int64_t total)
{
	struct seen *s = arg;

	ck_assert_int_lt(s->n, 16);
	s->done[s->n] = done;
	s->total[s->n] = total;
	s->n++;
}

static int
parse(const char *line, uint64_t *done, int64_t *total)
{
	return proc_progress_parse(line, strlen(line), done, total);
}

START_TEST(valid_lines_parse)
{
	static const struct {
		const char *line;
		uint64_t done;
		int64_t total;
	} cases[] = {
		{"{\"done\":1,\"total\":4}", 1, 4},
		{"{\"total\":4,\"done\":2}", 2, 4},
		{"{\"done\":3}", 3, -1},
		{"{\"done\":3,\"total\":null}", 3, -1},
		{" { \"done\" : 5 , \"total\" : 6 } \r", 5, 6},
		{"7/8", 7, 8},
		{"0/0", 0, 0},
		{"  9/10\r", 9, 10},
		{"999999999999999999/999999999999999999", 999999999999999999ULL,
		 999999999999999999LL},
		{"{\"done\":9223372036854775806}", 9223372036854775806ULL, -1},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t done = 0;
		int64_t total = 0;
		ck_assert_msg(parse(cases[i].line, &done, &total) == 0, "%s",
			      cases[i].line);
		ck_assert_uint_eq(done, cases[i].done);
		ck_assert_int_eq(total, cases[i].total);
	}
}
END_TEST

START_TEST(malformed_lines_are_refused)
{
	static const char *const cases[] = {
		"", "   ", "garbage", "5", "5/", "/5", "-1/4", "1/-4", "+1/4",
		"1 /4", "1/4/5", "1.5/4", "0x10/20", "1000000000000000000/1",
		"{}", "{\"total\":4}", "{\"done\":-1}", "{\"done\":1.5}",
		"{\"done\":\"1\"}", "{\"done\":1,\"total\":-2}",
		"{\"done\":1,\"total\":\"x\"}", "{\"done\":1,\"extra\":0}",
		"{\"done\":1}x", "{\"done\":1", "[1,2]", "{\"done\":true}",
		"{\"done\":99999999999999999999}", "{'done':1}",
	};
	uint64_t done;
	int64_t total;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		ck_assert_msg(parse(cases[i], &done, &total) < 0, "accepted %s",
			      cases[i]);
}
END_TEST

START_TEST(lines_split_across_reads_are_joined)
{
	static const char stream[] = "1/3\n{\"done\":2,\"to" "tal\":3}\nbad\n3/3\n";
	struct proc_progress pp;
	struct seen s = {0};

	proc_progress_init(&pp);
	/* One byte at a time. */
	for (size_t i = 0; i < sizeof stream - 1; i++)
		proc_progress_feed(&pp, stream + i, 1, record, &s);
	ck_assert_int_eq(s.n, 3);
	ck_assert_uint_eq(s.done[0], 1);
	ck_assert_uint_eq(s.done[1], 2);
	ck_assert_int_eq(s.total[1], 3);
	ck_assert_uint_eq(s.done[2], 3);

	/* All at once. */
	memset(&s, 0, sizeof s);
	proc_progress_feed(&pp, stream, sizeof stream - 1, record, &s);
	ck_assert_int_eq(s.n, 3);
}
END_TEST

START_TEST(unfinished_line_waits_for_its_newline)
{
	struct proc_progress pp;
	struct seen s = {0};

	proc_progress_init(&pp);
	proc_progress_feed(&pp, "4/5", 3, record, &s);
	ck_assert_int_eq(s.n, 0);
	proc_progress_feed(&pp, "\n", 1, record, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.done[0], 4);
}
END_TEST

/* A line longer than the buffer is dropped whole, even if valid, and the
 * next line is read normally. */
START_TEST(overlong_line_is_dropped_whole)
{
	size_t pad = PROC_PROGRESS_LINE_MAX + 10;
	char *line = malloc(pad + 32);
	struct proc_progress pp;
	struct seen s = {0};

	strcpy(line, "{\"done\":5");
	memset(line + 9, ' ', pad);
	strcpy(line + 9 + pad, "}\n6/7\n");
	proc_progress_init(&pp);
	/* In two pieces, the cut inside the long line. */
	proc_progress_feed(&pp, line, 100, record, &s);
	proc_progress_feed(&pp, line + 100, strlen(line) - 100, record, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.done[0], 6);
	ck_assert_int_eq(s.total[0], 7);
	free(line);

	/* Exactly the limit still fits. */
	char exact[PROC_PROGRESS_LINE_MAX + 1];
	memset(exact, ' ', sizeof exact);
	memcpy(exact + PROC_PROGRESS_LINE_MAX - 3, "1/2", 3);
	exact[PROC_PROGRESS_LINE_MAX] = '\n';
	memset(&s, 0, sizeof s);
	proc_progress_feed(&pp, exact, sizeof exact, record, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert_uint_eq(s.done[0], 1);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("proc_progress");
	TCase *tc = tcase_create("lines");

	tcase_add_test(tc, valid_lines_parse);
	tcase_add_test(tc, malformed_lines_are_refused);
	tcase_add_test(tc, lines_split_across_reads_are_joined);
	tcase_add_test(tc, unfinished_line_waits_for_its_newline);
	tcase_add_test(tc, overlong_line_is_dropped_whole);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
