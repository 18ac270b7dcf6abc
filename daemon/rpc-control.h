/* The job control methods (PROTOCOL.md, "Job control"): pause, resume,
 * priority, restart and removal of jobs, and the named queues. */
#ifndef ASYNCD_RPC_CONTROL_H
#define ASYNCD_RPC_CONTROL_H

#include "rpc-call.h"

int rpc_job_pause(struct rpc_call *call, struct json_object **result,
		  struct param_error *err);
int rpc_job_resume(struct rpc_call *call, struct json_object **result,
		   struct param_error *err);
int rpc_job_update(struct rpc_call *call, struct json_object **result,
		   struct param_error *err);
int rpc_job_restart(struct rpc_call *call, struct json_object **result,
		    struct param_error *err);
int rpc_job_remove(struct rpc_call *call, struct json_object **result,
		   struct param_error *err);
int rpc_job_clean(struct rpc_call *call, struct json_object **result,
		  struct param_error *err);
int rpc_queue_set(struct rpc_call *call, struct json_object **result,
		  struct param_error *err);
int rpc_queue_list(struct rpc_call *call, struct json_object **result,
		   struct param_error *err);
int rpc_queue_pause(struct rpc_call *call, struct json_object **result,
		    struct param_error *err);
int rpc_queue_resume(struct rpc_call *call, struct json_object **result,
		     struct param_error *err);

#endif
