/* job.output chunking: UTF-8 where the bytes allow it, base64 otherwise. */
#include <string.h>

#include "chunk.h"
#include "utf8.h"
#include "proto.h"

const char *
chunk_encoding_name(enum chunk_encoding enc)
{
	return enc == CHUNK_UTF8 ? "utf-8" : "base64";
}

void
chunk_init(struct chunk_encoder *enc, bool base64_only)
{
	memset(enc, 0, sizeof *enc);
	enc->base64_only = base64_only;
}

/* Sends one piece of at most PROTO_CHUNK_MAX bytes. */
static void
chunk_emit(struct chunk_encoder *enc, const unsigned char *p, size_t len,
	   chunk_sink sink, void *arg)
{
	if (len == 0)
		return;
	sink(arg, CHUNK_BASE64, enc->offset, p, len);
	enc->offset += len;
}

/* Encodes the bytes at P, which start on a character boundary; keeps an
 * unfinished character at the end in the carry. */
static void
chunk_encode_piece(struct chunk_encoder *enc, const unsigned char *p,
		   size_t len, chunk_sink sink, void *arg)
{
	bool cut;
	size_t valid;

	if (enc->base64_only) {
		chunk_emit(enc, p, len, sink, arg);
		return;
	}
	valid = utf8_valid_prefix(p, len, &cut);
	if (valid == len || (cut && valid > 0)) {
		if (valid > 0) {
			sink(arg, CHUNK_UTF8, enc->offset, p, valid);
			enc->offset += valid;
		}
		memcpy(enc->carry, p + valid, len - valid);
		enc->ncarry = len - valid;
		return;
	}
	if (cut) {
		/* Only the start of one character: wait for the rest. */
		memcpy(enc->carry, p, len);
		enc->ncarry = len;
		return;
	}
	chunk_emit(enc, p, len, sink, arg);
}

/* Completes a character carried over from the previous piece with bytes
 * from P; returns how many bytes of P it used. */
static size_t
chunk_complete_carry(struct chunk_encoder *enc, const unsigned char *p,
		     size_t len, chunk_sink sink, void *arg)
{
	unsigned char joined[8];
	size_t take = len < 4 ? len : 4;
	size_t total = enc->ncarry + take;
	bool cut;

	memcpy(joined, enc->carry, enc->ncarry);
	memcpy(joined + enc->ncarry, p, take);
	size_t n = utf8_char_len(joined, total, &cut);
	if (cut) { /* still unfinished: keep all of it */
		memcpy(enc->carry, joined, total);
		enc->ncarry = total;
		return take;
	}
	if (n > 0) { /* the character is whole */
		size_t used = n - enc->ncarry;
		enc->ncarry = 0;
		sink(arg, CHUNK_UTF8, enc->offset, joined, n);
		enc->offset += n;
		return used;
	}
	/* Not UTF-8 after all: the carried bytes go alone, as base64. */
	size_t old = enc->ncarry;
	enc->ncarry = 0;
	chunk_emit(enc, joined, old, sink, arg);
	return 0;
}

void
chunk_write(struct chunk_encoder *enc, const void *data, size_t len,
	    chunk_sink sink, void *arg)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n;
		if (enc->ncarry > 0) {
			n = chunk_complete_carry(enc, p, len, sink, arg);
		} else {
			n = len < PROTO_CHUNK_MAX ? len : PROTO_CHUNK_MAX;
			chunk_encode_piece(enc, p, n, sink, arg);
		}
		p += n;
		len -= n;
	}
}

void
chunk_write_raw(struct chunk_encoder *enc, const void *data, size_t len,
		chunk_sink sink, void *arg)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n;
		if (enc->ncarry > 0) {
			n = chunk_complete_carry(enc, p, len, sink, arg);
		} else {
			n = len < PROTO_BINARY_CHUNK_MAX ? len
							 : PROTO_BINARY_CHUNK_MAX;
			chunk_emit(enc, p, n, sink, arg);
		}
		p += n;
		len -= n;
	}
}

void
chunk_finish(struct chunk_encoder *enc, chunk_sink sink, void *arg)
{
	size_t n = enc->ncarry;

	enc->ncarry = 0;
	chunk_emit(enc, enc->carry, n, sink, arg);
}
