/* Watches and event delivery. */
#include <stdlib.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "events.h"
#include "jobs.h"
#include "retain.h"
#include "server.h"
#include "store.h"
#include "watch.h"
#include "xmalloc.h"

struct watch {
	struct job *job;
	struct conn *conn;
	TAILQ_ENTRY(watch) job_link;
	TAILQ_ENTRY(watch) conn_link;
};

/* A connection that watches every job its peer can see. */
struct watch_all {
	struct conn *conn;
	TAILQ_ENTRY(watch_all) link;
};

static TAILQ_HEAD(, watch_all) watch_alls = TAILQ_HEAD_INITIALIZER(watch_alls);

/* Sends the line(s) in BUF to every connection watching JOB. */
static void
watch_emit(struct job *job, struct evbuffer *buf)
{
	struct watch *w, *last = TAILQ_LAST(&job->watches, watch_head);

	if (last == NULL)
		return;
	size_t len = evbuffer_get_length(buf);
	const unsigned char *line = NULL;
	if (TAILQ_FIRST(&job->watches) != last)
		line = evbuffer_pullup(buf, -1);
	TAILQ_FOREACH(w, &job->watches, job_link) {
		if (w == last)
			conn_send_buffer(w->conn, buf);
		else
			conn_send(w->conn, line, len);
	}
}

/* Where to write an event for JOB: the one watcher's output itself (the
 * common case, no copy), else a buffer for watch_send(); NULL when
 * nobody watches. */
struct evbuffer *
watch_event_buffer(struct job *job)
{
	struct watch *first = TAILQ_FIRST(&job->watches);

	if (first == NULL)
		return NULL;
	if (TAILQ_NEXT(first, job_link) == NULL)
		return conn_output(first->conn);
	return evbuffer_new();
}

/* Sends what was written to BUF (from watch_event_buffer) and lets it go. */
void
watch_send(struct job *job, struct evbuffer *buf)
{
	struct watch *first = TAILQ_FIRST(&job->watches);

	if (buf == NULL || TAILQ_NEXT(first, job_link) == NULL)
		return;
	watch_emit(job, buf);
	evbuffer_free(buf);
}

void
watch_add(struct job *job, struct conn *conn)
{
	struct watch *w;

	if (job->state == JOB_COMPLETED || job->state == JOB_FAILED)
		return;
	TAILQ_FOREACH(w, &job->watches, job_link)
		if (w->conn == conn)
			return;
	w = xmalloc(sizeof *w);
	w->job = job;
	w->conn = conn;
	TAILQ_INSERT_TAIL(&job->watches, w, job_link);
	TAILQ_INSERT_TAIL(conn_watches(conn), w, conn_link);
}

static void
watch_remove(struct watch *w)
{
	TAILQ_REMOVE(&w->job->watches, w, job_link);
	TAILQ_REMOVE(conn_watches(w->conn), w, conn_link);
	free(w);
}

void
watch_remove_all(struct job *job)
{
	struct watch *w;

	while ((w = TAILQ_FIRST(&job->watches)) != NULL)
		watch_remove(w);
}

/* Resumes JOB's producer if it waited and no watcher is blocked now. */
static void
job_maybe_resume(struct job *job)
{
	if (!job->output_waiting || job_output_blocked(job))
		return;
	job->output_waiting = false;
	if (job->kind->resume != NULL)
		job->kind->resume(job);
}

struct json_object *
watch_all(const struct peer *peer, struct conn *conn)
{
	struct json_object *array = json_object_new_array();
	struct watch_all *wa;
	struct job *job;

	TAILQ_FOREACH(wa, &watch_alls, link)
		if (wa->conn == conn)
			break;
	if (wa == NULL) {
		wa = xmalloc(sizeof *wa);
		wa->conn = conn;
		TAILQ_INSERT_TAIL(&watch_alls, wa, link);
	}
	for (job = store_newest(); job != NULL; job = store_older(job)) {
		if (!jobs_visible(peer, job) || job->state == JOB_COMPLETED ||
		    job->state == JOB_FAILED)
			continue;
		watch_add(job, conn);
		json_object_array_add(array, jobs_render(job));
	}
	return array;
}

void
watch_conn_closed(struct conn *conn)
{
	struct watch_head *head = conn_watches(conn);
	struct watch_all *wa;
	struct watch *w;

	TAILQ_FOREACH(wa, &watch_alls, link) {
		if (wa->conn == conn) {
			TAILQ_REMOVE(&watch_alls, wa, link);
			free(wa);
			break;
		}
	}
	while ((w = TAILQ_FIRST(head)) != NULL) {
		struct job *job = w->job;
		watch_remove(w);
		job_maybe_resume(job);
	}
}

void
watch_conn_drained(struct conn *conn)
{
	struct watch *w, *next;

	/* resume() may end the job, which removes its watches: take the next
	 * one first. */
	for (w = TAILQ_FIRST(conn_watches(conn)); w != NULL; w = next) {
		next = TAILQ_NEXT(w, conn_link);
		job_maybe_resume(w->job);
	}
}

void
watch_new_job(struct job *job, struct conn *conn, bool watch)
{
	struct watch_all *wa;

	if (watch && conn != NULL)
		watch_add(job, conn);
	TAILQ_FOREACH(wa, &watch_alls, link)
		if (jobs_visible(conn_peer(wa->conn), job))
			watch_add(job, wa->conn);
}

bool
job_output_blocked(struct job *job)
{
	struct watch *w;

	TAILQ_FOREACH(w, &job->watches, job_link) {
		if (conn_blocked(w->conn)) {
			job->output_waiting = true;
			return true;
		}
	}
	return false;
}


struct replay {
	const struct job *job;
	struct evbuffer *out;
};

static void
replay_chunk(const struct retained_chunk *c, void *arg)
{
	struct replay *r = arg;

	events_write_output(r->out, r->job, c->seq, events_stream_name(c->stream),
			    c->offset, c->enc, c->data, c->len);
}

unsigned
watch_replay(struct job *job, uint32_t since, struct evbuffer *out)
{
	struct replay r = {job, out};
	unsigned n = 0;

	if (job->started_seq > since && job->started_ms != 0) {
		events_write_started(out, job, job->started_seq);
		n++;
	}
	n += retain_each(job->id, since, replay_chunk, &r);
	if ((job->state == JOB_COMPLETED || job->state == JOB_FAILED) &&
	    job->seq > since) {
		events_write_end(out, job);
		n++;
	}
	return n;
}
