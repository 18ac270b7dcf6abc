/* daemon.metrics and --metrics-listen against a real asyncd: the text
 * parses with a real Prometheus parser (python3-prometheus-client, run
 * as tests/metrics-samples.py), and its counters and gauges move as jobs
 * run. */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../testutil.h"

static struct tdaemon d;
static struct tconn *c;

static void
teardown(void)
{
	tf_close(&d, &c);
}

static void
start(const char *const extra[])
{
	tf_open(&d, &c, extra);
}

/* Parses TEXT with the real parser; returns its samples as lines "NAME
 * LABELS VALUE" (allocated). Skips the program (77) without the parser. */
static char *
parse(const char *text)
{
	char path[200], script[300];
	struct run_result rr;
	char *samples;

	snprintf(path, sizeof path, "%s/metrics.txt", d.dir);
	write_file(path, text, strlen(text), 0644);
	snprintf(script, sizeof script, "%s/tests/metrics-samples.py",
		 ASYNCD_SRCDIR);
	char *argv[] = {"/usr/bin/python3", script, path, NULL};
	run_program(argv, NULL, NULL, -1, &rr);
	if (rr.status == 77) {
		fprintf(stderr, "SKIP: %s", rr.err);
		exit(77);
	}
	ck_assert_msg(rr.status == 0, "the parser refused the text: %s", rr.err);
	samples = strdup(rr.out);
	run_result_free(&rr);
	return samples;
}

/* daemon.metrics, parsed. */
static char *
metrics(void)
{
	struct json_object *r = tc_call(c, "daemon.metrics", NULL);
	const char *text = jstr(r, "result.text");
	char *samples;

	ck_assert_ptr_nonnull(text);
	samples = parse(text);
	json_object_put(r);
	return samples;
}

/* The value of sample NAME with LABELS ("-" for none) in SAMPLES; fails
 * the test when there is none. */
static double
value(const char *samples, const char *name, const char *labels)
{
	char key[200];
	const char *p;

	snprintf(key, sizeof key, "%s %s ", name, labels);
	for (p = samples; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, key, strlen(key)) == 0)
			return atof(p + strlen(key));
	ck_abort_msg("no sample %s%s", key, samples);
	return 0;
}

static int64_t
submit(const char *params)
{
	int64_t id = tc_submit(c, "%s", params);

	json_object_put(tc_wait_end(c, id, 10000));
	return id;
}

START_TEST(counters_move_as_jobs_run)
{
	char *before, *after;

	start(NULL);
	before = metrics();
	ck_assert(value(before, "asyncd_jobs_submitted_total", "kind=sleep") == 0);
	ck_assert(value(before, "asyncd_build_info", "version=" PACKAGE_VERSION) == 1);
	ck_assert(value(before, "process_start_time_seconds", "-") > 1.7e9);
	ck_assert(value(before, "asyncd_connections_open", "-") >= 1);
	struct json_object *r = tc_call(c, "daemon.metrics", "{\"kind\":\"sleep\"}");
	assert_rpc_error(r, -32602, "kind");
	json_object_put(r);
	for (int i = 0; i < 3; i++)
		submit("{\"kind\":\"sleep\",\"args\":{\"ms\":20}}");
	submit("{\"kind\":\"read-file\",\"args\":{\"path\":\"/no/such/file\"}}");
	submit("{\"kind\":\"process\",\"args\":{\"argv\":[\"echo\",\"hello\"]}}");
	after = metrics();
	ck_assert(value(after, "asyncd_jobs_submitted_total", "kind=sleep") == 3);
	ck_assert(value(after, "asyncd_jobs_completed_total", "kind=sleep") == 3);
	ck_assert(value(after, "asyncd_jobs_failed_total",
			"code=not-found,kind=read-file") == 1);
	ck_assert(value(after, "asyncd_job_duration_seconds_count", "kind=sleep") == 3);
	ck_assert(value(after, "asyncd_job_duration_seconds_sum", "kind=sleep") >= 0.05);
	ck_assert(value(after, "asyncd_job_duration_seconds_bucket",
			"kind=sleep,le=0.01") == 0);
	ck_assert(value(after, "asyncd_job_duration_seconds_bucket",
			"kind=sleep,le=+Inf") == 3);
	ck_assert(value(after, "asyncd_jobs_running", "kind=sleep") == 0);
	ck_assert(value(after, "asyncd_jobs_queued", "kind=sleep") == 0);
	/* "hello\n" went to this client, and was kept for replays. */
	ck_assert(value(after, "asyncd_output_bytes_total", "-") >= 6);
	ck_assert(value(after, "asyncd_retained_bytes", "-") >= 6);
	ck_assert(value(after, "asyncd_store_bytes", "-") > 0);
	ck_assert(value(after, "asyncd_store_commit_seconds_count", "-") >
		  value(before, "asyncd_store_commit_seconds_count", "-"));
	free(before);
	free(after);
}
END_TEST

START_TEST(gauges_show_queued_and_running)
{
	static const char *const extra[] = {"--max-running", "sleep=2", NULL};
	char *m;
	int64_t ids[3];

	start(extra);
	for (int i = 0; i < 3; i++)
		ids[i] = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000}}");
	for (int started = 0; started < 2;) {
		struct json_object *ev = tc_event(c, 10000);
		ck_assert_ptr_nonnull(ev);
		if (strcmp(jstr(ev, "method"), "job.started") == 0)
			started++;
		json_object_put(ev);
	}
	m = metrics();
	ck_assert(value(m, "asyncd_jobs_running", "kind=sleep") == 2);
	ck_assert(value(m, "asyncd_jobs_queued", "kind=sleep") == 1);
	free(m);
	for (int i = 0; i < 3; i++)
		json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[i]));
	for (int i = 0; i < 3; i++)
		json_object_put(tc_wait_end(c, ids[i], 10000));
	m = metrics();
	ck_assert(value(m, "asyncd_jobs_running", "kind=sleep") == 0);
	ck_assert(value(m, "asyncd_jobs_queued", "kind=sleep") == 0);
	ck_assert(value(m, "asyncd_jobs_failed_total", "code=cancelled,kind=sleep") == 3);
	free(m);
}
END_TEST

/* The whole HTTP/1.0 answer to REQUEST on 127.0.0.1:PORT. */
static char *
http(int port, const char *request)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap + 1);
	ssize_t n;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while ((n = read(fd, buf + len, cap - len)) > 0) {
		len += (size_t)n;
		if (len == cap)
			buf = realloc(buf, (cap *= 2) + 1);
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

START_TEST(metrics_listen_serves_get_metrics_and_nothing_else)
{
	char addr[40], *resp, *body, *m;
	int port = td_free_port();
	const char *extra[] = {"--metrics-listen", addr, NULL};

	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	start(extra);
	submit("{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	resp = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert_msg(strncmp(resp, "HTTP/1.0 200", 12) == 0 ||
			      strncmp(resp, "HTTP/1.1 200", 12) == 0, "%s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "Content-Type: text/plain; version=0.0.4"));
	body = strstr(resp, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	m = parse(body + 4);
	ck_assert(value(m, "asyncd_jobs_completed_total", "kind=sleep") == 1);
	free(m);
	free(resp);
	resp = http(port, "GET / HTTP/1.0\r\n\r\n");
	ck_assert_msg(strstr(resp, " 404 ") != NULL, "%s", resp);
	free(resp);
	resp = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
	ck_assert_msg(strstr(resp, " 405 ") != NULL, "%s", resp);
	free(resp);
}
END_TEST

/* asyncctl metrics prints the text; --textfile writes it whole (a
 * temporary file renamed over the old one), readable by the exporter. */
START_TEST(asyncctl_metrics_and_textfile)
{
	char path[300], dirpath[200];
	struct run_result rr;
	struct stat st;
	char *text, *m;
	size_t len;
	DIR *dir;
	struct dirent *e;

	start(NULL);
	submit("{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket",
			d.sock, "metrics", NULL};
	run_program(argv, NULL, NULL, -1, &rr);
	ck_assert_msg(rr.status == 0, "%s", rr.err);
	m = parse(rr.out);
	ck_assert(value(m, "asyncd_jobs_completed_total", "kind=sleep") == 1);
	free(m);
	run_result_free(&rr);

	snprintf(dirpath, sizeof dirpath, "%s/textfiles", d.dir);
	ck_assert_int_eq(mkdir(dirpath, 0755), 0);
	snprintf(path, sizeof path, "%s/asyncd.prom", dirpath);
	write_file(path, "old\n", 4, 0600);
	char *argv2[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket",
			 d.sock, "metrics", "--textfile", path, NULL};
	run_program(argv2, NULL, NULL, -1, &rr);
	ck_assert_msg(rr.status == 0, "%s", rr.err);
	ck_assert_uint_eq(rr.out_len, 0);
	run_result_free(&rr);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0644);
	text = read_file(path, &len);
	m = parse(text);
	ck_assert(value(m, "asyncd_jobs_completed_total", "kind=sleep") == 1);
	free(m);
	free(text);
	dir = opendir(dirpath); /* no temporary file left behind */
	while ((e = readdir(dir)) != NULL)
		ck_assert_msg(e->d_name[0] == '.' || strcmp(e->d_name, "asyncd.prom") == 0,
			      "left behind: %s", e->d_name);
	closedir(dir);

	/* A file that cannot be written: status 1 and why. */
	char *argv3[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "--socket",
			 d.sock, "metrics", "--textfile", "/no/such/dir/asyncd.prom", NULL};
	run_program(argv3, NULL, NULL, -1, &rr);
	ck_assert_int_eq(rr.status, 1);
	ck_assert_ptr_nonnull(strstr(rr.err, "/no/such/dir/asyncd.prom"));
	run_result_free(&rr);
}
END_TEST

/* A client that watches jobs and then closes its socket altogether is
 * let go at once, with its watches: the daemon does not wait for an
 * event to fail to be written (it used to keep such connections). */
START_TEST(a_closed_watcher_is_let_go_at_once)
{
	int64_t id;
	bool one = false;

	start(NULL);
	id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000},"
			  "\"watch\":false}");
	for (int i = 0; i < 5; i++) {
		struct tconn *w = tc_open(d.sock);
		json_object_put(tc_call(w, "job.watch", "{\"all\":true}"));
		json_object_put(tc_call(w, "job.watch", "{\"id\":%lld}", (long long)id));
		tc_close(w);
	}
	for (long long end = td_mono_ms() + 5000; !one && td_mono_ms() < end;) {
		char *m = metrics();
		one = value(m, "asyncd_connections_open", "-") == 1;
		free(m);
		if (!one)
			usleep(20000);
	}
	ck_assert_msg(one, "closed watchers are still open");
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id));
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, counters_move_as_jobs_run);
	tcase_add_test(tc, gauges_show_queued_and_running);
	tcase_add_test(tc, metrics_listen_serves_get_metrics_and_nothing_else);
	tcase_add_test(tc, asyncctl_metrics_and_textfile);
	tcase_add_test(tc, a_closed_watcher_is_let_go_at_once);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(metrics_suite());
}
