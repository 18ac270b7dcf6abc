/* Binary job.output frames (conn.configure) against a real asyncd: the
 * method's params, exact bytes at every chunk and frame boundary, a
 * reader that stops mid-frame, two watchers of one job in different
 * forms, and a connection that switches form while jobs stream. The
 * switching and mid-frame cases read the socket byte by byte through a
 * reader of their own, which sees exactly where each response falls
 * among the events. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../proto/base64.h"
#include "../testutil.h"

#define CHUNK (64 * 1024)       /* a JSON chunk's limit */
#define FRAME (1024 * 1024)     /* a binary frame's limit, a read's size */

static struct tdaemon d;
static struct tconn *c;

static void
setup(void)
{
	tf_open(&d, &c, NULL);
}

/* A small high-water mark: a configure's response then waits behind
 * little output, and a test switches form often. */
static void
setup_small_hwm(void)
{
	static const char *const extra[] = {"--output-hwm", "262144", NULL};

	tf_open(&d, &c, extra);
}

static void
teardown(void)
{
	tf_close(&d, &c);
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

/* Writes LEN pseudo-random bytes (or ASCII text when TEXT) to DIR/NAME
 * and returns them. */
static unsigned char *
make_file(char *path, size_t size, const char *name, size_t len, bool text)
{
	unsigned char *data = malloc(len + 1);

	snprintf(path, size, "%s/%s", d.dir, name);
	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		data[i] = text ? (unsigned char)('a' + rng % 26) : (unsigned char)rng;
	}
	write_file(path, data, len, 0644);
	return data;
}

/* One job's output as a watcher received it. */
struct got {
	unsigned char *data;
	size_t len;
	unsigned nbinary, njson;
	size_t max_frame;
	/* Per event, as many as come (a process's reads may be of a few
	 * bytes each). */
	uint64_t *seqs, *offsets, *lens;
	bool *utf8; /* a JSON event's encoding was utf-8 */
	unsigned nev, cap;
	struct json_object *end;
};

static void
got_free(struct got *g)
{
	free(g->data);
	free(g->seqs);
	free(g->offsets);
	free(g->lens);
	free(g->utf8);
	json_object_put(g->end);
	memset(g, 0, sizeof *g);
}

/* Adds one job.output event (params P; for a binary frame, its raw bytes
 * in P's data) to G, checking that it continues the stream. */
static void
got_output(struct got *g, struct json_object *p)
{
	const char *enc = jstr(p, "encoding");
	struct json_object *data = jget(p, "data");
	const char *text = json_object_get_string(data);
	size_t tlen = (size_t)json_object_get_string_len(data);
	size_t n = tlen;

	ck_assert_int_eq(jint(p, "offset"), (int64_t)g->len);
	g->data = realloc(g->data, g->len + tlen + 4);
	if (strcmp(enc, "binary") == 0) {
		ck_assert_int_eq(jint(p, "length"), (int64_t)tlen);
		ck_assert_uint_le(tlen, FRAME);
		memcpy(g->data + g->len, text, tlen);
		g->nbinary++;
	} else if (strcmp(enc, "base64") == 0) {
		long m = base64_decode(text, tlen, g->data + g->len);
		ck_assert_int_ge(m, 0);
		n = (size_t)m;
		g->njson++;
	} else {
		ck_assert_str_eq(enc, "utf-8");
		memcpy(g->data + g->len, text, tlen);
		g->njson++;
	}
	if (g->nev == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 1024;
		g->seqs = realloc(g->seqs, g->cap * sizeof *g->seqs);
		g->offsets = realloc(g->offsets, g->cap * sizeof *g->offsets);
		g->lens = realloc(g->lens, g->cap * sizeof *g->lens);
		g->utf8 = realloc(g->utf8, g->cap * sizeof *g->utf8);
		ck_assert(g->seqs && g->offsets && g->lens && g->utf8);
	}
	g->seqs[g->nev] = (uint64_t)jint(p, "seq");
	g->offsets[g->nev] = g->len;
	g->lens[g->nev] = n;
	g->utf8[g->nev] = strcmp(enc, "utf-8") == 0;
	g->nev++;
	g->max_frame = n > g->max_frame ? n : g->max_frame;
	g->len += n;
}

/* Reads CONN's events of job ID until it ends. */
static void
collect(struct tconn *conn, int64_t id, struct got *g)
{
	for (;;) {
		struct json_object *ev = tc_event(conn, 30000);
		ck_assert_msg(ev != NULL, "no end of job %lld", (long long)id);
		const char *m = jstr(ev, "method");
		if (jint(ev, "params.id") != id) {
			json_object_put(ev);
			continue;
		}
		if (strcmp(m, "job.output") == 0)
			got_output(g, jget(ev, "params"));
		if (strcmp(m, "job.completed") == 0 || strcmp(m, "job.failed") == 0) {
			g->end = ev;
			return;
		}
		json_object_put(ev);
	}
}

static void
configure(struct tconn *conn, bool binary)
{
	struct json_object *r = tc_call(conn, "conn.configure",
					"{\"binary\":%s}",
					binary ? "true" : "false");

	ck_assert_msg(jget(r, "error") == NULL, "%s",
		      json_object_to_json_string(r));
	ck_assert_int_eq(json_object_get_boolean(jget(r, "result.binary")),
			 binary);
	json_object_put(r);
}

/* Calls conn.configure with PARAMS and expects -32602 naming FIELD. */
static void
expect_field(const char *params, const char *field)
{
	struct json_object *r = params != NULL
					? tc_call(c, "conn.configure", "%s", params)
					: tc_call(c, "conn.configure", NULL);

	assert_rpc_error(r, -32602, field);
	ck_assert_ptr_nonnull(jstr(r, "error.data.reason"));
	json_object_put(r);
}

START_TEST(configure_bad_params_name_the_field)
{
	expect_field(NULL, "binary");
	expect_field("{}", "binary");
	expect_field("{\"binary\":1}", "binary");
	expect_field("{\"binary\":\"true\"}", "binary");
	expect_field("{\"binary\":null}", "binary");
	expect_field("{\"binary\":true,\"compress\":true}", "compress");
	expect_field("[true]", "params");
	struct json_object *r = tc_call(c, "conn.configure", "{}");
	ck_assert_str_eq(jstr(r, "error.data.reason"), "required");
	json_object_put(r);
	r = tc_call(c, "conn.configure", "{\"binary\":1}");
	ck_assert_str_eq(jstr(r, "error.data.reason"), "must be true or false");
	json_object_put(r);
	/* A refused configure changes nothing: output stays JSON. */
	char path[256];
	unsigned char *want = make_file(path, sizeof path, "f", 1000, false);
	struct got g = {0};
	int64_t id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"}}",
			       path);
	collect(c, id, &g);
	ck_assert_uint_eq(g.nbinary, 0);
	ck_assert_mem_eq(g.data, want, 1000);
	got_free(&g);
	free(want);
	r = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	json_object_put(r);
}
END_TEST

/* The lengths around every boundary up to 200 KiB (JSON chunks), and
 * around a frame's and a read's size. */
static size_t
boundary_lengths(size_t *out)
{
	size_t n = 0;

	out[n++] = 0;
	out[n++] = 1;
	for (size_t k = 1; k * CHUNK <= 200 * 1024; k++) {
		out[n++] = k * CHUNK - 1;
		out[n++] = k * CHUNK;
		out[n++] = k * CHUNK + 1;
	}
	out[n++] = 200 * 1024;
	out[n++] = FRAME - 1;
	out[n++] = FRAME;
	out[n++] = FRAME + 1;
	out[n++] = 2 * FRAME + 7;
	return n;
}

/* Reads a file of every boundary length through KIND ("read-file", or
 * "process" running cat) on a binary connection. */
static void
exact_bytes_through(const char *kind)
{
	size_t lens[32], n = boundary_lengths(lens);

	configure(c, true);
	for (size_t i = 0; i < n; i++) {
		char path[256], name[32];
		struct got g = {0};
		int64_t id;
		snprintf(name, sizeof name, "len-%zu", lens[i]);
		unsigned char *want = make_file(path, sizeof path, name, lens[i],
						false);
		if (strcmp(kind, "read-file") == 0)
			id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":"
					  "{\"path\":\"%s\"}}", path);
		else
			id = tc_submit(c, "{\"kind\":\"process\",\"args\":"
					  "{\"argv\":[\"cat\",\"%s\"]}}", path);
		collect(c, id, &g);
		ck_assert_msg(strcmp(jstr(g.end, "method"), "job.completed") == 0,
			      "%s", json_object_to_json_string(g.end));
		ck_assert_msg(g.len == lens[i], "%s of %zu bytes gave %zu", kind,
			      lens[i], g.len);
		ck_assert(lens[i] == 0 || memcmp(g.data, want, lens[i]) == 0);
		ck_assert_uint_eq(g.njson, 0);
		got_free(&g);
		free(want);
	}
}

START_TEST(read_file_exact_bytes_at_every_boundary)
{
	exact_bytes_through("read-file");
}
END_TEST

START_TEST(process_exact_bytes_at_every_boundary)
{
	exact_bytes_through("process");
}
END_TEST

START_TEST(asyncctl_read_file_exact_bytes_at_every_boundary)
{
	size_t lens[32], n = boundary_lengths(lens);

	for (size_t i = 0; i < n; i++) {
		char path[256], name[32];
		struct run_result r;
		snprintf(name, sizeof name, "ctl-%zu", lens[i]);
		unsigned char *want = make_file(path, sizeof path, name, lens[i],
						false);
		char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
				"--socket", d.sock, "read-file", path, NULL};
		run_program(argv, NULL, NULL, -1, &r);
		ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
		ck_assert_uint_eq(r.out_len, lens[i]);
		ck_assert(lens[i] == 0 || memcmp(r.out, want, lens[i]) == 0);
		run_result_free(&r);
		free(want);
	}
}
END_TEST

/* ---- A reader of the raw socket ----------------------------------------- */

struct raw {
	int fd;
	unsigned char *buf;
	size_t start, end, cap;
};

static void
raw_open(struct raw *r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	memset(r, 0, sizeof *r);
	r->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(r->fd, 0);
	ck_assert_uint_lt(strlen(d.sock), sizeof sun.sun_path);
	memcpy(sun.sun_path, d.sock, strlen(d.sock) + 1);
	ck_assert_int_eq(connect(r->fd, (struct sockaddr *)&sun, sizeof sun), 0);
	r->cap = 4 * FRAME;
	r->buf = malloc(r->cap);
}

static void
raw_close(struct raw *r)
{
	close(r->fd);
	free(r->buf);
}

static void
raw_send(struct raw *r, const char *line)
{
	size_t len = strlen(line);

	ck_assert_int_eq(write(r->fd, line, len), (ssize_t)len);
}

/* Reads until at least N bytes are buffered, never more than EXTRA
 * bytes past them: the reader knows where it stopped, inside a frame if
 * it likes. */
static void
raw_want(struct raw *r, size_t n, size_t extra)
{
	while (r->end - r->start < n) {
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->cap - r->end < FRAME) {
			r->cap *= 2;
			r->buf = realloc(r->buf, r->cap);
		}
		struct pollfd pfd = {r->fd, POLLIN, 0};
		ck_assert_msg(poll(&pfd, 1, 30000) == 1, "nothing to read");
		size_t room = n - (r->end - r->start) + extra;
		ssize_t got = read(r->fd, r->buf + r->end, room);
		ck_assert_msg(got > 0, "connection closed");
		r->end += (size_t)got;
	}
}

/* The next message, with a binary frame's bytes as its params.data. */
static struct json_object *
raw_next(struct raw *r)
{
	unsigned char *nl;

	while ((nl = memchr(r->buf + r->start, '\n', r->end - r->start)) == NULL)
		raw_want(r, r->end - r->start + 1, 512);
	size_t len = (size_t)(nl - (r->buf + r->start));
	char *line = strndup((char *)r->buf + r->start, len);
	struct json_object *msg = json_tokener_parse(line);
	ck_assert_msg(msg != NULL, "not JSON: %.200s", line);
	free(line);
	r->start += len + 1;
	struct json_object *p = jget(msg, "params");
	if (p != NULL && jget(p, "encoding") != NULL &&
	    strcmp(jstr(p, "encoding"), "binary") == 0) {
		size_t n = (size_t)jint(p, "length");
		raw_want(r, n, 0);
		json_object_object_add(p, "data",
				       json_object_new_string_len(
					       (char *)r->buf + r->start, (int)n));
		r->start += n;
	}
	return msg;
}

START_TEST(reader_that_stops_mid_frame_loses_nothing)
{
	const size_t size = 48 * (size_t)FRAME; /* well past the marks */
	char path[256], req[512];
	struct raw r;
	struct got g = {0};
	unsigned char *want = make_file(path, sizeof path, "big", size, false);

	raw_open(&r);
	raw_send(&r, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"conn.configure\","
		     "\"params\":{\"binary\":true}}\n");
	snprintf(req, sizeof req,
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\",\"params\":"
		 "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"}}}\n", path);
	raw_send(&r, req);
	/* Up to the first binary header, then half of its bytes. */
	int64_t id = 0;
	for (;;) {
		unsigned char *nl;
		while ((nl = memchr(r.buf + r.start, '\n', r.end - r.start)) == NULL)
			raw_want(&r, r.end - r.start + 1, 512);
		size_t len = (size_t)(nl - (r.buf + r.start));
		if (id != 0 && memmem(r.buf + r.start, len, "\"binary\"", 8)) {
			raw_want(&r, len + 1 + FRAME / 2, 0);
			break;
		}
		struct json_object *m = raw_next(&r);
		if (jget(m, "id") != NULL && jint(m, "id") == 2)
			id = jint(m, "result.job.id");
		json_object_put(m);
	}
	sleep(2);
	struct tconn *other = tc_open(d.sock);
	struct json_object *job = tc_call(other, "job.get", "{\"id\":%lld}",
					  (long long)id);
	ck_assert_str_eq(jstr(job, "result.job.state"), "running");
	json_object_put(job);
	tc_close(other);
	/* Reading again: every byte, once, in order. */
	for (;;) {
		struct json_object *m = raw_next(&r);
		const char *method = jstr(m, "method");
		if (strcmp(method, "job.output") == 0)
			got_output(&g, jget(m, "params"));
		if (strcmp(method, "job.completed") == 0) {
			json_object_put(m);
			break;
		}
		ck_assert_str_ne(method, "job.failed");
		json_object_put(m);
	}
	ck_assert_uint_eq(g.len, size);
	ck_assert_int_eq(memcmp(g.data, want, size), 0);
	ck_assert_uint_eq(g.njson, 0);
	got_free(&g);
	free(want);
	raw_close(&r);
}
END_TEST

START_TEST(two_watchers_each_get_their_own_form)
{
	static const bool texts[] = {false, true};

	for (size_t t = 0; t < 2; t++) {
		size_t size = 5 * CHUNK + 123;
		char path[256];
		struct got a = {0}, b = {0};
		struct tconn *json = tc_open(d.sock);
		unsigned char *want = make_file(path, sizeof path,
						texts[t] ? "two.txt" : "two.bin",
						size, texts[t]);
		configure(c, true);
		/* Held back by a dependency until both watch it. */
		int64_t hold = tc_submit(c, "{\"kind\":\"sleep\",\"args\":"
					    "{\"ms\":300}}");
		int64_t id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":"
					  "{\"path\":\"%s\"},\"after\":[%lld]}",
				       path, (long long)hold);
		struct json_object *r = tc_call(json, "job.watch", "{\"id\":%lld}",
						(long long)id);
		ck_assert_ptr_null(jget(r, "error"));
		json_object_put(r);
		collect(c, id, &a);
		collect(json, id, &b);
		ck_assert_str_eq(jstr(a.end, "method"), "job.completed");
		ck_assert_str_eq(jstr(b.end, "method"), "job.completed");
		ck_assert_uint_eq(a.len, size);
		ck_assert_uint_eq(b.len, size);
		ck_assert_int_eq(memcmp(a.data, want, size), 0);
		ck_assert_int_eq(memcmp(b.data, want, size), 0);
		ck_assert_uint_eq(a.njson, 0);
		ck_assert_uint_eq(b.nbinary, 0);
		/* The same events: seq, offset and length alike. */
		ck_assert_uint_eq(a.nev, b.nev);
		for (unsigned i = 0; i < a.nev; i++) {
			ck_assert_uint_eq(a.seqs[i], b.seqs[i]);
			ck_assert_uint_eq(a.offsets[i], b.offsets[i]);
			ck_assert_uint_eq(a.lens[i], b.lens[i]);
		}
		ck_assert_uint_le(b.max_frame, CHUNK);
		got_free(&a);
		got_free(&b);
		free(want);
		tc_close(json);
	}
}
END_TEST

/* A connection that switches form while a read-file and a process job
 * stream to it: each event comes in the form that was in force when it
 * was framed (switched by the configure response), and every byte once,
 * in order. */
START_TEST(switching_form_while_jobs_stream)
{
	const size_t size = 8 * (size_t)FRAME, psize = 100 * 4000;
	char path[256], ppath[256], req[1024];
	struct raw r;
	struct got g[2] = {{0}};
	int64_t ids[2] = {0, 0};
	unsigned char *want = make_file(path, sizeof path, "sw.bin", size, false);
	unsigned char *pwant = make_file(ppath, sizeof ppath, "sw.txt", psize,
					 true);
	bool binary = false;
	int next_id = 10, pending = 0, ended = 0, switches = 0;
	unsigned events = 0;

	raw_open(&r);
	snprintf(req, sizeof req,
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
		 "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"}}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\",\"params\":"
		 "{\"kind\":\"process\",\"args\":{\"argv\":[\"sh\",\"-c\","
		 "\"i=0; while [ $i -lt 100 ]; do dd if=%s bs=4000 skip=$i "
		 "count=1 2>/dev/null; sleep 0.01; i=$((i+1)); done\"]}}}\n",
		 path, ppath);
	raw_send(&r, req);
	while (ended < 2) {
		struct json_object *m = raw_next(&r);
		const char *method = jstr(m, "method");
		if (method == NULL) { /* a response */
			int64_t rid = jint(m, "id");
			ck_assert_ptr_null(jget(m, "error"));
			if (rid == 1 || rid == 2)
				ids[rid - 1] = jint(m, "result.job.id");
			else if (rid == next_id - 1 && pending > 0) {
				binary = json_object_get_boolean(
					jget(m, "result.binary"));
				pending--;
				switches++;
			}
			json_object_put(m);
			continue;
		}
		int64_t id = jint(m, "params.id");
		int j = id == ids[0] ? 0 : 1;
		if (strcmp(method, "job.output") == 0) {
			bool framed = strcmp(jstr(m, "params.encoding"), "binary") == 0;
			ck_assert_msg(framed == binary,
				      "event %u in the wrong form (binary %d)",
				      events, binary);
			got_output(&g[j], jget(m, "params"));
			/* Switch at every event, one request at a time: how
			 * many events come depends on how the reads batch
			 * (few under a sanitizer on a busy machine). */
			events++;
			if (pending == 0) {
				snprintf(req, sizeof req,
					 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
					 "\"conn.configure\",\"params\":"
					 "{\"binary\":%s}}\n",
					 next_id++, binary ? "false" : "true");
				raw_send(&r, req);
				pending++;
			}
		} else if (strcmp(method, "job.completed") == 0 ||
			   strcmp(method, "job.failed") == 0) {
			ck_assert_str_eq(method, "job.completed");
			ended++;
		}
		json_object_put(m);
	}
	ck_assert_int_ge(switches, 2); /* there and back, at least */
	ck_assert_uint_eq(g[0].len, size);
	ck_assert_int_eq(memcmp(g[0].data, want, size), 0);
	ck_assert_uint_eq(g[1].len, psize);
	ck_assert_int_eq(memcmp(g[1].data, pwant, psize), 0);
	ck_assert_uint_gt(g[0].nbinary + g[1].nbinary, 0);
	ck_assert_uint_gt(g[0].njson + g[1].njson, 0);
	got_free(&g[0]);
	got_free(&g[1]);
	free(want);
	free(pwant);
	raw_close(&r);
}
END_TEST

static Suite *
binary_suite(void)
{
	Suite *s = suite_create("binary");
	TCase *tc = tcase_create("configure");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, configure_bad_params_name_the_field);
	suite_add_tcase(s, tc);

	tc = tcase_create("bytes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, read_file_exact_bytes_at_every_boundary);
	tcase_add_test(tc, process_exact_bytes_at_every_boundary);
	tcase_add_test(tc, asyncctl_read_file_exact_bytes_at_every_boundary);
	suite_add_tcase(s, tc);

	tc = tcase_create("streams");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, reader_that_stops_mid_frame_loses_nothing);
	tcase_add_test(tc, two_watchers_each_get_their_own_form);
	suite_add_tcase(s, tc);

	tc = tcase_create("switching");
	tcase_add_checked_fixture(tc, setup_small_hwm, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, switching_form_while_jobs_stream);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(binary_suite());
}
