/* One command per job kind: each turns its arguments into the kind's args
 * and submits through ctl_run_jobs(). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "render.h"

static void
sleep_completed(struct ctl *ctl, uint64_t id, struct json_object *result)
{
	printf("job %" PRIu64 " completed: slept %" PRId64 " ms\n", id,
	       json_object_get_int64(render_get(result, "slept_ms")));
}

int
cmd_sleep(struct ctl *ctl, int argc, char **argv)
{
	static const struct kind_ui ui = {sleep_completed, false};
	struct json_object *args;
	char *end;
	long long ms;

	if (argc != 1)
		return ctl_usage("sleep", "expected MS");
	errno = 0;
	ms = strtoll(argv[0], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[0] || ms < 0)
		return ctl_usage("sleep", "not a number of milliseconds: %s", argv[0]);
	args = json_object_new_object();
	json_object_object_add(args, "ms", json_object_new_int64(ms));
	return ctl_run_jobs(ctl, "sleep", &args, 1, &ui);
}
