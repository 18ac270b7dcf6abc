/*
 * testhttpd: a deterministic HTTP/1.1 server for the download tests and the
 * benchmark. It listens on 127.0.0.1 only and serves until SIGTERM/SIGINT.
 *
 *   testhttpd [--port N] [--port-file PATH] [-v]
 *
 * --port 0 (the default) picks a free port. The port is written as "N\n" to
 * PATH.tmp, renamed to PATH, and printed on stdout. -v logs each request to
 * stderr; nothing is logged otherwise.
 *
 * Body formulas (tests compute the expected SHA-256 from them):
 *   byte bodies: byte i (offset in the whole body, from 0) is
 *       (unsigned char)((i * 131 + 7) % 251)
 *   /text bodies: the 18-byte UTF-8 string "héllo wörld ✓ " repeated,
 *       cut at N bytes (the cut may split a character); byte i is
 *       unit[i % 18].
 * A 206 reply for bytes A-B carries bytes A..B of the same whole body.
 *
 * Routes (N, M, K, T, CODE: decimal integers; anything else is 400):
 *   /bytes/N[?norange=1]      N bytes, application/octet-stream, with
 *                             Content-Length and Accept-Ranges: bytes.
 *                             Range "bytes=A-", "bytes=A-B", "bytes=-S": 206
 *                             with Content-Range, 416 when A >= N; a malformed
 *                             or multi-range header is ignored. norange=1
 *                             ignores Range (200, full body).
 *   /text/N                   N bytes of text, text/plain; charset=utf-8
 *                             (Range as for /bytes).
 *   /chunked/N                N bytes, chunked encoding, no Content-Length.
 *   /redirect/K[?to=PATH]     302 to /redirect/K-1?to=PATH; at K=0, 302 to
 *                             PATH (default /bytes/100).
 *   /loop                     302 to /loop.
 *   /status/CODE              that status (200..599), short text body.
 *   /stall/N[?after=M]        Content-Length N, M bytes (default N/2), then
 *                             nothing: the reply never finishes (the
 *                             connection stays open until the client goes).
 *   /drop/N[?after=M][&once=KEY]
 *                             Content-Length N, M bytes (default N/2), then
 *                             the connection is closed (FIN once the M bytes
 *                             are sent: the client sees a short body; M >= N
 *                             is a complete reply). With once=KEY only
 *                             the first request with that KEY is dropped; the
 *                             later ones are served as /bytes/N (Range too).
 *                             /stall and a dropped /drop ignore Range.
 *   /slow/N[?rate=R]          N bytes at about R bytes/s (default 65536),
 *                             timer-driven (Range as for /bytes).
 *   /fail5xx/N?key=KEY[&times=T]
 *                             503 to the first T (default 1) requests with
 *                             that KEY, then /bytes/N (Range too).
 *   /res/N?key=KEY[&rate=R][&validator=etag|date|none][&norange=1]
 *          [&drop=M[&change=1]][&noifrange=1]
 *                             a resource that can change: N bytes of
 *                             version V of KEY (V starts at 0, /bump adds
 *                             one), whose byte i is byte i + V of the
 *                             /bytes formula; at R bytes/s when rate is
 *                             given (timer-driven), else at full speed.
 *                             validator etag (the default): ETag
 *                             "KEY-vV"; date: Last-Modified 2020-01-01
 *                             00:00:00 GMT plus V days; none: neither.
 *                             Range as for /bytes, except that an If-Range
 *                             that is not the current validator (or any
 *                             If-Range with validator=none) gets the
 *                             whole body, 200. drop=M: the first request
 *                             of KEY is cut after M bytes as /drop cuts
 *                             (Range ignored), and with change=1 the version
 *                             goes up once it is answered. noifrange=1:
 *                             If-Range is ignored (Range always applies), as
 *                             some servers do.
 *   /bump?key=KEY             the next version of /res KEY: new content and
 *                             validator. Body: the new version.
 *   /count?key=KEY            body: the number of requests seen so far with
 *                             KEY on /drop (once=), /fail5xx (key=) and /res
 *                             (key=), in decimal without a newline; 0 for an
 *                             unknown KEY.
 *   /sent?key=KEY             body: the body bytes of /res KEY queued for
 *                             sending so far, all requests together.
 * Other paths are 404. GET and HEAD only (HEAD sends the headers alone).
 * With -v, each request's Range and If-Range are logged too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define CHUNK_SIZE (256 * 1024)
#define PATTERN_PERIOD 251
#define MAX_NUMBER ((uint64_t)INT64_MAX)
#define DEFAULT_RATE 65536
#define DEFAULT_REDIRECT "/bytes/100"
#define DROP_POLL_US 1000
#define RES_EPOCH 1577836800 /* 2020-01-01T00:00:00Z: /res version 0 */

static const char text_unit[] =
	"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 ";	/* "héllo wörld ✓ " */
#define TEXT_LEN (sizeof text_unit - 1)

/* Precomputed bodies: a piece starting at offset i is table + i % period. */
static unsigned char byte_table[CHUNK_SIZE + PATTERN_PERIOD];
static unsigned char text_table[CHUNK_SIZE + TEXT_LEN];

enum body_kind {
	BODY_BYTES,
	BODY_TEXT,
};

enum stream_mode {
	MODE_FULL,	/* send everything as fast as the client reads */
	MODE_STALL,	/* send `after` bytes, then nothing, forever */
	MODE_DROP,	/* send `after` bytes, then close the connection */
	MODE_SLOW,	/* trickle at `rate` bytes per second */
};

enum validator_kind {
	VALIDATOR_NONE,
	VALIDATOR_ETAG,
	VALIDATOR_DATE,
};

struct key_count;

/* What a body reply should look like. */
struct body_spec {
	enum body_kind kind;
	enum stream_mode mode;
	uint64_t size;		/* N: the whole body */
	uint64_t after;		/* MODE_STALL, MODE_DROP: bytes sent first */
	uint64_t rate;		/* MODE_SLOW: bytes per second */
	int ranges;		/* honour a Range header */
	int chunked;		/* no Content-Length: chunked on HTTP/1.1 */
	uint64_t shift;		/* body byte i is formula byte i + shift */
	const char *etag;	/* ETag to send, or NULL */
	const char *modified;	/* Last-Modified to send, or NULL */
	struct key_count *counter; /* counts the body bytes sent, or NULL */
	int ignore_if_range;	/* apply Range whatever If-Range says */
};

struct server;

/* A reply whose body is being sent: from its start until it ends. */
struct stream {
	LIST_ENTRY(stream) link;
	struct server *srv;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	enum body_kind kind;
	enum stream_mode mode;
	uint64_t pos;		/* next body offset to queue */
	uint64_t limit;		/* stop queueing here */
	uint64_t end;		/* one past the last byte of the reply */
	uint64_t rate;
	uint64_t shift;
	struct key_count *counter;
	uint64_t begin;		/* MODE_SLOW: offset at t0 */
	uint64_t t0_us;		/* MODE_SLOW: start time */
	struct event *timer;	/* MODE_SLOW ticks, MODE_DROP polling */
};

/* Requests seen per key on /drop?once=, /fail5xx?key= and /res?key=;
 * for /res also its version and the body bytes sent. */
struct key_count {
	struct key_count *next;
	unsigned long count;
	uint64_t version;
	uint64_t sent;
	char key[];
};

struct server {
	struct event_base *base;
	struct evhttp *http;
	struct evbuffer *scratch;
	struct event *sigterm;
	struct event *sigint;
	LIST_HEAD(stream_list, stream) streams;
	struct key_count *keys;
	int verbose;
};

typedef void (*route_fn)(struct server *, struct evhttp_request *,
    const char *, struct evkeyvalq *);

struct route {
	const char *path;
	int prefix;		/* path is a prefix, an argument follows */
	route_fn fn;
};

static void stream_pump(struct stream *st);

/* Fills the pattern tables once at start-up. */
static void
tables_init(void)
{
	size_t i;

	for (i = 0; i < sizeof byte_table; i++)
		byte_table[i] = (unsigned char)((i * 131 + 7) % 251);
	for (i = 0; i < sizeof text_table; i++)
		text_table[i] = (unsigned char)text_unit[i % TEXT_LEN];
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Parses leading decimal digits (at least one, at most MAX_NUMBER). */
static int
parse_u64(const char *s, const char **endp, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (MAX_NUMBER - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*endp = s;
	*out = v;
	return 0;
}

/* Parses a string that must be a decimal number and nothing else. */
static int
parse_u64_all(const char *s, uint64_t *out)
{
	const char *end;

	if (parse_u64(s, &end, out) < 0 || *end != '\0')
		return -1;
	return 0;
}

/* Reads query parameter NAME as a number: DEF when absent, -1 if malformed. */
static int
query_u64(struct evkeyvalq *q, const char *name, uint64_t def, uint64_t *out)
{
	const char *v = evhttp_find_header(q, name);

	if (v == NULL) {
		*out = def;
		return 0;
	}
	return parse_u64_all(v, out);
}

/* True when query parameter NAME is present and neither empty nor "0". */
static int
query_flag(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);

	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/* KEY's counters, made on first use (NULL: no memory). */
static struct key_count *
key_find(struct server *srv, const char *key)
{
	struct key_count *k;
	size_t len;

	for (k = srv->keys; k != NULL; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k;
	len = strlen(key);
	k = calloc(1, sizeof *k + len + 1);
	if (k == NULL)
		return NULL;
	memcpy(k->key, key, len + 1);
	k->next = srv->keys;
	srv->keys = k;
	return k;
}

/* Adds one to KEY's request count and returns the new count (0: no memory). */
static unsigned long
key_bump(struct server *srv, const char *key)
{
	struct key_count *k = key_find(srv, key);

	return k != NULL ? ++k->count : 0;
}

static unsigned long
key_get(const struct server *srv, const char *key)
{
	const struct key_count *k;

	for (k = srv->keys; k != NULL; k = k->next)
		if (strcmp(k->key, key) == 0)
			return k->count;
	return 0;
}

static void
keys_free(struct server *srv)
{
	struct key_count *k, *next;

	for (k = srv->keys; k != NULL; k = next) {
		next = k->next;
		free(k);
	}
	srv->keys = NULL;
}

static int
is_head(struct evhttp_request *req)
{
	return evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
}

/* Sends a complete short text/plain reply (no body for HEAD, 204, 304). */
__attribute__((format(printf, 3, 4)))
static void
reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evbuffer *body;
	va_list ap;

	body = evbuffer_new();
	if (body == NULL) {
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", "text/plain; charset=utf-8");
	if (!is_head(req) && code != 204 && code != 304) {
		va_start(ap, fmt);
		evbuffer_add_vprintf(body, fmt, ap);
		va_end(ap);
	}
	evhttp_send_reply(req, code, NULL, body);
	evbuffer_free(body);
}

static void
reply_bad(struct evhttp_request *req, const char *what)
{
	reply_text(req, 400, "bad request: %s\n", what);
}

/*
 * Parses a Range header against a body of N bytes: "bytes=A-", "bytes=A-B"
 * or "bytes=-S". Returns 1 with the inclusive span in *first and *last, 0 to
 * ignore the header (absent, malformed, several ranges), -1 if unsatisfiable.
 */
static int
parse_range(const char *h, uint64_t n, uint64_t *first, uint64_t *last)
{
	uint64_t a, b;
	const char *p;

	if (h == NULL || strncasecmp(h, "bytes=", 6) != 0)
		return 0;
	p = h + 6;
	while (*p == ' ')
		p++;
	if (*p == '-') {
		if (parse_u64(p + 1, &p, &a) < 0 || *p != '\0')
			return 0;
		if (a == 0 || n == 0)
			return -1;
		*first = n - (a < n ? a : n);
		*last = n - 1;
		return 1;
	}
	if (parse_u64(p, &p, &a) < 0 || *p++ != '-')
		return 0;
	if (*p == '\0') {
		b = n - 1;
	} else if (parse_u64(p, &p, &b) < 0 || *p != '\0' || b < a) {
		return 0;
	}
	if (a >= n)
		return -1;
	*first = a;
	*last = b < n ? b : n - 1;
	return 1;
}

static void
add_header_u64(struct evkeyvalq *h, const char *name, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof buf, "%" PRIu64, v);
	evhttp_add_header(h, name, buf);
}

static void
reply_unsatisfiable(struct evhttp_request *req, uint64_t n)
{
	char buf[48];

	snprintf(buf, sizeof buf, "bytes */%" PRIu64, n);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Range", buf);
	reply_text(req, 416, "range not satisfiable\n");
}

/* Unlinks a stream and releases what it holds, but not its request. */
static void
stream_free(struct stream *st)
{
	evhttp_connection_set_closecb(st->evcon, NULL, NULL);
	if (st->timer != NULL)
		event_free(st->timer);
	LIST_REMOVE(st, link);
	free(st);
}

/* Ends the reply normally; the connection may then serve another request. */
static void
stream_finish(struct stream *st)
{
	struct evhttp_request *req = st->req;

	stream_free(st);
	evhttp_send_reply_end(req);
}

/* Closes the connection with the reply unfinished (frees the request too). */
static void
stream_drop(struct stream *st)
{
	struct evhttp_connection *evcon = st->evcon;

	stream_free(st);
	evhttp_connection_free(evcon);
}

static size_t
conn_pending(const struct stream *st)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(st->evcon);

	return evbuffer_get_length(bufferevent_get_output(bev));
}

/* Write-drained callback: everything queued so far has reached the kernel. */
static void
on_drained(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;

	(void)evcon;
	if (st->mode == MODE_SLOW && st->pos < st->end)
		return;		/* the timer queues the rest */
	stream_pump(st);
}

/* Queues LEN body bytes from st->pos, without copying them. */
static void
stream_send(struct stream *st, size_t len)
{
	struct evbuffer *buf = st->srv->scratch;
	const unsigned char *src;

	if (st->kind == BODY_TEXT)
		src = text_table + st->pos % TEXT_LEN;
	else
		src = byte_table + (st->pos + st->shift) % PATTERN_PERIOD;
	evbuffer_add_reference(buf, src, len, NULL, NULL);
	st->pos += len;
	if (st->counter != NULL)
		st->counter->sent += len;
	evhttp_send_reply_chunk_with_cb(st->req, buf, on_drained, st);
	evbuffer_drain(buf, evbuffer_get_length(buf));
}

/* Queues the next piece, or acts once everything up to the limit is sent. */
static void
stream_pump(struct stream *st)
{
	uint64_t left = st->limit - st->pos;

	if (left > 0) {
		stream_send(st, left < CHUNK_SIZE ? (size_t)left : CHUNK_SIZE);
		return;
	}
	if (st->limit == st->end)
		stream_finish(st);
	else if (st->mode == MODE_DROP)
		stream_drop(st);
	/* MODE_STALL: keep the connection open and send nothing more. */
}

/* MODE_SLOW tick: queue what the rate allows since the start. */
static void
slow_tick(struct stream *st)
{
	double due = (double)st->rate * (double)(now_us() - st->t0_us) / 1e6;
	uint64_t allowed = st->begin + (uint64_t)due;
	uint64_t len;

	if (allowed > st->end || due >= (double)MAX_NUMBER)
		allowed = st->end;
	if (allowed <= st->pos || conn_pending(st) >= CHUNK_SIZE)
		return;
	len = allowed - st->pos;
	stream_send(st, len < CHUNK_SIZE ? (size_t)len : CHUNK_SIZE);
	if (st->pos == st->end)
		event_del(st->timer);	/* on_drained finishes the reply */
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct stream *st = arg;

	(void)fd;
	(void)what;
	if (st->mode == MODE_SLOW)
		slow_tick(st);
	else if (conn_pending(st) == 0)
		stream_drop(st);	/* MODE_DROP with nothing to send */
}

/*
 * Close callback of a connection that carries a stream. When the client
 * went away, libevent detached the unfinished request: it is ours to free.
 */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct stream *st = arg;
	struct evhttp_request *req = st->req;

	(void)evcon;
	stream_free(st);
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

/* Arms the stream's periodic timer. */
static int
stream_timer_start(struct stream *st, uint64_t period_us)
{
	struct timeval tv;

	st->timer = event_new(st->srv->base, -1, EV_PERSIST, on_timer, st);
	if (st->timer == NULL)
		return -1;
	tv.tv_sec = (time_t)(period_us / 1000000);
	tv.tv_usec = (suseconds_t)(period_us % 1000000);
	return event_add(st->timer, &tv);
}

/* Tick period for MODE_SLOW: about one byte per tick, within 10 ms .. 1 s. */
static uint64_t
slow_period_us(uint64_t rate)
{
	uint64_t us = 1000000 / rate;

	if (us < 10000)
		return 10000;
	return us > 1000000 ? 1000000 : us;
}

/* Sends the headers and starts the body of a streamed reply. */
static int
stream_start(struct server *srv, struct evhttp_request *req, int code,
    const struct body_spec *spec, uint64_t begin, uint64_t end)
{
	struct stream *st;

	st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	st->srv = srv;
	st->req = req;
	st->evcon = evhttp_request_get_connection(req);
	st->kind = spec->kind;
	st->mode = spec->mode;
	st->pos = st->begin = begin;
	st->end = end;
	st->limit = end;
	if (spec->mode == MODE_STALL || spec->mode == MODE_DROP)
		st->limit = begin + (spec->after < end - begin ?
		    spec->after : end - begin);
	st->rate = spec->rate;
	st->shift = spec->shift;
	st->counter = spec->counter;
	st->t0_us = now_us();
	LIST_INSERT_HEAD(&srv->streams, st, link);

	if (spec->mode == MODE_SLOW &&
	    stream_timer_start(st, slow_period_us(st->rate)) < 0)
		goto fail;
	if (spec->mode == MODE_DROP && st->pos == st->limit &&
	    stream_timer_start(st, DROP_POLL_US) < 0)
		goto fail;

	bufferevent_set_max_single_write(
	    evhttp_connection_get_bufferevent(st->evcon), CHUNK_SIZE);
	evhttp_connection_set_closecb(st->evcon, on_conn_close, st);
	evhttp_send_reply_start(req, code, NULL);
	if (spec->mode != MODE_SLOW && st->pos < st->limit)
		stream_pump(st);
	return 0;

fail:
	stream_free(st);
	return -1;
}

/* Adds Content-Type, Content-Length and (for 206) Content-Range. */
static void
body_headers(struct evhttp_request *req, const struct body_spec *spec,
    int partial, uint64_t begin, uint64_t end)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *conn;
	char buf[96];

	evhttp_add_header(out, "Content-Type", spec->kind == BODY_TEXT ?
	    "text/plain; charset=utf-8" : "application/octet-stream");
	if (spec->ranges)
		evhttp_add_header(out, "Accept-Ranges", "bytes");
	if (spec->etag != NULL)
		evhttp_add_header(out, "ETag", spec->etag);
	if (spec->modified != NULL)
		evhttp_add_header(out, "Last-Modified", spec->modified);
	if (partial) {
		snprintf(buf, sizeof buf, "bytes %" PRIu64 "-%" PRIu64
		    "/%" PRIu64, begin, end - 1, spec->size);
		evhttp_add_header(out, "Content-Range", buf);
	}
	if (!spec->chunked) {
		add_header_u64(out, "Content-Length", end - begin);
		return;
	}
	/*
	 * Without a length, an HTTP/1.0 keep-alive reply would get a bogus
	 * "Content-Length: 0" from libevent: make such a client close instead.
	 * (On HTTP/1.1 the header is the default and removing it is a no-op.)
	 */
	conn = evhttp_find_header(in, "Connection");
	if (conn != NULL && strcasecmp(conn, "keep-alive") == 0)
		evhttp_remove_header(in, "Connection");
}

/* Whether a request's If-Range (if any) names SPEC's current validator:
 * only then does its Range apply (RFC 9110 13.1.5). */
static int
if_range_holds(struct evkeyvalq *in, const struct body_spec *spec)
{
	const char *v = evhttp_find_header(in, "If-Range");

	if (v == NULL || spec->ignore_if_range)
		return 1;
	return (spec->etag != NULL && strcmp(v, spec->etag) == 0) ||
	    (spec->modified != NULL && strcmp(v, spec->modified) == 0);
}

/* Replies with a body as SPEC describes, honouring Range if it allows. */
static void
serve_body(struct server *srv, struct evhttp_request *req,
    const struct body_spec *spec)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	uint64_t first = 0, last = 0, begin = 0, end = spec->size;
	int partial = 0;

	if (spec->ranges && if_range_holds(in, spec)) {
		partial = parse_range(evhttp_find_header(in, "Range"),
		    spec->size, &first, &last);
		if (partial < 0) {
			reply_unsatisfiable(req, spec->size);
			return;
		}
		if (partial) {
			begin = first;
			end = last + 1;
		}
	}
	body_headers(req, spec, partial, begin, end);
	if (is_head(req) || (begin == end && spec->mode != MODE_STALL &&
	    spec->mode != MODE_DROP)) {
		evhttp_send_reply_start(req, partial ? 206 : 200, NULL);
		evhttp_send_reply_end(req);
		return;
	}
	if (stream_start(srv, req, partial ? 206 : 200, spec, begin, end) < 0) {
		evhttp_clear_headers(evhttp_request_get_output_headers(req));
		evhttp_send_reply(req, 500, NULL, NULL);
	}
}

/* Parses the N of /route/N, replying 400 when it is not a number. */
static int
path_number(struct evhttp_request *req, const char *arg, uint64_t *n)
{
	if (parse_u64_all(arg, n) < 0) {
		reply_bad(req, "path needs a decimal number");
		return -1;
	}
	return 0;
}

static void
serve_bytes(struct server *srv, struct evhttp_request *req, uint64_t n,
    int ranges)
{
	struct body_spec spec = {
		.kind = BODY_BYTES, .mode = MODE_FULL, .size = n,
		.ranges = ranges,
	};

	serve_body(srv, req, &spec);
}

static void
route_bytes(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	uint64_t n;

	if (path_number(req, arg, &n) < 0)
		return;
	serve_bytes(srv, req, n, !query_flag(q, "norange"));
}

static void
route_text(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	struct body_spec spec = {
		.kind = BODY_TEXT, .mode = MODE_FULL, .ranges = 1,
	};

	(void)q;
	if (path_number(req, arg, &spec.size) < 0)
		return;
	serve_body(srv, req, &spec);
}

static void
route_chunked(struct server *srv, struct evhttp_request *req,
    const char *arg, struct evkeyvalq *q)
{
	struct body_spec spec = {
		.kind = BODY_BYTES, .mode = MODE_FULL, .chunked = 1,
	};

	(void)q;
	if (path_number(req, arg, &spec.size) < 0)
		return;
	serve_body(srv, req, &spec);
}

/* Sends a 302 to LOCATION. */
static void
reply_redirect(struct evhttp_request *req, const char *location)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (evhttp_add_header(out, "Location", location) < 0) {
		reply_bad(req, "invalid redirect target");
		return;
	}
	reply_text(req, 302, "redirect to %s\n", location);
}

static void
route_redirect(struct server *srv, struct evhttp_request *req,
    const char *arg, struct evkeyvalq *q)
{
	const char *to = evhttp_find_header(q, "to");
	char *enc = NULL, *loc = NULL;
	uint64_t k;

	(void)srv;
	if (path_number(req, arg, &k) < 0)
		return;
	if (to == NULL || *to == '\0')
		to = DEFAULT_REDIRECT;
	if (k == 0) {
		reply_redirect(req, to);
		return;
	}
	enc = evhttp_uriencode(to, -1, 0);
	if (enc == NULL)
		goto fail;
	if (asprintf(&loc, "/redirect/%" PRIu64 "?to=%s", k - 1, enc) < 0) {
		loc = NULL;
		goto fail;
	}
	reply_redirect(req, loc);
	free(loc);
	free(enc);
	return;

fail:
	free(enc);
	evhttp_send_reply(req, 500, NULL, NULL);
}

static void
route_loop(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	(void)srv;
	(void)arg;
	(void)q;
	reply_redirect(req, "/loop");
}

static void
route_status(struct server *srv, struct evhttp_request *req,
    const char *arg, struct evkeyvalq *q)
{
	uint64_t code;

	(void)srv;
	(void)q;
	if (path_number(req, arg, &code) < 0)
		return;
	if (code < 200 || code > 599) {
		reply_bad(req, "status must be 200..599");
		return;
	}
	reply_text(req, (int)code, "status %d\n", (int)code);
}

/* Shared by /stall and /drop: N bytes announced, M sent, then MODE. */
static void
serve_cut(struct server *srv, struct evhttp_request *req, uint64_t n,
    struct evkeyvalq *q, enum stream_mode mode)
{
	struct body_spec spec = {
		.kind = BODY_BYTES, .mode = mode, .size = n,
	};

	if (query_u64(q, "after", n / 2, &spec.after) < 0) {
		reply_bad(req, "after must be a decimal number");
		return;
	}
	serve_body(srv, req, &spec);
}

static void
route_stall(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	uint64_t n;

	if (path_number(req, arg, &n) < 0)
		return;
	serve_cut(srv, req, n, q, MODE_STALL);
}

static void
route_drop(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	const char *once = evhttp_find_header(q, "once");
	unsigned long seen;
	uint64_t n;

	if (path_number(req, arg, &n) < 0)
		return;
	if (once != NULL) {
		seen = key_bump(srv, once);
		if (seen == 0) {
			evhttp_send_reply(req, 500, NULL, NULL);
			return;
		}
		if (seen > 1) {
			serve_bytes(srv, req, n, 1);
			return;
		}
	}
	serve_cut(srv, req, n, q, MODE_DROP);
}

static void
route_slow(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	struct body_spec spec = {
		.kind = BODY_BYTES, .mode = MODE_SLOW, .ranges = 1,
	};

	if (path_number(req, arg, &spec.size) < 0)
		return;
	if (query_u64(q, "rate", DEFAULT_RATE, &spec.rate) < 0 ||
	    spec.rate == 0) {
		reply_bad(req, "rate must be a positive decimal number");
		return;
	}
	serve_body(srv, req, &spec);
}

static void
route_fail5xx(struct server *srv, struct evhttp_request *req,
    const char *arg, struct evkeyvalq *q)
{
	const char *key = evhttp_find_header(q, "key");
	unsigned long seen;
	uint64_t n, times;

	if (path_number(req, arg, &n) < 0)
		return;
	if (key == NULL || query_u64(q, "times", 1, &times) < 0) {
		reply_bad(req, "needs key= and a decimal times=");
		return;
	}
	seen = key_bump(srv, key);
	if (seen == 0) {
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	if (seen <= times) {
		reply_text(req, 503, "unavailable (%lu of %" PRIu64 ")\n",
		    seen, times);
		return;
	}
	serve_bytes(srv, req, n, 1);
}

static void
route_res(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	const char *key = evhttp_find_header(q, "key");
	const char *kind = evhttp_find_header(q, "validator");
	struct body_spec spec = {
		.kind = BODY_BYTES, .mode = MODE_FULL,
		.ranges = !query_flag(q, "norange"),
		.ignore_if_range = query_flag(q, "noifrange"),
	};
	enum validator_kind vk = VALIDATOR_ETAG;
	char etag[160], modified[64];
	struct key_count *k;
	uint64_t drop;
	struct tm tm;
	time_t t;

	if (path_number(req, arg, &spec.size) < 0)
		return;
	if (key == NULL || strlen(key) > 100 ||
	    query_u64(q, "rate", 0, &spec.rate) < 0 ||
	    query_u64(q, "drop", UINT64_MAX, &drop) < 0) {
		reply_bad(req, "needs key= (at most 100 bytes), a decimal "
		    "rate= and drop=");
		return;
	}
	if (kind != NULL && strcmp(kind, "none") == 0)
		vk = VALIDATOR_NONE;
	else if (kind != NULL && strcmp(kind, "date") == 0)
		vk = VALIDATOR_DATE;
	else if (kind != NULL && strcmp(kind, "etag") != 0) {
		reply_bad(req, "validator is etag, date or none");
		return;
	}
	if ((k = key_find(srv, key)) == NULL) {
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	k->count++;
	spec.counter = k;
	spec.shift = k->version;
	if (spec.rate > 0)
		spec.mode = MODE_SLOW;
	if (vk == VALIDATOR_ETAG) {
		snprintf(etag, sizeof etag, "\"%s-v%" PRIu64 "\"", key,
		    k->version);
		spec.etag = etag;
	} else if (vk == VALIDATOR_DATE) {
		t = (time_t)(RES_EPOCH + k->version * 86400);
		gmtime_r(&t, &tm);
		strftime(modified, sizeof modified,
		    "%a, %d %b %Y %H:%M:%S GMT", &tm);
		spec.modified = modified;
	}
	if (drop != UINT64_MAX && k->count == 1) {
		spec.mode = MODE_DROP;
		spec.after = drop;
		spec.ranges = 0;
		if (query_flag(q, "change"))
			k->version++;
	}
	serve_body(srv, req, &spec);
}

static void
route_bump(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	const char *key = evhttp_find_header(q, "key");
	struct key_count *k;

	(void)arg;
	if (key == NULL) {
		reply_bad(req, "needs key=");
		return;
	}
	if ((k = key_find(srv, key)) == NULL) {
		evhttp_send_reply(req, 500, NULL, NULL);
		return;
	}
	reply_text(req, 200, "%" PRIu64, ++k->version);
}

static void
route_sent(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	const char *key = evhttp_find_header(q, "key");
	struct key_count *k;

	(void)arg;
	if (key == NULL) {
		reply_bad(req, "needs key=");
		return;
	}
	k = key_find(srv, key);
	reply_text(req, 200, "%" PRIu64, k != NULL ? k->sent : 0);
}

static void
route_count(struct server *srv, struct evhttp_request *req, const char *arg,
    struct evkeyvalq *q)
{
	const char *key = evhttp_find_header(q, "key");

	(void)arg;
	if (key == NULL) {
		reply_bad(req, "needs key=");
		return;
	}
	reply_text(req, 200, "%lu", key_get(srv, key));
}

static const struct route routes[] = {
	{ "/bytes/", 1, route_bytes },
	{ "/text/", 1, route_text },
	{ "/chunked/", 1, route_chunked },
	{ "/redirect/", 1, route_redirect },
	{ "/loop", 0, route_loop },
	{ "/status/", 1, route_status },
	{ "/stall/", 1, route_stall },
	{ "/drop/", 1, route_drop },
	{ "/slow/", 1, route_slow },
	{ "/fail5xx/", 1, route_fail5xx },
	{ "/count", 0, route_count },
	{ "/res/", 1, route_res },
	{ "/bump", 0, route_bump },
	{ "/sent", 0, route_sent },
};

static const char *
method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	default:
		return "?";
	}
}

static void
log_request(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *range = evhttp_find_header(in, "Range");
	const char *if_range = evhttp_find_header(in, "If-Range");

	fprintf(stderr, "testhttpd: %s %s%s%s%s%s\n", method_name(req),
	    evhttp_request_get_uri(req), range ? " Range: " : "",
	    range ? range : "", if_range ? " If-Range: " : "",
	    if_range ? if_range : "");
}

/* Finds the route for PATH; *arg gets the text after a prefix route. */
static const struct route *
route_find(const char *path, const char **arg)
{
	const struct route *r;
	size_t i, len;

	for (i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		r = &routes[i];
		len = strlen(r->path);
		if (r->prefix && strncmp(path, r->path, len) == 0) {
			*arg = path + len;
			return r;
		}
		if (!r->prefix && strcmp(path, r->path) == 0) {
			*arg = "";
			return r;
		}
	}
	return NULL;
}

/* libevent's generic callback: every request lands here. */
static void
on_request(struct evhttp_request *req, void *arg)
{
	struct server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const struct route *r;
	struct evkeyvalq q;
	const char *rest;

	if (srv->verbose)
		log_request(req);
	if (path == NULL || *path == '\0')
		path = "/";
	r = route_find(path, &rest);
	if (r == NULL) {
		reply_text(req, 404, "not found\n");
		return;
	}
	if (evhttp_parse_query_str(query ? query : "", &q) < 0) {
		reply_bad(req, "malformed query");
		return;
	}
	r->fn(srv, req, rest, &q);
	evhttp_clear_headers(&q);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;

	(void)sig;
	(void)what;
	event_base_loopbreak(srv->base);
}

/* Writes "PORT\n" to PATH.tmp and renames it to PATH. */
static int
write_port_file(const char *path, unsigned port)
{
	char *tmp = NULL;
	FILE *f = NULL;

	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		goto fail;
	}
	f = fopen(tmp, "w");
	if (f == NULL)
		goto fail;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) < 0)
		goto fail;
	free(tmp);
	return 0;

fail:
	fprintf(stderr, "testhttpd: %s: %s\n", tmp ? tmp : path,
	    strerror(errno));
	if (f != NULL)
		fclose(f);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	return -1;
}

/* Binds 127.0.0.1:PORT and returns the port actually bound (-1: error). */
static int
server_listen(struct server *srv, unsigned port)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	bound = evhttp_bind_socket_with_handle(srv->http, "127.0.0.1",
	    (ev_uint16_t)port);
	if (bound == NULL) {
		fprintf(stderr, "testhttpd: cannot bind 127.0.0.1:%u: %s\n",
		    port, strerror(errno));
		return -1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&sin, &len) < 0) {
		fprintf(stderr, "testhttpd: getsockname: %s\n",
		    strerror(errno));
		return -1;
	}
	return ntohs(sin.sin_port);
}

/* Creates the event base, HTTP server and signal events. */
static int
server_init(struct server *srv)
{
	LIST_INIT(&srv->streams);
	srv->base = event_base_new();
	if (srv->base == NULL)
		goto fail;
	srv->http = evhttp_new(srv->base);
	srv->scratch = evbuffer_new();
	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_signal, srv);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_signal, srv);
	if (srv->http == NULL || srv->scratch == NULL ||
	    srv->sigterm == NULL || srv->sigint == NULL)
		goto fail;
	if (event_add(srv->sigterm, NULL) < 0 ||
	    event_add(srv->sigint, NULL) < 0)
		goto fail;
	evhttp_set_allowed_methods(srv->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_body_size(srv->http, 1024 * 1024);
	evhttp_set_gencb(srv->http, on_request, srv);
	return 0;

fail:
	fprintf(stderr, "testhttpd: cannot set up libevent\n");
	return -1;
}

/* Frees everything: streams first, then the connections that carry them. */
static void
server_free(struct server *srv)
{
	while (!LIST_EMPTY(&srv->streams))
		stream_free(LIST_FIRST(&srv->streams));
	if (srv->http != NULL)
		evhttp_free(srv->http);
	if (srv->scratch != NULL)
		evbuffer_free(srv->scratch);
	if (srv->sigterm != NULL)
		event_free(srv->sigterm);
	if (srv->sigint != NULL)
		event_free(srv->sigint);
	keys_free(srv);
	if (srv->base != NULL)
		event_base_free(srv->base);
	libevent_global_shutdown();
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: testhttpd [--port N] [--port-file PATH] [-v]\n");
}

/* Parses the command line; returns -1 on error, 1 after --help. */
static int
parse_args(int argc, char **argv, unsigned *port, const char **port_file,
    int *verbose)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "p:f:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64_all(optarg, &v) < 0 || v > 65535) {
				fprintf(stderr, "testhttpd: bad port: %s\n",
				    optarg);
				return -1;
			}
			*port = (unsigned)v;
			break;
		case 'f':
			*port_file = optarg;
			break;
		case 'v':
			*verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct server srv;
	const char *port_file = NULL;
	unsigned port = 0;
	int rc, bound, status = 1;

	memset(&srv, 0, sizeof srv);
	rc = parse_args(argc, argv, &port, &port_file, &srv.verbose);
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	/* libevent writes without MSG_NOSIGNAL */
	signal(SIGPIPE, SIG_IGN);
	tables_init();
	if (server_init(&srv) < 0)
		goto out;
	bound = server_listen(&srv, port);
	if (bound < 0)
		goto out;
	if (port_file != NULL &&
	    write_port_file(port_file, (unsigned)bound) < 0)
		goto out;
	printf("%d\n", bound);
	fflush(stdout);
	if (event_base_dispatch(srv.base) < 0)
		goto out;
	status = 0;
out:
	server_free(&srv);
	return status;
}
