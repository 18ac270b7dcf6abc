/* Chunking and encoding of job.output on a worker thread. Nothing here
 * touches a job, a connection or the loop's state. */
#include <stdlib.h>
#include <string.h>

#include "../proto/base64.h"
#include "events.h"
#include "output-buf.h"
#include "output-encode.h"
#include "output-frame.h"
#include "xmalloc.h"

struct encode_ctx {
	struct encoded_output *e;
	const unsigned char *data;
	size_t len;
};

/* Records one chunk the encoder cut. */
static void
encode_sink(void *arg, enum chunk_encoding enc, uint64_t offset,
	    const unsigned char *raw, size_t len)
{
	struct encode_ctx *ctx = arg;
	struct encoded_output *e = ctx->e;

	if (e->n == e->cap) {
		e->cap = e->cap ? 2 * e->cap : 32;
		e->chunks = xreallocarray(e->chunks, e->cap, sizeof *e->chunks);
	}
	e->chunks[e->n] = (struct encoded_chunk){
		.enc = enc, .offset = offset, .raw = raw, .len = len};
	/* Bytes outside DATA are a completed carry, at most 8: copied, and
	 * pointed to once all are there (the side buffer may move). */
	if (raw < ctx->data || raw >= ctx->data + ctx->len) {
		if (e->nside + len > e->side_cap) {
			e->side_cap = e->side_cap ? 2 * e->side_cap : 64;
			e->side = xrealloc(e->side, e->side_cap);
		}
		memcpy(e->side + e->nside, raw, len);
		e->chunks[e->n].in_side = true;
		e->chunks[e->n].side_at = e->nside;
		e->nside += len;
	}
	e->n++;
}

/* The size of chunk C's literal. */
static size_t
encode_size(const struct encoded_chunk *c)
{
	if (c->enc == CHUNK_BASE64)
		return base64_encoded_len(c->len) + 2;
	return events_json_string_size(c->raw, c->len);
}

struct encoded_output *
output_encode(struct chunk_encoder *enc, const unsigned char *data,
	      size_t len)
{
	struct encoded_output *e = xcalloc(1, sizeof *e);
	struct encode_ctx ctx = {e, data, len};

	chunk_write(enc, data, len, encode_sink, &ctx);
	for (size_t i = 0; i < e->n; i++)
		if (e->chunks[i].in_side)
			e->chunks[i].raw = e->side + e->chunks[i].side_at;
	output_encode_texts(e);
	return e;
}

void
output_encode_texts(struct encoded_output *e)
{
	size_t total = 0;

	for (size_t i = 0; i < e->n; i++) {
		e->chunks[i].text_at = total;
		e->chunks[i].text_len = encode_size(&e->chunks[i]);
		total += e->chunks[i].text_len;
	}
	e->text = output_buf_new(total);
	for (size_t i = 0; i < e->n; i++) {
		struct encoded_chunk *c = &e->chunks[i];
		char *p = (char *)e->text->data + c->text_at;
		if (c->enc == CHUNK_BASE64) {
			p[0] = '"';
			base64_encode(c->raw, c->len, p + 1);
			p[c->text_len - 1] = '"';
		} else {
			events_json_string_put(p, c->raw, c->len, c->text_len);
		}
	}
}

struct output_chunk
output_encoded_chunk(const struct encoded_output *e, size_t i,
		     enum job_stream stream, struct output_buf *buf)
{
	const struct encoded_chunk *c = &e->chunks[i];
	struct output_chunk out = {.stream = stream,
				   .offset = c->offset,
				   .enc = c->enc,
				   .raw = c->raw,
				   .len = c->len,
				   .buf = buf};

	if (e->text != NULL) {
		out.text_buf = e->text;
		out.text = (const char *)e->text->data + c->text_at;
		out.text_len = c->text_len;
	}
	return out;
}

void
output_encoded_free(struct encoded_output *e)
{
	if (e == NULL)
		return;
	output_buf_unref(e->text);
	free(e->chunks);
	free(e->side);
	free(e);
}
