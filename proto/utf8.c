/* Strict UTF-8 validation (RFC 3629, section 4). */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

/* Length of the character starting with lead byte C, or 0 if C cannot
 * start one: C0 and C1 only start overlong forms, F5 to FF code points
 * past U+10FFFF. */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* RFC 3629's table for the second byte, which is where overlong forms
 * (E0, F0), surrogates (ED) and code points past U+10FFFF (F4) show. */
static bool
utf8_second_ok(unsigned char lead, unsigned char second)
{
	switch (lead) {
	case 0xe0:
		return second >= 0xa0 && second <= 0xbf;
	case 0xed:
		return second >= 0x80 && second <= 0x9f;
	case 0xf0:
		return second >= 0x90 && second <= 0xbf;
	case 0xf4:
		return second >= 0x80 && second <= 0x8f;
	default:
		return second >= 0x80 && second <= 0xbf;
	}
}

size_t
utf8_char_len(const unsigned char *s, size_t len, bool *cut)
{
	size_t n = utf8_seq_len(s[0]);
	size_t have = len < n ? len : n;

	*cut = false;
	if (n == 0)
		return 0;
	for (size_t k = 1; k < have; k++) {
		bool ok = k == 1 ? utf8_second_ok(s[0], s[1])
				 : (s[k] & 0xc0) == 0x80;
		if (!ok)
			return 0;
	}
	if (have < n) {
		*cut = true;
		return 0;
	}
	return n;
}

size_t
utf8_valid_prefix(const unsigned char *s, size_t len, bool *cut)
{
	size_t i = 0;

	*cut = false;
	while (i < len) {
		/* ASCII runs are the common case: take eight at a time. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = utf8_char_len(s + i, len - i, cut);
		if (n == 0)
			return i;
		i += n;
	}
	return i;
}
