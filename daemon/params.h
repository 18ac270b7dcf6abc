/* Request params and job args, read against a table of their fields with
 * precise -32602 errors.
 *
 * A table is data: one row a member, with its name, its type and that
 * type's limits, whether it is required, an optional check of its own,
 * and the member of the caller's struct that gets the value.
 * params_read() rejects a member the table does not list, then reads the
 * rows in order; the first problem is the one reported, its field being
 * PREFIX+NAME ("args.ms"). A member left out keeps what the caller put
 * in its struct: that is its default. */
#ifndef ASYNCD_PARAMS_H
#define ASYNCD_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job-kind.h"

struct json_object;

/* The longest path a PARAM_PATH row takes. */
#define PARAMS_PATH_MAX 4095

/* Each type and the C type it is stored as. */
enum param_type {
	PARAM_TYPE_INT,	   /* int64_t, from .min to .max */
	PARAM_TYPE_BOOL,   /* bool */
	PARAM_TYPE_STRING, /* const char *: .max_len bytes at most (0: any
			    * length), no NUL */
	PARAM_TYPE_PATH,   /* const char *: an absolute path */
	PARAM_TYPE_ENUM,   /* int: the index in .values of the string, which
			    * is also a PARAM_TYPE_STRING */
	PARAM_TYPE_OBJECT, /* struct json_object *, borrowed */
	PARAM_TYPE_ANY,	   /* not stored: the row's check (or the caller)
			    * reads it */
};

/* A row's own check, run once the type's checks passed: VALUE is the
 * member, FIELD its name for ERR. Returns 0, or -1 with ERR filled. */
typedef int (*param_check_fn)(struct json_object *value, const char *field,
			      struct param_error *err);

struct param_field {
	const char *name; /* NULL ends the table */
	enum param_type type;
	size_t out; /* the offset of the value in the caller's struct */
	bool required;
	int64_t min, max;	   /* PARAM_TYPE_INT */
	size_t max_len;		   /* PARAM_TYPE_STRING, PARAM_TYPE_ENUM */
	const char *const *values; /* PARAM_TYPE_ENUM, NULL-terminated */
	param_check_fn check;	   /* optional */
};

/* The start of a row: NAME, its type, and member M of struct S that gets
 * the value; a member of another C type than the row's does not compile.
 * The rest of the row follows as designated initializers:
 *	{PARAM_INT("ms", struct sleep_args, ms), .required = true,
 *	 .min = 0, .max = SLEEP_MAX_MS},
 */
#define PARAM_OUT(S, M, CTYPE) \
	(offsetof(S, M) + _Generic(((S *)NULL)->M, CTYPE: 0))
#define PARAM_INT(NAME, S, M) \
	.name = (NAME), .type = PARAM_TYPE_INT, .out = PARAM_OUT(S, M, int64_t)
#define PARAM_BOOL(NAME, S, M) \
	.name = (NAME), .type = PARAM_TYPE_BOOL, .out = PARAM_OUT(S, M, bool)
#define PARAM_STRING(NAME, S, M)                    \
	.name = (NAME), .type = PARAM_TYPE_STRING, \
	.out = PARAM_OUT(S, M, const char *)
#define PARAM_PATH(NAME, S, M)                    \
	.name = (NAME), .type = PARAM_TYPE_PATH, \
	.out = PARAM_OUT(S, M, const char *)
#define PARAM_ENUM(NAME, S, M) \
	.name = (NAME), .type = PARAM_TYPE_ENUM, .out = PARAM_OUT(S, M, int)
#define PARAM_OBJECT(NAME, S, M)                    \
	.name = (NAME), .type = PARAM_TYPE_OBJECT, \
	.out = PARAM_OUT(S, M, struct json_object *)
#define PARAM_ANY(NAME) .name = (NAME), .type = PARAM_TYPE_ANY
#define PARAM_END {.name = NULL}

/* Reads OBJ (NULL: an empty object) against FIELDS into the struct at
 * OUT (NULL when no row stores anything). Returns 0, or -1 with ERR
 * naming the first unknown member or the first row in trouble. */
int params_read(struct json_object *obj, const char *prefix,
		const struct param_field *fields, void *out,
		struct param_error *err);
/* Reads one row, for a member whose turn comes after checks of the
 * caller's (the unknown members were rejected before). */
int params_read_field(struct json_object *obj, const char *prefix,
		      const struct param_field *field, void *out,
		      struct param_error *err);

#endif
