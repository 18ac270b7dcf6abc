/* Base64 encoding and decoding of job.output data (standard alphabet,
 * padded). */
#ifndef ASYNCD_BASE64_H
#define ASYNCD_BASE64_H

#include <stddef.h>

/* Characters of base64 for LEN raw bytes. */
size_t base64_encoded_len(size_t len);
/* Encodes LEN bytes of IN into OUT, NUL-terminated: OUT holds
 * base64_encoded_len(LEN) + 1 bytes. */
void base64_encode(const unsigned char *in, size_t len, char *out);
/* Decodes base64 TEXT into OUT (room for 3 * len / 4 bytes). Returns the
 * number of bytes, or -1 when TEXT is not padded base64. */
long base64_decode(const char *text, size_t len, unsigned char *out);

#endif
