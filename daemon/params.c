/* The one reader of request params and job args: a table of fields in,
 * typed values or the first offending field out (params.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "params.h"

/* Reads VALUE, the member of row F named FIELD, into DST. */
typedef int (*param_reader)(struct json_object *value, const char *field,
			    const struct param_field *f, void *dst,
			    struct param_error *err);

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

static int
param_int(struct json_object *value, const char *field,
	  const struct param_field *f, void *dst, struct param_error *err)
{
	int64_t i;

	if (!json_object_is_type(value, json_type_int))
		return param_fail(err, field, "must be an integer");
	/* An integer written outside int64 is out of range, not the value
	 * json-c clamped it to. */
	if (!jsonrpc_get_int64(value, &i) || i < f->min || i > f->max)
		return param_fail(err, field,
				  "must be an integer from %" PRId64 " to %" PRId64,
				  f->min, f->max);
	*(int64_t *)dst = i;
	return 0;
}

static int
param_bool(struct json_object *value, const char *field,
	   const struct param_field *f UNUSED, void *dst,
	   struct param_error *err)
{
	if (!json_object_is_type(value, json_type_boolean))
		return param_fail(err, field, "must be true or false");
	*(bool *)dst = json_object_get_boolean(value);
	return 0;
}

/* A string of at most MAX_LEN bytes (0: any) without NUL bytes. */
static int
param_check_string(struct json_object *value, const char *field,
		   size_t max_len, struct param_error *err)
{
	size_t len;

	if (!json_object_is_type(value, json_type_string))
		return param_fail(err, field, "must be a string");
	len = (size_t)json_object_get_string_len(value);
	if (max_len > 0 && len > max_len)
		return param_fail(err, field, "longer than %zu bytes", max_len);
	if (strlen(json_object_get_string(value)) != len)
		return param_fail(err, field, "contains a NUL character");
	return 0;
}

static int
param_string(struct json_object *value, const char *field,
	     const struct param_field *f, void *dst, struct param_error *err)
{
	if (param_check_string(value, field, f->max_len, err) < 0)
		return -1;
	*(const char **)dst = json_object_get_string(value);
	return 0;
}

static int
param_path(struct json_object *value, const char *field,
	   const struct param_field *f UNUSED, void *dst,
	   struct param_error *err)
{
	if (param_check_string(value, field, PARAMS_PATH_MAX, err) < 0)
		return -1;
	if (json_object_get_string(value)[0] != '/')
		return param_fail(err, field, "must be an absolute path");
	*(const char **)dst = json_object_get_string(value);
	return 0;
}

/* Fails FIELD with the choices of VALUES: must be "a", "b" or "c". */
static int
param_enum_fail(const char *field, const char *const *values,
		struct param_error *err)
{
	char reason[sizeof err->reason];
	size_t n = 0;

	n += (size_t)snprintf(reason, sizeof reason, "must be");
	for (size_t i = 0; values[i] != NULL && n < sizeof reason; i++) {
		const char *sep = i == 0 ? " "
				  : values[i + 1] == NULL ? " or "
				  : ", ";
		n += (size_t)snprintf(reason + n, sizeof reason - n, "%s\"%s\"",
				      sep, values[i]);
	}
	return param_fail(err, field, "%s", reason);
}

static int
param_enum(struct json_object *value, const char *field,
	   const struct param_field *f, void *dst, struct param_error *err)
{
	const char *s;

	if (param_check_string(value, field, f->max_len, err) < 0)
		return -1;
	s = json_object_get_string(value);
	for (int i = 0; f->values[i] != NULL; i++) {
		if (strcmp(s, f->values[i]) == 0) {
			*(int *)dst = i;
			return 0;
		}
	}
	return param_enum_fail(field, f->values, err);
}

static int
param_object(struct json_object *value, const char *field,
	     const struct param_field *f UNUSED, void *dst,
	     struct param_error *err)
{
	if (!json_object_is_type(value, json_type_object))
		return param_fail(err, field, "must be an object");
	*(struct json_object **)dst = value;
	return 0;
}

static int
param_any(struct json_object *value UNUSED, const char *field UNUSED,
	  const struct param_field *f UNUSED, void *dst UNUSED,
	  struct param_error *err UNUSED)
{
	return 0;
}

/* The reader of each type. */
static const param_reader param_readers[] = {
	[PARAM_TYPE_INT] = param_int,
	[PARAM_TYPE_BOOL] = param_bool,
	[PARAM_TYPE_STRING] = param_string,
	[PARAM_TYPE_PATH] = param_path,
	[PARAM_TYPE_ENUM] = param_enum,
	[PARAM_TYPE_OBJECT] = param_object,
	[PARAM_TYPE_ANY] = param_any,
};

int
params_read_field(struct json_object *obj, const char *prefix,
		  const struct param_field *f, void *out,
		  struct param_error *err)
{
	struct json_object *value;
	void *dst = out != NULL ? (char *)out + f->out : NULL;
	char field[sizeof err->field];

	snprintf(field, sizeof field, "%s%s", prefix, f->name);
	if (obj == NULL || !json_object_object_get_ex(obj, f->name, &value))
		return f->required ? param_fail(err, field, "required") : 0;
	if (param_readers[f->type](value, field, f, dst, err) < 0)
		return -1;
	return f->check != NULL ? f->check(value, field, err) : 0;
}

/* Rejects the first member of OBJ that FIELDS does not list. */
static int
params_reject_unknown(struct json_object *obj, const char *prefix,
		      const struct param_field *fields,
		      struct param_error *err)
{
	const struct param_field *f;
	char shown[40], field[sizeof err->field];
	size_t n = 0;

	if (obj == NULL)
		return 0;
	json_object_object_foreach(obj, key, val) {
		(void)val;
		for (f = fields; f->name != NULL; f++)
			if (strcmp(key, f->name) == 0)
				break;
		if (f->name != NULL)
			continue;
		/* Echo a short, printable piece of the name only. */
		for (const char *k = key; *k && n < sizeof shown - 1; k++)
			shown[n++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
		shown[n] = '\0';
		snprintf(field, sizeof field, "%s%s", prefix, shown);
		return param_fail(err, field, "unknown field");
	}
	return 0;
}

int
params_read(struct json_object *obj, const char *prefix,
	    const struct param_field *fields, void *out,
	    struct param_error *err)
{
	if (params_reject_unknown(obj, prefix, fields, err) < 0)
		return -1;
	for (const struct param_field *f = fields; f->name != NULL; f++)
		if (params_read_field(obj, prefix, f, out, err) < 0)
			return -1;
	return 0;
}
