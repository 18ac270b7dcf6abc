/* Submitting jobs under the common options, then following them (or,
 * with --detach, printing their ids). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "render.h"

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
	for (size_t i = 0; i < n; i++) {
		if (status != EXIT_OK) {
			json_object_put(args[i]);
			continue;
		}
		ids[i] = ctl_submit(ctl, kind, args[i], &status);
		if (ids[i] != 0)
			submitted++;
	}
	if (ctl->detach) {
		for (size_t i = 0; i < submitted && !ctl->json; i++)
			printf("%" PRIu64 "\n", ids[i]);
	} else if (submitted > 0) {
		int s = ctl_follow(ctl, ids, submitted, ui, true);
		if (status == EXIT_OK)
			status = s;
	}
	free(ids);
	return status;
}
