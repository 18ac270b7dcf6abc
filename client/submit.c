/* Submitting jobs under the common options, then following them (or,
 * with --detach, printing their ids). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "connection.h"
#include "render.h"

/* The job control options of a submit: its queue, priority, start and
 * retries, and the jobs it waits for whatever their end. */
static void
add_control_params(struct ctl *ctl, struct json_object *params)
{
	struct json_object *retry;

	if (ctl->queue != NULL)
		json_object_object_add(params, "queue",
				       json_object_new_string(ctl->queue));
	if (ctl_given(ctl, OPT_PRIORITY))
		json_object_object_add(params, "priority",
				       json_object_new_int64(ctl->priority));
	if (ctl->delay_ms >= 0)
		json_object_object_add(params, "delay_ms",
				       json_object_new_int64(ctl->delay_ms));
	if (ctl->not_before != NULL)
		json_object_object_add(params, "not_before",
				       json_object_new_string(ctl->not_before));
	/* --retry-delay alone sends a policy without "max": the daemon
	 * names what is missing. */
	if (ctl->retry_max >= 0 || ctl->retry_delay_ms >= 0) {
		retry = json_object_new_object();
		if (ctl->retry_max >= 0)
			json_object_object_add(retry, "max",
					       json_object_new_int64(ctl->retry_max));
		if (ctl->retry_delay_ms >= 0)
			json_object_object_add(
				retry, "delay_ms",
				json_object_new_int64(ctl->retry_delay_ms));
		json_object_object_add(params, "retry", retry);
	}
	if (ctl->after_any != NULL)
		json_object_object_add(params, "after_any",
				       json_object_get(ctl->after_any));
}

uint64_t
ctl_submit(struct ctl *ctl, const char *kind, struct json_object *args,
	   int *status)
{
	struct json_object *params = json_object_new_object();
	struct json_object *response, *job;
	uint64_t id;

	json_object_object_add(params, "kind", json_object_new_string(kind));
	json_object_object_add(params, "args", args);
	if (ctl->label != NULL)
		json_object_object_add(params, "label", json_object_new_string(ctl->label));
	if (ctl->after != NULL)
		json_object_object_add(params, "after", json_object_get(ctl->after));
	if (ctl->timeout_ms > 0)
		json_object_object_add(params, "timeout_ms",
				       json_object_new_int64(ctl->timeout_ms));
	add_control_params(ctl, params);
	json_object_object_add(params, "watch", json_object_new_boolean(!ctl->detach));
	response = ctl_call(ctl, "job.submit", params, status);
	if (response == NULL)
		return 0;
	job = render_get(render_get(response, "result"), "job");
	id = (uint64_t)json_object_get_int64(render_get(job, "id"));
	json_object_put(response);
	return id;
}

int
ctl_run_jobs(struct ctl *ctl, const char *kind, struct json_object **args,
	     size_t n, const struct kind_ui *ui)
{
	uint64_t *ids = calloc(n, sizeof *ids);
	int status = EXIT_OK;
	size_t submitted = 0;

	/* From now on Ctrl-C cancels what this invocation submitted. */
	if (!ctl->detach)
		ctl_catch_interrupt();
	/* Output that is only written out comes raw from the first chunk. */
	if (!ctl->detach && !ctl->json && ui != NULL)
		client_binary_output(ctl_connect(ctl));
	for (size_t i = 0; i < n; i++) {
		if (status != EXIT_OK) {
			json_object_put(args[i]);
			continue;
		}
		ids[i] = ctl_submit(ctl, kind, args[i], &status);
		if (ids[i] != 0)
			submitted++;
	}
	status = ctl_follow_made(ctl, ids, submitted, ui, status);
	free(ids);
	return status;
}

int
ctl_follow_made(struct ctl *ctl, const uint64_t *ids, size_t n,
		const struct kind_ui *ui, int status)
{
	if (ctl->detach) {
		for (size_t i = 0; i < n && !ctl->json; i++)
			printf("%" PRIu64 "\n", ids[i]);
	} else if (n > 0) {
		int s = ctl_follow(ctl, ids, n, ui, true);
		if (status == EXIT_OK)
			status = s;
	}
	return status;
}
