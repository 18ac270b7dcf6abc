/* Showing responses and events to a person, or as JSON lines. */
#ifndef ASYNCCTL_RENDER_H
#define ASYNCCTL_RENDER_H

#include <stdbool.h>
#include <stdio.h>

struct json_object;

/* Prints OBJ as one compact JSON line. */
void render_json_line(FILE *out, struct json_object *obj);
/* One job, several lines. */
void render_job(FILE *out, struct json_object *job);
/* A table of jobs, a line each. */
void render_job_table(FILE *out, struct json_object *jobs);
/* A table of queue objects, a line each. */
void render_queue_table(FILE *out, struct json_object *queues);
void render_info(FILE *out, struct json_object *info);
/* A one-line account of an event (for `watch`). */
void render_event(FILE *out, struct json_object *event);
/* The line of a job.paused, job.resumed or job.retrying event, without
 * its end ("job 7: attempt 1 failed (not-found: ...); retrying at
 * 10:00:01"); false, printing nothing, for other events. */
bool render_control_text(FILE *out, struct json_object *event);
/* The error of a response, as "asyncctl: message (field: reason)". */
void render_rpc_error(FILE *out, struct json_object *response);
/* A job error object, as "job N failed: code: message", without and with
 * the line's end. */
void render_job_error_text(FILE *out, unsigned long long id,
			   struct json_object *error);
void render_job_error(FILE *out, unsigned long long id,
		      struct json_object *error);
/* A progress bar on a terminal: bytes, rate, ETA; no line end. */
void render_progress(FILE *out, unsigned long long id,
		     struct json_object *params, double elapsed_s);
/* A member of OBJ, or NULL. */
struct json_object *render_get(struct json_object *obj, const char *key);

#endif
