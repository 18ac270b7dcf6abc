/* Typed reads of request members, each naming the field it rejects. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "params.h"

int
param_fail(struct param_error *err, const char *field, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->field, sizeof err->field, "%s", field);
	va_start(ap, fmt);
	vsnprintf(err->reason, sizeof err->reason, fmt, ap);
	va_end(ap);
	return -1;
}

static void
field_name(char *buf, size_t size, const char *prefix, const char *name)
{
	snprintf(buf, size, "%s%s", prefix, name);
}

/* Looks NAME up: 1 found, 0 absent and optional, -1 missing. */
static int
params_find(struct json_object *obj, const char *prefix, const char *name,
	    bool required, struct json_object **val, struct param_error *err)
{
	char field[96];

	if (obj != NULL && json_object_object_get_ex(obj, name, val))
		return 1;
	if (!required)
		return 0;
	field_name(field, sizeof field, prefix, name);
	return param_fail(err, field, "required");
}

int
params_only(struct json_object *obj, const char *prefix,
	    const char *const allowed[], struct param_error *err)
{
	char field[96];

	if (obj == NULL)
		return 0;
	json_object_object_foreach(obj, key, val) {
		(void)val;
		size_t i;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL) {
			/* Echo a short, printable piece of the name only. */
			char shown[40];
			size_t n = 0;
			for (const char *k = key; *k && n < sizeof shown - 1; k++)
				shown[n++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
			shown[n] = '\0';
			field_name(field, sizeof field, prefix, shown);
			return param_fail(err, field, "unknown field");
		}
	}
	return 0;
}

int
params_int(struct json_object *obj, const char *prefix, const char *name,
	   bool required, int64_t min, int64_t max, int64_t *out,
	   struct param_error *err)
{
	struct json_object *v;
	char field[96];
	int found = params_find(obj, prefix, name, required, &v, err);

	if (found <= 0)
		return found;
	field_name(field, sizeof field, prefix, name);
	if (!json_object_is_type(v, json_type_int))
		return param_fail(err, field, "must be an integer");
	/* An integer written outside int64 is out of range, not the value
	 * json-c clamped it to. */
	int64_t i;
	if (!jsonrpc_get_int64(v, &i) || i < min || i > max)
		return param_fail(err, field,
				  "must be an integer from %" PRId64 " to %" PRId64,
				  min, max);
	*out = i;
	return 1;
}

int
params_bool(struct json_object *obj, const char *prefix, const char *name,
	    bool *out, struct param_error *err)
{
	struct json_object *v;
	char field[96];
	int found = params_find(obj, prefix, name, false, &v, err);

	if (found <= 0)
		return found;
	if (!json_object_is_type(v, json_type_boolean)) {
		field_name(field, sizeof field, prefix, name);
		return param_fail(err, field, "must be true or false");
	}
	*out = json_object_get_boolean(v);
	return 1;
}

int
params_string(struct json_object *obj, const char *prefix, const char *name,
	      bool required, size_t maxlen, const char **out,
	      struct param_error *err)
{
	struct json_object *v;
	char field[96];
	int found = params_find(obj, prefix, name, required, &v, err);

	if (found <= 0)
		return found;
	field_name(field, sizeof field, prefix, name);
	if (!json_object_is_type(v, json_type_string))
		return param_fail(err, field, "must be a string");
	size_t len = (size_t)json_object_get_string_len(v);
	if (maxlen > 0 && len > maxlen)
		return param_fail(err, field, "longer than %zu bytes", maxlen);
	if (strlen(json_object_get_string(v)) != len)
		return param_fail(err, field, "contains a NUL character");
	*out = json_object_get_string(v);
	return 1;
}

int
params_path(struct json_object *obj, const char *prefix, const char *name,
	    bool required, const char **out, struct param_error *err)
{
	char field[96];
	int found = params_string(obj, prefix, name, required, 4095, out, err);

	if (found <= 0)
		return found;
	if ((*out)[0] != '/') {
		field_name(field, sizeof field, prefix, name);
		return param_fail(err, field, "must be an absolute path");
	}
	return 1;
}

int
params_object(struct json_object *obj, const char *prefix, const char *name,
	      bool required, struct json_object **out, struct param_error *err)
{
	struct json_object *v;
	char field[96];
	int found = params_find(obj, prefix, name, required, &v, err);

	if (found <= 0)
		return found;
	if (!json_object_is_type(v, json_type_object)) {
		field_name(field, sizeof field, prefix, name);
		return param_fail(err, field, "must be an object");
	}
	*out = v;
	return 1;
}
