/* JSON-RPC 2.0 envelopes over json-c. */
#include <ctype.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "jsonrpc.h"
#include "proto.h"

struct json_tokener *
jsonrpc_tokener_new(void)
{
	/* json-c counts a scalar inside the innermost container as a level:
	 * jsonrpc_text_is_strict() enforces the real limit. */
	struct json_tokener *tok = json_tokener_new_ex(PROTO_MAX_DEPTH + 1);

	if (tok != NULL)
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
						    JSON_TOKENER_VALIDATE_UTF8);
	return tok;
}

bool
jsonrpc_text_is_strict(const char *text, size_t len)
{
	bool in_string = false;
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (in_string) {
			if (c == '\\')
				i++; /* json-c checks the escape itself */
			else if (c == '"')
				in_string = false;
			else if (c < 0x20)
				return false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > PROTO_MAX_DEPTH)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		} else if (isalpha(c)) {
			size_t start = i;
			while (i + 1 < len && isalpha((unsigned char)text[i + 1]))
				i++;
			size_t n = i - start + 1;
			const char *w = text + start;
			if (!(n == 4 && memcmp(w, "true", 4) == 0) &&
			    !(n == 5 && memcmp(w, "false", 5) == 0) &&
			    !(n == 4 && memcmp(w, "null", 4) == 0) &&
			    !(n == 1 && (*w == 'e' || *w == 'E')))
				return false;
		} else if (c == '\'') {
			return false;
		}
	}
	return true;
}

int
jsonrpc_parse(struct json_tokener *tok, const char *line, size_t len,
	      struct json_object **out)
{
	struct json_object *obj;
	enum json_tokener_error err;

	*out = NULL;
	json_tokener_reset(tok);
	if (!jsonrpc_text_is_strict(line, len))
		return -1;
	obj = json_tokener_parse_ex(tok, line, (int)len);
	err = json_tokener_get_error(tok);
	/* A bare number only ends at a delimiter: feed the terminating NUL. */
	if (err == json_tokener_continue) {
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
	} else if (err == json_tokener_success) {
		/* Only white space may follow the value. */
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
			if (!isspace((unsigned char)line[i])) {
				err = json_tokener_error_parse_unexpected;
				break;
			}
		}
	}
	if (err != json_tokener_success) {
		json_object_put(obj);
		json_tokener_reset(tok);
		return -1;
	}
	*out = obj;
	return 0;
}

static bool
id_is_valid(struct json_object *id)
{
	return json_object_is_type(id, json_type_int) ||
	       json_object_is_type(id, json_type_string);
}

int
jsonrpc_request_read(struct json_object *msg, struct rpc_request *req)
{
	struct json_object *v, *id = NULL;
	bool has_id;

	memset(req, 0, sizeof *req);
	if (!json_object_is_type(msg, json_type_object))
		return RPC_INVALID_REQUEST;
	has_id = json_object_object_get_ex(msg, "id", &id);
	if (has_id && id_is_valid(id))
		req->id = id;
	if (has_id && req->id == NULL)
		return RPC_INVALID_REQUEST;
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0)
		return RPC_INVALID_REQUEST;
	if (!json_object_object_get_ex(msg, "method", &v) ||
	    !json_object_is_type(v, json_type_string))
		return RPC_INVALID_REQUEST;
	req->method = json_object_get_string(v);
	if (json_object_object_get_ex(msg, "params", &v)) {
		if (!json_object_is_type(v, json_type_object))
			return RPC_INVALID_PARAMS;
		req->params = v;
	}
	return 0;
}

static struct json_object *
envelope_new(struct json_object *id)
{
	struct json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_get(id));
	return msg;
}

struct json_object *
jsonrpc_result_new(struct json_object *id, struct json_object *result)
{
	struct json_object *msg = envelope_new(id);

	json_object_object_add(msg, "result", result);
	return msg;
}

struct json_object *
jsonrpc_error_new(struct json_object *id, int code, const char *message,
		  struct json_object *data)
{
	struct json_object *msg = envelope_new(id);
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(
		err, "message",
		json_object_new_string(message ? message
					       : proto_rpc_message(code)));
	if (data != NULL)
		json_object_object_add(err, "data", data);
	json_object_object_add(msg, "error", err);
	return msg;
}

struct json_object *
jsonrpc_field_error_new(struct json_object *id, int code, const char *field,
			const char *reason)
{
	struct json_object *data = json_object_new_object();

	json_object_object_add(data, "field", json_object_new_string(field));
	json_object_object_add(data, "reason", json_object_new_string(reason));
	return jsonrpc_error_new(id, code, NULL, data);
}

struct json_object *
jsonrpc_notification_new(const char *method, struct json_object *params)
{
	struct json_object *msg = json_object_new_object();

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "method", json_object_new_string(method));
	json_object_object_add(msg, "params", params);
	return msg;
}

void
jsonrpc_write(struct evbuffer *out, struct json_object *obj)
{
	size_t len;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);

	evbuffer_add(out, s, len);
	evbuffer_add(out, "\n", 1);
}
