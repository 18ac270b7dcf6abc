/* The jobs asyncctl top knows: the unfinished ones by id, fed by the
 * answer to job.watch with all and by every event after it, and the last
 * ones that ended; the counts of each kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/proto.h"
#include "render.h"
#include "top.h"

/* Samples closer together than this replace the last one. */
#define TOP_SAMPLE_MS 500
/* The rate counts the samples of this last stretch of time. */
#define TOP_RATE_WINDOW_MS 5000

static void *
top_realloc(void *p, size_t n, size_t size)
{
	if ((p = reallocarray(p, n ? n : 1, size)) == NULL)
		abort();
	return p;
}

void
top_jobs_init(struct top_jobs *jobs, size_t keep)
{
	memset(jobs, 0, sizeof *jobs);
	jobs->keep = keep;
	jobs->done = top_realloc(NULL, keep, sizeof *jobs->done);
}

static void
top_job_free(struct top_job *job)
{
	if (job == NULL)
		return;
	free(job->label);
	free(job);
}

void
top_jobs_forget_live(struct top_jobs *jobs)
{
	for (size_t i = 0; i < jobs->nlive; i++)
		top_job_free(jobs->live[i]);
	jobs->nlive = 0;
	jobs->norder = 0;
}

void
top_jobs_free(struct top_jobs *jobs)
{
	top_jobs_forget_live(jobs);
	for (size_t i = 0; i < jobs->ndone; i++)
		top_job_free(jobs->done[i]);
	free(jobs->live);
	free(jobs->done);
	free(jobs->order);
}

/* The place of ID among the unfinished jobs, or where it would go. */
static size_t
top_jobs_place(const struct top_jobs *jobs, uint64_t id, bool *found)
{
	size_t lo = 0, hi = jobs->nlive;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (jobs->live[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < jobs->nlive && jobs->live[lo]->id == id;
	return lo;
}

struct top_job *
top_jobs_find(struct top_jobs *jobs, uint64_t id)
{
	bool found;
	size_t i = top_jobs_place(jobs, id, &found);

	if (found)
		return jobs->live[i];
	for (i = 0; i < jobs->ndone; i++)
		if (jobs->done[i]->id == id)
			return jobs->done[i];
	return NULL;
}

/* A job ID, queued, its fields not known yet. */
static struct top_job *
top_job_new(uint64_t id)
{
	struct top_job *job = calloc(1, sizeof *job);

	if (job == NULL)
		abort();
	job->id = id;
	job->owner = -1;
	job->total = -1;
	return job;
}

/* The unfinished job ID, made (queued, fields unknown) if need be. */
static struct top_job *
top_jobs_live(struct top_jobs *jobs, uint64_t id, bool *made)
{
	bool found;
	size_t i = top_jobs_place(jobs, id, &found);
	struct top_job *job;

	*made = !found;
	if (found)
		return jobs->live[i];
	if (jobs->nlive == jobs->live_cap) {
		jobs->live_cap = jobs->live_cap ? jobs->live_cap * 2 : 64;
		jobs->live = top_realloc(jobs->live, jobs->live_cap,
					 sizeof *jobs->live);
	}
	memmove(jobs->live + i + 1, jobs->live + i,
		(jobs->nlive - i) * sizeof *jobs->live);
	jobs->nlive++;
	job = jobs->live[i] = top_job_new(id);
	return job;
}

static struct top_kind *
top_jobs_kind(struct top_jobs *jobs, const char *name)
{
	size_t n = sizeof jobs->kinds / sizeof jobs->kinds[0];

	if (name == NULL || *name == '\0')
		return NULL;
	for (size_t i = 0; i < jobs->nkinds; i++)
		if (strcmp(jobs->kinds[i].name, name) == 0)
			return &jobs->kinds[i];
	if (jobs->nkinds == n)
		return NULL;
	snprintf(jobs->kinds[jobs->nkinds].name, sizeof jobs->kinds[0].name,
		 "%s", name);
	return &jobs->kinds[jobs->nkinds++];
}

void
top_jobs_note_kind(struct top_jobs *jobs, const char *kind)
{
	(void)top_jobs_kind(jobs, kind);
}

void
top_jobs_count(struct top_jobs *jobs)
{
	struct top_kind *k;

	for (size_t i = 0; i < jobs->nkinds; i++)
		jobs->kinds[i].queued = jobs->kinds[i].running = 0;
	for (size_t i = 0; i < jobs->nlive; i++) {
		if ((k = top_jobs_kind(jobs, jobs->live[i]->kind)) == NULL)
			continue;
		if (jobs->live[i]->state == TOP_RUNNING)
			k->running++;
		else
			k->queued++;
	}
}

/* Moves the unfinished job at I to the head of the finished ones. */
static void
top_jobs_finish(struct top_jobs *jobs, size_t i)
{
	struct top_job *job = jobs->live[i];
	struct top_kind *k = top_jobs_kind(jobs, job->kind);

	memmove(jobs->live + i, jobs->live + i + 1,
		(jobs->nlive - i - 1) * sizeof *jobs->live);
	jobs->nlive--;
	if (k != NULL && job->state == TOP_COMPLETED)
		k->completed++;
	else if (k != NULL)
		k->failed++;
	if (jobs->keep == 0) {
		top_job_free(job);
		return;
	}
	if (jobs->ndone == jobs->keep)
		top_job_free(jobs->done[--jobs->ndone]);
	memmove(jobs->done + 1, jobs->done, jobs->ndone * sizeof *jobs->done);
	jobs->done[0] = job;
	jobs->ndone++;
}

/* The "id" member of OBJ; 0 when there is none. */
static uint64_t
top_id(struct json_object *obj)
{
	return (uint64_t)json_object_get_int64(render_get(obj, "id"));
}

static const char *
top_str(struct json_object *obj, const char *key)
{
	struct json_object *v = render_get(obj, key);

	return v != NULL && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

/* An RFC 3339 member as milliseconds since the epoch; 0 when absent. */
static long long
top_time(struct json_object *obj, const char *key)
{
	const char *text = top_str(obj, key);
	long long ms;

	return text != NULL && proto_parse_time(text, &ms) == 0 ? ms : 0;
}

static void
top_copy(char *dst, size_t size, const char *src)
{
	if (src != NULL)
		snprintf(dst, size, "%s", src);
}

/* The end of JOB from its "result" (completed) or "error" (failed). */
static void
top_job_end(struct top_job *job, bool ok, struct json_object *result,
	    struct json_object *error)
{
	struct json_object *v;

	job->state = ok ? TOP_COMPLETED : TOP_FAILED;
	job->paused = false;
	job->detail[0] = '\0';
	if (ok) {
		top_copy(job->end, sizeof job->end, "completed");
		if ((v = render_get(result, "exit_code")) != NULL)
			snprintf(job->detail, sizeof job->detail, "exit %d",
				 json_object_get_int(v));
		else if ((v = render_get(result, "bytes")) != NULL)
			snprintf(job->detail, sizeof job->detail, "%lld bytes",
				 (long long)json_object_get_int64(v));
		return;
	}
	snprintf(job->end, sizeof job->end, "%s",
		 top_str(error, "code") ? top_str(error, "code") : "failed");
	if ((v = render_get(error, "exit_code")) != NULL)
		snprintf(job->detail, sizeof job->detail, "exit %d",
			 json_object_get_int(v));
	else if ((v = render_get(error, "signal")) != NULL)
		snprintf(job->detail, sizeof job->detail, "signal %s",
			 json_object_get_string(v));
	else if ((v = render_get(error, "status")) != NULL)
		snprintf(job->detail, sizeof job->detail, "HTTP %d",
			 json_object_get_int(v));
	else
		top_copy(job->detail, sizeof job->detail,
			 top_str(error, "message"));
}

/* Whether the array member KEY of OBJ has elements. */
static bool
top_nonempty(struct json_object *obj, const char *key)
{
	struct json_object *v = render_get(obj, key);

	return v != NULL && json_object_is_type(v, json_type_array) &&
	       json_object_array_length(v) > 0;
}

/* Copies the fields of the job object OBJ into JOB. */
static void
top_job_fields(struct top_job *job, struct json_object *obj, long long now_ms)
{
	const char *state = top_str(obj, "state");
	struct json_object *v;

	top_copy(job->kind, sizeof job->kind, top_str(obj, "kind"));
	top_copy(job->queue, sizeof job->queue, top_str(obj, "queue"));
	free(job->label);
	job->label = NULL;
	if (top_str(obj, "label") != NULL)
		job->label = strdup(top_str(obj, "label"));
	job->priority = json_object_get_int64(render_get(obj, "priority"));
	if ((v = render_get(obj, "owner")) != NULL)
		job->owner = json_object_get_int64(v);
	job->paused = json_object_get_boolean(render_get(obj, "paused"));
	job->not_before_ms = top_time(obj, "not_before");
	job->retry_at_ms = top_time(obj, "retry_at");
	if (top_time(obj, "started") != 0)
		job->started_ms = top_time(obj, "started");
	job->finished_ms = top_time(obj, "finished");
	job->asked = true;
	if (state == NULL)
		return;
	if (strcmp(state, "running") == 0) {
		job->state = TOP_RUNNING;
		if (job->started_ms == 0)
			job->started_ms = now_ms;
	} else if (strcmp(state, "queued") == 0) {
		job->state = TOP_QUEUED;
		/* Waiting for other jobs: either list may still hold ids of
		 * jobs that ended, so this is a hint, shown as such. */
		job->waiting = top_nonempty(obj, "after") ||
			       top_nonempty(obj, "after_any");
	} else if (strcmp(state, "completed") == 0) {
		top_job_end(job, true, render_get(obj, "result"), NULL);
	} else if (strcmp(state, "failed") == 0) {
		top_job_end(job, false, NULL, render_get(obj, "error"));
	}
}

/* Takes in the job object OBJ; returns the job. */
static struct top_job *
top_jobs_take(struct top_jobs *jobs, struct json_object *obj, long long now_ms)
{
	uint64_t id = top_id(obj);
	struct top_job *job;
	bool found, made;
	size_t i;

	if (id == 0)
		return NULL;
	i = top_jobs_place(jobs, id, &found);
	if (!found && (job = top_jobs_find(jobs, id)) != NULL) {
		top_job_fields(job, obj, now_ms); /* it ended already */
		return job;
	}
	job = top_jobs_live(jobs, id, &made);
	top_job_fields(job, obj, now_ms);
	if (job->state == TOP_COMPLETED || job->state == TOP_FAILED) {
		i = top_jobs_place(jobs, id, &found);
		top_jobs_finish(jobs, i);
	}
	return job;
}

/* Puts the finished JOB among the last ones, by when it ended. */
static void
top_jobs_insert_done(struct top_jobs *jobs, struct top_job *job)
{
	size_t i = 0;

	while (i < jobs->ndone &&
	       jobs->done[i]->finished_ms >= job->finished_ms)
		i++;
	if (i == jobs->keep) {
		top_job_free(job);
		return;
	}
	if (jobs->ndone == jobs->keep)
		top_job_free(jobs->done[--jobs->ndone]);
	memmove(jobs->done + i + 1, jobs->done + i,
		(jobs->ndone - i) * sizeof *jobs->done);
	jobs->done[i] = job;
	jobs->ndone++;
}

void
top_jobs_seed(struct top_jobs *jobs, struct json_object *array,
	      long long now_ms)
{
	size_t n = array != NULL && json_object_is_type(array, json_type_array)
			   ? json_object_array_length(array)
			   : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *obj = json_object_array_get_idx(array, i);
		uint64_t id = top_id(obj);
		struct top_job *job;
		if (id == 0 || top_jobs_find(jobs, id) != NULL)
			continue;
		job = top_job_new(id);
		top_job_fields(job, obj, now_ms);
		if (job->state == TOP_COMPLETED || job->state == TOP_FAILED)
			top_jobs_insert_done(jobs, job);
		else
			top_job_free(job);
	}
}

void
top_jobs_merge(struct top_jobs *jobs, struct json_object *obj, long long now_ms)
{
	(void)top_jobs_take(jobs, obj, now_ms);
}

void
top_jobs_snapshot(struct top_jobs *jobs, struct json_object *array,
		  long long now_ms)
{
	size_t n = array != NULL && json_object_is_type(array, json_type_array)
			   ? json_object_array_length(array)
			   : 0;
	bool *seen;
	size_t kept = 0;

	/* Marks by place: a job taken in may shift the places, so take them
	 * all in first, then look each known one up. */
	for (size_t i = 0; i < n; i++)
		top_jobs_take(jobs, json_object_array_get_idx(array, i),
			      now_ms);
	seen = calloc(jobs->nlive ? jobs->nlive : 1, sizeof *seen);
	if (seen == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		bool found;
		uint64_t id = top_id(json_object_array_get_idx(array, i));
		size_t at = top_jobs_place(jobs, id, &found);
		if (found)
			seen[at] = true;
	}
	for (size_t i = 0; i < jobs->nlive; i++) {
		if (seen[i])
			jobs->live[kept++] = jobs->live[i];
		else
			top_job_free(jobs->live[i]);
	}
	jobs->nlive = kept;
	free(seen);
}

/* Notes a job.progress sample of JOB. */
static void
top_job_progress(struct top_job *job, struct json_object *p, long long now_ms)
{
	struct json_object *total = render_get(p, "total");
	const char *unit = top_str(p, "unit");
	int n = job->nsamples;

	job->progress = true;
	job->done = json_object_get_int64(render_get(p, "done"));
	job->total = total != NULL && json_object_is_type(total, json_type_int)
			     ? json_object_get_int64(total)
			     : -1;
	job->bytes = unit != NULL && strcmp(unit, "bytes") == 0;
	/* Samples stay TOP_SAMPLE_MS apart; the last one is the latest. */
	if (n >= 2 && now_ms - job->samples[n - 2].ms < TOP_SAMPLE_MS) {
		job->samples[n - 1].ms = now_ms;
		job->samples[n - 1].done = job->done;
		return;
	}
	if (n == TOP_RATE_SAMPLES) {
		memmove(job->samples, job->samples + 1,
			(size_t)(n - 1) * sizeof job->samples[0]);
		n--;
	}
	job->samples[n].ms = now_ms;
	job->samples[n].done = job->done;
	job->nsamples = n + 1;
}

double
top_job_rate(const struct top_job *job, long long now_ms)
{
	int n = job->nsamples, first = 0;

	if (n < 2)
		return -1;
	while (first < n - 1 &&
	       now_ms - job->samples[first].ms > TOP_RATE_WINDOW_MS)
		first++;
	if (first == n - 1 || now_ms <= job->samples[first].ms)
		return 0; /* nothing moved for a while */
	return (double)(job->samples[n - 1].done - job->samples[first].done) *
	       1000.0 / (double)(now_ms - job->samples[first].ms);
}

/* Starts job JOB (again: a retry starts it anew). */
static void
top_job_started(struct top_job *job, long long now_ms)
{
	if (job->state != TOP_RUNNING || job->started_ms == 0)
		job->started_ms = now_ms;
	job->state = TOP_RUNNING;
	job->retry_at_ms = job->not_before_ms = 0;
	job->waiting = false;
	job->progress = false;
	job->nsamples = 0;
}

uint64_t
top_jobs_event(struct top_jobs *jobs, struct json_object *event,
	       long long now_ms)
{
	const char *method = top_str(event, "method");
	struct json_object *p = render_get(event, "params");
	uint64_t id = top_id(p);
	struct top_job *job;
	bool found, made, ok;
	size_t i;

	if (method == NULL || id == 0)
		return 0;
	i = top_jobs_place(jobs, id, &found);
	if (!found && top_jobs_find(jobs, id) != NULL)
		return 0; /* it ended: a late word of it changes nothing */
	if (strcmp(method, "job.output") == 0 && !found)
		return 0; /* a job that ended before the snapshot, or whose
			   * start comes next: that event makes it known */
	job = top_jobs_live(jobs, id, &made);
	top_copy(job->kind, sizeof job->kind, top_str(p, "kind"));
	if (strcmp(method, "job.started") == 0) {
		top_job_started(job, now_ms);
	} else if (strcmp(method, "job.progress") == 0) {
		job->state = TOP_RUNNING;
		top_job_progress(job, p, now_ms);
	} else if (strcmp(method, "job.paused") == 0) {
		job->paused = true;
	} else if (strcmp(method, "job.resumed") == 0) {
		job->paused = false;
	} else if (strcmp(method, "job.retrying") == 0) {
		job->state = TOP_QUEUED;
		job->progress = false;
		job->retry_at_ms = top_time(p, "retry_at");
	} else if ((ok = strcmp(method, "job.completed") == 0) ||
		   strcmp(method, "job.failed") == 0) {
		top_job_end(job, ok, render_get(p, "result"),
			    render_get(p, "error"));
		job->finished_ms = now_ms;
		i = top_jobs_place(jobs, id, &found);
		top_jobs_finish(jobs, i);
	}
	if (job->asked)
		return 0;
	job->asked = true;
	return id;
}

/* Display order of queued jobs: what would start first comes first. */
static int
top_queued_cmp(const void *a, const void *b)
{
	const struct top_job *x = *(struct top_job *const *)a;
	const struct top_job *y = *(struct top_job *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void
top_jobs_order(struct top_jobs *jobs)
{
	size_t n = jobs->nlive + jobs->ndone, k = 0, q;

	if (n > jobs->order_cap) {
		jobs->order_cap = n;
		jobs->order = top_realloc(jobs->order, n, sizeof *jobs->order);
	}
	for (size_t i = 0; i < jobs->nlive; i++)
		if (jobs->live[i]->state == TOP_RUNNING)
			jobs->order[k++] = jobs->live[i];
	jobs->nrunning = k;
	q = k;
	for (size_t i = 0; i < jobs->nlive; i++)
		if (jobs->live[i]->state != TOP_RUNNING)
			jobs->order[k++] = jobs->live[i];
	jobs->nqueued = k - q;
	if (jobs->nqueued > 1)
		qsort(jobs->order + q, jobs->nqueued, sizeof *jobs->order,
		      top_queued_cmp);
	for (size_t i = 0; i < jobs->ndone; i++)
		jobs->order[k++] = jobs->done[i];
	jobs->norder = k;
}
