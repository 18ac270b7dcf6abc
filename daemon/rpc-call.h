/* What every method handler gets and shares: the call, the job object
 * result, and reading a job id. The dispatcher (rpc.c) holds the table
 * of methods; the handlers live in rpc.c and rpc-control.c. */
#ifndef ASYNCD_RPC_CALL_H
#define ASYNCD_RPC_CALL_H

#include <stdint.h>

#include "params.h"

struct conn;
struct job;
struct json_object;

struct rpc_call {
	struct conn *conn;
	const struct peer *peer;
	struct json_object *params; /* NULL when absent */
	/* What a handler has for the connection once its response is
	 * written (the replay of a job.watch since), or NULL. */
	void (*then)(void *arg);
	void *then_arg;
};

/* Returns 0 with *result set, or an error code (for -32602, ERR says
 * which field). */
typedef int (*rpc_handler)(struct rpc_call *call, struct json_object **result,
			   struct param_error *err);

/* {"job": <job>} */
struct json_object *rpc_job_result(struct job *job);

/* The "id" of the methods that take one job. */
struct job_id_params {
	int64_t id;
};

extern const struct param_field rpc_job_id_fields[];

/* The job of P's id if the caller may see it: 0 or -32001. */
int rpc_find_job(struct rpc_call *call, const struct job_id_params *p,
		 struct job **job);
/* Reads the params of a method that takes only an id, and finds that
 * job: 0, -32602 or -32001. */
int rpc_read_job(struct rpc_call *call, struct job **job,
		 struct param_error *err);

/* Checks of param rows. */
/* An array of at most 1024 job ids. */
int rpc_check_ids(struct json_object *value, const char *field,
		  struct param_error *err);
/* A queue name. */
int rpc_check_queue_name(struct json_object *value, const char *field,
			 struct param_error *err);
/* The ids of a checked id array NAME in PARAMS, allocated, or NULL
 * without. */
uint64_t *rpc_ids(struct json_object *params, const char *name, unsigned *n);

#endif
