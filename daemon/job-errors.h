/* Job errors: the error objects a failed job carries (PROTOCOL.md, "Job
 * error codes"), and the questions the state machine asks of them. */
#ifndef ASYNCD_JOB_ERRORS_H
#define ASYNCD_JOB_ERRORS_H

#include <stdbool.h>

#include "job-kind.h"

struct json_object;

/* {"code": CODE, "message": MESSAGE} */
struct json_object *job_error_new(const char *code, const char *message);
/* The error of a job whose dependency DEP failed. */
struct json_object *job_error_dependency(const struct job *dep);
/* ERROR's "code" ("internal" without one) and "message" ("" without). */
const char *job_error_code(struct json_object *error);
const char *job_error_message(struct json_object *error);
/* Whether ERROR is the end a user asked for: a cancel, or a dependency
 * that failed. */
bool job_error_by_request(struct json_object *error);
/* Whether a failure with ERROR is one a retry may mend: not a cancel, a
 * failed dependency, the job's own timeout or a stop of the daemon. */
bool job_error_retriable(struct json_object *error);
/* The delay before retry N (1, 2, ...) under RETRY: delay_ms x
 * backoff^(N-1), at most a day. */
long long job_retry_delay_ms(const struct job_retry *retry, unsigned n);
/* JSON text of VALUE (taken), or NULL. */
char *json_text_take(struct json_object *value);

#endif
