/* The job control methods (see rpc-control.h). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jobs.h"
#include "kinds.h"
#include "queues.h"
#include "rpc-call.h"
#include "rpc-control.h"
#include "store.h"
#include "xmalloc.h"

static bool
finished(const struct job *job)
{
	return job->state == JOB_COMPLETED || job->state == JOB_FAILED;
}

/* ---- Pause, resume, priority -------------------------------------------- */

static int
job_pause_or_resume(struct rpc_call *call, struct json_object **result,
		    struct param_error *err, bool paused)
{
	struct job *job;
	bool changed;
	int rc;

	if ((rc = rpc_read_job(call, &job, err)) != 0 ||
	    (rc = jobs_set_paused(job, paused, &changed)) != 0)
		return rc;
	*result = rpc_job_result(job);
	json_object_object_add(*result, "changed",
			       json_object_new_boolean(changed));
	return 0;
}

int
rpc_job_pause(struct rpc_call *call, struct json_object **result,
	      struct param_error *err)
{
	return job_pause_or_resume(call, result, err, true);
}

int
rpc_job_resume(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	return job_pause_or_resume(call, result, err, false);
}

struct update_params {
	int64_t id, priority;
};

static const struct param_field update_fields[] = {
	{PARAM_INT("id", struct update_params, id), .required = true,
	 .min = 1, .max = INT64_MAX},
	{PARAM_INT("priority", struct update_params, priority),
	 .required = true, .min = -PROTO_PRIORITY_MAX,
	 .max = PROTO_PRIORITY_MAX},
	PARAM_END,
};

int
rpc_job_update(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	struct update_params p;
	struct job *job;
	int rc;

	if (params_read(call->params, "", update_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = rpc_find_job(call, &(struct job_id_params){p.id}, &job)) != 0 ||
	    (rc = jobs_set_priority(job, (int)p.priority)) != 0)
		return rc;
	*result = rpc_job_result(job);
	return 0;
}

/* ---- Restart and removal ------------------------------------------------ */

struct restart_params {
	int64_t id;
	bool watch;
};

static const struct param_field restart_fields[] = {
	{PARAM_INT("id", struct restart_params, id), .required = true,
	 .min = 1, .max = INT64_MAX},
	{PARAM_BOOL("watch", struct restart_params, watch)},
	PARAM_END,
};

int
rpc_job_restart(struct rpc_call *call, struct json_object **result,
		struct param_error *err)
{
	struct restart_params p = {.watch = true};
	struct json_object *args;
	struct submit_request req;
	struct peer owner;
	struct job *old, *job;
	char *label, *queue;
	bool existing;
	int rc;

	if (params_read(call->params, "", restart_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((rc = rpc_find_job(call, &(struct job_id_params){p.id}, &old)) != 0)
		return rc;
	if (!finished(old))
		return RPC_JOB_NOT_FINISHED;
	/* The old job may leave memory while the new one is made. */
	owner = old->owner;
	label = old->label != NULL ? xstrdup(old->label) : NULL;
	queue = xstrdup(old->queue);
	args = json_tokener_parse(old->args);
	req = (struct submit_request){
		.kind = old->kind,
		.args = args,
		.label = label,
		.timeout_ms = old->timeout_ms,
		.watch = p.watch,
		.on_interrupt = old->requeue ? ON_INTERRUPT_REQUEUE
					     : ON_INTERRUPT_FAIL,
		.queue = queue,
		.priority = old->priority,
		.retry = old->retry,
		.restarted_from = old->id,
	};
	/* Checked again: what the args name may have changed since. */
	if ((rc = req.kind->validate(args, err) < 0 ? RPC_INVALID_PARAMS : 0) ==
		    0 &&
	    (rc = jobs_submit(&owner, call->conn, &req, &job, &existing,
			      err)) == 0)
		*result = rpc_job_result(job);
	json_object_put(args);
	free(label);
	free(queue);
	return rc;
}

int
rpc_job_remove(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	struct job *job;
	uint64_t id;
	int rc;

	if ((rc = rpc_read_job(call, &job, err)) != 0)
		return rc;
	if (!finished(job))
		return RPC_JOB_NOT_FINISHED;
	id = job->id;
	if (store_remove(&id, 1) < 0)
		return RPC_STORE_UNAVAILABLE;
	*result = json_object_new_object();
	json_object_object_add(*result, "removed", json_object_new_int(1));
	return 0;
}

struct clean_params {
	const char *state, *queue, *before;
};

static const char *const finished_states[] = {"completed", "failed", NULL};

/* before: an RFC 3339 time. */
static int
check_time(struct json_object *value, const char *field,
	   struct param_error *err)
{
	long long ms;

	if (proto_parse_time(json_object_get_string(value), &ms) < 0)
		return param_fail(err, field, "must be an RFC 3339 time");
	return 0;
}

/* state: completed or failed. */
static int
check_finished_state(struct json_object *value, const char *field,
		     struct param_error *err)
{
	const char *s = json_object_get_string(value);

	for (size_t i = 0; finished_states[i] != NULL; i++)
		if (strcmp(s, finished_states[i]) == 0)
			return 0;
	return param_fail(err, field, "must be completed or failed");
}

static const struct param_field clean_fields[] = {
	{PARAM_STRING("state", struct clean_params, state),
	 .check = check_finished_state},
	{PARAM_STRING("queue", struct clean_params, queue),
	 .check = rpc_check_queue_name},
	{PARAM_STRING("before", struct clean_params, before),
	 .check = check_time},
	PARAM_END,
};

struct id_list {
	uint64_t *ids;
	unsigned n, cap;
};

static void
id_list_add(const struct job *job, void *arg)
{
	struct id_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->ids = xreallocarray(l->ids, l->cap, sizeof *l->ids);
	}
	l->ids[l->n++] = job->id;
}

int
rpc_job_clean(struct rpc_call *call, struct json_object **result,
	      struct param_error *err)
{
	struct clean_params p = {NULL, NULL, NULL};
	struct id_list l = {NULL, 0, 0};
	long long before = LLONG_MAX; /* finished jobs only */
	uint64_t next = 0;
	unsigned seen;
	int rc = 0;

	if (params_read(call->params, "", clean_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	if (p.before != NULL)
		proto_parse_time(p.before, &before);
	struct db_filter f = {
		.owner = call->peer->uid == 0 ? -1 : (long long)call->peer->uid,
		.state = p.state != NULL ? proto_state_parse(p.state) : -1,
		.queue = p.queue,
		.finished_before_ms = before,
	};
	do { /* a page at a time, newest first, to the oldest */
		seen = l.n;
		f.before_id = next != 0 ? next : l.n > 0 ? l.ids[l.n - 1] : 0;
		next = store_list(&f, PROTO_LIST_LIMIT_MAX, id_list_add, &l);
	} while (next != 0 || l.n - seen == PROTO_LIST_LIMIT_MAX);
	if (l.n > 0 && store_remove(l.ids, l.n) < 0)
		rc = RPC_STORE_UNAVAILABLE;
	else {
		*result = json_object_new_object();
		json_object_object_add(*result, "removed",
				       json_object_new_int64(l.n));
	}
	free(l.ids);
	return rc;
}

/* ---- Queues ------------------------------------------------------------- */

static struct json_object *
queue_object(const struct job_queue *q)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(q->name));
	json_object_object_add(o, "owner", json_object_new_int64(q->owner));
	json_object_object_add(o, "max_running",
			       q->max_running != 0
				       ? json_object_new_int64(q->max_running)
				       : NULL);
	json_object_object_add(o, "paused", json_object_new_boolean(q->paused));
	json_object_object_add(o, "queued",
			       json_object_new_int64(q->jobs - q->running));
	json_object_object_add(o, "running", json_object_new_int64(q->running));
	return o;
}

struct queue_params {
	const char *name;
	int64_t owner; /* -1: the caller */
	struct json_object *max_running; /* queue.set: read by its check */
};

/* max_running: an integer 1 ... 1024, or null. */
static int
check_max_running(struct json_object *value, const char *field,
		  struct param_error *err)
{
	if (value == NULL)
		return 0;
	if (!json_object_is_type(value, json_type_int) ||
	    json_object_get_int64(value) < 1 ||
	    json_object_get_int64(value) > QUEUE_MAX_RUNNING)
		return param_fail(err, field,
				  "must be an integer from 1 to 1024, or null");
	return 0;
}

static const struct param_field queue_set_fields[] = {
	{PARAM_STRING("name", struct queue_params, name), .required = true,
	 .check = rpc_check_queue_name},
	{PARAM_ANY("max_running"), .required = true,
	 .check = check_max_running},
	{PARAM_INT("owner", struct queue_params, owner), .min = 0,
	 .max = UINT32_MAX - 1},
	PARAM_END,
};

static const struct param_field queue_name_fields[] = {
	{PARAM_STRING("name", struct queue_params, name), .required = true,
	 .check = rpc_check_queue_name},
	{PARAM_INT("owner", struct queue_params, owner), .min = 0,
	 .max = UINT32_MAX - 1},
	PARAM_END,
};

/* The owner P names: the caller unless uid 0 names another. */
static int
queue_owner(struct rpc_call *call, const struct queue_params *p, uid_t *owner,
	    struct param_error *err)
{
	*owner = call->peer->uid;
	if (p->owner < 0 || (uid_t)p->owner == *owner)
		return 0;
	if (call->peer->uid != 0)
		return param_fail(err, "owner",
				  "only uid 0 acts on another user's queues");
	*owner = (uid_t)p->owner;
	return 0;
}

int
rpc_queue_set(struct rpc_call *call, struct json_object **result,
	      struct param_error *err)
{
	struct queue_params p = {.owner = -1};
	struct json_object *max;
	struct job_queue *q;
	uid_t owner;

	if (params_read(call->params, "", queue_set_fields, &p, err) < 0 ||
	    queue_owner(call, &p, &owner, err) < 0)
		return RPC_INVALID_PARAMS;
	json_object_object_get_ex(call->params, "max_running", &max);
	if ((q = queues_get(owner, p.name)) == NULL)
		return RPC_OVERLOADED;
	if (queue_set_max_running(q, max != NULL
					     ? (unsigned)json_object_get_int64(max)
					     : 0) < 0) {
		queues_drop_unused(q);
		return RPC_STORE_UNAVAILABLE;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "queue", queue_object(q));
	queues_drop_unused(q);
	return 0;
}

static void
queue_list_add(struct job_queue *q, void *array)
{
	json_object_array_add(array, queue_object(q));
}

int
rpc_queue_list(struct rpc_call *call, struct json_object **result,
	       struct param_error *err)
{
	static const struct param_field none[] = {PARAM_END};
	struct json_object *array;

	if (params_read(call->params, "", none, NULL, err) < 0)
		return RPC_INVALID_PARAMS;
	array = json_object_new_array();
	queues_each(call->peer->uid, queue_list_add, array);
	*result = json_object_new_object();
	json_object_object_add(*result, "queues", array);
	return 0;
}

static int
queue_pause_or_resume(struct rpc_call *call, struct json_object **result,
		      struct param_error *err, bool paused)
{
	struct queue_params p = {.owner = -1};
	struct job_queue *q;
	bool changed;
	uid_t owner;

	if (params_read(call->params, "", queue_name_fields, &p, err) < 0 ||
	    queue_owner(call, &p, &owner, err) < 0)
		return RPC_INVALID_PARAMS;
	if ((q = queues_find(owner, p.name)) == NULL) {
		param_fail(err, "name", "no such queue");
		return RPC_INVALID_PARAMS;
	}
	changed = q->paused != paused;
	if (changed && queue_set_paused(q, paused) < 0)
		return RPC_STORE_UNAVAILABLE;
	*result = json_object_new_object();
	json_object_object_add(*result, "queue", queue_object(q));
	json_object_object_add(*result, "changed",
			       json_object_new_boolean(changed));
	queues_drop_unused(q);
	return 0;
}

int
rpc_queue_pause(struct rpc_call *call, struct json_object **result,
		struct param_error *err)
{
	return queue_pause_or_resume(call, result, err, true);
}

int
rpc_queue_resume(struct rpc_call *call, struct json_object **result,
		 struct param_error *err)
{
	return queue_pause_or_resume(call, result, err, false);
}
