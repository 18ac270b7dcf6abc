/* Binary job.output headers: by their fixed layout, or by their members. */
#include <string.h>

#include <json-c/json.h>

#include "binary-frame.h"

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

long
binframe_parse(const char *line, size_t len, struct output_event *ev)
{
	const char *p = line, *end = line + len, *q;
	uint64_t length;

	if (!expect(&p, end, "{\"jsonrpc\":\"2.0\",\"method\":\"job.output\",\"params\":{\"id\":") ||
	    !number(&p, end, &ev->id) || !expect(&p, end, ",\"seq\":") ||
	    !number(&p, end, &ev->seq) || !expect(&p, end, ",\"stream\":\""))
		return -1;
	for (q = p; q < end && *q >= 'a' && *q <= 'z' && q - p < 7; q++)
		;
	if (q == p || q >= end || *q != '"')
		return -1;
	memcpy(ev->stream, p, (size_t)(q - p));
	ev->stream[q - p] = '\0';
	p = q;
	if (!expect(&p, end, "\",\"offset\":") || !number(&p, end, &ev->offset) ||
	    !expect(&p, end, ",\"encoding\":\"binary\",\"length\":") ||
	    !number(&p, end, &length) || !expect(&p, end, "}}") || p != end ||
	    length > BINFRAME_MAX_LENGTH)
		return -1;
	ev->base64 = false;
	ev->data = NULL;
	ev->data_len = 0;
	return (long)length;
}

long
binframe_length(struct json_object *msg)
{
	struct json_object *method, *params, *enc, *length;

	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "method", &method) ||
	    !json_object_is_type(method, json_type_string) ||
	    strcmp(json_object_get_string(method), "job.output") != 0 ||
	    !json_object_object_get_ex(msg, "params", &params) ||
	    !json_object_object_get_ex(params, "encoding", &enc) ||
	    !json_object_is_type(enc, json_type_string) ||
	    strcmp(json_object_get_string(enc), "binary") != 0 ||
	    !json_object_object_get_ex(params, "length", &length) ||
	    !json_object_is_type(length, json_type_int))
		return -1;
	int64_t n = json_object_get_int64(length);
	return n >= 0 && n <= BINFRAME_MAX_LENGTH ? (long)n : -1;
}
