/* Rendering of job events (JSON-RPC notifications) into lines. */
#ifndef ASYNCD_EVENTS_H
#define ASYNCD_EVENTS_H

#include <stdint.h>

#include "job.h"

struct evbuffer;
struct json_object;

/* Appends one job.output line; RAW is encoded as ENC says. */
void events_write_output(struct evbuffer *out, uint64_t id, uint32_t seq,
			 const char *stream, uint64_t offset,
			 enum chunk_encoding enc, const unsigned char *raw,
			 size_t len);
/* Appends one notification line METHOD with PARAMS (taken), to which
 * "id" and "seq" are prepended. */
void events_write(struct evbuffer *out, const char *method, uint64_t id,
		  uint32_t seq, struct json_object *params);
/* Appends S as a JSON string literal, quotes included. */
void events_write_json_string(struct evbuffer *out, const unsigned char *s,
			      size_t len);

#endif
