/* job.output chunking: UTF-8 where the bytes allow it, base64 otherwise. */
#include <string.h>

#include "chunk.h"
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
chunk_finish(struct chunk_encoder *enc, chunk_sink sink, void *arg)
{
	size_t n = enc->ncarry;

	enc->ncarry = 0;
	chunk_emit(enc, enc->carry, n, sink, arg);
}

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

/* Base64 by table. OpenSSL's EVP_EncodeBlock and EVP_DecodeBlock go a
 * byte at a time and took half the loop's time when streaming binary
 * files; this encodes 12 bits per look-up. Loop thread and client only. */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static uint16_t b64_pairs[4096]; /* 12 bits -> two characters */
static int8_t b64_values[256];   /* character -> 6 bits, or -1 */

static void
base64_tables(void)
{
	static bool ready;

	if (ready)
		return;
	for (int i = 0; i < 4096; i++) {
		char pair[2] = {b64_alphabet[i >> 6], b64_alphabet[i & 63]};
		memcpy(&b64_pairs[i], pair, 2);
	}
	memset(b64_values, -1, sizeof b64_values);
	for (int i = 0; i < 64; i++)
		b64_values[(unsigned char)b64_alphabet[i]] = (int8_t)i;
	ready = true;
}

void
base64_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i = 0;

	base64_tables();
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		memcpy(out, &b64_pairs[v >> 12], 2);
		memcpy(out + 2, &b64_pairs[v & 0xfff], 2);
		out += 4;
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[0] = b64_alphabet[v >> 18];
		out[1] = b64_alphabet[(v >> 12) & 63];
		out[2] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[3] = '=';
		out += 4;
	}
	*out = '\0';
}

long
base64_decode(const char *text, size_t len, unsigned char *out)
{
	const unsigned char *t = (const unsigned char *)text;
	size_t pad = 0, n = 0;

	base64_tables();
	if (len % 4 != 0)
		return -1;
	if (len > 0 && t[len - 1] == '=')
		pad = t[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int a = b64_values[t[i]], b = b64_values[t[i + 1]];
		int c = last && pad == 2 ? 0 : b64_values[t[i + 2]];
		int d = last && pad >= 1 ? 0 : b64_values[t[i + 3]];
		if ((a | b | c | d) < 0)
			return -1;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		out[n++] = (unsigned char)(v >> 16);
		out[n++] = (unsigned char)(v >> 8);
		out[n++] = (unsigned char)v;
	}
	return (long)(n - pad);
}
