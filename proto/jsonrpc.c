/* JSON-RPC 2.0 envelopes over json-c. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "proto.h"
#include "utf8.h"

struct json_tokener *
jsonrpc_tokener_new(void)
{
	/* json-c counts a scalar inside the innermost container as a level:
	 * jsonrpc_text_is_strict() enforces the real limit. */
	struct json_tokener *tok = json_tokener_new_ex(PROTO_MAX_DEPTH + 1);

	if (tok != NULL)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
						    JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

/* What a scan of a line found that json-c would let pass silently. */
struct jsonrpc_scan {
	bool below_int64; /* an integer less than INT64_MIN */
	bool pair_fffd;   /* a surrogate pair json-c decodes to U+FFFD */
};

static int
jsonrpc_hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The value of the four hex digits at S[I], or -1. */
static int
jsonrpc_hex4(const unsigned char *s, size_t len, size_t i)
{
	int v = 0;

	if (i + 4 > len)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		int d = jsonrpc_hex_digit(s[k]);
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* The code point of the surrogate pair whose first escape's backslash
 * is S[I], or -1 when there is none there. */
static long
jsonrpc_pair_at(const unsigned char *s, size_t len, size_t i)
{
	int hi, lo;

	if (i + 11 >= len || s[i] != '\\' || s[i + 1] != 'u' ||
	    s[i + 6] != '\\' || s[i + 7] != 'u')
		return -1;
	hi = jsonrpc_hex4(s, len, i + 2);
	lo = jsonrpc_hex4(s, len, i + 8);
	if (hi < 0xd800 || hi > 0xdbff || lo < 0xdc00 || lo > 0xdfff)
		return -1;
	return 0x10000 + ((long)(hi - 0xd800) << 10) + (lo - 0xdc00);
}

/* Checks the \u escape at S[*POS] (its backslash) and moves past it. It
 * must be a character or a surrogate pair: json-c turns a lone surrogate
 * into U+FFFD, so that an id would come back changed. */
static bool
jsonrpc_scan_escape(const unsigned char *s, size_t len, size_t *pos,
		    struct jsonrpc_scan *scan)
{
	int u = jsonrpc_hex4(s, len, *pos + 2);
	long pair;

	if (u >= 0xd800 && u <= 0xdbff) {
		if ((pair = jsonrpc_pair_at(s, len, *pos)) < 0)
			return false;
		/* json-c 0.16 takes the low 16 bits of the code point for
		 * a surrogate again (U+1D800 to U+1DFFF, U+2D800 ...). */
		if ((pair & 0xf800) == 0xd800)
			scan->pair_fffd = true;
		*pos += 12;
		return true;
	}
	if (u < 0 || (u >= 0xdc00 && u <= 0xdfff))
		return false;
	*pos += 6;
	return true;
}

/* Checks the string whose opening quote is S[*POS]: no raw control
 * characters, strict UTF-8 (json-c's check lets overlong forms,
 * surrogates and code points past U+10FFFF through), \u escapes that
 * are valid UTF-16. Leaves *POS on the closing quote. */
static bool
jsonrpc_scan_string(const unsigned char *s, size_t len, size_t *pos,
		    struct jsonrpc_scan *scan)
{
	size_t i = *pos + 1, n;
	bool cut;

	while (i < len) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
		} else if (c == '"') {
			break;
		} else if (c == '\\') {
			if (i + 1 < len && s[i + 1] == 'u') {
				if (!jsonrpc_scan_escape(s, len, &i, scan))
					return false;
			} else {
				i += 2; /* json-c checks the other escapes */
			}
		} else if (c < 0x20) {
			return false;
		} else if ((n = utf8_char_len(s + i, len - i, &cut)) == 0) {
			return false;
		} else {
			i += n;
		}
	}
	*pos = i;
	return true;
}

static bool
jsonrpc_is_number_char(unsigned char c)
{
	return isdigit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
	       c == '-';
}

/* Moves *POS to the last byte of the number starting there, noting an
 * integer below INT64_MIN: json-c clamps it to INT64_MIN silently, and
 * unlike a value past INT64_MAX, it cannot be told apart afterwards. */
static void
jsonrpc_scan_number(const unsigned char *s, size_t len, size_t *pos,
		    struct jsonrpc_scan *scan)
{
	size_t i = *pos, digits, ndigits;
	bool negative = s[i] == '-';

	if (negative)
		i++;
	while (i < len && s[i] == '0')
		i++;
	for (digits = i; i < len && isdigit(s[i]); i++)
		;
	ndigits = i - digits;
	bool integer = i == len || (s[i] != '.' && s[i] != 'e' && s[i] != 'E');
	while (i < len && jsonrpc_is_number_char(s[i]))
		i++;
	if (integer && negative &&
	    (ndigits > 19 ||
	     (ndigits == 19 &&
	      memcmp(s + digits, "9223372036854775808", 19) > 0)))
		scan->below_int64 = true;
	*pos = i - 1;
}

/* Moves *POS to the last letter of the word starting there; true for the
 * words of JSON. */
static bool
jsonrpc_scan_word(const unsigned char *s, size_t len, size_t *pos)
{
	size_t start = *pos, i = start;

	while (i + 1 < len && isalpha(s[i + 1]))
		i++;
	*pos = i;
	size_t n = i - start + 1;
	const char *w = (const char *)s + start;
	return (n == 4 && memcmp(w, "true", 4) == 0) ||
	       (n == 5 && memcmp(w, "false", 5) == 0) ||
	       (n == 4 && memcmp(w, "null", 4) == 0);
}

/* One pass over a line for what json-c accepts beyond RFC 8259 and
 * RFC 3629 (see jsonrpc_text_is_strict), and for what it would change
 * silently. */
static bool
jsonrpc_scan(const char *text, size_t len, struct jsonrpc_scan *scan)
{
	const unsigned char *s = (const unsigned char *)text;
	int depth = 0;

	memset(scan, 0, sizeof *scan);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		if (c == '"') {
			if (!jsonrpc_scan_string(s, len, &i, scan))
				return false;
		} else if (c == '[' || c == '{') {
			if (++depth > PROTO_MAX_DEPTH)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (c == '-' || isdigit(c)) {
			jsonrpc_scan_number(s, len, &i, scan);
		} else if (c >= 0x80 || c == '\'') {
			return false;
		} else if (isalpha(c)) {
			if (!jsonrpc_scan_word(s, len, &i))
				return false;
		}
	}
	return true;
}

bool
jsonrpc_text_is_strict(const char *text, size_t len)
{
	struct jsonrpc_scan scan;

	return jsonrpc_scan(text, len, &scan);
}

/* The user data of an integer that json-c clamped to INT64_MIN. */
static char jsonrpc_clamped_mark;

/* Marks every INT64_MIN in V as clamped. Called only for a line that
 * holds an integer below INT64_MIN: json-c keeps no text of integers,
 * so a true INT64_MIN in the same line is marked too. */
static void
jsonrpc_mark_clamped(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
		if (json_object_get_int64(v) == INT64_MIN)
			json_object_set_userdata(v, &jsonrpc_clamped_mark,
						 NULL);
		break;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(v); i++)
			jsonrpc_mark_clamped(json_object_array_get_idx(v, i));
		break;
	case json_type_object: {
		json_object_object_foreach(v, key, val)
		{
			(void)key;
			jsonrpc_mark_clamped(val);
		}
		break;
	}
	default:
		break;
	}
}

bool
jsonrpc_get_int64(struct json_object *v, int64_t *out)
{
	int64_t i;

	if (!json_object_is_type(v, json_type_int))
		return false;
	i = json_object_get_int64(v);
	/* Past INT64_MAX json-c keeps a uint64 (clamped to UINT64_MAX). */
	if (i == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
		return false;
	if (i == INT64_MIN &&
	    json_object_get_userdata(v) == &jsonrpc_clamped_mark)
		return false;
	*out = i;
	return true;
}

/* Writes code point CP as UTF-8 into OUT; returns its length. */
static size_t
jsonrpc_put_utf8(long cp, char *out)
{
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A copy of the scanned LINE with every surrogate pair escape written as
 * its UTF-8 instead, which json-c takes as it is; *LEN is updated. For
 * the rare line with a pair json-c would decode to U+FFFD. */
static char *
jsonrpc_decode_pairs(const char *line, size_t *len)
{
	const unsigned char *s = (const unsigned char *)line;
	char *copy = malloc(*len + 1);
	bool in_string = false;
	size_t n = 0;
	long cp;

	if (copy == NULL)
		return NULL;
	for (size_t i = 0; i < *len; i++) {
		if (in_string && (cp = jsonrpc_pair_at(s, *len, i)) >= 0) {
			n += jsonrpc_put_utf8(cp, copy + n);
			i += 11;
			continue;
		}
		if (in_string && s[i] == '\\' && i + 1 < *len) {
			copy[n++] = line[i++]; /* the escaped byte goes too */
		} else if (s[i] == '"') {
			in_string = !in_string;
		}
		copy[n++] = line[i];
	}
	copy[n] = '\0';
	*len = n;
	return copy;
}

int
jsonrpc_parse(struct json_tokener *tok, const char *line, size_t len,
	      struct json_object **out)
{
	struct json_object *obj;
	enum json_tokener_error err;
	struct jsonrpc_scan scan;
	char *decoded = NULL;

	*out = NULL;
	json_tokener_reset(tok);
	if (!jsonrpc_scan(line, len, &scan))
		return -1;
	if (scan.pair_fffd) {
		if ((decoded = jsonrpc_decode_pairs(line, &len)) == NULL)
			return -1;
		line = decoded;
	}
	obj = json_tokener_parse_ex(tok, line, (int)len);
	err = json_tokener_get_error(tok);
	/* A bare number only ends at a delimiter: feed the terminating NUL. */
	if (err == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
	} else if (err == json_tokener_success) {
		/* Only white space may follow the value. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
			if (!isspace((unsigned char)line[i])) {
				err = json_tokener_error_parse_unexpected;
				break;
			}
		}
	}
	free(decoded);
	if (err != json_tokener_success) {
		json_object_put(obj);
		json_tokener_reset(tok);
		return -1;
	}
	if (scan.below_int64)
		jsonrpc_mark_clamped(obj);
	*out = obj;
	return 0;
}

/* An integer id must fit in int64: json-c would echo a clamped one. */
static bool
id_is_valid(struct json_object *id)
{
	int64_t i;

	return jsonrpc_get_int64(id, &i) ||
	       json_object_is_type(id, json_type_string);
}

int
jsonrpc_request_read(struct json_object *msg, struct rpc_request *req)
{
	struct json_object *v, *id = NULL;
	bool has_id;

	memset(req, 0, sizeof *req);
	if (!json_object_is_type(msg, json_type_object))
		return RPC_INVALID_REQUEST;
	has_id = json_object_object_get_ex(msg, "id", &id);
	if (has_id && id_is_valid(id))
		req->id = id;
	if (has_id && req->id == NULL)
		return RPC_INVALID_REQUEST;
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0)
		return RPC_INVALID_REQUEST;
	if (!json_object_object_get_ex(msg, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		return RPC_INVALID_REQUEST;
	req->method = json_object_get_string(v);
	if (json_object_object_get_ex(msg, "params", &v)) {
		if (!json_object_is_type(v, json_type_object))
			return RPC_INVALID_PARAMS;
		req->params = v;
	}
	return 0;
}

static struct json_object *
envelope_new(struct json_object *id)
{
	struct json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_get(id));
	return msg;
}

struct json_object *
jsonrpc_result_new(struct json_object *id, struct json_object *result)
{
	struct json_object *msg = envelope_new(id);

	json_object_object_add(msg, "result", result);
	return msg;
}

struct json_object *
jsonrpc_error_new(struct json_object *id, int code, const char *message,
		  struct json_object *data)
{
	struct json_object *msg = envelope_new(id);
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(
		err, "message",
		json_object_new_string(message ? message
					       : proto_rpc_message(code)));
	if (data != NULL)
		json_object_object_add(err, "data", data);
	json_object_object_add(msg, "error", err);
	return msg;
}

struct json_object *
jsonrpc_field_error_new(struct json_object *id, int code, const char *field,
			const char *reason)
{
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, "field", json_object_new_string(field));
	json_object_object_add(data, "reason", json_object_new_string(reason));
	return jsonrpc_error_new(id, code, NULL, data);
}

struct json_object *
jsonrpc_notification_new(const char *method, struct json_object *params)
{
	struct json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "method", json_object_new_string(method));
	json_object_object_add(msg, "params", params);
	return msg;
}

void
jsonrpc_write(struct evbuffer *out, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);

	evbuffer_add(out, s, len);
	evbuffer_add(out, "\n", 1);
}
