/* The method table and the dispatcher. The dispatcher does the generic
 * checks (envelope, method, params type); each handler gets parsed params
 * and the caller's credentials and returns a result or an error code. */
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "events.h"
#include "jobs.h"
#include "kinds.h"
#include "log.h"
#include "params.h"
#include "rpc.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "watch.h"
#include "xmalloc.h"

struct rpc_call {
	struct conn *conn;
	const struct peer *peer;
	struct json_object *params; /* NULL when absent */
	/* What a handler has for the connection once its response is
	 * written (the replay of a job.watch since), or NULL. */
	void (*then)(void *arg);
	void *then_arg;
};

/* A call's "then", carried past the response. */
struct rpc_then {
	void (*fn)(void *arg);
	void *arg;
};

/* Returns 0 with *result set, or an error code (for -32602, ERR says
 * which field). */
typedef int (*rpc_handler)(struct rpc_call *call, struct json_object **result,
			   struct param_error *err);

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

static struct json_object *
job_result(struct job *job)
{
	struct json_object *result = json_object_new_object();

	json_object_object_add(result, "job", events_job_object(job));
	return result;
}

/* Reads the "id" of a job the caller may see: 0, -32001 or -32602. */
static int
read_job(struct rpc_call *call, struct job **job, struct param_error *err)
{
	int64_t id;

	if (params_int(call->params, "", "id", true, 1, INT64_MAX, &id, err) < 0)
		return RPC_INVALID_PARAMS;
	*job = jobs_lookup(call->peer, (uint64_t)id);
	return *job != NULL ? 0 : RPC_NO_SUCH_JOB;
}

/* Reads "after": an array of job ids. */
static int
read_after(struct json_object *params, uint64_t **after, unsigned *nafter,
	   struct param_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(params, "after", &v))
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return param_fail(err, "after", "must be an array of job ids");
	size_t n = json_object_array_length(v);
	if (n > 1024)
		return param_fail(err, "after", "more than 1024 ids");
	*after = xreallocarray(NULL, n, sizeof **after);
	*nafter = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(v, i);
		if (!json_object_is_type(e, json_type_int) ||
		    json_object_get_int64(e) < 1 ||
		    json_object_get_int64(e) == INT64_MAX)
			return param_fail(err, "after", "must be an array of job ids");
		(*after)[i] = (uint64_t)json_object_get_int64(e);
	}
	return 0;
}

/* Reads "on_interrupt": "fail" or "requeue". */
static int
read_on_interrupt(struct json_object *params, int *out, struct param_error *err)
{
	const char *v = NULL;

	if (params_string(params, "", "on_interrupt", false, 0, &v, err) < 0)
		return -1;
	if (v == NULL)
		return 0;
	if (strcmp(v, "fail") == 0)
		*out = ON_INTERRUPT_FAIL;
	else if (strcmp(v, "requeue") == 0)
		*out = ON_INTERRUPT_REQUEUE;
	else
		return param_fail(err, "on_interrupt",
				  "must be \"fail\" or \"requeue\"");
	return 0;
}

static int
rpc_job_submit(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	static const char *const allowed[] = {"kind",	"args", "label",
					      "after",	"timeout_ms", "watch",
					      "key",	"on_interrupt", NULL};
	struct submit_request req = {.watch = true, .on_interrupt = -1};
	struct json_object *args = NULL, *empty = NULL;
	uint64_t *after = NULL;
	const char *kind;
	int64_t timeout_ms = 0;
	struct job *job;
	bool existing;
	int rc = RPC_INVALID_PARAMS;

	if (jobs_shutting_down())
		return RPC_SHUTTING_DOWN;
	if (params_only(call->params, "", allowed, err) < 0 ||
	    params_string(call->params, "", "kind", true, 0, &kind, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((req.kind = kinds_find(kind)) == NULL) {
		param_fail(err, "kind", "unknown kind");
		return RPC_INVALID_PARAMS;
	}
	if (params_object(call->params, "", "args", false, &args, err) < 0 ||
	    params_string(call->params, "", "label", false, PROTO_LABEL_MAX,
			  &req.label, err) < 0 ||
	    read_after(call->params, &after, &req.nafter, err) < 0 ||
	    params_int(call->params, "", "timeout_ms", false, 1, INT64_MAX / 1000,
		       &timeout_ms, err) < 0 ||
	    params_bool(call->params, "", "watch", &req.watch, err) < 0 ||
	    params_string(call->params, "", "key", false, PROTO_KEY_MAX, &req.key,
			  err) < 0 ||
	    read_on_interrupt(call->params, &req.on_interrupt, err) < 0)
		goto out;
	if (args == NULL)
		args = empty = json_object_new_object();
	if (req.kind->validate(args, err) < 0)
		goto out;
	req.args = args;
	req.after = after;
	req.timeout_ms = timeout_ms;
	rc = jobs_submit(call->peer, call->conn, &req, &job, &existing, err);
	if (rc == 0) {
		*result = job_result(job);
		json_object_object_add(*result, "existing",
				       json_object_new_boolean(existing));
	}
out:
	json_object_put(empty);
	free(after);
	return rc;
}

static int
rpc_job_get(struct rpc_call *call, struct json_object **result,
	    struct param_error *err)
{
	static const char *const allowed[] = {"id", NULL};
	struct job *job;
	int rc;

	if (params_only(call->params, "", allowed, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = read_job(call, &job, err)) != 0)
		return rc;
	*result = job_result(job);
	return 0;
}

static int
rpc_job_list(struct rpc_call *call, struct json_object **result,
	     struct param_error *err)
{
	static const char *const allowed[] = {"state", "kind", "limit",
					      "before_id", NULL};
	const char *state_name = NULL, *kind = NULL;
	int64_t limit = PROTO_LIST_LIMIT_DEFAULT, before_id = 0;
	int state = -1;

	if (params_only(call->params, "", allowed, err) < 0 ||
	    params_string(call->params, "", "state", false, 0, &state_name,
			  err) < 0 ||
	    params_string(call->params, "", "kind", false, 0, &kind, err) < 0 ||
	    params_int(call->params, "", "limit", false, 1, PROTO_LIST_LIMIT_MAX,
		       &limit, err) < 0 ||
	    params_int(call->params, "", "before_id", false, 1, INT64_MAX - 1,
		       &before_id, err) < 0)
		return RPC_INVALID_PARAMS;
	if (state_name != NULL && (state = proto_state_parse(state_name)) < 0) {
		param_fail(err, "state",
			   "must be queued, running, completed or failed");
		return RPC_INVALID_PARAMS;
	}
	if (kind != NULL && kinds_find(kind) == NULL) {
		param_fail(err, "kind", "unknown kind");
		return RPC_INVALID_PARAMS;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "jobs",
			       jobs_list(call->peer, state, kind, NULL,
					 (unsigned)limit, (uint64_t)before_id));
	return 0;
}

static int
rpc_job_cancel(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	static const char *const allowed[] = {"id", NULL};
	struct job *job;
	int rc;

	if (params_only(call->params, "", allowed, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = read_job(call, &job, err)) != 0)
		return rc;
	if ((rc = jobs_cancel(job)) != 0)
		return rc;
	*result = job_result(job);
	return 0;
}

static int
rpc_job_watch(struct rpc_call *call, struct json_object **result,
	      struct param_error *err)
{
	static const char *const allowed[] = {"id", "all", "since", NULL};
	bool all = false;
	struct job *job;
	int64_t since = -1;
	int rc;

	if (params_only(call->params, "", allowed, err) < 0 ||
	    params_bool(call->params, "", "all", &all, err) < 0 ||
	    params_int(call->params, "", "since", false, 0, UINT32_MAX, &since,
		       err) < 0)
		return RPC_INVALID_PARAMS;
	if (all) {
		if (json_object_object_get_ex(call->params, "id", NULL)) {
			param_fail(err, "id", "give either id or all, not both");
			return RPC_INVALID_PARAMS;
		}
		if (since >= 0) {
			param_fail(err, "since", "goes with id, not with all");
			return RPC_INVALID_PARAMS;
		}
		*result = json_object_new_object();
		json_object_object_add(*result, "jobs",
				       watch_all(call->peer, call->conn));
		return 0;
	}
	if ((rc = read_job(call, &job, err)) != 0)
		return rc;
	if (since < 0) {
		watch_add(job, call->conn);
		*result = job_result(job);
		return 0;
	}
	unsigned count;
	struct replay *replay = watch_replay(job, call->conn, (uint32_t)since,
					     &count);
	if (replay == NULL) {
		param_fail(err, "since", "a replay of this job is running on "
					 "this connection");
		return RPC_INVALID_PARAMS;
	}
	*result = job_result(job);
	json_object_object_add(*result, "replayed", json_object_new_int64(count));
	call->then = watch_replay_start;
	call->then_arg = replay;
	return 0;
}

static int
rpc_daemon_info(struct rpc_call *call, struct json_object **result,
		struct param_error *err)
{
	static const char *const allowed[] = {NULL};
	static const char *const names[] = {"queued", "running", "completed",
					    "failed"};
	unsigned counts[JOB_NSTATES];
	struct json_object *kinds, *jobs, *limits;

	if (params_only(call->params, "", allowed, err) < 0)
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

static const struct rpc_method methods[] = {
	{"job.submit", rpc_job_submit},
	{"job.get", rpc_job_get},
	{"job.list", rpc_job_list},
	{"job.cancel", rpc_job_cancel},
	{"job.watch", rpc_job_watch},
	{"daemon.info", rpc_daemon_info},
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
