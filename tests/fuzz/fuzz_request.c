/* libFuzzer harness for the request path: everything a client's bytes go
 * through before any job exists. Framing with a small limit, JSON parsing
 * with the strictness checks, the JSON-RPC envelope, the params readers
 * and each kind's validate(), and the output chunk encoder (whose decoded
 * chunks must give back the input). Build with
 *   CC=clang ./configure --enable-fuzz --enable-sanitizers && make tests/fuzz/fuzz_request
 * and run tests/fuzz/fuzz_request tests/fuzz/corpus. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "../../daemon/kinds.h"
#include "../../proto/chunk.h"
#include "../../proto/frame.h"
#include "../../proto/jsonrpc.h"
#include "../../proto/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct json_tokener *tok;

/* Runs the kind named in a job.submit through its validate(). */
static void
fuzz_submit(struct json_object *params)
{
	struct json_object *kind, *args;
	const struct job_kind *k;
	struct param_error err;

	if (!json_object_object_get_ex(params, "kind", &kind) ||
	    !json_object_object_get_ex(params, "args", &args) ||
	    !json_object_is_type(args, json_type_object))
		return;
	if ((k = kinds_find(json_object_get_string(kind))) != NULL)
		k->validate(args, &err);
}

static void
fuzz_line(const char *line, size_t len)
{
	struct json_object *msg;
	struct rpc_request req;

	if (jsonrpc_parse(tok, line, len, &msg) < 0)
		return;
	size_t n = json_object_is_type(msg, json_type_array) ? json_object_array_length(msg) : 1;
	for (size_t i = 0; i < n; i++) {
		struct json_object *one = json_object_is_type(msg, json_type_array)
						  ? json_object_array_get_idx(msg, i)
						  : msg;
		if (jsonrpc_request_read(one, &req) == 0 && req.params != NULL &&
		    strcmp(req.method, "job.submit") == 0)
			fuzz_submit(req.params);
	}
	json_object_put(msg);
}

struct decoded {
	unsigned char *buf;
	size_t len;
};

static void
collect(void *arg, enum chunk_encoding enc, uint64_t offset,
	const unsigned char *raw, size_t len)
{
	struct decoded *d = arg;
	bool cut;

	if (offset != d->len || (enc == CHUNK_UTF8 && utf8_valid_prefix(raw, len, &cut) != len))
		abort();
	memcpy(d->buf + d->len, raw, len);
	d->len += len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *in = evbuffer_new();
	struct frame_reader fr;
	struct chunk_encoder enc;
	struct decoded d = {malloc(size + 1), 0};
	const char *line;
	size_t len;

	if (tok == NULL)
		tok = jsonrpc_tokener_new();
	frame_init(&fr, 4096);
	/* In two pieces, as a socket may deliver them. */
	size_t half = size / 2;
	evbuffer_add(in, data, half);
	for (int pass = 0; pass < 2; pass++) {
		enum frame_result r;
		while ((r = frame_next(&fr, in, &line, &len)) != FRAME_NONE) {
			if (r == FRAME_LINE) {
				fuzz_line(line, len);
				frame_consume(&fr, in);
			}
		}
		evbuffer_add(in, data + half, size - half);
	}
	evbuffer_free(in);

	chunk_init(&enc, false);
	chunk_write(&enc, data, half, collect, &d);
	chunk_write(&enc, data + half, size - half, collect, &d);
	chunk_finish(&enc, collect, &d);
	if (d.len != size || memcmp(d.buf, data, size) != 0)
		abort();
	free(d.buf);
	return 0;
}
