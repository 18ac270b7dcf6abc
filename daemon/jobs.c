/* The job state machine: queued -> running -> completed | failed.
 *
 * Invariants:
 * - A job ends in job_finish() and nowhere else, exactly once.
 * - Stops (cancel, timeout, dependency failure, shutdown) are recorded at
 *   once but carried out from the deferred "kick" callback, so that the
 *   response to the request that caused them is written before any event.
 *   Starting jobs happens there too, for the same reason.
 * - A queued job is runnable (in the scheduler) exactly when all its
 *   dependencies have ended as it needs, no stop is pending, it is not
 *   paused, and neither a delayed start nor a retry holds it back
 *   (job_try_runnable decides, a timer wakes a held job).
 * - A failed attempt of a job with retries left goes back to queued
 *   instead of ending (job_retry); only the last attempt ends the job.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <json-c/linkhash.h>

#include "events.h"
#include "job-errors.h"
#include "jobs.h"
#include "kinds.h"
#include "log.h"
#include "metrics.h"
#include "msgids.h"
#include "output-frame.h"
#include "output-queue.h"
#include "queues.h"
#include "retain.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "watch.h"
#include "xmalloc.h"

static unsigned state_counts[JOB_NSTATES]; /* queued and running */
static struct lh_table *queued_per_user; /* uid -> count, as pointers */
static TAILQ_HEAD(, job) stops = TAILQ_HEAD_INITIALIZER(stops);
/* Jobs submitted since the last kick. They keep their parsed args, which
 * most of them start with at once; those that must wait drop them and
 * keep only the text, since a queued job must stay small. */
static TAILQ_HEAD(, job) fresh = TAILQ_HEAD_INITIALIZER(fresh);
static struct event *kick_ev;
/* job.paused and job.resumed to send from the kick, after the response
 * to the request that paused (as stops are carried out there). */
static struct pause_notice {
	uint64_t id;
	bool paused;
} *notices;
static size_t nnotices, notices_cap;
static struct json_tokener *args_tokener;
static bool shutting_down;

static void jobs_kick(void);
static void jobs_kick_cb(evutil_socket_t fd, short what, void *arg);
static void job_finish(struct job *job, struct json_object *result,
		       struct json_object *error);
static void job_free(struct job *job);
static void job_recover(struct job *job);
static bool job_is_unfinished(uint64_t id);

int
jobs_init(const char *state_dir, enum db_sync sync)
{
	sched_init(jobs_kick);
	queued_per_user = lh_kptr_table_new(16, NULL);
	kick_ev = event_new(daemon_base, -1, 0, jobs_kick_cb, NULL);
	args_tokener = json_tokener_new();
	if (store_init(state_dir, sync, job_free) < 0 ||
	    retain_init(state_dir) < 0)
		return -1;
	queues_init();
	store_each_unfinished(job_recover);
	retain_settle(job_is_unfinished);
	return 0;
}

/* Whether job ID is in memory and has not ended. */
static bool
job_is_unfinished(uint64_t id)
{
	struct job *job = store_get_resident(id);

	return job != NULL &&
	       (job->state == JOB_QUEUED || job->state == JOB_RUNNING);
}

/* Frees JOB; a running one's kind first lets go of its state. */
static void
job_free(struct job *job)
{
	if (job->priv != NULL && job->kind->free != NULL)
		job->kind->free(job);
	if (job->priv != NULL)
		job_log(job, LOG_WARNING, MSGID_JOB,
			"its kind kept state at the shutdown");
	output_queue_free(job->outq); /* before the encoders it uses */
	for (int s = 0; s < STREAM_COUNT; s++)
		free(job->encoders[s]);
	json_object_put(job->end_result);
	json_object_put(job->end_error);
	if (job->timeout_ev != NULL)
		event_free(job->timeout_ev);
	if (job->hold_ev != NULL)
		event_free(job->hold_ev);
	free(job->result);
	free(job->error);
	free(job->resume);
	json_object_put(job->stop_error);
	free(job->dependents);
	free(job->after);
	free(job->after_any);
	free(job->queue);
	free(job->label);
	free(job->key);
	free(job->args);
	json_object_put(job->args_obj);
	free(job);
}

void
jobs_free(void)
{
	/* The queues' lanes first, while the jobs they hold are there to be
	 * compared as the lanes leave their heaps; then the jobs (none of
	 * them looks at its lane or queue as it goes); then the scheduler. */
	queues_free();
	store_free();
	retain_free();
	sched_free();
	lh_table_free(queued_per_user);
	event_free(kick_ev);
	json_tokener_free(args_tokener);
	free(notices);
	notices = NULL;
	nnotices = notices_cap = 0;
}

static void
jobs_kick(void)
{
	event_active(kick_ev, 0, 0);
}

/* Per-user queued counts live in a hash keyed by uid. */
static unsigned
queued_of(uid_t uid)
{
	void *v;

	if (!lh_table_lookup_ex(queued_per_user, (void *)(uintptr_t)uid, &v))
		return 0;
	return (unsigned)(uintptr_t)v;
}

static void
queued_adjust(uid_t uid, int delta)
{
	void *key = (void *)(uintptr_t)uid;
	unsigned n = queued_of(uid) + (unsigned)delta;
	struct lh_entry *e = lh_table_lookup_entry(queued_per_user, key);

	if (n == 0 && e != NULL)
		lh_table_delete_entry(queued_per_user, e);
	else if (e != NULL)
		lh_entry_set_val(e, (void *)(uintptr_t)n);
	else if (n != 0)
		lh_table_insert(queued_per_user, key, (void *)(uintptr_t)n);
}

static void
set_state(struct job *job, enum job_state state)
{
	metrics_job_state(job->kind, job->state, state);
	state_counts[job->state]--;
	if (state == JOB_QUEUED || state == JOB_RUNNING)
		state_counts[state]++;
	if (job->state == JOB_QUEUED)
		queued_adjust(job->owner.uid, -1);
	if (state == JOB_QUEUED)
		queued_adjust(job->owner.uid, 1);
	job->state = state;
	store_touch(job);
}

/* Logs about JOB with ERROR_CODE (NULL: none) among its fields. */
static void __attribute__((format(printf, 5, 0)))
job_vlog(const struct job *job, int priority, const char *msgid,
	 const char *error_code, const char *fmt, va_list ap)
{
	struct log_job fields = {job->id, job->kind->name,
				 (unsigned)job->owner.uid, error_code};
	char text[900];

	if (!log_wants(priority))
		return;
	vsnprintf(text, sizeof text, fmt, ap);
	log_job(priority, &fields, msgid, "%s", text);
}

void
job_log(const struct job *job, int priority, const char *msgid,
	const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	job_vlog(job, priority, msgid, NULL, fmt, ap);
	va_end(ap);
}

/* job_log with the error code among the fields. */
static void __attribute__((format(printf, 5, 6)))
job_log_error(const struct job *job, int priority, const char *msgid,
	      const char *error_code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	job_vlog(job, priority, msgid, error_code, fmt, ap);
	va_end(ap);
}

struct job *
jobs_lookup(const struct peer *peer, uint64_t id)
{
	struct job *job = store_get(id);

	return job != NULL && jobs_visible(peer, job) ? job : NULL;
}

/* ---- Rendering ---------------------------------------------------------- */

static void
list_add(const struct job *job, void *array)
{
	json_object_array_add(array, events_job_object(job));
}

struct json_object *
jobs_list(const struct peer *peer, int state, const char *kind,
	  const char *queue, unsigned limit, uint64_t before_id,
	  uint64_t *next_before)
{
	struct json_object *array = json_object_new_array();
	struct db_filter f = {.owner = peer->uid == 0 ? -1 : (long long)peer->uid,
			      .state = state,
			      .kind = kind,
			      .queue = queue,
			      .before_id = before_id};

	*next_before = store_list(&f, limit, list_add, array);
	return array;
}

void
jobs_counts(unsigned counts[JOB_NSTATES])
{
	store_finished_counts(counts);
	counts[JOB_QUEUED] = state_counts[JOB_QUEUED];
	counts[JOB_RUNNING] = state_counts[JOB_RUNNING];
}

unsigned
jobs_unfinished(void)
{
	return state_counts[JOB_QUEUED] + state_counts[JOB_RUNNING];
}

bool
jobs_stopped(void)
{
	/* With a database, queued jobs wait for the next start there. */
	return store_durable() ? state_counts[JOB_RUNNING] == 0
			       : jobs_unfinished() == 0;
}

/* ---- Stops -------------------------------------------------------------- */

/* Whether its kind ended JOB and only its last output is on the way
 * (job_finish_later()). */
static bool
job_ending(const struct job *job)
{
	return job->end_result != NULL || job->end_error != NULL;
}

/* Whether JOB has ended, or its kind ended it and only its last output
 * is still on the way: no stop or pause applies any more. */
static bool
job_over(const struct job *job)
{
	return job->state == JOB_COMPLETED || job->state == JOB_FAILED ||
	       job_ending(job);
}

/* Records that JOB must stop with ERROR (taken); the first reason wins. */
static void
job_request_stop(struct job *job, struct json_object *error)
{
	if (job->stop_error != NULL || job_over(job)) {
		json_object_put(error);
		return;
	}
	job->stop_error = error;
	sched_remove(job);
	TAILQ_INSERT_TAIL(&stops, job, stop_link);
	job->stop_listed = true;
	jobs_kick();
}

int
jobs_cancel(struct job *job)
{
	if (job_over(job))
		return RPC_JOB_FINISHED;
	job_request_stop(job, job_error_new(JOBERR_CANCELLED, "cancelled"));
	return 0;
}

/* Numbers JOB's next event. The database holds a ceiling a little ahead
 * of the count, written before any event under it reaches a socket, so
 * that a restart never numbers an event lower than one a client saw,
 * without a write for every event. */
static uint32_t
job_next_seq(struct job *job)
{
	if (++job->seq > job->seq_ceiling) {
		job->seq_ceiling = job->seq + 1024;
		store_touch(job);
	}
	return job->seq;
}

static void
job_timeout_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct job *job = arg;
	char msg[64];

	snprintf(msg, sizeof msg, "timed out after %lld ms", job->timeout_ms);
	job_request_stop(job, job_error_new(JOBERR_TIMEOUT, msg));
}

/* Arms JOB's timeout, which counts from submission (also across a
 * restart); -1 when it has run out already (the stop is requested). */
static int
job_arm_timeout(struct job *job)
{
	long long left;

	if (job->timeout_ms <= 0)
		return 0;
	left = job->created_ms + job->timeout_ms - now_wall_ms();
	job->timeout_ev = evtimer_new(daemon_base, job_timeout_cb, job);
	if (left <= 0) {
		job_timeout_cb(-1, 0, job);
		return -1;
	}
	struct timeval tv = {left / 1000, (left % 1000) * 1000};
	evtimer_add(job->timeout_ev, &tv);
	return 0;
}

/* ---- Runnable ----------------------------------------------------------- */

static void job_try_runnable(struct job *job);

static void
job_hold_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	job_try_runnable(arg);
}

/* Makes JOB runnable if nothing holds it back; a delayed start or a
 * retry that is not due yet arms its timer instead. */
static void
job_try_runnable(struct job *job)
{
	long long until, left;

	if (job->state != JOB_QUEUED || job->deps_pending > 0 ||
	    job->stop_error != NULL || job->paused || sched_queued(job))
		return;
	until = job->not_before_ms > job->retry_at_ms ? job->not_before_ms
						      : job->retry_at_ms;
	if ((left = until - now_wall_ms()) > 0) {
		struct timeval tv = {left / 1000, left % 1000 * 1000};
		if (job->hold_ev == NULL)
			job->hold_ev = evtimer_new(daemon_base, job_hold_cb, job);
		evtimer_add(job->hold_ev, &tv);
		return;
	}
	sched_push(job);
}

/* ---- Pause and priority ------------------------------------------------- */

/* Sends the job.paused and job.resumed events noted since the last
 * kick, of the jobs that have not ended meanwhile. */
static void
jobs_send_pause_notices(void)
{
	for (size_t i = 0; i < nnotices; i++) {
		struct job *job = store_get_resident(notices[i].id);
		if (job == NULL || job->state == JOB_COMPLETED ||
		    job->state == JOB_FAILED)
			continue;
		job_next_seq(job);
		struct watch_event ev = watch_event_begin(job);
		if (ev.buf != NULL) {
			events_write_paused(ev.buf, job, notices[i].paused);
			watch_event_end(job, ev);
		}
	}
	nnotices = 0;
}

int
jobs_set_paused(struct job *job, bool paused, bool *changed)
{
	if (job_over(job))
		return RPC_JOB_FINISHED;
	*changed = job->paused != paused;
	if (!*changed)
		return 0;
	job->paused = paused;
	store_touch(job);
	/* The event is noted, and the kick made active, before the kind
	 * acts: what the kind does next (it defers anything that could end
	 * the job) comes after the job.paused or job.resumed. */
	if (nnotices == notices_cap) {
		notices_cap = notices_cap ? notices_cap * 2 : 16;
		notices = xreallocarray(notices, notices_cap, sizeof *notices);
	}
	notices[nnotices++] = (struct pause_notice){job->id, paused};
	jobs_kick();
	if (job->state == JOB_RUNNING)
		job->kind->pause(job, paused);
	else if (paused)
		sched_remove(job);
	else
		job_try_runnable(job);
	return 0;
}

int
jobs_set_priority(struct job *job, int priority)
{
	bool waiting = sched_queued(job);

	if (job->state != JOB_QUEUED)
		return RPC_JOB_NOT_QUEUED;
	if (waiting)
		sched_remove(job);
	job->priority = priority;
	store_touch(job);
	if (waiting)
		sched_push(job);
	return 0;
}

/* ---- Starting ----------------------------------------------------------- */

static void
job_start(struct job *job)
{
	struct json_object *args = job->args_obj;

	job->args_obj = NULL;
	if (args == NULL) {
		/* Checked and written compactly by us at submit. */
		json_tokener_reset(args_tokener);
		args = json_tokener_parse_ex(args_tokener, job->args,
					     (int)strlen(job->args) + 1);
	}
	set_state(job, JOB_RUNNING);
	job->retry_at_ms = 0;
	if (++job->attempts > 1)
		retain_drop(job->id); /* the output of an earlier attempt */
	job->started_ms = now_wall_ms();
	job->started_mono_ms = now_mono_ms();
	job->started_seq = job_next_seq(job);
	job_log(job, LOG_DEBUG, MSGID_JOB_STARTED, "started (attempt %u)",
		job->attempts);
	struct watch_event ev = watch_event_begin(job);
	if (ev.buf != NULL) {
		events_write_started(ev.buf, job, job->seq);
		watch_event_end(job, ev);
	}
	job->kind->start(job, args);
	json_object_put(args);
}

static void
jobs_kick_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	struct job *job;

	jobs_send_pause_notices();
	while ((job = TAILQ_FIRST(&stops)) != NULL) {
		TAILQ_REMOVE(&stops, job, stop_link);
		job->stop_listed = false;
		if (job->state == JOB_QUEUED)
			job_finish(job, NULL, NULL);
		else if (job->state == JOB_RUNNING && !job_ending(job))
			job->kind->cancel(job);
	}
	if (!shutting_down)
		sched_run(job_start);
	while ((job = TAILQ_FIRST(&fresh)) != NULL) {
		TAILQ_REMOVE(&fresh, job, fresh_link);
		job->fresh = false;
		json_object_put(job->args_obj);
		job->args_obj = NULL;
	}
}

/* ---- Ending ------------------------------------------------------------- */

/* A dependency in memory, with its waiting list. */
static void
dependents_remove(struct job *dep, struct job *job)
{
	unsigned k = 0;

	for (unsigned i = 0; i < dep->ndependents; i++)
		if (dep->dependents[i] != job)
			dep->dependents[k++] = dep->dependents[i];
	dep->ndependents = k;
}

static bool
ids_contain(const uint64_t *ids, unsigned n, uint64_t id)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* Tells the jobs waiting on JOB that it ended: a failure fails those
 * that wait for it in "after"; those in "after_any" take any end. */
static void
job_release_dependents(struct job *job)
{
	for (unsigned i = 0; i < job->ndependents; i++) {
		struct job *d = job->dependents[i];
		if (job->state == JOB_FAILED &&
		    ids_contain(d->after, d->nafter, job->id))
			job_request_stop(d, job_error_dependency(job));
		else if (--d->deps_pending == 0)
			job_try_runnable(d);
	}
	free(job->dependents);
	job->dependents = NULL;
	job->ndependents = 0;
}

const char *
job_stop_reason(const struct job *job)
{
	struct json_object *code;

	if (job->stop_error == NULL ||
	    !json_object_object_get_ex(job->stop_error, "code", &code))
		return NULL;
	return json_object_get_string(code);
}

bool
job_stopping_for_restart(const struct job *job)
{
	const char *reason = job_stop_reason(job);

	return jobs_shutting_down() && store_durable() && job->requeue &&
	       job->attempts <= PROTO_INTERRUPT_REQUEUES && reason != NULL &&
	       strcmp(reason, JOBERR_INTERRUPTED) == 0;
}

/* At a stop, puts JOB back in the queue for the next start instead of
 * failing it, as its on_interrupt asks. */
static void
job_requeue_for_restart(struct job *job)
{
	if (job->state == JOB_RUNNING)
		sched_ended(job);
	json_object_put(job->stop_error);
	job->stop_error = NULL;
	job->output_waiting = false;
	set_state(job, JOB_QUEUED);
	job_log(job, LOG_INFO, MSGID_JOB_REQUEUED, "queued again for the next start");
}

void
job_set_resume(struct job *job, const char *note)
{
	free(job->resume);
	job->resume = note != NULL ? xstrdup(note) : NULL;
	store_touch(job);
}

/* A running JOB's attempt failed with ERROR: if it has retries left, it
 * goes back to queued until its retry is due, and true is returned
 * (ERROR taken). */
static bool
job_retry(struct job *job, struct json_object *error)
{
	char *text;

	if (job->retries >= job->retry.max || !job_error_retriable(error) ||
	    (shutting_down && !store_durable()))
		return false;
	sched_ended(job);
	metrics_job_retried(job->kind);
	job->retries++;
	job->retry_at_ms = now_wall_ms() + job_retry_delay_ms(&job->retry, job->retries);
	set_state(job, JOB_QUEUED);
	job->output_waiting = false;
	for (int s = 0; s < STREAM_COUNT; s++) {
		free(job->encoders[s]); /* the next attempt starts at offset 0 */
		job->encoders[s] = NULL;
	}
	free(job->resume);
	job->resume = NULL;
	job_log_error(job, LOG_INFO, MSGID_JOB_RETRYING, job_error_code(error),
		      "attempt %u failed; retry %u of %u", job->attempts,
		      job->retries, job->retry.max);
	text = json_text_take(error);
	job_next_seq(job);
	struct watch_event ev = watch_event_begin(job);
	if (ev.buf != NULL) {
		events_write_retrying(ev.buf, job, text);
		watch_event_end(job, ev);
	}
	free(text);
	job_try_runnable(job);
	jobs_kick();
	return true;
}

/* The kind ended JOB while its output was still being encoded (RESULT
 * or ERROR is set: job_complete(), job_fail()): the end is sent once
 * that output is (job_queued_drained()). A stop asked
 * for earlier still applies then; none is asked for meanwhile. */
static void
job_finish_later(struct job *job, struct json_object *result,
		 struct json_object *error)
{
	job->end_result = result;
	job->end_error = error;
	job->output_waiting = false;
	if (job->stop_listed) {
		TAILQ_REMOVE(&stops, job, stop_link);
		job->stop_listed = false;
	}
}

static void
job_finish(struct job *job, struct json_object *result,
	   struct json_object *error)
{
	bool was_running = job->state == JOB_RUNNING;

	if (was_running && output_queue_busy(job->outq)) {
		job_finish_later(job, result, error);
		return;
	}

	if (job_stopping_for_restart(job)) {
		if (result == NULL) {
			json_object_put(error);
			if (job->stop_listed) {
				TAILQ_REMOVE(&stops, job, stop_link);
				job->stop_listed = false;
			}
			job_requeue_for_restart(job);
			return;
		}
		/* It got done before it stopped: done it is, never run again. */
		json_object_put(job->stop_error);
		job->stop_error = NULL;
	}
	if (job->stop_error != NULL) {
		json_object_put(result);
		json_object_put(error);
		result = NULL;
		error = job->stop_error;
		job->stop_error = NULL;
	}
	if (was_running && result == NULL && job_retry(job, error))
		return;
	if (was_running)
		sched_ended(job);
	metrics_job_ended(job->kind, error != NULL ? job_error_code(error) : NULL,
			  was_running ? now_mono_ms() - job->started_mono_ms : -1);
	if (error != NULL) /* what the user did is not news for the log */
		job_log_error(job, job_error_by_request(error) ? LOG_DEBUG
							       : LOG_INFO,
			      MSGID_JOB_FAILED, job_error_code(error),
			      "failed: %s", job_error_message(error));
	else
		job_log(job, LOG_DEBUG, MSGID_JOB_COMPLETED, "completed");
	if (job->stop_listed) {
		TAILQ_REMOVE(&stops, job, stop_link);
		job->stop_listed = false;
	}
	if (job->fresh) {
		TAILQ_REMOVE(&fresh, job, fresh_link);
		job->fresh = false;
	}
	json_object_put(job->args_obj);
	job->args_obj = NULL;
	sched_remove(job);
	set_state(job, result != NULL ? JOB_COMPLETED : JOB_FAILED);
	job->finished_ms = now_wall_ms();
	job->result = json_text_take(result);
	job->error = json_text_take(error);
	free(job->resume); /* no later attempt needs it */
	job->resume = NULL;
	job->output_waiting = false;
	if (job->timeout_ev != NULL) {
		event_free(job->timeout_ev);
		job->timeout_ev = NULL;
	}
	if (job->hold_ev != NULL) {
		event_free(job->hold_ev);
		job->hold_ev = NULL;
	}
	job->retry_at_ms = 0;
	for (unsigned i = 0; i < job->nafter + job->nafter_any; i++) {
		uint64_t id = i < job->nafter ? job->after[i]
					      : job->after_any[i - job->nafter];
		struct job *dep = store_get_resident(id);
		if (dep != NULL)
			dependents_remove(dep, job);
	}
	queue_job_removed(job->jq);
	job->jq = NULL;

	job_next_seq(job);
	struct watch_event ev = watch_event_begin(job);
	if (ev.buf != NULL) {
		events_write_end(ev.buf, job);
		watch_event_end(job, ev);
	}
	watch_remove_all(job);

	job_release_dependents(job);
	jobs_kick();
	retain_finished(job->id);
	store_finished(job); /* may free it */
}

/* ---- The kinds' side ---------------------------------------------------- */

void
job_complete(struct job *job, struct json_object *result)
{
	if (job->state != JOB_RUNNING || job_ending(job)) {
		job_log(job, LOG_WARNING, MSGID_JOB, "completed twice");
		json_object_put(result);
		return;
	}
	job_finish(job, result != NULL ? result : json_object_new_object(),
		   NULL);
}

void
job_fail(struct job *job, const char *code, const char *message,
	 struct json_object *extra)
{
	struct json_object *err;

	if (job->state != JOB_RUNNING || job_ending(job)) {
		job_log(job, LOG_WARNING, MSGID_JOB, "failed twice");
		json_object_put(extra);
		return;
	}
	err = job_error_new(code, message);
	if (extra != NULL) {
		json_object_object_foreach(extra, k, v)
			json_object_object_add(err, k, json_object_get(v));
		json_object_put(extra);
	}
	job_finish(job, NULL, err);
}

void
job_fail_errno(struct job *job, int err, const char *what)
{
	const char *code = proto_errno_code(err);
	char msg[512];
	struct json_object *extra = NULL;

	snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
	if (strcmp(code, JOBERR_IO_ERROR) == 0) {
		extra = json_object_new_object();
		json_object_object_add(extra, "errno", json_object_new_int(err));
	}
	job_fail(job, code, msg, extra);
}

bool
job_progress(struct job *job, uint64_t done, int64_t total, const char *unit,
	     bool final)
{
	long long now = now_mono_ms();
	struct watch_event ev;

	if (!final && job->progress_last_ms != 0 &&
	    now - job->progress_last_ms < 1000 / PROTO_PROGRESS_PER_SEC)
		return false;
	job->progress_last_ms = now;
	job_next_seq(job);
	if ((ev = watch_event_begin(job)).buf != NULL) {
		events_write_progress(ev.buf, job, done, total, unit);
		watch_event_end(job, ev);
	}
	return true;
}

struct output_ctx {
	struct job *job;
	enum job_stream stream;
};

/* A chunk the job's own encoder cut. */
static void
output_sink(void *arg, enum chunk_encoding enc, uint64_t offset,
	    const unsigned char *raw, size_t len)
{
	struct output_ctx *ctx = arg;

	job_output_chunk(ctx->job, &(struct output_chunk){.stream = ctx->stream,
							  .offset = offset,
							  .enc = enc,
							  .raw = raw,
							  .len = len});
}

static struct chunk_encoder *
job_encoder(struct job *job, enum job_stream stream)
{
	if (job->encoders[stream] == NULL) {
		job->encoders[stream] = xmalloc(sizeof(struct chunk_encoder));
		chunk_init(job->encoders[stream], false);
	}
	return job->encoders[stream];
}

void
job_output_chunk(struct job *job, const struct output_chunk *c)
{
	struct output_chunk sent = *c;

	job_next_seq(job);
	if (job->kind->retain_output && daemon_opts.keep_output > 0)
		retain_chunk(job->id, &(struct retained_chunk){.seq = job->seq,
							       .stream = c->stream,
							       .enc = c->enc,
							       .offset = c->offset,
							       .data = c->raw,
							       .len = c->len});
	if (TAILQ_EMPTY(&job->watches))
		return;
	metrics_output_bytes(c->len);
	sent.id = job->id;
	sent.seq = job->seq;
	watch_output(job, &sent);
}

/* ---- Output encoded on the pool (output-queue.h) ------------------------ */

static void job_output_finish(struct job *job, enum job_stream stream);

static void
job_queued_send(void *arg, const struct output_chunk *c)
{
	job_output_chunk(arg, c);
}

static void
job_queued_end(void *arg, enum job_stream stream)
{
	job_output_finish(arg, stream);
}

/* Everything queued is out: an end the kind reported meanwhile follows
 * it now, or a producer that waited for room goes on. */
static void
job_queued_drained(void *arg)
{
	struct job *job = arg;
	struct json_object *result = job->end_result, *error = job->end_error;

	if (job_ending(job)) {
		job->end_result = job->end_error = NULL;
		job_finish(job, result, error); /* may free JOB */
		return;
	}
	watch_resume_job(job);
}

static const struct output_queue_ops job_queue_ops = {
	.send = job_queued_send,
	.end = job_queued_end,
	.drained = job_queued_drained,
};

void
job_output(struct job *job, enum job_stream stream, const void *data,
	   size_t len)
{
	struct output_ctx ctx = {job, stream};
	struct chunk_encoder *enc = job_encoder(job, stream);

	/* JSON lines and kept chunks need the bytes cut on UTF-8 boundaries
	 * and encoded: a worker does that. Once bytes are queued, all that
	 * follow queue behind them, to keep their order. */
	if (job_output_wants_json(job) || output_queue_busy(job->outq)) {
		if (job->outq == NULL)
			job->outq = output_queue_new(&job_queue_ops, job);
		output_queue_push(job->outq, stream, enc, data, len);
		return;
	}
	chunk_write_raw(enc, data, len, output_sink, &ctx);
}

bool
job_output_wants_json(struct job *job)
{
	return (job->kind->retain_output && daemon_opts.keep_output > 0) ||
	       watch_wants_json(job);
}

bool
job_output_to_files(struct job *job)
{
	return !(job->kind->retain_output && daemon_opts.keep_output > 0) &&
	       watch_takes_files(job);
}

int
job_output_file(struct job *job, enum job_stream stream,
		 uint64_t stream_offset, int fd, uint64_t offset, size_t len,
		 unsigned char last)
{
	struct evbuffer_file_segment *seg = NULL;
	bool watched = !TAILQ_EMPTY(&job->watches);

	if (len > PROTO_BINARY_CHUNK_MAX)
		return -1;
	if (watched && len > 0) {
		/* The segment owns a descriptor of its own: the kind closes
		 * FD when the job ends, maybe before the socket has all. */
		int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (copy < 0)
			return -1;
		seg = evbuffer_file_segment_new(copy, (ev_off_t)offset,
						(ev_off_t)len,
						EVBUF_FS_CLOSE_ON_FREE |
							EVBUF_FS_DISABLE_MMAP |
							EVBUF_FS_DISABLE_LOCKING);
		if (seg == NULL) {
			close(copy);
			return -1;
		}
	}
	job_next_seq(job);
	if (watched) {
		metrics_output_bytes(len);
		watch_output(job, &(struct output_chunk){.id = job->id,
							 .seq = job->seq,
							 .stream = stream,
							 .offset = stream_offset,
							 .enc = CHUNK_BASE64,
							 .len = len,
							 .seg = seg,
							 .seg_last = last});
	}
	if (seg != NULL)
		evbuffer_file_segment_free(seg);
	return 0;
}

/* Ends STREAM now: the bytes of a character it cut go out as base64. */
static void
job_output_finish(struct job *job, enum job_stream stream)
{
	struct output_ctx ctx = {job, stream};

	chunk_finish(job->encoders[stream], output_sink, &ctx);
}

void
job_output_end(struct job *job, enum job_stream stream)
{
	if (job->encoders[stream] == NULL)
		return;
	if (output_queue_busy(job->outq))
		output_queue_end(job->outq, stream);
	else
		job_output_finish(job, stream);
}

/* ---- Submission --------------------------------------------------------- */

/* -32602 naming FIELD unless PEER sees every job of IDS. */
static int
check_ids(const struct peer *peer, const char *field, const uint64_t *ids,
	  unsigned n, struct param_error *err)
{
	for (unsigned i = 0; i < n; i++)
		if (jobs_lookup(peer, ids[i]) == NULL)
			return param_fail(err, field, "no such job: %llu",
					  (unsigned long long)ids[i]);
	return 0;
}

/* Registers JOB with the dependency ID: false when it failed and JOB,
 * which needs it completed (NEED_OK), must fail too. */
static bool
job_link_dependency(struct job *job, uint64_t id, bool need_ok)
{
	struct job *dep = store_get(id);

	/* Gone past --keep-finished: it ended (for "after": completed, or
	 * JOB would have failed with it). */
	if (dep == NULL || dep->state == JOB_COMPLETED ||
	    (dep->state == JOB_FAILED && !need_ok))
		return true;
	if (dep->state == JOB_FAILED) {
		job_request_stop(job, job_error_dependency(dep));
		return false;
	}
	dep->dependents = xreallocarray(dep->dependents, dep->ndependents + 1,
					sizeof *dep->dependents);
	dep->dependents[dep->ndependents++] = job;
	job->deps_pending++;
	return true;
}

/* Registers JOB with its dependencies, then makes it runnable if
 * nothing else holds it back. */
static void
job_link_dependencies(struct job *job)
{
	for (unsigned i = 0; i < job->nafter; i++)
		if (!job_link_dependency(job, job->after[i], true))
			return;
	for (unsigned i = 0; i < job->nafter_any; i++)
		job_link_dependency(job, job->after_any[i], false);
	job_try_runnable(job);
}

static uint64_t *
ids_copy(const uint64_t *ids, unsigned n)
{
	uint64_t *copy;

	if (n == 0)
		return NULL;
	copy = xreallocarray(NULL, n, sizeof *copy);
	memcpy(copy, ids, n * sizeof *copy);
	return copy;
}

int
jobs_submit(const struct peer *peer, struct conn *conn,
	    const struct submit_request *req, struct job **out, bool *existing,
	    struct param_error *err)
{
	struct job_queue *jq;
	struct job *job;
	char *key = NULL;

	*existing = false;
	if (shutting_down)
		return RPC_SHUTTING_DOWN;
	if (req->key != NULL) {
		if (asprintf(&key, "%u/%s", (unsigned)peer->uid, req->key) < 0)
			fatal("asprintf");
		if ((job = store_find_key(key)) != NULL) {
			free(key);
			*out = job;
			*existing = true;
			if (req->watch && conn != NULL)
				watch_add(job, conn);
			return 0;
		}
	}
	if (check_ids(peer, "after", req->after, req->nafter, err) < 0 ||
	    check_ids(peer, "after_any", req->after_any, req->nafter_any,
		      err) < 0) {
		free(key);
		return RPC_INVALID_PARAMS;
	}
	if (!store_available()) {
		free(key);
		return RPC_STORE_UNAVAILABLE;
	}
	if (state_counts[JOB_QUEUED] >= daemon_opts.max_queued ||
	    queued_of(peer->uid) >= daemon_opts.max_queued_per_user ||
	    (jq = queues_get(peer->uid, req->queue != NULL ? req->queue
							   : QUEUE_DEFAULT)) == NULL) {
		free(key);
		return RPC_OVERLOADED;
	}

	job = xcalloc(1, sizeof *job);
	job->id = store_next_id();
	job->kind = req->kind;
	job->state = JOB_QUEUED;
	job->owner = *peer;
	job->label = req->label ? xstrdup(req->label) : NULL;
	job->key = key;
	job->args = xstrdup(json_object_to_json_string_ext(
		req->args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	job->args_obj = json_object_get(req->args);
	job->fresh = true;
	TAILQ_INSERT_TAIL(&fresh, job, fresh_link);
	jobs_kick(); /* which also drops the args of a job that must wait */
	job->after = ids_copy(req->after, req->nafter);
	job->nafter = req->nafter;
	job->after_any = ids_copy(req->after_any, req->nafter_any);
	job->nafter_any = req->nafter_any;
	job->queue = xstrdup(jq->name);
	job->jq = jq;
	queue_job_added(jq);
	job->priority = req->priority;
	job->not_before_ms = req->not_before_ms;
	job->retry = req->retry;
	job->restarted_from = req->restarted_from;
	job->created_ms = now_wall_ms();
	job->timeout_ms = req->timeout_ms;
	job->requeue = req->on_interrupt >= 0
			       ? req->on_interrupt == ON_INTERRUPT_REQUEUE
			       : job->kind->requeue_by_default != NULL &&
					 job->kind->requeue_by_default(req->args);
	TAILQ_INIT(&job->watches);
	state_counts[JOB_QUEUED]++;
	metrics_job_submitted(job->kind);
	metrics_job_state(job->kind, JOB_NSTATES, JOB_QUEUED);
	queued_adjust(peer->uid, 1);
	store_add(job);
	store_touch(job);
	watch_new_job(job, conn, req->watch);

	if (job_arm_timeout(job) == 0)
		job_link_dependencies(job);
	*out = job;
	return 0;
}

/* ---- Restart ------------------------------------------------------------ */

/* Takes a job the database held unfinished when the daemon last stopped:
 * a queued one waits again, a running one is queued again or fails with
 * "interrupted" as its on_interrupt says. */
static void
job_recover(struct job *job)
{
	bool was_running = job->state == JOB_RUNNING;

	job->state = JOB_QUEUED;
	state_counts[JOB_QUEUED]++;
	metrics_job_state(job->kind, JOB_NSTATES, JOB_QUEUED);
	queued_adjust(job->owner.uid, 1);
	store_add(job);
	job->jq = queues_restore(job->owner.uid, job->queue);
	queue_job_added(job->jq);
	if (was_running) {
		store_touch(job);
		if (!job->requeue || job->attempts > PROTO_INTERRUPT_REQUEUES) {
			job_request_stop(job, job_error_new(JOBERR_INTERRUPTED,
							"the daemon stopped "
							"while it ran"));
			return;
		}
		job_log(job, LOG_INFO, MSGID_JOB_REQUEUED,
			"was running at the last stop; queued again");
	}
	if (job_arm_timeout(job) < 0)
		return;
	job_link_dependencies(job);
}

/* ---- Shutdown ----------------------------------------------------------- */

void
jobs_shutdown(void)
{
	struct job *job;

	if (shutting_down)
		return;
	shutting_down = true;
	/* With a database queued jobs stay for the next start; running ones
	 * stop, and are queued again there or fail, as on_interrupt says. */
	for (job = store_newest(); job != NULL; job = store_older(job))
		if (job->state == JOB_RUNNING ||
		    (job->state == JOB_QUEUED && !store_durable()))
			job_request_stop(job,
					 job_error_new(JOBERR_INTERRUPTED,
						   "the daemon stopped"));
}

bool
jobs_shutting_down(void)
{
	return shutting_down;
}
