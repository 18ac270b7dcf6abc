/* Human-readable output for asyncctl. */
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "../proto/proto.h"
#include "render.h"

struct json_object *
render_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

static const char *
str_or(struct json_object *obj, const char *key, const char *dflt)
{
	struct json_object *v = render_get(obj, key);

	return v != NULL && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : dflt;
}

static const char *
compact(struct json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
}

void
render_json_line(FILE *out, struct json_object *obj)
{
	fprintf(out, "%s\n", compact(obj));
	fflush(out);
}

/* Whether V is absent or JSON null. */
static bool
is_null(struct json_object *v)
{
	return v == NULL || json_object_is_type(v, json_type_null);
}

/* One "  name   value" line of a job. */
static void
field(FILE *out, const char *name, const char *value)
{
	fprintf(out, "  %-14s %s\n", name, value);
}

/* The job control fields of a job that are not their defaults. */
static void
render_job_control(FILE *out, struct json_object *job)
{
	struct json_object *v, *retry;
	char buf[96];

	if (strcmp(str_or(job, "queue", "default"), "default") != 0)
		field(out, "queue", str_or(job, "queue", "?"));
	if ((v = render_get(job, "priority")) != NULL && json_object_get_int64(v) != 0) {
		snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(v));
		field(out, "priority", buf);
	}
	if (json_object_get_boolean(render_get(job, "paused")))
		field(out, "paused", "yes");
	if (!is_null(v = render_get(job, "not_before")))
		field(out, "not before", json_object_get_string(v));
	if (!is_null(retry = render_get(job, "retry"))) {
		snprintf(buf, sizeof buf, "%" PRId64 " times, after %" PRId64
			 " ms, backoff %g",
			 json_object_get_int64(render_get(retry, "max")),
			 json_object_get_int64(render_get(retry, "delay_ms")),
			 json_object_get_double(render_get(retry, "backoff")));
		field(out, "retry", buf);
	}
	if (!is_null(v = render_get(job, "retry_at")))
		field(out, "retry at", json_object_get_string(v));
	if ((v = render_get(job, "attempts")) != NULL && json_object_get_int64(v) > 1) {
		snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(v));
		field(out, "attempts", buf);
	}
	if ((v = render_get(job, "after_any")) != NULL &&
	    json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
		field(out, "after any", compact(v));
	if (!is_null(v = render_get(job, "restarted_from"))) {
		snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(v));
		field(out, "restarted from", buf);
	}
}

void
render_job(FILE *out, struct json_object *job)
{
	struct json_object *v;
	char buf[32];

	fprintf(out, "job %" PRId64 "  %s  %s",
		json_object_get_int64(render_get(job, "id")),
		str_or(job, "kind", "?"), str_or(job, "state", "?"));
	if (!is_null(v = render_get(job, "label")))
		fprintf(out, "  label=%s", json_object_get_string(v));
	fputc('\n', out);
	snprintf(buf, sizeof buf, "%" PRId64, json_object_get_int64(render_get(job, "owner")));
	field(out, "owner", buf);
	if ((v = render_get(job, "after")) != NULL && json_object_array_length(v) > 0)
		field(out, "after", compact(v));
	render_job_control(out, job);
	field(out, "created", str_or(job, "created", "-"));
	field(out, "started", str_or(job, "started", "-"));
	field(out, "finished", str_or(job, "finished", "-"));
	field(out, "args", compact(render_get(job, "args")));
	if (!is_null(v = render_get(job, "result")))
		field(out, "result", compact(v));
	if (!is_null(v = render_get(job, "error")))
		field(out, "error", compact(v));
}

void
render_job_table(FILE *out, struct json_object *jobs)
{
	size_t n = json_object_array_length(jobs);

	fprintf(out, "%8s  %-9s  %-10s  %-10s  %-24s  %s\n", "ID", "STATE",
		"KIND", "QUEUE", "CREATED", "LABEL");
	for (size_t i = 0; i < n; i++) {
		struct json_object *job = json_object_array_get_idx(jobs, i);
		fprintf(out, "%8" PRId64 "  %-9s  %-10s  %-10s  %-24s  %s\n",
			json_object_get_int64(render_get(job, "id")),
			str_or(job, "state", "?"), str_or(job, "kind", "?"),
			str_or(job, "queue", "-"), str_or(job, "created", "-"),
			str_or(job, "label", ""));
	}
}

void
render_queue_table(FILE *out, struct json_object *queues)
{
	size_t n = json_object_array_length(queues);

	fprintf(out, "%-16s  %6s  %11s  %6s  %6s  %7s\n", "NAME", "OWNER",
		"MAX-RUNNING", "PAUSED", "QUEUED", "RUNNING");
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(queues, i);
		struct json_object *max = render_get(q, "max_running");
		char limit[24];

		if (is_null(max))
			snprintf(limit, sizeof limit, "none");
		else
			snprintf(limit, sizeof limit, "%" PRId64,
				 json_object_get_int64(max));
		fprintf(out, "%-16s  %6" PRId64 "  %11s  %6s  %6" PRId64 "  %7" PRId64 "\n",
			str_or(q, "name", "?"),
			json_object_get_int64(render_get(q, "owner")), limit,
			json_object_get_boolean(render_get(q, "paused")) ? "yes" : "no",
			json_object_get_int64(render_get(q, "queued")),
			json_object_get_int64(render_get(q, "running")));
	}
}

/* The "store:" line of info: where jobs are kept, or that they are not. */
static void
render_store(FILE *out, struct json_object *store)
{
	if (store == NULL) {
		fprintf(out, "store: none (jobs are kept in memory only)\n");
		return;
	}
	fprintf(out, "store: %s, sync %s, %.1f MiB%s\n",
		str_or(store, "path", "?"), str_or(store, "sync", "?"),
		(double)json_object_get_int64(render_get(store, "bytes")) /
			(1024 * 1024),
		json_object_get_boolean(render_get(store, "available"))
			? ""
			: ", NOT WRITABLE: new jobs are refused");
}

void
render_info(FILE *out, struct json_object *info)
{
	struct json_object *jobs = render_get(info, "jobs");
	struct json_object *kinds = render_get(info, "kinds");

	fprintf(out, "asyncd %s (protocol %d), pid %d, up %.1f s\n",
		str_or(info, "version", "?"),
		json_object_get_int(render_get(info, "protocol")),
		json_object_get_int(render_get(info, "pid")),
		(double)json_object_get_int64(render_get(info, "uptime_ms")) / 1000);
	fprintf(out, "jobs: %" PRId64 " queued, %" PRId64 " running, %" PRId64
		     " completed, %" PRId64 " failed\n",
		json_object_get_int64(render_get(jobs, "queued")),
		json_object_get_int64(render_get(jobs, "running")),
		json_object_get_int64(render_get(jobs, "completed")),
		json_object_get_int64(render_get(jobs, "failed")));
	fprintf(out, "kinds:");
	for (size_t i = 0; kinds != NULL && i < json_object_array_length(kinds); i++)
		fprintf(out, " %s", json_object_get_string(json_object_array_get_idx(kinds, i)));
	fprintf(out, "\nlimits: %s\n", compact(render_get(info, "limits")));
	render_store(out, render_get(info, "store"));
}

void
render_event(FILE *out, struct json_object *event)
{
	struct json_object *p = render_get(event, "params");
	const char *method = str_or(event, "method", "?");
	int64_t id = json_object_get_int64(render_get(p, "id"));
	struct json_object *v;

	if (strcmp(method, "job.started") == 0)
		fprintf(out, "job %" PRId64 " started (%s)\n", id, str_or(p, "kind", "?"));
	else if (strcmp(method, "job.progress") == 0) {
		fprintf(out, "job %" PRId64 " progress %" PRId64, id,
			json_object_get_int64(render_get(p, "done")));
		if ((v = render_get(p, "total")) != NULL)
			fprintf(out, "/%" PRId64, json_object_get_int64(v));
		fprintf(out, " %s\n", str_or(p, "unit", ""));
	} else if (strcmp(method, "job.output") == 0)
		fprintf(out, "job %" PRId64 " output %s at %" PRId64 " (%s)\n", id,
			str_or(p, "stream", "?"),
			json_object_get_int64(render_get(p, "offset")),
			str_or(p, "encoding", "?"));
	else if (strcmp(method, "job.completed") == 0)
		fprintf(out, "job %" PRId64 " completed: %s\n", id,
			compact(render_get(p, "result")));
	else if (strcmp(method, "job.failed") == 0)
		render_job_error(out, (unsigned long long)id, render_get(p, "error"));
	else if (render_control_text(out, event))
		fputc('\n', out);
	else
		render_json_line(out, event);
	fflush(out);
}

/* An RFC 3339 time as HH:MM:SS on the local clock, or TEXT itself. */
static void
local_clock(FILE *out, const char *text)
{
	long long ms;
	time_t t;
	struct tm tm;
	char buf[16];

	if (text == NULL || proto_parse_time(text, &ms) < 0) {
		fputs(text ? text : "?", out);
		return;
	}
	t = (time_t)(ms / 1000);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof buf, "%H:%M:%S", &tm) == 0) {
		fputs(text, out);
		return;
	}
	fputs(buf, out);
}

bool
render_control_text(FILE *out, struct json_object *event)
{
	struct json_object *p = render_get(event, "params");
	const char *method = str_or(event, "method", "");
	int64_t id = json_object_get_int64(render_get(p, "id"));
	struct json_object *error = render_get(p, "error");

	if (strcmp(method, "job.paused") == 0) {
		fprintf(out, "job %" PRId64 ": paused", id);
	} else if (strcmp(method, "job.resumed") == 0) {
		fprintf(out, "job %" PRId64 ": resumed", id);
	} else if (strcmp(method, "job.retrying") == 0) {
		fprintf(out, "job %" PRId64 ": attempt %" PRId64 " failed (%s: %s); "
			     "retrying at ",
			id, json_object_get_int64(render_get(p, "attempt")),
			str_or(error, "code", "?"), str_or(error, "message", ""));
		local_clock(out, str_or(p, "retry_at", NULL));
	} else {
		return false;
	}
	return true;
}

void
render_rpc_error(FILE *out, struct json_object *response)
{
	struct json_object *err = render_get(response, "error");
	struct json_object *data = render_get(err, "data");

	fprintf(out, "asyncctl: %s", str_or(err, "message", "error"));
	if (render_get(data, "field") != NULL)
		fprintf(out, " (%s: %s)", str_or(data, "field", ""),
			str_or(data, "reason", ""));
	fprintf(out, "\n");
}

void
render_job_error_text(FILE *out, unsigned long long id, struct json_object *error)
{
	fprintf(out, "job %llu failed: %s: %s", id, str_or(error, "code", "?"),
		str_or(error, "message", ""));
}

void
render_job_error(FILE *out, unsigned long long id, struct json_object *error)
{
	render_job_error_text(out, id, error);
	fputc('\n', out);
}

/* Formats N bytes with a binary unit. */
static void
human_bytes(char *buf, size_t size, double n)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (n >= 1024 && u < 4) {
		n /= 1024;
		u++;
	}
	snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
}

void
render_progress(FILE *out, unsigned long long id, struct json_object *p,
		double elapsed_s)
{
	double done = (double)json_object_get_int64(render_get(p, "done"));
	struct json_object *t = render_get(p, "total");
	bool bytes = strcmp(str_or(p, "unit", ""), "bytes") == 0;
	char d[32], r[32];
	double rate = elapsed_s > 0 ? done / elapsed_s : 0;

	if (bytes) {
		human_bytes(d, sizeof d, done);
		human_bytes(r, sizeof r, rate);
	} else {
		snprintf(d, sizeof d, "%.0f", done);
		snprintf(r, sizeof r, "%.1f", rate);
	}
	fprintf(out, "job %llu ", id);
	if (t != NULL && json_object_get_int64(t) > 0) {
		double total = (double)json_object_get_int64(t);
		int width = 30, fill = (int)(width * done / total);
		if (fill > width)
			fill = width;
		fprintf(out, "[%.*s%*s] %3.0f%% ", fill,
			"##############################", width - fill, "",
			100 * done / total);
		fprintf(out, "%s  %s/s", d, r);
		if (rate > 0 && total > done)
			fprintf(out, "  ETA %.0f s", (total - done) / rate);
	} else {
		fprintf(out, "%s  %s/s", d, r);
	}
	fflush(out);
}
