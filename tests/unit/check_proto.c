/* Unit tests of libproto: framing, JSON-RPC envelopes, the chunk encoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <event2/buffer.h>
#include <json-c/json.h>

#include "../../proto/base64.h"
#include "../../proto/binary-frame.h"
#include "../../proto/chunk.h"
#include "../../proto/frame.h"
#include "../../proto/jsonrpc.h"
#include "../../proto/line-client.h"
#include "../../proto/output-line.h"
#include "../../proto/proto.h"
#include "../../proto/utf8.h"
#include "../../daemon/events.h"
#include "../testutil.h"

/* ---- framing ----------------------------------------------------------- */

START_TEST(frame_splits_lines_and_strips_cr)
{
	struct evbuffer *in = evbuffer_new();
	struct frame_reader fr;
	const char *line;
	size_t len;

	frame_init(&fr, 100);
	evbuffer_add_printf(in, "abc\r\n\ndef\npartial");
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert_int_eq(len, 3);
	ck_assert(memcmp(line, "abc", 3) == 0);
	frame_consume(&fr, in);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert_int_eq(len, 0);
	frame_consume(&fr, in);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert(len == 3 && memcmp(line, "def", 3) == 0);
	frame_consume(&fr, in);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_NONE);
	evbuffer_add_printf(in, "\n");
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert(len == 7 && memcmp(line, "partial", 7) == 0);
	frame_consume(&fr, in);
	evbuffer_free(in);
}
END_TEST

START_TEST(frame_limit_discards_without_buffering)
{
	struct evbuffer *in = evbuffer_new();
	struct frame_reader fr;
	char chunk[64];
	const char *line;
	size_t len;

	frame_init(&fr, 100);
	memset(chunk, 'x', sizeof chunk);
	/* Exactly the limit passes. */
	evbuffer_add(in, chunk, 50);
	evbuffer_add(in, chunk, 50);
	evbuffer_add(in, "\n", 1);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert_int_eq(len, 100);
	frame_consume(&fr, in);
	/* One byte more is refused once, and its bytes are dropped as they
	 * come, in pieces, until the newline. */
	evbuffer_add(in, chunk, 64);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_NONE);
	evbuffer_add(in, chunk, 64);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_TOO_LARGE);
	ck_assert_int_eq(evbuffer_get_length(in), 0);
	for (int i = 0; i < 100; i++) {
		evbuffer_add(in, chunk, 64);
		ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_NONE);
		ck_assert_int_eq(evbuffer_get_length(in), 0);
	}
	evbuffer_add_printf(in, "tail\nok\n");
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert(len == 2 && memcmp(line, "ok", 2) == 0);
	frame_consume(&fr, in);
	/* A long line that arrives whole is refused the same way. */
	for (int i = 0; i < 3; i++)
		evbuffer_add(in, chunk, 64);
	evbuffer_add_printf(in, "\nnext\n");
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_TOO_LARGE);
	ck_assert_int_eq(frame_next(&fr, in, &line, &len), FRAME_LINE);
	ck_assert(len == 4 && memcmp(line, "next", 4) == 0);
	frame_consume(&fr, in);
	evbuffer_free(in);
}
END_TEST

/* ---- JSON-RPC ------------------------------------------------------------ */

static struct json_tokener *tok;

static void
tok_setup(void)
{
	tok = jsonrpc_tokener_new();
}

static void
tok_teardown(void)
{
	json_tokener_free(tok);
}

static bool
parses(const char *s)
{
	struct json_object *o;
	int rc = jsonrpc_parse(tok, s, strlen(s), &o);

	json_object_put(o);
	return rc == 0;
}

START_TEST(parse_accepts_json_rejects_the_rest)
{
	static const char *const good[] = {
		"{}", "[]", "1", "-1.5e3", "\"s\"", "true", "null",
		"{\"a\":[1,{\"b\":\"\\u00e9\\n\"}]}  ", "{\"k\":\"h\xc3\xa9\"}",
	};
	static const char *const bad[] = {
		"", "   ", "{", "{\"a\":1", "{} x", "{}{}", "'a'", "{'a':1}",
		"NaN", "[Infinity]", "{\"a\":\"\t\"}", "[1,]", "\"\xff\"",
		"\"\xc3\"", "{\"a\":tru}", "nul", "0x10", "[1 2]",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(parses(good[i]), "rejected %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!parses(bad[i]), "accepted %s", bad[i]);
	/* A rejected line does not poison the next. */
	ck_assert(parses("{}"));
}
END_TEST

/* json-c 0.16's JSON_TOKENER_VALIDATE_UTF8 lets these through, and turns
 * lone surrogate escapes into U+FFFD. */
START_TEST(parse_rejects_what_is_not_strict_utf8)
{
	static const char *const bad[] = {
		"\"\xc0\xaf\"",             /* overlong '/' */
		"\"\xc1\xbf\"",             /* overlong */
		"\"\xe0\x80\xaf\"",         /* overlong, 3 bytes */
		"\"\xf0\x80\x80\xaf\"",     /* overlong, 4 bytes */
		"\"\xed\xa0\x80\"",         /* encoded high surrogate */
		"\"\xed\xbf\xbf\"",         /* encoded low surrogate */
		"\"\xf4\x90\x80\x80\"",     /* U+110000 */
		"\"\xf5\x80\x80\x80\"",     /* lead bytes F5 to FF */
		"\"\xf8\x88\x80\x80\x80\"", /* 5 bytes */
		"\"\xfe\"", "\"\xff\"",
		"\"\xe2\x82\"",  /* truncated before the quote */
		"\"\xe2\x82x\"", /* truncated before ASCII */
		"\"\xf0\x9f\x98\"",
		"\"\x80\"", /* a lone continuation byte */
		"{\"a\":1,\"k\xc0\xaf\":2}", /* in a key */
		"[1]\xc3\xa9",               /* outside any string */
		"\"\\ud800\"",               /* lone high surrogate */
		"\"\\uDBFF\"",
		"\"\\ud800x\"",
		"\"\\ud800\\n\"",
		"\"\\ud800\\u0041\"", /* high, then not a low one */
		"\"\\ud800\\ud800\"",
		"\"\\udc00\"", /* lone low surrogate */
		"\"\\udfff\\ud800\"",
		"\"\\ud83d\\ude00\\udc00\"",
		"\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\\u",
	};
	static const char *const good[] = {
		"\"\xc2\x80\xdf\xbf\"",         /* 2-byte bounds */
		"\"\xe0\xa0\x80\xef\xbf\xbf\"", /* 3-byte bounds */
		"\"\xed\x9f\xbf\xee\x80\x80\"", /* either side of surrogates */
		"\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"", /* 4-byte bounds */
		"\"\\ud83d\\ude00\"", "\"\\uD83D\\uDE00\"",
		"\"\\ud7ff\\ue000\\uffff\\u0041\"",
		"\"\\\\ud800\"",   /* an escaped backslash, then text */
		"\"\\\\\\ud83d\\udE00\"",
		"[\"\\\"\",\"\\ud800\\udc00\"]", /* a quote inside a string */
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!parses(bad[i]), "accepted bad case %zu", i);
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(parses(good[i]), "rejected good case %zu", i);
	/* A pair comes through as its character, also those json-c 0.16
	 * alone decodes to U+FFFD (the low 16 bits of the code point look
	 * like a surrogate: U+1DA00, U+1DC00, U+10DFFF ...), in keys too. */
	static const struct {
		const char *text, *want;
	} pairs[] = {
		{"\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80"},
		{"\"\\ud837\\ude00\"", "\xf0\x9d\xb8\x80"},
		{"\"\\ud836\\ude00\"", "\xf0\x9d\xa8\x80"},
		{"\"\\ud837\\udc00\"", "\xf0\x9d\xb0\x80"},
		{"\"\\udbf7\\udfff\"", "\xf4\x8d\xbf\xbf"},
		{"\"a\\\\\\ud837\\ude00\\\"\\ud83d\\ude00\\n\"",
		 "a\\\xf0\x9d\xb8\x80\"\xf0\x9f\x98\x80\n"},
	};
	struct json_object *o;
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		ck_assert_int_eq(jsonrpc_parse(tok, pairs[i].text,
					       strlen(pairs[i].text), &o), 0);
		ck_assert_msg(strcmp(json_object_get_string(o), pairs[i].want) == 0,
			      "pair case %zu", i);
		json_object_put(o);
	}
	const char *key = "{\"\\ud837\\ude00\":[\"\\ud837\\ude00\"]} ";
	ck_assert_int_eq(jsonrpc_parse(tok, key, strlen(key), &o), 0);
	ck_assert_str_eq(jstr(o, "\xf0\x9d\xb8\x80.0"), "\xf0\x9d\xb8\x80");
	json_object_put(o);
	/* Still strict where json-c is handed a rewritten copy. */
	ck_assert(!parses("[\"\\ud837\\ude00\"] x"));
	ck_assert(!parses("[\"\\ud837\\ude00\",\"\\ud800\"]"));
}
END_TEST

START_TEST(parse_depth_limit_is_64)
{
	char buf[300];

	for (int n = 63; n <= 66; n++) {
		memset(buf, '[', (size_t)n);
		memset(buf + n, ']', (size_t)n);
		buf[2 * n] = '\0';
		ck_assert_int_eq(parses(buf), n <= PROTO_MAX_DEPTH);
	}
	/* Containers count, not the scalar inside the innermost. */
	for (int n = 63; n <= 65; n++) {
		char obj[700] = "";
		for (int i = 0; i < n; i++)
			strcat(obj, "{\"a\":");
		strcat(obj, "1");
		for (int i = 0; i < n; i++)
			strcat(obj, "}");
		ck_assert_int_eq(parses(obj), n <= PROTO_MAX_DEPTH);
	}
}
END_TEST

START_TEST(every_truncation_of_a_request_fails_cleanly)
{
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.submit\","
			  "\"params\":{\"kind\":\"sleep\",\"args\":{\"ms\":100},"
			  "\"label\":\"n\\u00e9\",\"after\":[1,2]}}";
	size_t len = strlen(req);

	for (size_t n = 0; n < len; n++) {
		struct json_object *o;
		/* A prefix is never a complete request. */
		if (jsonrpc_parse(tok, req, n, &o) == 0) {
			struct rpc_request r;
			ck_assert_msg(jsonrpc_request_read(o, &r) != 0,
				      "prefix %zu accepted", n);
			json_object_put(o);
		}
	}
	struct json_object *o;
	struct rpc_request r;
	ck_assert_int_eq(jsonrpc_parse(tok, req, len, &o), 0);
	ck_assert_int_eq(jsonrpc_request_read(o, &r), 0);
	ck_assert_str_eq(r.method, "job.submit");
	ck_assert_int_eq(json_object_get_int(r.id), 7);
	json_object_put(o);
}
END_TEST

/* The error code jsonrpc_request_read gives TEXT, and whether it kept
 * the id. */
static int
request_code(const char *text, bool *has_id)
{
	struct json_object *o;
	struct rpc_request r;
	int code;

	ck_assert_msg(jsonrpc_parse(tok, text, strlen(text), &o) == 0, "not JSON: %s", text);
	code = jsonrpc_request_read(o, &r);
	*has_id = r.id != NULL;
	json_object_put(o);
	return code;
}

START_TEST(request_envelope_errors)
{
	bool has_id;

	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", &has_id), 0);
	ck_assert(!has_id); /* a notification */
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"m\"}", &has_id), 0);
	ck_assert(has_id);
	ck_assert_int_eq(request_code("{\"id\":1,\"method\":\"m\"}", &has_id), RPC_INVALID_REQUEST);
	ck_assert(has_id);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"m\"}", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":1}", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}", &has_id), RPC_INVALID_REQUEST);
	ck_assert(!has_id);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}", &has_id), RPC_INVALID_REQUEST);
	ck_assert(!has_id);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("[1]", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("null", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("\"x\"", &has_id), RPC_INVALID_REQUEST);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":[1]}", &has_id), RPC_INVALID_PARAMS);
	ck_assert(has_id);
	ck_assert_int_eq(request_code("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"m\",\"params\":null}", &has_id), RPC_INVALID_PARAMS);
}
END_TEST

/* json-c clamps integers outside int64 without a word: an id or a
 * param written so must not pass as the clamped value. */
START_TEST(integers_outside_int64_are_not_clamped_values)
{
	static const char *const outside[] = {
		"9223372036854775808", "-9223372036854775809",
		"18446744073709551615", "18446744073709551616",
		"-99999999999999999999", "100000000000000000000000",
	};
	static const struct {
		const char *text;
		int64_t value;
	} inside[] = {
		{"9223372036854775807", INT64_MAX},
		{"-9223372036854775808", INT64_MIN},
		{"-0", 0},
		{"-922337203685477580", -922337203685477580LL},
	};
	char line[200];
	bool has_id;
	struct json_object *o;
	int64_t v;

	for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}",
			 outside[i]);
		ck_assert_msg(request_code(line, &has_id) == RPC_INVALID_REQUEST,
			      "id %s accepted", outside[i]);
		ck_assert_msg(!has_id, "id %s kept", outside[i]);
		ck_assert_int_eq(jsonrpc_parse(tok, outside[i],
					       strlen(outside[i]), &o), 0);
		ck_assert_msg(!jsonrpc_get_int64(o, &v), "%s read", outside[i]);
		json_object_put(o);
	}
	for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
		snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"m\"}",
			 inside[i].text);
		ck_assert_int_eq(request_code(line, &has_id), 0);
		ck_assert(has_id);
		ck_assert_int_eq(jsonrpc_parse(tok, inside[i].text,
					       strlen(inside[i].text), &o), 0);
		ck_assert(jsonrpc_get_int64(o, &v));
		ck_assert(v == inside[i].value);
		json_object_put(o);
	}
	/* Deep inside params too; other members stay readable. */
	const char *deep = "{\"a\":[1,{\"b\":-9223372036854775809}],\"c\":-5,"
			   "\"d\":1.5e400}";
	ck_assert_int_eq(jsonrpc_parse(tok, deep, strlen(deep), &o), 0);
	ck_assert(!jsonrpc_get_int64(jget(o, "a.1.b"), &v));
	ck_assert(jsonrpc_get_int64(jget(o, "a.0"), &v) && v == 1);
	ck_assert(jsonrpc_get_int64(jget(o, "c"), &v) && v == -5);
	ck_assert(!jsonrpc_get_int64(jget(o, "d"), &v)); /* not an integer */
	json_object_put(o);
}
END_TEST

START_TEST(responses_are_one_compact_line)
{
	struct json_object *id = json_object_new_int(3);
	struct json_object *e = jsonrpc_field_error_new(id, RPC_INVALID_PARAMS, "args.url", "bad");
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *line;

	jsonrpc_write(out, e);
	line = evbuffer_readln(out, &n, EVBUFFER_EOL_LF);
	ck_assert_str_eq(line, "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,"
			       "\"message\":\"invalid params\",\"data\":{\"field\":\"args.url\","
			       "\"reason\":\"bad\"}}}");
	ck_assert_int_eq(evbuffer_get_length(out), 0);
	free(line);
	evbuffer_free(out);
	json_object_put(e);
	json_object_put(id);
	ck_assert_str_eq(proto_rpc_message(RPC_SHUTTING_DOWN), "shutting down");
	ck_assert_str_eq(proto_rpc_message(RPC_NO_SUCH_JOB), "no such job");
}
END_TEST

/* ---- chunk encoder ------------------------------------------------------- */

struct collected {
	struct evbuffer *raw;   /* decoded bytes, concatenated */
	int utf8, base64;       /* chunks of each encoding */
	uint64_t next_offset;
	size_t max_len;
};

static void
collect(void *arg, enum chunk_encoding enc, uint64_t offset,
	const unsigned char *raw, size_t len)
{
	struct collected *c = arg;
	bool cut;

	ck_assert_int_eq(offset, c->next_offset);
	ck_assert_int_gt(len, 0);
	ck_assert_int_le(len, PROTO_CHUNK_MAX);
	if (enc == CHUNK_UTF8) {
		ck_assert_int_eq(utf8_valid_prefix(raw, len, &cut), len);
		c->utf8++;
	} else {
		/* Round-trip through the real base64 text. */
		char *text = malloc(base64_encoded_len(len) + 1);
		unsigned char *back = malloc(len + 3);
		base64_encode(raw, len, text);
		ck_assert_int_eq(base64_decode(text, base64_encoded_len(len), back), (long)len);
		ck_assert(memcmp(back, raw, len) == 0);
		free(text);
		free(back);
		c->base64++;
	}
	evbuffer_add(c->raw, raw, len);
	c->next_offset += len;
	if (len > c->max_len)
		c->max_len = len;
}

/* Encodes DATA written in pieces of STEP bytes; checks it round-trips. */
static struct collected
encode_in_steps(const unsigned char *data, size_t len, size_t step, bool b64)
{
	struct chunk_encoder enc;
	struct collected c = {evbuffer_new(), 0, 0, 0, 0};

	chunk_init(&enc, b64);
	for (size_t i = 0; i < len; i += step)
		chunk_write(&enc, data + i, len - i < step ? len - i : step, collect, &c);
	chunk_finish(&enc, collect, &c);
	ck_assert_int_eq(evbuffer_get_length(c.raw), len);
	ck_assert(memcmp(evbuffer_pullup(c.raw, -1), data, len) == 0);
	evbuffer_free(c.raw);
	return c;
}

START_TEST(chunks_of_utf8_text_stay_utf8_across_splits)
{
	const char *piece = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80 ";
	size_t plen = strlen(piece), len = 300000;
	unsigned char *text = malloc(len);

	for (size_t i = 0; i < len; i++)
		text[i] = (unsigned char)piece[i % plen];
	len -= len % plen; /* end on a character boundary */
	/* Every split position of a multibyte character, small and large. */
	static const size_t steps[] = {1, 2, 3, 5, 7, 4096, 65535, 65536, 100000, 300000};
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		struct collected c = encode_in_steps(text, len, steps[s], false);
		ck_assert_msg(c.base64 == 0, "step %zu gave base64", steps[s]);
		ck_assert_int_gt(c.utf8, 0);
	}
	free(text);
}
END_TEST

START_TEST(binary_goes_base64_and_round_trips)
{
	size_t len = 200000;
	unsigned char *bin = malloc(len);

	for (size_t i = 0; i < len; i++)
		bin[i] = (unsigned char)((i * 131 + 7) % 251);
	struct collected c = encode_in_steps(bin, len, 70000, false);
	ck_assert_int_gt(c.base64, 0);
	ck_assert_int_le(c.max_len, PROTO_CHUNK_MAX);
	c = encode_in_steps(bin, len, 1, false);
	ck_assert_int_gt(c.base64, 0);
	/* "base64" mode: every chunk, even of text. */
	c = encode_in_steps((const unsigned char *)"plain text", 10, 3, true);
	ck_assert_int_eq(c.utf8, 0);
	ck_assert_int_gt(c.base64, 0);
	free(bin);
}
END_TEST

START_TEST(cut_character_at_the_end_is_flushed_as_base64)
{
	const unsigned char text[] = "abc\xe2\x9c"; /* a cut check mark */
	struct collected c = encode_in_steps(text, 5, 5, false);

	ck_assert_int_eq(c.utf8, 1);
	ck_assert_int_eq(c.base64, 1);
}
END_TEST

START_TEST(utf8_validation_is_strict)
{
	bool cut;
	static const struct {
		const char *s;
		size_t valid;
		bool cut;
	} cases[] = {
		{"abc", 3, false},
		{"\xc0\x80", 0, false},         /* overlong NUL */
		{"\xed\xa0\x80", 0, false},     /* surrogate */
		{"\xf4\x90\x80\x80", 0, false}, /* above U+10FFFF */
		{"a\xe2\x9c", 1, true},         /* cut */
		{"a\xe2(", 1, false},
		{"\xf0\x9f\x98\x80", 4, false},
		{"\xff", 0, false},
		{"a\xc0\xaf", 1, false},          /* overlong '/' */
		{"\xe0\x80\xaf", 0, false},      /* overlong, 3 bytes */
		{"\xe0\x80", 0, false},           /* ... even cut */
		{"\xf0\x80\x80\xaf", 0, false}, /* overlong, 4 bytes */
		{"\xed\xbf\xbf", 0, false},      /* low surrogate */
		{"\xf5\x80\x80\x80", 0, false}, /* past U+10FFFF */
		{"\xf4\x8f\xbf\xbf", 4, false}, /* U+10FFFF */
		{"\xed\x9f\xbf", 3, false},      /* U+D7FF */
		{"ab\xf0\x9f\x98", 2, true},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = utf8_valid_prefix((const unsigned char *)cases[i].s,
					     strlen(cases[i].s), &cut);
		ck_assert_msg(n == cases[i].valid && cut == cases[i].cut, "case %zu", i);
	}
}
END_TEST

/* What is not strictly valid UTF-8 never goes out labelled utf-8, cut
 * across writes or not. */
START_TEST(chunks_of_invalid_utf8_forms_go_base64)
{
	static const char *const forms[] = {
		"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xe2\x82",
	};

	for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		for (size_t step = 1; step <= 4; step++) {
			struct collected c = encode_in_steps(
				(const unsigned char *)forms[i],
				strlen(forms[i]), step, false);
			ck_assert_msg(c.utf8 == 0 && c.base64 > 0,
				      "form %zu, step %zu", i, step);
		}
	}
}
END_TEST

START_TEST(time_format_is_rfc3339_millis)
{
	char buf[32];

	proto_format_time(1795687200123LL, buf);
	ck_assert_str_eq(buf, "2026-11-26T10:00:00.123Z");
	ck_assert_str_eq(proto_state_name(JOB_COMPLETED), "completed");
	ck_assert_int_eq(proto_state_parse("failed"), JOB_FAILED);
	ck_assert_int_eq(proto_state_parse("cancelled"), -1);
}
END_TEST

/* Writes a job.output line as the daemon does, reads it back as asyncctl
 * does. */
static void
outline_round_trip(const unsigned char *raw, size_t len, enum chunk_encoding enc)
{
	struct job job = {.id = 42, .seq = 7};
	struct evbuffer *buf = evbuffer_new();
	struct output_event ev;
	unsigned char *back = malloc(len + 8);
	size_t n;

	events_write_output(buf, job.id, job.seq, "stderr", 1234, enc, raw, len);
	n = evbuffer_get_length(buf);
	const char *line = (const char *)evbuffer_pullup(buf, -1);
	ck_assert(line[n - 1] == '\n');
	ck_assert(outline_parse(line, n - 1, &ev));
	ck_assert_int_eq(ev.id, 42);
	ck_assert_int_eq(ev.seq, 7);
	ck_assert_int_eq(ev.offset, 1234);
	ck_assert_str_eq(ev.stream, "stderr");
	ck_assert_int_eq(ev.base64, enc == CHUNK_BASE64);
	ck_assert_int_eq(outline_decode(&ev, back), (long)len);
	ck_assert(memcmp(back, raw, len) == 0);
	/* And json-c reads the same line the same way. */
	struct json_object *o;
	ck_assert_int_eq(jsonrpc_parse(tok, line, n - 1, &o), 0);
	ck_assert_int_eq(json_object_get_int64(jget(o, "params.offset")), 1234);
	json_object_put(o);
	free(back);
	evbuffer_free(buf);
}

START_TEST(output_lines_decode_without_json_c)
{
	unsigned char all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	/* Every byte below 0x80 as text: escapes of every kind. */
	outline_round_trip(all, 128, CHUNK_UTF8);
	outline_round_trip((const unsigned char *)"h\xc3\xa9llo \"q\" \\ \xe2\x9c\x93", 17, CHUNK_UTF8);
	outline_round_trip(all, 256, CHUNK_BASE64);
	outline_round_trip(all, 0, CHUNK_UTF8);
	for (size_t k = 1; k <= 5; k++)
		outline_round_trip(all + 100, k, CHUNK_BASE64);

	/* Anything else is left to json-c. */
	struct output_event ev;
	const char *other = "{\"jsonrpc\":\"2.0\",\"method\":\"job.started\",\"params\":{\"id\":1,\"seq\":1,\"kind\":\"sleep\"}}";
	ck_assert(!outline_parse(other, strlen(other), &ev));
	const char *spaced = "{ \"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0,\"encoding\":\"utf-8\",\"data\":\"x\"}}";
	ck_assert(!outline_parse(spaced, strlen(spaced), &ev));
	const char *wide = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0,\"encoding\":\"utf-8\",\"data\":\"\\u00e9\"}}";
	unsigned char out[16];
	ck_assert(outline_parse(wide, strlen(wide), &ev));
	ck_assert_int_eq(outline_decode(&ev, out), -1);
	for (size_t cut = 0; cut < strlen(wide); cut++)
		if (outline_parse(wide, cut, &ev))
			ck_assert_int_lt(outline_decode(&ev, out), 2);
}
END_TEST


START_TEST(binary_headers_by_layout_and_by_members)
{
	struct evbuffer *buf = evbuffer_new();
	struct output_event ev;
	struct json_object *msg;

	events_write_output_header(buf, 7, 3, "stderr", 65536, 1024 * 1024);
	size_t len = evbuffer_get_length(buf) - 1; /* without its '\n' */
	char *line = (char *)evbuffer_pullup(buf, -1);
	ck_assert_int_eq(binframe_parse(line, len, &ev), 1024 * 1024);
	ck_assert_uint_eq(ev.id, 7);
	ck_assert_uint_eq(ev.seq, 3);
	ck_assert_str_eq(ev.stream, "stderr");
	ck_assert_uint_eq(ev.offset, 65536);
	for (size_t cut = 0; cut < len; cut++)
		ck_assert_int_eq(binframe_parse(line, cut, &ev), -1);
	ck_assert_int_eq(jsonrpc_parse(tok, line, len, &msg), 0);
	ck_assert_int_eq(binframe_length(msg), 1024 * 1024);
	json_object_put(msg);
	evbuffer_free(buf);

	/* Past the limit, or with more after it: not a frame. */
	const char *big = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0,\"encoding\":\"binary\",\"length\":1048577}}";
	ck_assert_int_eq(binframe_parse(big, strlen(big), &ev), -1);
	const char *more = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0,\"encoding\":\"binary\",\"length\":5}}x";
	ck_assert_int_eq(binframe_parse(more, strlen(more), &ev), -1);
	/* Another order of members: by json-c only. */
	const char *other = "{\"method\":\"job.output\",\"jsonrpc\":\"2.0\",\"params\":{\"length\":5,\"encoding\":\"binary\",\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0}}";
	ck_assert_int_eq(binframe_parse(other, strlen(other), &ev), -1);
	ck_assert_int_eq(jsonrpc_parse(tok, other, strlen(other), &msg), 0);
	ck_assert_int_eq(binframe_length(msg), 5);
	json_object_put(msg);
	/* JSON data, or a length that is not an integer: not a frame. */
	const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":1,\"stream\":\"data\",\"offset\":0,\"encoding\":\"utf-8\",\"data\":\"binary\"}}";
	ck_assert_int_eq(binframe_parse(text, strlen(text), &ev), -1);
	ck_assert_int_eq(jsonrpc_parse(tok, text, strlen(text), &msg), 0);
	ck_assert_int_eq(binframe_length(msg), -1);
	json_object_put(msg);
	const char *strlen5 = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"encoding\":\"binary\",\"length\":\"5\"}}";
	ck_assert_int_eq(jsonrpc_parse(tok, strlen5, strlen(strlen5), &msg), 0);
	ck_assert_int_eq(binframe_length(msg), -1);
	json_object_put(msg);
}
END_TEST

/* What a frame hook received. */
struct pieces {
	unsigned char data[64];
	size_t len;
	int calls, ends;
};

static void
take_piece(void *arg, const struct output_event *ev UNUSED,
	   const unsigned char *data, size_t len, bool end)
{
	struct pieces *p = arg;

	ck_assert_uint_le(p->len + len, sizeof p->data);
	if (len > 0)
		memcpy(p->data + p->len, data, len);
	p->len += len;
	p->calls++;
	p->ends += end;
}

START_TEST(line_client_reads_binary_frames)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":1,\"seq\":2,\"stream\":\"data\",\"offset\":0,\"encoding\":\"binary\",\"length\":10}}\n";
	static const char next[] = "{\"jsonrpc\":\"2.0\",\"method\":\"job.completed\",\"params\":{\"id\":1,\"seq\":3}}\n";
	static const unsigned char bytes[10] = {'a', '\n', 0, '{', '\n', 0xff, 'x', '\r', '\n', 'z'};
	enum line_client_status st;
	struct json_object *msg;
	int sv[2];

	/* Without a hook: the header message carries the bytes. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct line_client *lc = line_client_open(sv[0]);
	ck_assert_int_eq(write(sv[1], head, strlen(head)), (ssize_t)strlen(head));
	ck_assert_int_eq(write(sv[1], bytes, 4), 4);
	ck_assert_ptr_null(line_client_recv(lc, 50, &st)); /* mid-frame */
	ck_assert_int_eq(st, LINE_CLIENT_TIMEOUT);
	ck_assert_int_eq(write(sv[1], bytes + 4, 6), 6);
	ck_assert_int_eq(write(sv[1], next, strlen(next)), (ssize_t)strlen(next));
	msg = line_client_recv(lc, 1000, &st);
	ck_assert_ptr_nonnull(msg);
	struct json_object *data = jget(msg, "params.data");
	ck_assert_int_eq(json_object_get_string_len(data), 10);
	ck_assert_mem_eq(json_object_get_string(data), bytes, 10);
	json_object_put(msg);
	msg = line_client_recv(lc, 1000, &st);
	ck_assert_str_eq(jstr(msg, "method"), "job.completed");
	json_object_put(msg);
	line_client_free(lc);
	close(sv[1]);

	/* With a hook: the bytes in pieces as they come, one end. */
	struct pieces p = {.len = 0};
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	lc = line_client_open(sv[0]);
	line_client_on_frame(lc, take_piece, &p);
	ck_assert_int_eq(write(sv[1], head, strlen(head)), (ssize_t)strlen(head));
	ck_assert_int_eq(write(sv[1], bytes, 4), 4);
	ck_assert_ptr_null(line_client_recv(lc, 50, &st));
	ck_assert_uint_eq(p.len, 4);
	ck_assert_int_eq(p.ends, 0);
	ck_assert_int_eq(write(sv[1], bytes + 4, 6), 6);
	ck_assert_int_eq(write(sv[1], next, strlen(next)), (ssize_t)strlen(next));
	msg = line_client_recv(lc, 1000, &st);
	ck_assert_str_eq(jstr(msg, "method"), "job.completed");
	json_object_put(msg);
	ck_assert_uint_eq(p.len, 10);
	ck_assert_mem_eq(p.data, bytes, 10);
	ck_assert_int_eq(p.ends, 1);
	line_client_free(lc);
	close(sv[1]);
}
END_TEST

/* Collects chunks for the raw cutter's test. */
struct cuts {
	size_t n, lens[8];
	uint64_t offsets[8];
	enum chunk_encoding encs[8];
};

static void
take_cut(void *arg, enum chunk_encoding enc, uint64_t offset,
	 const unsigned char *raw UNUSED, size_t len)
{
	struct cuts *c = arg;

	ck_assert_uint_lt(c->n, 8);
	c->lens[c->n] = len;
	c->offsets[c->n] = offset;
	c->encs[c->n++] = enc;
}

START_TEST(raw_chunks_are_cut_at_the_binary_limit)
{
	size_t size = 2 * PROTO_BINARY_CHUNK_MAX + 5;
	unsigned char *text = malloc(size);
	struct chunk_encoder enc;
	struct cuts c = {0};

	memset(text, 'a', size);
	chunk_init(&enc, false);
	/* A character cut by an earlier write is finished first, as text. */
	chunk_write(&enc, "\xc3", 1, take_cut, &c);
	ck_assert_uint_eq(c.n, 0);
	text[0] = 0xa9;
	chunk_write_raw(&enc, text, size, take_cut, &c);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_int_eq(c.encs[0], CHUNK_UTF8);
	ck_assert_uint_eq(c.lens[0], 2);
	ck_assert_uint_eq(c.lens[1], PROTO_BINARY_CHUNK_MAX);
	ck_assert_uint_eq(c.lens[2], PROTO_BINARY_CHUNK_MAX);
	ck_assert_uint_eq(c.lens[3], 4);
	ck_assert_uint_eq(c.offsets[3], 2 + 2 * PROTO_BINARY_CHUNK_MAX);
	free(text);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("frame");

	tcase_add_test(tc, frame_splits_lines_and_strips_cr);
	tcase_add_test(tc, frame_limit_discards_without_buffering);
	suite_add_tcase(s, tc);
	tc = tcase_create("jsonrpc");
	tcase_add_checked_fixture(tc, tok_setup, tok_teardown);
	tcase_add_test(tc, parse_accepts_json_rejects_the_rest);
	tcase_add_test(tc, parse_rejects_what_is_not_strict_utf8);
	tcase_add_test(tc, parse_depth_limit_is_64);
	tcase_add_test(tc, every_truncation_of_a_request_fails_cleanly);
	tcase_add_test(tc, request_envelope_errors);
	tcase_add_test(tc, integers_outside_int64_are_not_clamped_values);
	tcase_add_test(tc, responses_are_one_compact_line);
	tcase_add_test(tc, output_lines_decode_without_json_c);
	tcase_add_test(tc, binary_headers_by_layout_and_by_members);
	tcase_add_test(tc, line_client_reads_binary_frames);
	suite_add_tcase(s, tc);
	tc = tcase_create("chunk");
	tcase_add_test(tc, chunks_of_utf8_text_stay_utf8_across_splits);
	tcase_add_test(tc, binary_goes_base64_and_round_trips);
	tcase_add_test(tc, cut_character_at_the_end_is_flushed_as_base64);
	tcase_add_test(tc, utf8_validation_is_strict);
	tcase_add_test(tc, chunks_of_invalid_utf8_forms_go_base64);
	tcase_add_test(tc, raw_chunks_are_cut_at_the_binary_limit);
	tcase_add_test(tc, time_format_is_rfc3339_millis);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(proto_suite());
}
