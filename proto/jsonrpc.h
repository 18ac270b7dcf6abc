/* JSON-RPC 2.0 envelopes: parsing a line, checking a request, building
 * responses and notifications. */
#ifndef ASYNCD_JSONRPC_H
#define ASYNCD_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct json_tokener;
struct evbuffer;

/* A tokener set up for requests: strict, UTF-8 checked, depth-limited. */
struct json_tokener *jsonrpc_tokener_new(void);

/* Parses one line as a single JSON text into *OUT (NULL for "null").
 * Returns 0, or -1 when it is not valid JSON (the caller answers -32700). */
int jsonrpc_parse(struct json_tokener *tok, const char *line, size_t len,
		  struct json_object **out);

/* True when TEXT holds nothing json-c accepts beyond RFC 8259 (raw
 * control characters in strings, bare words such as NaN, single quotes,
 * UTF-8 that is not strictly valid, \u escapes that are not valid
 * UTF-16) and nests at most PROTO_MAX_DEPTH arrays and objects. */
bool jsonrpc_text_is_strict(const char *text, size_t len);

/* Reads V, parsed by jsonrpc_parse(), as an integer into *OUT. False
 * when V is not an integer or was written outside int64: json-c clamps
 * those silently. */
bool jsonrpc_get_int64(struct json_object *v, int64_t *out);

struct rpc_request {
	struct json_object *id; /* borrowed; NULL for a notification */
	const char *method;
	struct json_object *params; /* borrowed; NULL when absent */
};

/* Reads MSG as a request. Returns 0, or the error code (-32600 or
 * -32602 for params) with req->id set when the id could be read. */
int jsonrpc_request_read(struct json_object *msg, struct rpc_request *req);

/* Builders; ID is borrowed (a new reference is taken). */
struct json_object *jsonrpc_result_new(struct json_object *id,
				       struct json_object *result);
struct json_object *jsonrpc_error_new(struct json_object *id, int code,
				      const char *message,
				      struct json_object *data);
struct json_object *jsonrpc_field_error_new(struct json_object *id, int code,
					    const char *field,
					    const char *reason);
struct json_object *jsonrpc_notification_new(const char *method,
					     struct json_object *params);

/* Appends OBJ as one compact line ending in '\n'. */
void jsonrpc_write(struct evbuffer *out, struct json_object *obj);

#endif
