/* Admission and the limits behind it, against a real asyncd: request
 * lines left unfinished, a low RLIMIT_NOFILE, output limits for every
 * kind of output, and (check_admission_root, from this file) foreign
 * uids, the per-user cap and root's reserved connections. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;


/* CONN answers daemon.info. */
static void
assert_answers(struct tconn *conn)
{
	struct json_object *r = tc_call(conn, "daemon.info", NULL);

	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	json_object_put(r);
}

/* How many times NEEDLE occurs in the daemon's log. */
static int
log_count(const char *needle)
{
	char *log = read_file(d.log, NULL);
	int n = 0;

	ck_assert_ptr_nonnull(log);
	for (const char *p = log; (p = strstr(p, needle)) != NULL; p++)
		n++;
	free(log);
	return n;
}

/* Utime + stime of process PID, in clock ticks. */
static long long
cpu_ticks(pid_t pid)
{
	char path[64], *stat, *p;
	unsigned long long utime, stime;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	stat = read_file(path, NULL);
	ck_assert_ptr_nonnull(stat);
	p = strrchr(stat, ')'); /* the name may hold spaces */
	ck_assert_ptr_nonnull(p);
	/* After ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime. */
	ck_assert_int_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				       "%*u %*u %llu %llu",
				&utime, &stime),
			 2);
	free(stat);
	return (long long)(utime + stime);
}

/* VmRSS of process PID in KiB. */
static long
rss_kib(pid_t pid)
{
	char path[64], *status, *p;
	long kib = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	status = read_file(path, NULL);
	ck_assert_ptr_nonnull(status);
	if ((p = strstr(status, "VmRSS:")) != NULL)
		kib = strtol(p + 6, NULL, 10);
	free(status);
	return kib;
}

/* Reads and drops what CONN receives until the daemon closes it; returns
 * the bytes read, or -1 if it stayed open for TIMEOUT_MS. */
static long long
drain_until_eof(struct tconn *conn, int timeout_ms)
{
	long long deadline = td_mono_ms() + timeout_ms, total = 0;
	int fd = tc_fd(conn);
	char buf[65536];

	while (td_mono_ms() < deadline) {
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return total;
		if (n > 0) {
			total += n;
			continue;
		}
		usleep(10000);
	}
	return -1;
}

/* ---- Request lines ------------------------------------------------------ */

/* Only a request line left unfinished is timed: an idle connection and a
 * watcher stay; a trickle of bytes does not keep a line alive. */
START_TEST(unfinished_request_line_is_closed_idle_and_watchers_stay)
{
	static const char *const extra[] = {"--request-timeout", "1", NULL};
	struct tconn *half, *trickle, *watcher;
	struct json_object *r;

	tf_open(&d, &c, extra);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.request_timeout"), 1);
	json_object_put(r);
	watcher = tc_open(d.sock);
	r = tc_call(watcher, "job.watch", "{\"all\":true}");
	ck_assert_ptr_nonnull(jget(r, "result.jobs"));
	json_object_put(r);
	half = tc_open(d.sock);
	tc_send_raw(half, "{\"jsonrpc\":\"2.0\",", 17);
	trickle = tc_open(d.sock);
	/* A byte every 200 ms: the line is 3 s old by the end. */
	for (int i = 0; i < 15 && !tc_eof(trickle, 200); i++)
		tc_send_raw(trickle, " ", 1);
	ck_assert(tc_eof(trickle, 3000));
	ck_assert(tc_eof(half, 3000));
	/* Idle for longer than the timeout, and still served. */
	assert_answers(c);
	assert_answers(watcher);
	/* A line that ends in time is answered. */
	tc_send_raw(c, "{\"jsonrpc\":\"2.0\",\"id\":7,", 24);
	usleep(500000);
	tc_send_raw(c, "\"method\":\"daemon.info\"}\n", 24);
	r = tc_recv(c, 5000);
	ck_assert_int_eq(jint(r, "id"), 7);
	json_object_put(r);
	ck_assert_int_ge(log_count("(--request-timeout)"), 2);
	tc_close(half);
	tc_close(trickle);
	tc_close(watcher);
	tf_close(&d, &c);
}
END_TEST

/* ---- Descriptors -------------------------------------------------------- */

/* With few descriptors the daemon stops accepting before it runs out
 * (the connections wait in the backlog), without spinning, and serves
 * again once some close. */
START_TEST(low_rlimit_nofile_pauses_accepting_without_spinning)
{
	static const struct td_how how = {.nofile = 64};
	enum { N = 120 };
	struct tconn *conns[N];
	bool got[N];
	int answered = 0;
	long long before, spent;

	td_start_how(&d, NULL, NULL, &how);
	for (int i = 0; i < N; i++) {
		conns[i] = tc_open(d.sock);
		ck_assert_ptr_nonnull(conns[i]);
		tc_send(conns[i], "{\"jsonrpc\":\"2.0\",\"id\":1,"
				  "\"method\":\"daemon.info\"}");
	}
	for (int i = 0; i < N; i++) {
		struct json_object *r = tc_recv(conns[i], i < 10 ? 5000 : 100);
		got[i] = r != NULL;
		answered += got[i];
		json_object_put(r);
	}
	/* Some are served, not all: 64 descriptors cannot hold them. */
	ck_assert_int_ge(answered, 10);
	ck_assert_int_lt(answered, N);
	ck_assert_int_ge(log_count("not accepting connections for now"), 1);
	/* Waiting for descriptors costs no CPU to speak of. */
	before = cpu_ticks(d.pid);
	usleep(2000000);
	spent = cpu_ticks(d.pid) - before;
	ck_assert_msg(spent < sysconf(_SC_CLK_TCK) / 2,
		      "%lld ticks in 2 s while out of descriptors", spent);
	/* Those served close; those waiting are served in turn. */
	for (int i = 0; i < N; i++)
		if (got[i]) {
			tc_close(conns[i]);
			conns[i] = NULL;
		}
	for (int i = 0; i < N; i++) {
		if (conns[i] == NULL)
			continue;
		struct json_object *r = tc_recv(conns[i], 10000);
		ck_assert_msg(r != NULL, "connection %d never served", i);
		json_object_put(r);
		tc_close(conns[i]);
	}
	c = tc_open(d.sock);
	assert_answers(c);
	tf_close(&d, &c);
}
END_TEST

/* ---- Output limits ------------------------------------------------------ */

/* Submits N sleep 0 jobs in batches, unwatched; returns when every one
 * has completed. */
static void
submit_and_finish(struct tconn *conn, int n)
{
	const int per_batch = 500;
	char *line = malloc((size_t)per_batch * 160 + 16);
	long long deadline;

	for (int done = 0; done < n; done += per_batch) {
		size_t len = 0;
		line[len++] = '[';
		for (int i = 0; i < per_batch && done + i < n; i++)
			len += (size_t)sprintf(line + len,
					       "%s{\"jsonrpc\":\"2.0\",\"id\":%d,"
					       "\"method\":\"job.submit\","
					       "\"params\":{\"kind\":\"sleep\","
					       "\"args\":{\"ms\":0},"
					       "\"watch\":false}}",
					       i ? "," : "", done + i);
		line[len++] = ']';
		line[len++] = '\n';
		tc_send_raw(conn, line, len);
		struct json_object *r = tc_recv(conn, 30000);
		ck_assert_ptr_nonnull(r);
		ck_assert(json_object_is_type(r, json_type_array));
		ck_assert_ptr_nonnull(jget(r, "0.result.job"));
		json_object_put(r);
	}
	free(line);
	deadline = td_mono_ms() + 60000;
	for (;;) {
		struct json_object *r = tc_call(conn, "daemon.info", NULL);
		int64_t completed = jint(r, "result.jobs.completed");
		json_object_put(r);
		if (completed == n)
			break;
		ck_assert_msg(td_mono_ms() < deadline, "%lld of %d jobs completed",
			      (long long)completed, n);
		usleep(50000);
	}
}

/* A watcher of every job that never reads is cut off at --output-limit;
 * the jobs all complete and the daemon's memory stays small. */
START_TEST(stalled_watcher_is_closed_at_the_output_limit)
{
	static const char *const extra[] = {"--output-limit", "1048576",
					    "--keep-finished", "20000",
					    "--state-dir", "none", NULL};
	struct tconn *stalled;
	struct json_object *r;
	long long got;

	tf_open(&d, &c, extra);
	stalled = tc_open(d.sock);
	r = tc_call(stalled, "job.watch", "{\"all\":true}");
	json_object_put(r);
	/* 20,000 jobs are 40,000 events, some 10 MB. */
	submit_and_finish(c, 20000);
	long rss = rss_kib(d.pid);
	got = drain_until_eof(stalled, 5000);
	ck_assert_msg(got >= 0, "the stalled watcher is still open");
	/* The limit, plus what the socket held. */
	ck_assert_msg(got < 1048576 + 4 * 1048576, "%lld bytes read", got);
	ck_assert_int_eq(log_count("(--output-limit)"), 1);
	ck_assert_msg(rss < 512 * 1024, "RSS %ld KiB", rss);
	assert_answers(c);
	tc_close(stalled);
	tf_close(&d, &c);
}
END_TEST

/* Past the high-water mark for --output-hwm-timeout is closed too. */
START_TEST(output_past_the_mark_too_long_is_closed)
{
	static const char *const extra[] = {"--output-hwm", "65536",
					    "--output-hwm-timeout", "1",
					    "--keep-finished", "20000",
					    "--state-dir", "none", NULL};
	struct tconn *stalled;
	struct json_object *r;

	tf_open(&d, &c, extra);
	stalled = tc_open(d.sock);
	r = tc_call(stalled, "job.watch", "{\"all\":true}");
	json_object_put(r);
	submit_and_finish(c, 4000);
	usleep(2000000); /* not reading meanwhile */
	ck_assert_msg(drain_until_eof(stalled, 5000) >= 0,
		      "the stalled watcher is still open");
	ck_assert_int_eq(log_count("(--output-hwm-timeout)"), 1);
	/* A reader that keeps up is not. */
	r = tc_call(c, "job.watch", "{\"all\":true}");
	json_object_put(r);
	for (int i = 0; i < 200; i++)
		tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	usleep(1500000);
	assert_answers(c);
	tc_close(stalled);
	tf_close(&d, &c);
}
END_TEST

/* Responses count as output too: pipelined requests whose answers are
 * never read. */
START_TEST(unread_responses_are_closed_at_the_output_limit)
{
	static const char *const extra[] = {"--output-limit", "65536", NULL};
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,"
			  "\"method\":\"daemon.info\"}\n";
	size_t len = strlen(req);
	struct tconn *greedy;
	char *lines = malloc(len * 4000);

	tf_open(&d, &c, extra);
	greedy = tc_open(d.sock);
	for (int i = 0; i < 4000; i++)
		memcpy(lines + (size_t)i * len, req, len);
	/* The daemon may close it while it is still sending. */
	for (size_t off = 0; off < len * 4000;) {
		ssize_t n = send(tc_fd(greedy), lines + off, len * 4000 - off,
				 MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	free(lines);
	ck_assert(drain_until_eof(greedy, 5000) >= 0);
	ck_assert_int_eq(log_count("(--output-limit)"), 1);
	assert_answers(c);
	tc_close(greedy);
	tf_close(&d, &c);
}
END_TEST

/* ---- Other users (root) ------------------------------------------------- */

/* A daemon that is not root serves its own uid only; a refused uid is
 * logged once. */
START_TEST(non_root_daemon_refuses_other_uids)
{
	static const struct td_how how = {.as_uid = true, .uid = TEST_NOBODY};
	/* Open to all: the daemon, not the file mode, turns them away. */
	static const char *const extra[] = {"--socket-mode", "0666", NULL};
	struct tconn *root, *other;

	td_start_how(&d, extra, NULL, &how);
	for (int i = 0; i < 3; i++) {
		root = tc_open(d.sock);
		ck_assert_ptr_nonnull(root);
		ck_assert(tc_eof(root, 5000));
		tc_close(root);
	}
	other = tc_open_as(d.sock, 4242, 4242);
	ck_assert(tc_eof(other, 5000));
	tc_close(other);
	c = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	assert_answers(c);
	ck_assert_int_eq(log_count("connection of uid 0 refused: this asyncd "
				   "runs as uid 65534"),
			 1);
	ck_assert_int_eq(log_count("connection of uid 4242 refused"), 1);
	tf_close(&d, &c);
}
END_TEST

/* 64 connections of one user at most; root and other users still get in;
 * refusals are logged a few a second, then counted. */
START_TEST(per_user_cap_leaves_room_for_others)
{
	enum { N = 64, MORE = 40 };
	struct tconn *nobody[N], *extra_conns[MORE], *root, *other;
	struct json_object *r;

	tf_open(&d, &c, NULL);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_connections_per_user"), 64);
	json_object_put(r);
	for (int i = 0; i < N; i++) {
		nobody[i] = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
		assert_answers(nobody[i]);
	}
	for (int i = 0; i < MORE; i++)
		extra_conns[i] = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	for (int i = 0; i < MORE; i++) {
		ck_assert(tc_eof(extra_conns[i], 5000));
		tc_close(extra_conns[i]);
	}
	root = tc_open(d.sock);
	assert_answers(root);
	other = tc_open_as(d.sock, 4242, 4242);
	assert_answers(other);
	/* One closes: room for one more. */
	tc_close(nobody[0]);
	usleep(200000);
	nobody[0] = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	assert_answers(nobody[0]);
	/* 40 refusals in well under a second: a few lines, then a count. */
	int lines = log_count("(--max-connections-per-user)");
	ck_assert_int_ge(lines, 1);
	ck_assert_int_le(lines, 10);
	usleep(1200000);
	ck_assert_int_ge(log_count("warnings about clients suppressed"), 1);
	for (int i = 0; i < N; i++)
		tc_close(nobody[i]);
	tc_close(root);
	tc_close(other);
	tf_close(&d, &c);
}
END_TEST

/* The last connections of --max-connections are root's. */
START_TEST(root_keeps_reserved_connections)
{
	static const char *const extra[] = {"--max-connections", "16", NULL};
	struct tconn *users[8], *late, *roots[7];

	tf_open(&d, &c, extra); /* c: root's first */
	for (int i = 0; i < 7; i++) {
		users[i] = tc_open_as(d.sock, 4000 + (uid_t)i, 4000);
		assert_answers(users[i]);
	}
	/* 8 open: the other 8 are root's. */
	late = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	ck_assert(tc_eof(late, 5000));
	tc_close(late);
	for (int i = 0; i < 7; i++) {
		roots[i] = tc_open(d.sock);
		assert_answers(roots[i]);
	}
	/* 15 open, 16 the most: the last one too is root's... */
	late = tc_open(d.sock);
	assert_answers(late);
	/* ... and then none at all. */
	users[7] = tc_open(d.sock);
	ck_assert(tc_eof(users[7], 5000));
	tc_close(users[7]);
	ck_assert_int_ge(log_count("are kept for root"), 1);
	tc_close(late);
	for (int i = 0; i < 7; i++) {
		tc_close(users[i]);
		tc_close(roots[i]);
	}
	tf_close(&d, &c);
}
END_TEST

static Suite *
admission_suite(void)
{
	Suite *s = suite_create("admission");
	TCase *tc = tcase_create("requests");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, unfinished_request_line_is_closed_idle_and_watchers_stay);
	suite_add_tcase(s, tc);

	tc = tcase_create("descriptors");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, low_rlimit_nofile_pauses_accepting_without_spinning);
	suite_add_tcase(s, tc);

	tc = tcase_create("output");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, stalled_watcher_is_closed_at_the_output_limit);
	tcase_add_test(tc, output_past_the_mark_too_long_is_closed);
	tcase_add_test(tc, unread_responses_are_closed_at_the_output_limit);
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
admission_root_suite(void)
{
	Suite *s = suite_create("admission_root");
	TCase *tc = tcase_create("users");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, non_root_daemon_refuses_other_uids);
	tcase_add_test(tc, per_user_cap_leaves_room_for_others);
	tcase_add_test(tc, root_keeps_reserved_connections);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(admission_suite, admission_root_suite,
			       "to connect as other users");
}
