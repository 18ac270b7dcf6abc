/* The wire protocol against a real asyncd: framing, envelopes, every
 * JSON-RPC error code, and that the connection and daemon keep serving
 * after each. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/server.h"
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
	tc_close(c);
	ck_assert_int_eq(td_stop(&d), 0);
}

/* The connection still answers, and so does a fresh one. */
static void
assert_still_serving(void)
{
	struct json_object *r = tc_call(c, "daemon.info", NULL);
	struct tconn *c2;

	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	json_object_put(r);
	c2 = tc_open(d.sock);
	r = tc_call(c2, "daemon.info", NULL);
	ck_assert_ptr_nonnull(jget(r, "result.pid"));
	json_object_put(r);
	tc_close(c2);
}

/* Sends LINE and returns the one response line. */
static struct json_object *
send_line(const char *line)
{
	tc_send(c, "%s", line);
	struct json_object *r = tc_recv(c, 5000);
	ck_assert_msg(r != NULL, "no answer to %s", line);
	return r;
}

static void expect_field(const char *method, const char *params,
			 const char *field);

static void
expect_error(const char *line, int code, bool id_null)
{
	struct json_object *r = send_line(line);

	assert_rpc_error(r, code, NULL);
	ck_assert_str_eq(jstr(r, "jsonrpc"), "2.0");
	if (id_null)
		ck_assert_msg(jnull(r, "id"), "id not null for %s", line);
	json_object_put(r);
	assert_still_serving();
}

START_TEST(parse_errors_answer_32700_with_null_id)
{
	static const char *const lines[] = {
		"{", "not json", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"} x",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}}",
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.\xff\"}",
		"{'jsonrpc':'2.0'}", "[NaN]", "{\"a\":\"\t\"}",
	};

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
		expect_error(lines[i], -32700, true);
	/* Nesting: 64 levels parse (and are no request), 65 do not. */
	char deep[700] = "";
	for (int i = 0; i < 64; i++)
		strcat(deep, "{\"a\":");
	strcat(deep, "1");
	for (int i = 0; i < 64; i++)
		strcat(deep, "}");
	expect_error(deep, -32600, true);
	memmove(deep + 5, deep, strlen(deep) + 1);
	memcpy(deep, "{\"a\":", 5);
	strcat(deep, "}");
	expect_error(deep, -32700, true);
}
END_TEST

/* Strict UTF-8 and UTF-16 escapes: json-c 0.16 alone lets overlong
 * forms, surrogates and code points past U+10FFFF through, and turns a
 * lone surrogate escape into U+FFFD, so that a string id came back
 * changed. */
START_TEST(invalid_utf8_and_escapes_answer_32700)
{
	static const char *const ids[] = {
		"\"\xc0\xaf\"",         "\"\xe0\x80\xaf\"",
		"\"\xf0\x80\x80\xaf\"", "\"\xed\xa0\x80\"",
		"\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
		"\"\xff\"",             "\"a\xe2\x82\"",
		"\"\xe2\x82z\"",        "\"\\ud800\"",
		"\"\\udc00\"",          "\"\\ud800\\u0041\"",
		"\"x\\uDBFF\"",
	};
	char line[200];

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"daemon.info\"}",
			 ids[i]);
		expect_error(line, -32700, true);
		/* The same in params, where no id is at stake. */
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
			 "\"params\":{\"kind\":\"sleep\",\"args\":{\"ms\":1},"
			 "\"label\":%s}}",
			 ids[i]);
		expect_error(line, -32700, true);
	}
	/* A surrogate pair is one character; an escaped backslash is no
	 * escape. Both ids come back as they were meant. */
	struct json_object *r = send_line(
		"{\"jsonrpc\":\"2.0\",\"id\":\"\\ud83d\\ude00\",\"method\":\"daemon.info\"}");
	ck_assert_str_eq(jstr(r, "id"), "\xf0\x9f\x98\x80");
	json_object_put(r);
	/* json-c 0.16 alone decodes this pair (U+1DE00) to U+FFFD. */
	r = send_line("{\"jsonrpc\":\"2.0\",\"id\":\"\\ud837\\ude00\",\"method\":\"daemon.info\"}");
	ck_assert_str_eq(jstr(r, "id"), "\xf0\x9d\xb8\x80");
	json_object_put(r);
	r = send_line("{\"jsonrpc\":\"2.0\",\"id\":\"\\\\ud800\",\"method\":\"daemon.info\"}");
	ck_assert_str_eq(jstr(r, "id"), "\\ud800");
	json_object_put(r);
	/* Nothing was created. */
	r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	json_object_put(r);
}
END_TEST

/* json-c clamps an integer outside int64: the clamped id must not come
 * back as if it were the client's, nor a clamped param pass. */
START_TEST(integers_outside_int64_are_refused)
{
	static const char *const ids[] = {
		"9223372036854775808", "-9223372036854775809",
		"18446744073709551616", "-100000000000000000000",
	};
	char line[200];

	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"daemon.info\"}",
			 ids[i]);
		expect_error(line, -32600, true);
	}
	/* The bounds themselves are ids like any other. */
	struct json_object *r = send_line(
		"{\"jsonrpc\":\"2.0\",\"id\":-9223372036854775808,\"method\":\"daemon.info\"}");
	ck_assert(jint(r, "id") == INT64_MIN);
	ck_assert_ptr_nonnull(jget(r, "result"));
	json_object_put(r);
	r = send_line("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"daemon.info\"}");
	ck_assert(jint(r, "id") == INT64_MAX);
	json_object_put(r);
	/* In params: out of range names the field; INT64_MAX is a job id
	 * that does not exist, not an out-of-range one. */
	expect_field("job.get", "{\"id\":9223372036854775808}", "id");
	expect_field("job.get", "{\"id\":18446744073709551616}", "id");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":-9223372036854775809}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"download\",\"args\":{\"url\":\"http://127.0.0.1:9/\",\"max_bytes\":9223372036854775808}}", "args.max_bytes");
	r = tc_call(c, "job.get", "{\"id\":9223372036854775807}");
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	assert_still_serving();
}
END_TEST

START_TEST(invalid_requests_answer_32600)
{
	expect_error("{\"id\":1,\"method\":\"daemon.info\"}", -32600, false);
	expect_error("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"daemon.info\"}", -32600, false);
	expect_error("{\"jsonrpc\":2,\"id\":1,\"method\":\"daemon.info\"}", -32600, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1}", -32600, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}", -32600, false);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"daemon.info\"}", -32600, true);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"daemon.info\"}", -32600, true);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"daemon.info\"}", -32600, true);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"daemon.info\"}", -32600, true);
	expect_error("[]", -32600, true);
	expect_error("42", -32600, true);
	expect_error("null", -32600, true);
	/* The id is echoed when it could be read. */
	struct json_object *r = send_line("{\"jsonrpc\":\"1.0\",\"id\":\"abc\",\"method\":\"x\"}");
	ck_assert_str_eq(jstr(r, "id"), "abc");
	json_object_put(r);
}
END_TEST

START_TEST(unknown_method_answers_32601)
{
	struct json_object *r = send_line("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"job.explode\"}");

	assert_rpc_error(r, -32601, NULL);
	ck_assert_int_eq(jint(r, "id"), 9);
	json_object_put(r);
	assert_still_serving();
}
END_TEST

START_TEST(params_must_be_an_object)
{
	static const char *const params[] = {"[1]", "1", "\"x\"", "null", "true"};

	for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
		char line[200];
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"job.get\",\"params\":%s}",
			 params[i]);
		struct json_object *r = send_line(line);
		assert_rpc_error(r, -32602, "params");
		ck_assert_int_eq(jint(r, "id"), 3);
		json_object_put(r);
	}
	assert_still_serving();
}
END_TEST

/* Calls METHOD with PARAMS and expects -32602 naming FIELD. */
static void
expect_field(const char *method, const char *params, const char *field)
{
	struct json_object *r = tc_call(c, method, "%s", params);

	ck_assert_msg(jget(r, "error") != NULL, "%s %s accepted", method, params);
	assert_rpc_error(r, -32602, field);
	ck_assert_ptr_nonnull(jstr(r, "error.data.reason"));
	json_object_put(r);
}

START_TEST(invalid_params_name_the_field)
{
	char label[300], key[200], params[600];

	expect_field("job.submit", "{}", "kind");
	expect_field("job.submit", "{\"kind\":3}", "kind");
	expect_field("job.submit", "{\"kind\":\"teleport\",\"args\":{}}", "kind");
	expect_field("job.submit", "{\"kind\":\"sleep\"}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":[]}", "args");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":-1}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":86400001}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1.5}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":\"5\"}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":99999999999999999999999}}", "args.ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1,\"extra\":1}}", "args.extra");
	memset(label, 'l', 257);
	label[257] = '\0';
	snprintf(params, sizeof params, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"label\":\"%s\"}", label);
	expect_field("job.submit", params, "label");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"label\":5}", "label");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"after\":5}", "after");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"after\":[\"1\"]}", "after");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"after\":[424242]}", "after");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"timeout_ms\":0}", "timeout_ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"timeout_ms\":-5}", "timeout_ms");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"watch\":1}", "watch");
	memset(key, 'k', 129);
	key[129] = '\0';
	snprintf(params, sizeof params, "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"key\":\"%s\"}", key);
	expect_field("job.submit", params, "key");
	expect_field("job.submit", "{\"kind\":\"sleep\",\"args\":{\"ms\":1},\"colour\":\"red\"}", "colour");
	expect_field("job.get", "{}", "id");
	expect_field("job.get", "{\"id\":\"1\"}", "id");
	expect_field("job.get", "{\"id\":0}", "id");
	expect_field("job.cancel", "{\"id\":-3}", "id");
	expect_field("job.list", "{\"state\":\"cancelled\"}", "state");
	expect_field("job.list", "{\"kind\":\"teleport\"}", "kind");
	expect_field("job.list", "{\"limit\":0}", "limit");
	expect_field("job.list", "{\"limit\":10001}", "limit");
	expect_field("job.list", "{\"before_id\":\"x\"}", "before_id");
	expect_field("job.watch", "{}", "id");
	expect_field("job.watch", "{\"id\":1,\"all\":true}", "id");
	expect_field("job.watch", "{\"all\":\"yes\"}", "all");
	expect_field("daemon.info", "{\"verbose\":true}", "verbose");
	/* Nothing was created by any of it. */
	struct json_object *r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	json_object_put(r);
	/* Exactly at the limits is fine. */
	label[256] = '\0';
	key[128] = '\0';
	snprintf(params, sizeof params,
		 "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"label\":\"%s\",\"key\":\"%s\"}", label, key);
	r = tc_call(c, "job.submit", "%s", params);
	ck_assert_str_eq(jstr(r, "result.job.label"), label);
	json_object_put(r);
	assert_still_serving();
}
END_TEST

START_TEST(no_such_job_answers_32001)
{
	struct json_object *r = tc_call(c, "job.get", "{\"id\":77}");

	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(c, "job.cancel", "{\"id\":77}");
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	r = tc_call(c, "job.watch", "{\"id\":77}");
	assert_rpc_error(r, -32001, NULL);
	json_object_put(r);
	assert_still_serving();
}
END_TEST

START_TEST(cancel_of_finished_job_answers_32002)
{
	int64_t id = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	json_object_put(tc_wait_end(c, id, 5000));
	struct json_object *r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id);

	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	assert_still_serving();
}
END_TEST

START_TEST(notifications_get_no_response_but_run)
{
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.submit\",\"params\":"
		   "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"label\":\"quiet\",\"watch\":false}}");
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"no.such.method\"}");
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"job.get\",\"params\":{\"id\":\"bad\"}}");
	/* The next line is the answer to this, not to the notifications. */
	struct json_object *r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 1);
	ck_assert_str_eq(jstr(r, "result.jobs.0.label"), "quiet");
	json_object_put(r);
}
END_TEST

START_TEST(batch_gets_one_array_of_responses)
{
	struct json_object *r = send_line(
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"daemon.info\"},"
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"},"
		"7,"
		"{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"job.get\",\"params\":[]}]");

	ck_assert(json_object_is_type(r, json_type_array));
	ck_assert_int_eq(json_object_array_length(r), 4);
	ck_assert_int_eq(jint(r, "0.id"), 1);
	ck_assert_int_eq(jint(r, "0.result.protocol"), 2);
	ck_assert_int_eq(jint(r, "1.error.code"), -32601);
	ck_assert_int_eq(jint(r, "2.error.code"), -32600);
	ck_assert(jnull(r, "2.id"));
	ck_assert_int_eq(jint(r, "3.error.code"), -32602);
	ck_assert_str_eq(jstr(r, "3.id"), "s");
	json_object_put(r);
	/* A batch of notifications only gets nothing back. */
	tc_send(c, "[{\"jsonrpc\":\"2.0\",\"method\":\"daemon.info\"}]");
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_ptr_nonnull(jget(r, "result"));
	json_object_put(r);
}
END_TEST

START_TEST(framing_crlf_empty_lines_and_split_writes)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"daemon.info\"}\r\n";
	struct json_object *r;

	tc_send_raw(c, "\n\r\n\n", 4);
	/* Byte by byte. */
	for (size_t i = 0; i < strlen(req); i++)
		tc_send_raw(c, req + i, 1);
	r = tc_recv(c, 5000);
	ck_assert_int_eq(jint(r, "id"), 5);
	json_object_put(r);
	/* Several in one write. */
	const char *two = "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"daemon.info\"}\n"
			  "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"daemon.info\"}\n";
	tc_send_raw(c, two, strlen(two));
	r = tc_recv(c, 5000);
	ck_assert_int_eq(jint(r, "id"), 6);
	json_object_put(r);
	r = tc_recv(c, 5000);
	ck_assert_int_eq(jint(r, "id"), 7);
	json_object_put(r);
}
END_TEST

START_TEST(oversized_line_answers_32600_and_keeps_the_connection)
{
	size_t limit = 1024 * 1024;
	char *big = malloc(limit + 2);
	struct json_object *r;

	/* A valid request exactly at the limit is served. */
	const char *head = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}";
	memset(big, ' ', limit);
	memcpy(big, head, strlen(head));
	tc_send_raw(c, big, limit);
	tc_send_raw(c, "\n", 1);
	r = tc_recv(c, 10000);
	ck_assert_int_eq(jint(r, "id"), 1);
	json_object_put(r);
	/* One byte more is refused, in pieces, without being buffered. */
	for (int i = 0; i < 3; i++) {
		tc_send_raw(c, big, limit);
		tc_send_raw(c, "x", 1);
	}
	tc_send_raw(c, "\n", 1);
	r = tc_recv(c, 10000);
	assert_rpc_error(r, -32600, NULL);
	ck_assert_str_eq(jstr(r, "error.message"), "request too large");
	ck_assert(jnull(r, "id"));
	json_object_put(r);
	/* Exactly one error for that line; the next request is answered. */
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_ptr_nonnull(jget(r, "result"));
	json_object_put(r);
	free(big);
	assert_still_serving();
}
END_TEST

START_TEST(max_request_option_sets_the_limit)
{
	static const char *const extra[] = {"--max-request", "4096", NULL};
	struct tdaemon d2;
	struct tconn *c2;
	char line[5000];
	struct json_object *r;

	td_start(&d2, extra);
	c2 = tc_open(d2.sock);
	memset(line, ' ', sizeof line);
	tc_send_raw(c2, line, sizeof line);
	tc_send_raw(c2, "\n", 1);
	r = tc_recv(c2, 5000);
	assert_rpc_error(r, -32600, NULL);
	json_object_put(r);
	r = tc_call(c2, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_request"), 4096);
	json_object_put(r);
	tc_close(c2);
	ck_assert_int_eq(td_stop(&d2), 0);
}
END_TEST

/* json-c is handed a line's length as an int: INT_MAX is the most. */
START_TEST(max_request_is_at_most_int_max)
{
	static const char *const extra[] = {"--max-request", "2147483647", NULL};
	char sock[200];
	char *argv[] = {(char *)td_path("ASYNCD", "daemon/asyncd"), "--socket",
			sock, "--config", "/dev/null", "--max-request",
			"2147483648", NULL};
	struct run_result rr;
	struct tdaemon d2;

	snprintf(sock, sizeof sock, "%s/other.sock", d.dir);
	run_program(argv, NULL, NULL, -1, &rr);
	ck_assert_int_eq(rr.status, 2);
	ck_assert_msg(strstr(rr.err, "max-request: not a size from 1024 to "
				     "2147483647: 2147483648") != NULL,
		      "stderr: %s", rr.err);
	run_result_free(&rr);
	ck_assert_int_ne(access(sock, F_OK), 0);

	td_start(&d2, extra);
	struct tconn *c2 = tc_open(d2.sock);
	struct json_object *r = tc_call(c2, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.limits.max_request"), 2147483647);
	json_object_put(r);
	tc_close(c2);
	ck_assert_int_eq(td_stop(&d2), 0);
}
END_TEST

START_TEST(daemon_info_reports_itself)
{
	struct json_object *r = tc_call(c, "daemon.info", NULL);

	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	ck_assert_int_eq(jint(r, "result.pid"), d.pid);
	ck_assert_ptr_nonnull(jstr(r, "result.version"));
	ck_assert_int_ge(jint(r, "result.uptime_ms"), 0);
	ck_assert_str_eq(jstr(r, "result.kinds.0"), "sleep");
	ck_assert_int_eq(jint(r, "result.jobs.queued"), 0);
	ck_assert_int_eq(jint(r, "result.jobs.completed"), 0);
	ck_assert_ptr_nonnull(jget(r, "result.limits"));
	json_object_put(r);
}
END_TEST

START_TEST(socket_is_created_with_the_right_mode)
{
	struct stat st;
	static const char *const extra[] = {"--socket-mode", "0600", NULL};
	struct tdaemon d2;

	ck_assert_int_eq(stat(d.sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, geteuid() == 0 ? 0666 : 0600);
	td_start(&d2, extra);
	ck_assert_int_eq(stat(d2.sock, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(td_stop(&d2), 0);
}
END_TEST

/* Runs asyncd on SOCK and returns its exit status (it must exit). */
static int
run_daemon_on(const char *sock)
{
	char *argv[] = {(char *)td_path("ASYNCD", "daemon/asyncd"), "--socket", (char *)sock,
			"--state-dir", "none", NULL};
	struct run_result rr;

	run_program(argv, NULL, NULL, -1, &rr);
	int status = rr.status;
	run_result_free(&rr);
	return status;
}

START_TEST(refuses_a_path_a_live_daemon_serves)
{
	ck_assert_int_ne(run_daemon_on(d.sock), 0);
	assert_still_serving();
	/* A regular file is never removed. */
	char path[200];
	snprintf(path, sizeof path, "%s/file", d.dir);
	write_file(path, "keep", 4, 0644);
	ck_assert_int_ne(run_daemon_on(path), 0);
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/* With no descriptor left (EMFILE), whether a daemon serves the path
 * cannot be checked: the path is kept and the start refused. */
START_TEST(out_of_descriptors_never_takes_a_live_socket)
{
	struct rlimit old, low;
	int lowest_free = dup(0);

	ck_assert_int_ge(lowest_free, 0);
	close(lowest_free);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)lowest_free;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rc = server_listen_path(d.sock, 0600);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(access(d.sock, F_OK) == 0, "the live socket was removed");
	assert_still_serving();
}
END_TEST

START_TEST(replaces_a_stale_socket_file)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char dir[] = "/tmp/asyncd-stale.XXXXXX";
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s/asyncd.sock", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd); /* left behind, as by a crash */
	pid_t pid = fork();
	if (pid == 0) {
		execl(td_path("ASYNCD", "daemon/asyncd"), "asyncd", "--socket", sun.sun_path,
		      "--state-dir", "none", (char *)NULL);
		_exit(127);
	}
	struct tconn *c2 = NULL;
	for (int i = 0; i < 300 && c2 == NULL; i++) {
		usleep(10000);
		c2 = tc_open(sun.sun_path);
	}
	ck_assert_ptr_nonnull(c2);
	struct json_object *r = tc_call(c2, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.pid"), pid);
	json_object_put(r);
	tc_close(c2);
	kill(pid, SIGTERM);
	int status;
	waitpid(pid, &status, 0);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* It removed its socket on the way out. */
	ck_assert_int_ne(access(sun.sun_path, F_OK), 0);
	rmdir(dir);
}
END_TEST

START_TEST(connection_can_half_close_and_still_get_answers)
{
	tc_send(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
		   "{\"kind\":\"sleep\",\"args\":{\"ms\":50}}}");
	/* A last line without its newline still counts. */
	tc_send_raw(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"daemon.info\"}", 47);
	tc_shutdown_write(c);
	struct json_object *r = tc_recv(c, 5000);
	ck_assert_int_eq(jint(r, "id"), 1);
	json_object_put(r);
	/* Events of the watched job still arrive, then the daemon closes. */
	bool got_info = false, got_end = false;
	while ((r = tc_recv(c, 5000)) != NULL) {
		if (jget(r, "id") && jint(r, "id") == 2)
			got_info = true;
		if (jstr(r, "method") && strcmp(jstr(r, "method"), "job.completed") == 0)
			got_end = true;
		json_object_put(r);
	}
	ck_assert(got_info && got_end);
	ck_assert(tc_eof(c, 2000));
}
END_TEST

static Suite *
protocol_suite(void)
{
	Suite *s = suite_create("protocol");
	TCase *tc = tcase_create("errors");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, parse_errors_answer_32700_with_null_id);
	tcase_add_test(tc, invalid_utf8_and_escapes_answer_32700);
	tcase_add_test(tc, invalid_requests_answer_32600);
	tcase_add_test(tc, integers_outside_int64_are_refused);
	tcase_add_test(tc, unknown_method_answers_32601);
	tcase_add_test(tc, params_must_be_an_object);
	tcase_add_test(tc, invalid_params_name_the_field);
	tcase_add_test(tc, no_such_job_answers_32001);
	tcase_add_test(tc, cancel_of_finished_job_answers_32002);
	suite_add_tcase(s, tc);

	tc = tcase_create("framing");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, notifications_get_no_response_but_run);
	tcase_add_test(tc, batch_gets_one_array_of_responses);
	tcase_add_test(tc, framing_crlf_empty_lines_and_split_writes);
	tcase_add_test(tc, oversized_line_answers_32600_and_keeps_the_connection);
	tcase_add_test(tc, max_request_option_sets_the_limit);
	tcase_add_test(tc, max_request_is_at_most_int_max);
	tcase_add_test(tc, connection_can_half_close_and_still_get_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("daemon");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, daemon_info_reports_itself);
	tcase_add_test(tc, socket_is_created_with_the_right_mode);
	tcase_add_test(tc, refuses_a_path_a_live_daemon_serves);
	tcase_add_test(tc, out_of_descriptors_never_takes_a_live_socket);
	tcase_add_test(tc, replaces_a_stale_socket_file);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(protocol_suite());
}
