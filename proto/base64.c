/* Base64 (RFC 4648, padded), fast enough for streamed binary output. */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "base64.h"

size_t
base64_encoded_len(size_t len)
{
	return (len + 2) / 3 * 4;
}

/* Base64 by table. OpenSSL's EVP_EncodeBlock and EVP_DecodeBlock go a
 * byte at a time and took half the loop's time when streaming binary
 * files; this encodes 12 bits per look-up. The tables are made once,
 * by whichever thread comes first (the daemon's workers encode too). */
static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static uint16_t b64_pairs[4096]; /* 12 bits -> two characters */
static int8_t b64_values[256];   /* character -> 6 bits, or -1 */

static void
base64_make_tables(void)
{
	for (int i = 0; i < 4096; i++) {
		char pair[2] = {b64_alphabet[i >> 6], b64_alphabet[i & 63]};
		memcpy(&b64_pairs[i], pair, 2);
	}
	memset(b64_values, -1, sizeof b64_values);
	for (int i = 0; i < 64; i++)
		b64_values[(unsigned char)b64_alphabet[i]] = (int8_t)i;
}

static void
base64_tables(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, base64_make_tables);
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
