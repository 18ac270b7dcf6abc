/* sleep: completes after args.ms milliseconds, on a timer of the loop.
 * Across a restart it sleeps for the time it had left: the job's resume
 * note holds "left_ms" after a stop, or the wall-clock "deadline_ms" of
 * the attempt a crash cut short. job.pause stops the clock: the timer
 * goes and the note holds "left_ms" until job.resume arms it again, so
 * that a paused job queued again at a restart, after a crash too, sleeps
 * only what it had left. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../kinds.h"
#include "../params.h"
#include "../xmalloc.h"

#define SLEEP_MAX_MS 86400000

struct sleep_job {
	struct event *timer;
	int64_t ms;
	long long deadline_mono_ms; /* while it runs */
	long long left_ms;          /* while it is paused */
};

/* The args as sleep_fields reads them. */
struct sleep_args {
	int64_t ms;
};

static const struct param_field sleep_fields[] = {
	{PARAM_INT("ms", struct sleep_args, ms), .required = true, .min = 0,
	 .max = SLEEP_MAX_MS},
	PARAM_END,
};

static int
sleep_validate(struct json_object *args, struct param_error *err)
{
	struct sleep_args a;

	return params_read(args, "args.", sleep_fields, &a, err);
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
sleep_done(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct job *job = arg;
	struct json_object *result = json_object_new_object();

	json_object_object_add(result, "slept_ms",
			       json_object_new_int64(((struct sleep_job *)job->priv)->ms));
	sleep_release(job);
	job_complete(job, result);
}

/* The milliseconds to sleep in this attempt of a job of MS, as its resume
 * note says. */
static long long
sleep_left(const struct job *job, int64_t ms)
{
	struct json_object *note, *v;
	long long left = ms;

	if (job->resume == NULL ||
	    (note = json_tokener_parse(job->resume)) == NULL)
		return left;
	if (json_object_object_get_ex(note, "left_ms", &v))
		left = json_object_get_int64(v);
	else if (json_object_object_get_ex(note, "deadline_ms", &v))
		left = json_object_get_int64(v) - now_wall_ms();
	json_object_put(note);
	return left < 0 ? 0 : left > ms ? ms : left;
}

/* Arms S's timer for LEFT ms from now and notes the deadline for a
 * crash. */
static void
sleep_arm(struct job *job, struct sleep_job *s, long long left)
{
	char note[64];

	s->deadline_mono_ms = now_mono_ms() + left;
	if (left == 0) {
		/* Done in this turn of the loop, not the next: the job is then
		 * written to the state database once, not twice. */
		event_active(s->timer, EV_TIMEOUT, 1);
	} else {
		struct timeval tv = {left / 1000, (left % 1000) * 1000};
		evtimer_add(s->timer, &tv);
	}
	snprintf(note, sizeof note, "{\"deadline_ms\":%lld}",
		 now_wall_ms() + left);
	job_set_resume(job, note);
}

/* The milliseconds S, running, has left to sleep. */
static long long
sleep_remaining(const struct sleep_job *s)
{
	long long left = s->deadline_mono_ms - now_mono_ms();

	return left > 0 ? left : 0;
}

/* Notes for a later attempt the LEFT ms a stopped clock holds. */
static void
sleep_note_left(struct job *job, long long left)
{
	char note[64];

	snprintf(note, sizeof note, "{\"left_ms\":%lld}", left);
	job_set_resume(job, note);
}

static void
sleep_start(struct job *job, struct json_object *args)
{
	struct sleep_job *s = xcalloc(1, sizeof *s);
	struct json_object *v;

	json_object_object_get_ex(args, "ms", &v);
	s->ms = json_object_get_int64(v);
	s->timer = evtimer_new(daemon_base, sleep_done, job);
	job->priv = s;
	sleep_arm(job, s, sleep_left(job, s->ms));
}

static void
sleep_cancel(struct job *job)
{
	struct sleep_job *s = job->priv;

	if (job_stopping_for_restart(job))
		sleep_note_left(job, job->paused ? s->left_ms
						 : sleep_remaining(s));
	sleep_release(job);
	job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
}

/* job.pause stops the clock where it is; job.resume lets it run for
 * what was left. */
static void
sleep_pause(struct job *job, bool paused)
{
	struct sleep_job *s = job->priv;

	if (paused) {
		s->left_ms = sleep_remaining(s);
		evtimer_del(s->timer);
		sleep_note_left(job, s->left_ms);
	} else {
		sleep_arm(job, s, s->left_ms);
	}
}

const struct job_kind kind_sleep = {
	.name = "sleep",
	.validate = sleep_validate,
	.start = sleep_start,
	.cancel = sleep_cancel,
	.free = sleep_release,
	.pause = sleep_pause,
	.requeue_by_default = kinds_requeue_always,
	.default_max_running = 100000,
};
