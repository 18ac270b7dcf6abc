/* job.output lines taken apart by their fixed layout. */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "output-line.h"

/* Skips the literal LIT at *P; false if it is not there. */
static bool
expect(const char **p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return false;
	*p += n;
	return true;
}

static bool
number(const char **p, const char *end, uint64_t *out)
{
	const char *start = *p;
	uint64_t v = 0;

	while (*p < end && **p >= '0' && **p <= '9' && *p - start < 19)
		v = v * 10 + (uint64_t)(*(*p)++ - '0');
	*out = v;
	return *p > start;
}

const char *
outline_parse_head(const char *line, const char *end,
		   struct output_event *ev)
{
	const char *p = line, *q;

	if (!expect(&p, end, "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":") ||
	    !number(&p, end, &ev->id) || !expect(&p, end, ",\"seq\":") ||
	    !number(&p, end, &ev->seq) || !expect(&p, end, ",\"stream\":\""))
		return NULL;
	for (q = p; q < end && *q >= 'a' && *q <= 'z' && q - p < 7; q++)
		;
	if (q == p || q >= end || *q != '"')
		return NULL;
	memcpy(ev->stream, p, (size_t)(q - p));
	ev->stream[q - p] = '\0';
	p = q;
	if (!expect(&p, end, "\",\"offset\":") || !number(&p, end, &ev->offset) ||
	    !expect(&p, end, ",\"encoding\":\""))
		return NULL;
	return p;
}

bool
outline_parse(const char *line, size_t len, struct output_event *ev)
{
	const char *end = line + len, *p;

	if (len < 3 || memcmp(end - 3, "\"}}", 3) != 0)
		return false;
	end -= 3; /* the data's closing quote and the two braces */
	if ((p = outline_parse_head(line, end, ev)) == NULL)
		return false;
	if (expect(&p, end, "base64"))
		ev->base64 = true;
	else if (expect(&p, end, "utf-8"))
		ev->base64 = false;
	else
		return false;
	if (!expect(&p, end, "\",\"data\":\""))
		return false;
	ev->data = p;
	ev->data_len = (size_t)(end - p);
	return true;
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undoes JSON string escaping; only \u escapes below 0x80, which are all
 * the daemon writes, and no raw quote or control character. */
static long
unescape(const char *s, size_t len, unsigned char *out)
{
	const char *end = s + len;
	unsigned char *o = out;

	while (s < end) {
		const char *bs = memchr(s, '\\', (size_t)(end - s));
		size_t run = bs != NULL ? (size_t)(bs - s) : (size_t)(end - s);
		for (size_t i = 0; i < run; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == '"')
				return -1;
		memcpy(o, s, run);
		o += run;
		s += run;
		if (s == end)
			break;
		if (end - s < 2)
			return -1;
		char c = s[1];
		s += 2;
		switch (c) {
		case '"': case '\\': case '/': *o++ = (unsigned char)c; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			if (end - s < 4)
				return -1;
			int v = 0;
			for (int k = 0; k < 4; k++) {
				int h = hex_value(s[k]);
				if (h < 0)
					return -1;
				v = v << 4 | h;
			}
			if (v >= 0x80)
				return -1;
			*o++ = (unsigned char)v;
			s += 4;
			break;
		}
		default:
			return -1;
		}
	}
	return (long)(o - out);
}

long
outline_decode(const struct output_event *ev, unsigned char *out)
{
	if (ev->base64)
		return base64_decode(ev->data, ev->data_len, out);
	return unescape(ev->data, ev->data_len, out);
}

long
outline_read(const char *line, size_t len, struct output_event *ev,
	     unsigned char **buf, size_t *size)
{
	if (!outline_parse(line, len, ev))
		return -1;
	if (*size < ev->data_len + 4) {
		free(*buf);
		*size = ev->data_len + 4;
		if ((*buf = malloc(*size)) == NULL)
			abort();
	}
	return outline_decode(ev, *buf);
}
