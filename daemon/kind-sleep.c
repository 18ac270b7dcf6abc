/* sleep: completes after args.ms milliseconds, on a timer of the loop. */
#include <stdlib.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "kinds.h"
#include "params.h"
#include "xmalloc.h"

#define SLEEP_MAX_MS 86400000

struct sleep_job {
	struct event *timer;
	int64_t ms;
};

static int
sleep_validate(struct json_object *args, struct param_error *err)
{
	static const char *const allowed[] = {"ms", NULL};
	int64_t ms;

	if (params_only(args, "args.", allowed, err) < 0 ||
	    params_int(args, "args.", "ms", true, 0, SLEEP_MAX_MS, &ms, err) < 0)
		return -1;
	return 0;
}

static void
sleep_release(struct job *job)
{
	struct sleep_job *s = job->priv;

	event_free(s->timer);
	free(s);
	job->priv = NULL;
}

static void
sleep_done(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	struct json_object *result = json_object_new_object();

	json_object_object_add(result, "slept_ms",
			       json_object_new_int64(((struct sleep_job *)job->priv)->ms));
	sleep_release(job);
	job_complete(job, result);
}

static void
sleep_start(struct job *job, struct json_object *args)
{
	struct sleep_job *s = xmalloc(sizeof *s);
	struct json_object *v;

	json_object_object_get_ex(args, "ms", &v);
	s->ms = json_object_get_int64(v);
	s->timer = evtimer_new(daemon_base, sleep_done, job);
	job->priv = s;
	struct timeval tv = {s->ms / 1000, (s->ms % 1000) * 1000};
	evtimer_add(s->timer, &tv);
}

static void
sleep_cancel(struct job *job)
{
	sleep_release(job);
	job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
}

const struct job_kind kind_sleep = {
	.name = "sleep",
	.validate = sleep_validate,
	.start = sleep_start,
	.cancel = sleep_cancel,
	.default_max_running = 100000,
};
