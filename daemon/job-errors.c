/* Job errors: the error objects of PROTOCOL.md ("Job error codes") and
 * what the state machine asks of them (see job-errors.h). */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "job-errors.h"
#include "xmalloc.h"

struct json_object *
job_error_new(const char *code, const char *message)
{
	struct json_object *err = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_string(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	return err;
}

/* The error of a job whose dependency DEP failed. */
struct json_object *
job_error_dependency(const struct job *dep)
{
	char msg[64];
	struct json_object *err;

	snprintf(msg, sizeof msg, "dependency %llu failed",
		 (unsigned long long)dep->id);
	err = job_error_new(JOBERR_DEPENDENCY_FAILED, msg);
	json_object_object_add(err, "job", json_object_new_int64((int64_t)dep->id));
	return err;
}

/* JSON text of VALUE (taken), or NULL. */
char *
json_text_take(struct json_object *value)
{
	char *text;

	if (value == NULL)
		return NULL;
	text = xstrdup(json_object_to_json_string_ext(
		value, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(value);
	return text;
}

/* The delay before retry N (1, 2, ...) under RETRY: delay_ms x
 * backoff^(N-1),
 * at most a day. */
long long
job_retry_delay_ms(const struct job_retry *retry, unsigned n)
{
	double ms = (double)retry->delay_ms;

	for (unsigned i = 1; i < n && ms < PROTO_RETRY_DELAY_MAX_MS; i++)
		ms *= retry->backoff;
	return ms < PROTO_RETRY_DELAY_MAX_MS ? (long long)ms
					     : PROTO_RETRY_DELAY_MAX_MS;
}

/* The "code" of a job error object. */
const char *
job_error_code(struct json_object *error)
{
	struct json_object *code;

	if (!json_object_object_get_ex(error, "code", &code))
		return "internal";
	return json_object_get_string(code);
}

/* The "message" of a job error object. */
const char *
job_error_message(struct json_object *error)
{
	struct json_object *m;

	if (!json_object_object_get_ex(error, "message", &m))
		return "";
	return json_object_get_string(m);
}

/* Whether ERROR is the end a user asked for: a cancel, or a dependency
 * that failed. */
bool
job_error_by_request(struct json_object *error)
{
	const char *c = job_error_code(error);

	return strcmp(c, JOBERR_CANCELLED) == 0 ||
	       strcmp(c, JOBERR_DEPENDENCY_FAILED) == 0;
}

/* Whether a failure with ERROR is one a retry may mend. */
bool
job_error_retriable(struct json_object *error)
{
	static const char *const final[] = {JOBERR_CANCELLED,
					    JOBERR_DEPENDENCY_FAILED,
					    JOBERR_TIMEOUT, JOBERR_INTERRUPTED};
	const char *c = job_error_code(error);

	for (size_t i = 0; i < sizeof final / sizeof final[0]; i++)
		if (strcmp(c, final[i]) == 0)
			return false;
	return true;
}
