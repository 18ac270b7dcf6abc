/* What the method handlers share (see rpc-call.h). */
#include <stdlib.h>

#include <json-c/json.h>

#include "events.h"
#include "jobs.h"
#include "queues.h"
#include "rpc-call.h"
#include "xmalloc.h"

struct json_object *
rpc_job_result(struct job *job)
{
	struct json_object *result = json_object_new_object();

	json_object_object_add(result, "job", events_job_object(job));
	return result;
}

const struct param_field rpc_job_id_fields[] = {
	{PARAM_INT("id", struct job_id_params, id), .required = true,
	 .min = 1, .max = INT64_MAX},
	PARAM_END,
};

int
rpc_find_job(struct rpc_call *call, const struct job_id_params *p,
	     struct job **job)
{
	*job = jobs_lookup(call->peer, (uint64_t)p->id);
	return *job != NULL ? 0 : RPC_NO_SUCH_JOB;
}

int
rpc_read_job(struct rpc_call *call, struct job **job, struct param_error *err)
{
	struct job_id_params p;

	if (params_read(call->params, "", rpc_job_id_fields, &p, err) < 0)
		return RPC_INVALID_PARAMS;
	return rpc_find_job(call, &p, job);
}

int
rpc_check_ids(struct json_object *value, const char *field,
	      struct param_error *err)
{
	size_t n;

	if (!json_object_is_type(value, json_type_array))
		return param_fail(err, field, "must be an array of job ids");
	n = json_object_array_length(value);
	if (n > PROTO_IDS_MAX)
		return param_fail(err, field, "more than 1024 ids");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(value, i);
		if (!json_object_is_type(e, json_type_int) ||
		    json_object_get_int64(e) < 1 ||
		    json_object_get_int64(e) == INT64_MAX)
			return param_fail(err, field,
					  "must be an array of job ids");
	}
	return 0;
}

int
rpc_check_queue_name(struct json_object *value, const char *field,
		     struct param_error *err)
{
	if (!queue_name_valid(json_object_get_string(value)))
		return param_fail(err, field,
				  "must be 1 to 64 bytes of A-Z a-z 0-9 . _ -");
	return 0;
}

uint64_t *
rpc_ids(struct json_object *params, const char *name, unsigned *count)
{
	struct json_object *v;
	uint64_t *ids;
	size_t n;

	*count = 0;
	if (!json_object_object_get_ex(params, name, &v))
		return NULL;
	n = json_object_array_length(v);
	if (n == 0)
		return NULL;
	ids = xreallocarray(NULL, n, sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = (uint64_t)json_object_get_int64(
			json_object_array_get_idx(v, i));
	*count = (unsigned)n;
	return ids;
}
