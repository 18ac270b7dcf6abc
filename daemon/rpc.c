/* The method table and the dispatcher. The dispatcher does the generic
 * checks (envelope, method, params type); each handler gets parsed params
 * and the caller's credentials and returns a result or an error code. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "events.h"
#include "jobs.h"
#include "kinds.h"
#include "log.h"
#include "metrics.h"
#include "params.h"
#include "retain.h"
#include "rpc-call.h"
#include "rpc-control.h"
#include "rpc.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "watch.h"
#include "xmalloc.h"

/* A call's "then", carried past the response. */
struct rpc_then {
	void (*fn)(void *arg);
	void *arg;
};

struct rpc_method {
	const char *name;
	rpc_handler handler;
};

static struct json_tokener *tokener;
static long long started_mono_ms;

void
rpc_init(void)
{
	tokener = jsonrpc_tokener_new();
	if (tokener == NULL)
		fatalx("cannot allocate a JSON tokener");
	started_mono_ms = now_mono_ms();
}

void
rpc_free(void)
{
	json_tokener_free(tokener);
	tokener = NULL;
}

/* ---- Params of the methods ---------------------------------------------- */

/* kind: one of the kinds this daemon runs. */
static int
check_kind(struct json_object *value, const char *field,
	   struct param_error *err)
{
	if (kinds_find(json_object_get_string(value)) == NULL)
		return param_fail(err, field, "unknown kind");
	return 0;
}

struct submit_params {
	const char *kind;
	struct json_object *args;
	const char *label;
	int64_t timeout_ms;
	bool watch;
	const char *key;
	int on_interrupt;
	const char *queue;
	int64_t priority;
	const char *not_before;
	int64_t delay_ms; /* -1: not given */
	struct json_object *retry;
};

/* not_before: an RFC 3339 time. */
static int
check_time(struct json_object *value, const char *field,
	   struct param_error *err)
{
	long long ms;

	if (proto_parse_time(json_object_get_string(value), &ms) < 0)
		return param_fail(err, field, "must be an RFC 3339 time, such "
					      "as 2026-11-30T18:00:00Z");
	return 0;
}

struct retry_params {
	int64_t max, delay_ms;
};

/* retry.backoff: a number from 1.0 to 10.0. */
static int
check_backoff(struct json_object *value, const char *field,
	      struct param_error *err)
{
	double b = json_object_get_double(value);

	if ((!json_object_is_type(value, json_type_double) &&
	     !json_object_is_type(value, json_type_int)) ||
	    !(b >= 1.0 && b <= PROTO_RETRY_BACKOFF_MAX))
		return param_fail(err, field, "must be a number from 1 to 10");
	return 0;
}

static const struct param_field retry_fields[] = {
	{PARAM_INT("max", struct retry_params, max), .required = true,
	 .min = 1, .max = PROTO_RETRY_MAX},
	{PARAM_INT("delay_ms", struct retry_params, delay_ms), .min = 0,
	 .max = PROTO_RETRY_DELAY_MAX_MS},
	{PARAM_ANY("backoff"), .check = check_backoff},
	PARAM_END,
};

/* retry: {"max", "delay_ms", "backoff"}. */
static int
check_retry(struct json_object *value, const char *field,
	    struct param_error *err)
{
	struct retry_params p;
	char prefix[16];

	if (!json_object_is_type(value, json_type_object))
		return param_fail(err, field, "must be an object");
	snprintf(prefix, sizeof prefix, "%s.", field);
	return params_read(value, prefix, retry_fields, &p, err);
}

/* The retry policy of a checked "retry" object (NULL: none). */
static struct job_retry
retry_policy(struct json_object *retry)
{
	struct job_retry r = {0, 0, 0};
	struct json_object *v;

	if (retry == NULL)
		return r;
	json_object_object_get_ex(retry, "max", &v);
	r.max = (unsigned)json_object_get_int64(v);
	r.delay_ms = json_object_object_get_ex(retry, "delay_ms", &v)
			     ? json_object_get_int64(v)
			     : PROTO_RETRY_DELAY_DEFAULT_MS;
	r.backoff = json_object_object_get_ex(retry, "backoff", &v)
			    ? json_object_get_double(v)
			    : PROTO_RETRY_BACKOFF_DEFAULT;
	return r;
}

static const char *const on_interrupt_names[] = {
	[ON_INTERRUPT_FAIL] = "fail",
	[ON_INTERRUPT_REQUEUE] = "requeue",
	NULL,
};

static const struct param_field submit_fields[] = {
	{PARAM_STRING("kind", struct submit_params, kind), .required = true,
	 .check = check_kind},
	{PARAM_OBJECT("args", struct submit_params, args)},
	{PARAM_STRING("label", struct submit_params, label),
	 .max_len = PROTO_LABEL_MAX},
	{PARAM_ANY("after"), .check = rpc_check_ids},
	{PARAM_INT("timeout_ms", struct submit_params, timeout_ms), .min = 1,
	 .max = INT64_MAX / 1000},
	{PARAM_BOOL("watch", struct submit_params, watch)},
	{PARAM_STRING("key", struct submit_params, key),
	 .max_len = PROTO_KEY_MAX},
	{PARAM_ENUM("on_interrupt", struct submit_params, on_interrupt),
	 .values = on_interrupt_names},
	{PARAM_STRING("queue", struct submit_params, queue),
	 .check = rpc_check_queue_name},
	{PARAM_INT("priority", struct submit_params, priority),
	 .min = -PROTO_PRIORITY_MAX, .max = PROTO_PRIORITY_MAX},
	{PARAM_STRING("not_before", struct submit_params, not_before),
	 .check = check_time},
	{PARAM_INT("delay_ms", struct submit_params, delay_ms), .min = 0,
	 .max = PROTO_DELAY_MAX_MS},
	{PARAM_OBJECT("retry", struct submit_params, retry),
	 .check = check_retry},
	{PARAM_ANY("after_any"), .check = rpc_check_ids},
	PARAM_END,
};

/* When a job of P may start (0: at once), checked against its timeout:
 * 0, or -1 with ERR. */
static int
submit_not_before(const struct submit_params *p, long long *not_before_ms,
		  struct param_error *err)
{
	long long now = now_wall_ms();

	*not_before_ms = 0;
	if (p->not_before != NULL && p->delay_ms >= 0)
		return param_fail(err, "delay_ms",
				  "give either not_before or delay_ms");
	if (p->not_before != NULL)
		proto_parse_time(p->not_before, not_before_ms);
	else if (p->delay_ms > 0)
		*not_before_ms = now + p->delay_ms;
	if (*not_before_ms <= now)
		*not_before_ms = 0; /* due already */
	else if (p->timeout_ms > 0 && now + p->timeout_ms < *not_before_ms)
		return param_fail(err, "timeout_ms",
				  "would end before the job may start");
	return 0;
}

struct list_params {
	const char *state, *kind, *queue;
	int64_t limit, before_id;
};

/* state and kind are looked up after the table: a bad limit is reported
 * before an unknown state. */
static const struct param_field list_fields[] = {
	{PARAM_STRING("state", struct list_params, state)},
	{PARAM_STRING("kind", struct list_params, kind)},
	{PARAM_INT("limit", struct list_params, limit), .min = 1,
	 .max = PROTO_LIST_LIMIT_MAX},
	{PARAM_INT("before_id", struct list_params, before_id), .min = 1,
	 .max = INT64_MAX - 1},
	{PARAM_STRING("queue", struct list_params, queue),
	 .check = rpc_check_queue_name},
	PARAM_END,
};

struct watch_params {
	bool all;
	int64_t since; /* -1: not given */
	int64_t limit; /* 0: not given */
};

/* id is read (rpc_job_id_fields) after all and since were checked. */
static const struct param_field watch_fields[] = {
	{PARAM_BOOL("all", struct watch_params, all)},
	{PARAM_INT("since", struct watch_params, since), .min = 0,
	 .max = UINT32_MAX},
	{PARAM_INT("limit", struct watch_params, limit), .min = 1,
	 .max = PROTO_LIST_LIMIT_MAX},
	{PARAM_ANY("id")},
	PARAM_END,
};

static const struct param_field no_fields[] = {
	PARAM_END,
};

/* ---- The methods -------------------------------------------------------- */

static int
rpc_job_submit(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	struct submit_params p = {.watch = true, .on_interrupt = -1,
				  .delay_ms = -1};
	struct submit_request req;
	struct json_object *empty = NULL;
	uint64_t *after = NULL, *after_any = NULL;
	long long not_before_ms;
	struct job *job;
	bool existing;
	int rc = RPC_INVALID_PARAMS;

	if (jobs_shutting_down())
		return RPC_SHUTTING_DOWN;
	if (params_read(call->params, "", submit_fields, &p, err) < 0 ||
	    submit_not_before(&p, &not_before_ms, err) < 0)
		return RPC_INVALID_PARAMS;
	if (p.args == NULL)
		p.args = empty = json_object_new_object();
	req = (struct submit_request){
		.kind = kinds_find(p.kind),
		.args = p.args,
		.label = p.label,
		.timeout_ms = p.timeout_ms,
		.watch = p.watch,
		.key = p.key,
		.on_interrupt = p.on_interrupt,
		.queue = p.queue,
		.priority = (int)p.priority,
		.not_before_ms = not_before_ms,
		.retry = retry_policy(p.retry),
	};
	if (req.kind->validate(p.args, err) < 0)
		goto out;
	req.after = after = rpc_ids(call->params, "after", &req.nafter);
	req.after_any = after_any = rpc_ids(call->params, "after_any",
					    &req.nafter_any);
	rc = jobs_submit(call->peer, call->conn, &req, &job, &existing, err);
	if (rc == 0) {
		*result = rpc_job_result(job);
		json_object_object_add(*result, "existing",
				       json_object_new_boolean(existing));
	}
out:
	json_object_put(empty);
	free(after);
	free(after_any);
	return rc;
}

static int
rpc_job_get(struct rpc_call *call, struct json_object **result,
	    struct param_error *err)
{
	struct job_id_params p;
	struct job *job;
	int rc;

	if (params_read(call->params, "", rpc_job_id_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = rpc_find_job(call, &p, &job)) != 0)
		return rc;
	*result = rpc_job_result(job);
	return 0;
}

static int
rpc_job_list(struct rpc_call *call, struct json_object **result,
	     struct param_error *err)
{
	struct list_params p = {.limit = PROTO_LIST_LIMIT_DEFAULT};
	uint64_t next;
	int state = -1;

	if (params_read(call->params, "", list_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if (p.state != NULL && (state = proto_state_parse(p.state)) < 0) {
		param_fail(err, "state",
			   "must be queued, running, completed or failed");
		return RPC_INVALID_PARAMS;
	}
	if (p.kind != NULL && kinds_find(p.kind) == NULL) {
		param_fail(err, "kind", "unknown kind");
		return RPC_INVALID_PARAMS;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "jobs",
			       jobs_list(call->peer, state, p.kind, p.queue,
					 (unsigned)p.limit,
					 (uint64_t)p.before_id, &next));
	if (next != 0)
		json_object_object_add(*result, "next_before_id",
				       json_object_new_int64((int64_t)next));
	return 0;
}

static int
rpc_job_cancel(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	struct job_id_params p;
	struct job *job;
	int rc;

	if (params_read(call->params, "", rpc_job_id_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = rpc_find_job(call, &p, &job)) != 0)
		return rc;
	if ((rc = jobs_cancel(job)) != 0)
		return rc;
	*result = rpc_job_result(job);
	return 0;
}

static int
rpc_job_watch(struct rpc_call *call, struct json_object **result,
	      struct param_error *err)
{
	struct watch_params p = {.all = false, .since = -1};
	struct job_id_params id;
	struct job *job;
	int rc;

	if (params_read(call->params, "", watch_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if (p.all) {
		if (json_object_object_get_ex(call->params, "id", NULL)) {
			param_fail(err, "id", "give either id or all, not both");
			return RPC_INVALID_PARAMS;
		}
		if (p.since >= 0) {
			param_fail(err, "since", "goes with id, not with all");
			return RPC_INVALID_PARAMS;
		}
		bool more = false;
		*result = json_object_new_object();
		json_object_object_add(*result, "jobs",
				       watch_all(call->peer, call->conn,
						 (unsigned)p.limit, &more));
		if (p.limit > 0)
			json_object_object_add(*result, "more",
					       json_object_new_boolean(more));
		return 0;
	}
	if (p.limit > 0) {
		param_fail(err, "limit", "goes with all, not with id");
		return RPC_INVALID_PARAMS;
	}
	if (params_read_field(call->params, "", &rpc_job_id_fields[0], &id,
			      err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = rpc_find_job(call, &id, &job)) != 0)
		return rc;
	if (p.since < 0) {
		watch_add(job, call->conn);
		*result = rpc_job_result(job);
		return 0;
	}
	unsigned count;
	struct replay *replay = watch_replay(job, call->conn,
					     (uint32_t)p.since, &count);
	if (replay == NULL) {
		param_fail(err, "since", "a replay of this job is running on "
					 "this connection");
		return RPC_INVALID_PARAMS;
	}
	*result = rpc_job_result(job);
	json_object_object_add(*result, "replayed", json_object_new_int64(count));
	call->then = watch_replay_start;
	call->then_arg = replay;
	return 0;
}

static int
rpc_daemon_info(struct rpc_call *call, struct json_object **result,
		struct param_error *err)
{
	static const char *const names[] = {"queued", "running", "completed",
					    "failed"};
	unsigned counts[JOB_NSTATES];
	struct json_object *kinds, *jobs, *limits;

	if (params_read(call->params, "", no_fields, NULL, err) < 0)
		return RPC_INVALID_PARAMS;
	*result = json_object_new_object();
	json_object_object_add(*result, "version",
			       json_object_new_string(daemon_opts.version));
	json_object_object_add(*result, "protocol",
			       json_object_new_int(PROTO_VERSION));
	json_object_object_add(*result, "pid", json_object_new_int(getpid()));
	json_object_object_add(*result, "uptime_ms",
			       json_object_new_int64(now_mono_ms() - started_mono_ms));
	kinds = json_object_new_array();
	sched_kind_names(kinds);
	json_object_object_add(*result, "kinds", kinds);
	jobs_counts(counts);
	jobs = json_object_new_object();
	for (int i = 0; i < JOB_NSTATES; i++)
		json_object_object_add(jobs, names[i],
				       json_object_new_int64(counts[i]));
	json_object_object_add(*result, "jobs", jobs);
	limits = json_object_new_object();
	json_object_object_add(limits, "max_request",
			       json_object_new_int64((int64_t)daemon_opts.max_request));
	json_object_object_add(limits, "max_depth",
			       json_object_new_int(PROTO_MAX_DEPTH));
	json_object_object_add(limits, "output_hwm",
			       json_object_new_int64((int64_t)daemon_opts.output_hwm));
	json_object_object_add(limits, "max_queued",
			       json_object_new_int64(daemon_opts.max_queued));
	json_object_object_add(limits, "max_queued_per_user",
			       json_object_new_int64(daemon_opts.max_queued_per_user));
	json_object_object_add(limits, "keep_finished",
			       json_object_new_int64(daemon_opts.keep_finished));
	json_object_object_add(limits, "max_connections",
			       json_object_new_int64(daemon_opts.max_connections));
	json_object_object_add(limits, "max_connections_per_user",
			       json_object_new_int64(
				       daemon_opts.max_connections_per_user));
	json_object_object_add(limits, "request_timeout",
			       json_object_new_int64(daemon_opts.request_timeout));
	json_object_object_add(limits, "output_limit",
			       json_object_new_int64(
				       (int64_t)daemon_opts.output_limit));
	json_object_object_add(limits, "output_hwm_timeout",
			       json_object_new_int64(
				       daemon_opts.output_hwm_timeout));
	json_object_object_add(limits, "max_running", sched_max_running());
	json_object_object_add(limits, "max_running_per_user",
			       sched_max_running_per_user());
	json_object_object_add(*result, "limits", limits);
	json_object_object_add(*result, "store", store_info());
	return 0;
}

void
rpc_metrics_text(struct evbuffer *out)
{
	struct metrics_state st = {
		.connections = server_connections(),
		.retained_bytes = retain_bytes(),
		.store_bytes = store_durable() ? db_bytes() : -1,
	};

	metrics_render(out, &st);
}

struct configure_params {
	bool binary;
};

static const struct param_field configure_fields[] = {
	{PARAM_BOOL("binary", struct configure_params, binary),
	 .required = true},
	PARAM_END,
};

/* conn.configure: the form of job.output on this connection from the
 * response on (events framed before it keep theirs). */
static int
rpc_conn_configure(struct rpc_call *call, struct json_object **result,
		   struct param_error *err)
{
	struct configure_params p;

	if (params_read(call->params, "", configure_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	conn_set_binary(call->conn, p.binary);
	*result = json_object_new_object();
	json_object_object_add(*result, "binary",
			       json_object_new_boolean(p.binary));
	return 0;
}

static int
rpc_daemon_metrics(struct rpc_call *call, struct json_object **result,
		   struct param_error *err)
{
	struct evbuffer *text;

	if (params_read(call->params, "", no_fields, NULL, err) < 0)
		return RPC_INVALID_PARAMS;
	text = evbuffer_new();
	rpc_metrics_text(text);
	*result = json_object_new_object();
	json_object_object_add(
		*result, "text",
		json_object_new_string_len((const char *)evbuffer_pullup(text, -1),
					   (int)evbuffer_get_length(text)));
	evbuffer_free(text);
	return 0;
}

static const struct rpc_method methods[] = {
	{"job.submit", rpc_job_submit},
	{"job.get", rpc_job_get},
	{"job.list", rpc_job_list},
	{"job.cancel", rpc_job_cancel},
	{"job.watch", rpc_job_watch},
	{"daemon.info", rpc_daemon_info},
	{"daemon.metrics", rpc_daemon_metrics},
	{"conn.configure", rpc_conn_configure},
	{"job.pause", rpc_job_pause},
	{"job.resume", rpc_job_resume},
	{"job.update", rpc_job_update},
	{"job.restart", rpc_job_restart},
	{"job.remove", rpc_job_remove},
	{"job.clean", rpc_job_clean},
	{"queue.set", rpc_queue_set},
	{"queue.list", rpc_queue_list},
	{"queue.pause", rpc_queue_pause},
	{"queue.resume", rpc_queue_resume},
};

static const struct rpc_method *
method_find(const char *name)
{
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	return NULL;
}

/* Writes a success response straight to CONN: the common reply, so it
 * skips building an envelope object only to serialise it. */
static void
rpc_write_result(struct conn *conn, struct json_object *id,
		 struct json_object *result)
{
	struct evbuffer *out = conn_output(conn);
	const int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
	const char *text;
	size_t len;

	if (out == NULL)
		return;
	evbuffer_add(out, "{\"jsonrpc\":\"2.0\",\"id\":", 22);
	text = json_object_to_json_string_length(id, flags, &len);
	evbuffer_add(out, text, len);
	evbuffer_add(out, ",\"result\":", 10);
	text = json_object_to_json_string_length(result, flags, &len);
	evbuffer_add(out, text, len);
	evbuffer_add(out, "}\n", 2);
}

/* Handles one request object; returns its response, or NULL for a
 * notification, or when DIRECT and the response, a success, has been
 * written to CONN already. */
static struct json_object *
rpc_handle_request(struct conn *conn, struct json_object *msg, bool direct,
		   struct rpc_then *then)
{
	struct rpc_request req;
	struct param_error err = {"", ""};
	struct json_object *result = NULL;
	const struct rpc_method *method;
	int rc = jsonrpc_request_read(msg, &req);

	*then = (struct rpc_then){NULL, NULL};
	if (rc == RPC_INVALID_REQUEST)
		return jsonrpc_error_new(req.id, rc, NULL, NULL);
	if (rc == RPC_INVALID_PARAMS) {
		rc = RPC_INVALID_PARAMS;
		param_fail(&err, "params", "must be an object");
	} else if ((method = method_find(req.method)) == NULL) {
		rc = RPC_METHOD_NOT_FOUND;
	} else {
		struct rpc_call call = {conn, conn_peer(conn), req.params, NULL,
					NULL};
		rc = method->handler(&call, &result, &err);
		*then = (struct rpc_then){call.then, call.then_arg};
	}
	if (req.id == NULL) { /* a notification: carried out, not answered */
		json_object_put(result);
		return NULL;
	}
	if (rc == 0 && direct) {
		rpc_write_result(conn, req.id, result);
		json_object_put(result);
		return NULL;
	}
	if (rc == 0)
		return jsonrpc_result_new(req.id, result);
	if (rc == RPC_INVALID_PARAMS)
		return jsonrpc_field_error_new(req.id, rc, err.field, err.reason);
	if (rc == RPC_STORE_UNAVAILABLE) {
		struct json_object *data = json_object_new_object();
		json_object_object_add(data, "reason",
				       json_object_new_string(store_failure()));
		return jsonrpc_error_new(req.id, rc, NULL, data);
	}
	return jsonrpc_error_new(req.id, rc, NULL, NULL);
}

static void
rpc_handle_batch(struct conn *conn, struct json_object *batch)
{
	size_t n = json_object_array_length(batch);
	struct json_object *responses;

	if (n == 0) {
		struct json_object *e =
			jsonrpc_error_new(NULL, RPC_INVALID_REQUEST, NULL, NULL);
		conn_send_json(conn, e);
		json_object_put(e);
		return;
	}
	responses = json_object_new_array_ext((int)n);
	struct rpc_then *thens = xreallocarray(NULL, n, sizeof *thens);
	for (size_t i = 0; i < n; i++) {
		struct json_object *r =
			rpc_handle_request(conn, json_object_array_get_idx(batch, i),
					   false, &thens[i]);
		if (r != NULL)
			json_object_array_add(responses, r);
	}
	if (json_object_array_length(responses) > 0)
		conn_send_json(conn, responses);
	json_object_put(responses);
	for (size_t i = 0; i < n; i++)
		if (thens[i].fn != NULL)
			thens[i].fn(thens[i].arg);
	free(thens);
}

void
rpc_handle_line(struct conn *conn, const char *line, size_t len)
{
	struct json_object *msg, *response;

	if (len == 0)
		return;
	if (jsonrpc_parse(tokener, line, len, &msg) < 0) {
		response = jsonrpc_error_new(NULL, RPC_PARSE_ERROR, NULL, NULL);
		conn_send_json(conn, response);
		json_object_put(response);
		return;
	}
	if (json_object_is_type(msg, json_type_array)) {
		rpc_handle_batch(conn, msg);
	} else {
		struct rpc_then then;
		if ((response = rpc_handle_request(conn, msg, true, &then)) != NULL) {
			conn_send_json(conn, response);
			json_object_put(response);
		}
		if (then.fn != NULL)
			then.fn(then.arg);
	}
	json_object_put(msg);
}

void
rpc_too_large(struct conn *conn)
{
	struct json_object *e =
		jsonrpc_error_new(NULL, RPC_INVALID_REQUEST, "request too large",
				  NULL);

	conn_send_json(conn, e);
	json_object_put(e);
}
