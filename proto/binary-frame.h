/* Binary job.output frames on the client side: a header line whose
 * params say "encoding": "binary" and "length": N, then N raw bytes
 * (PROTOCOL.md, "Binary output frames"). */
#ifndef ASYNCD_BINARY_FRAME_H
#define ASYNCD_BINARY_FRAME_H

#include <stddef.h>

#include "output-line.h"
#include "proto.h"

struct json_object;

/* The longest payload a header may announce. */
#define BINFRAME_MAX_LENGTH PROTO_BINARY_CHUNK_MAX

/* Recognises LINE as a binary header in the daemon's own layout, without
 * a JSON parser; fills EV (its data unset) and returns the length, or -1
 * for any other line. */
long binframe_parse(const char *line, size_t len, struct output_event *ev);
/* The same test on a parsed message, for headers in another layout;
 * -1 when MSG is not a binary job.output header. */
long binframe_length(struct json_object *msg);

#endif
