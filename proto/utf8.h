/* Strict UTF-8 (RFC 3629): no overlong forms, no encoded surrogates,
 * nothing past U+10FFFF. The one definition of "valid UTF-8" for both
 * directions: requests are refused by it, output chunks labelled utf-8
 * pass it. */
#ifndef ASYNCD_UTF8_H
#define ASYNCD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid character at S (LEN > 0 bytes available), or 0
 * when S does not start one. When S holds only the beginning of a
 * character that may still be valid, returns 0 and sets *CUT. */
size_t utf8_char_len(const unsigned char *s, size_t len, bool *cut);

/* Length of the longest valid UTF-8 prefix of S. *cut is set when the
 * rest is only the beginning of a character that may continue. */
size_t utf8_valid_prefix(const unsigned char *s, size_t len, bool *cut);

#endif
