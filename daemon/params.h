/* Reading request params and job args with precise -32602 errors. Each
 * reader returns 1 when the member is present and valid, 0 when absent
 * and optional, and -1 (ERR filled, field PREFIX+NAME) otherwise. */
#ifndef ASYNCD_PARAMS_H
#define ASYNCD_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "job-kind.h"

struct json_object;

/* Rejects members of OBJ not in ALLOWED (NULL-terminated). */
int params_only(struct json_object *obj, const char *prefix,
		const char *const allowed[], struct param_error *err);
int params_int(struct json_object *obj, const char *prefix, const char *name,
	       bool required, int64_t min, int64_t max, int64_t *out,
	       struct param_error *err);
int params_bool(struct json_object *obj, const char *prefix, const char *name,
		bool *out, struct param_error *err);
/* A string of at most MAXLEN bytes (0: any) without NUL bytes. */
int params_string(struct json_object *obj, const char *prefix,
		  const char *name, bool required, size_t maxlen,
		  const char **out, struct param_error *err);
/* An absolute path. */
int params_path(struct json_object *obj, const char *prefix, const char *name,
		bool required, const char **out, struct param_error *err);
/* An object. */
int params_object(struct json_object *obj, const char *prefix,
		  const char *name, bool required, struct json_object **out,
		  struct param_error *err);

#endif
