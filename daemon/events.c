/* Job events on the wire. job.output carries up to 64 KiB of data, so it
 * is written straight into the output buffer rather than built as a json-c
 * object and serialised (which would copy and re-scan it twice). */
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "events.h"

static const char hex[] = "0123456789abcdef";

void
events_write_json_string(struct evbuffer *out, const unsigned char *s,
			 size_t len)
{
	struct evbuffer_iovec vec;
	char *p;

	/* Worst case: every byte becomes "\u00XX". */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(len * 6 + 2), &vec, 1) < 1)
		return;
	p = vec.iov_base;
	*p++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"':
		case '\\':
			*p++ = (char)c;
			break;
		case '\n':
			*p++ = 'n';
			break;
		case '\r':
			*p++ = 'r';
			break;
		case '\t':
			*p++ = 't';
			break;
		case '\b':
			*p++ = 'b';
			break;
		case '\f':
			*p++ = 'f';
			break;
		default:
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
			break;
		}
	}
	*p++ = '"';
	vec.iov_len = (size_t)(p - (char *)vec.iov_base);
	evbuffer_commit_space(out, &vec, 1);
}

static void
write_base64(struct evbuffer *out, const unsigned char *raw, size_t len)
{
	struct evbuffer_iovec vec;
	size_t n = base64_encoded_len(len);

	if (evbuffer_reserve_space(out, (ev_ssize_t)n + 2, &vec, 1) < 1)
		return;
	char *p = vec.iov_base;
	*p++ = '"';
	base64_encode(raw, len, p);
	p[n] = '"';
	vec.iov_len = n + 2;
	evbuffer_commit_space(out, &vec, 1);
}

void
events_write_output(struct evbuffer *out, uint64_t id, uint32_t seq,
		    const char *stream, uint64_t offset,
		    enum chunk_encoding enc, const unsigned char *raw,
		    size_t len)
{
	evbuffer_add_printf(out,
			    "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\","
			    "\"params\":{\"id\":%" PRIu64 ",\"seq\":%" PRIu32
			    ",\"stream\":\"%s\",\"offset\":%" PRIu64
			    ",\"encoding\":\"%s\",\"data\":",
			    id, seq, stream, offset, chunk_encoding_name(enc));
	if (enc == CHUNK_BASE64)
		write_base64(out, raw, len);
	else
		events_write_json_string(out, raw, len);
	evbuffer_add(out, "}}\n", 3);
}

void
events_write(struct evbuffer *out, const char *method, uint64_t id,
	     uint32_t seq, struct json_object *params)
{
	struct json_object *p = json_object_new_object();
	struct json_object *msg;

	json_object_object_add(p, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(p, "seq", json_object_new_int64(seq));
	json_object_object_foreach(params, key, val)
		json_object_object_add(p, key, json_object_get(val));
	json_object_put(params);
	msg = jsonrpc_notification_new(method, p);
	jsonrpc_write(out, msg);
	json_object_put(msg);
}
