/* Binary job.output headers: by their fixed layout (output-line.c takes
 * the part all job.output lines share), or by their members. */
#include <string.h>

#include <json-c/json.h>

#include "binary-frame.h"

long
binframe_parse(const char *line, size_t len, struct output_event *ev)
{
	static const char tail[] = "binary\",\"length\":";
	const char *end = line + len, *p = outline_parse_head(line, end, ev);
	const char *digits;
	uint64_t length = 0;

	if (p == NULL || (size_t)(end - p) < sizeof tail - 1 ||
	    memcmp(p, tail, sizeof tail - 1) != 0)
		return -1;
	/* The length, then exactly the two closing braces. */
	for (digits = p += sizeof tail - 1;
	     p < end && *p >= '0' && *p <= '9' && p - digits < 8; p++)
		length = length * 10 + (uint64_t)(*p - '0');
	if (p == digits || end - p != 2 || memcmp(p, "}}", 2) != 0 ||
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
