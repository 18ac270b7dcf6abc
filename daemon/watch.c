/* Watches and event delivery. */
#include <stdlib.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "events.h"
#include "jobs.h"
#include "output-frame.h"
#include "output-queue.h"
#include "replay-batch.h"
#include "retain.h"
#include "server.h"
#include "store.h"
#include "watch.h"
#include "xmalloc.h"

struct watch {
	struct job *job;
	struct conn *conn;
	struct replay *replay; /* while one runs: live events wait there */
	TAILQ_ENTRY(watch) job_link;
	TAILQ_ENTRY(watch) conn_link;
};

/* A replay in progress (job.watch with "since"): the kept events of one
 * job go to one connection as fast as it reads them, from a snapshot
 * that holds no job pointer; live events of the job that come meanwhile
 * wait in HELD and follow the snapshot, so that the order holds. */
struct replay {
	struct conn *conn;
	uint64_t id;
	struct evbuffer *head;  /* its job.started */
	struct retain_cursor *cursor;
	struct replay_batch *batch; /* read from CURSOR, maybe with a worker */
	struct evbuffer *tail;  /* the end of a job that had ended */
	struct evbuffer *held;  /* live events meanwhile */
	struct watch *watch;    /* the live watch, until the job ends */
	TAILQ_ENTRY(replay) link;
};

static TAILQ_HEAD(, replay) replays = TAILQ_HEAD_INITIALIZER(replays);

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
		if (w->replay != NULL)
			evbuffer_add(w->replay->held, line != NULL
							? line
							: evbuffer_pullup(buf, -1),
				     len);
		else if (w == last)
			conn_send_buffer(w->conn, buf);
		else
			conn_send(w->conn, line, len);
	}
	evbuffer_drain(buf, evbuffer_get_length(buf));
}

struct watch_event
watch_event_begin(struct job *job)
{
	struct watch *first = TAILQ_FIRST(&job->watches);

	if (first == NULL)
		return (struct watch_event){NULL, false};
	if (TAILQ_NEXT(first, job_link) == NULL)
		return (struct watch_event){
			first->replay != NULL ? first->replay->held
					      : conn_output(first->conn),
			false};
	return (struct watch_event){evbuffer_new(), true};
}

void
watch_event_end(struct job *job, struct watch_event ev)
{
	if (!ev.owned)
		return; /* it was written where it goes */
	watch_emit(job, ev.buf);
	evbuffer_free(ev.buf);
}

bool
watch_wants_json(struct job *job)
{
	struct watch *w;

	TAILQ_FOREACH(w, &job->watches, job_link)
		if (!conn_binary(w->conn))
			return true;
	return false;
}

bool
watch_takes_files(struct job *job)
{
	struct watch *w;

	TAILQ_FOREACH(w, &job->watches, job_link)
		if (!conn_binary(w->conn) || w->replay != NULL)
			return false;
	return true;
}

void
watch_output(struct job *job, const struct output_chunk *c)
{
	struct evbuffer *json = NULL;
	unsigned njson = 0;
	struct watch *w;

	TAILQ_FOREACH(w, &job->watches, job_link)
		if (!conn_binary(w->conn))
			njson++;
	TAILQ_FOREACH(w, &job->watches, job_link) {
		struct evbuffer *out = w->replay != NULL ? w->replay->held
							 : conn_output(w->conn);
		bool binary = conn_binary(w->conn);
		if (out == NULL)
			continue; /* closing */
		if (binary || njson == 1 || c->text != NULL) {
			output_frame_write(out, binary, c);
			continue;
		}
		/* Several JSON watchers: the line is encoded once. */
		if (json == NULL) {
			json = evbuffer_new();
			output_frame_write(json, false, c);
		}
		evbuffer_add(out, evbuffer_pullup(json, -1),
			     evbuffer_get_length(json));
	}
	if (json != NULL)
		evbuffer_free(json);
}

/* CONN's watch of JOB, made if needed; NULL for a job that has ended. */
static struct watch *
watch_get(struct job *job, struct conn *conn)
{
	struct watch *w;

	if (job->state == JOB_COMPLETED || job->state == JOB_FAILED)
		return NULL;
	TAILQ_FOREACH(w, &job->watches, job_link)
		if (w->conn == conn)
			return w;
	w = xcalloc(1, sizeof *w);
	w->job = job;
	w->conn = conn;
	TAILQ_INSERT_TAIL(&job->watches, w, job_link);
	TAILQ_INSERT_TAIL(conn_watches(conn), w, conn_link);
	return w;
}

void
watch_add(struct job *job, struct conn *conn)
{
	watch_get(job, conn);
}

static void
watch_remove(struct watch *w)
{
	if (w->replay != NULL)
		w->replay->watch = NULL; /* it still sends what it holds */
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

static void replay_pump(struct replay *r);
static void replay_free(struct replay *r);

void
watch_resume_job(struct job *job)
{
	if (!job->output_waiting || job_output_blocked(job))
		return;
	job->output_waiting = false;
	if (job->kind->resume != NULL)
		job->kind->resume(job);
}

struct json_object *
watch_all(const struct peer *peer, struct conn *conn, unsigned limit,
	  bool *more)
{
	struct json_object *array = json_object_new_array();
	struct watch_all *wa;
	struct job *job;
	unsigned listed = 0;

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
		/* Rendering is what costs: past the limit, only watched. */
		if (limit == 0 || listed < limit) {
			json_object_array_add(array, events_job_object(job));
			listed++;
		} else {
			*more = true;
		}
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
	struct replay *r, *rnext;
	for (r = TAILQ_FIRST(&replays); r != NULL; r = rnext) {
		rnext = TAILQ_NEXT(r, link);
		if (r->conn == conn)
			replay_free(r);
	}
	while ((w = TAILQ_FIRST(head)) != NULL) {
		struct job *job = w->job;
		watch_remove(w);
		watch_resume_job(job);
	}
}

void
watch_conn_drained(struct conn *conn)
{
	struct watch *w, *next;

	struct replay *r, *rnext;
	for (r = TAILQ_FIRST(&replays); r != NULL; r = rnext) {
		rnext = TAILQ_NEXT(r, link);
		if (r->conn == conn)
			replay_pump(r);
	}
	/* resume() may end the job, which removes its watches: take the next
	 * one first. */
	for (w = TAILQ_FIRST(conn_watches(conn)); w != NULL; w = next) {
		next = TAILQ_NEXT(w, conn_link);
		watch_resume_job(w->job);
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

	if (output_queue_full(job->outq)) {
		job->output_waiting = true;
		return true;
	}
	TAILQ_FOREACH(w, &job->watches, job_link) {
		if (conn_blocked(w->conn) ||
		    (w->replay != NULL && evbuffer_get_length(w->replay->held) >
						  daemon_opts.output_hwm)) {
			job->output_waiting = true;
			return true;
		}
	}
	return false;
}


void
watch_replay_start(void *arg)
{
	replay_pump(arg);
}

struct replay *
watch_replay(struct job *job, struct conn *conn, uint32_t since,
	     unsigned *count)
{
	struct watch *w;
	struct replay *r;
	unsigned chunks;

	/* One at a time per connection and job, ended or not. */
	TAILQ_FOREACH(r, &replays, link)
		if (r->conn == conn && r->id == job->id)
			return NULL;
	w = watch_get(job, conn);
	r = xcalloc(1, sizeof *r);
	r->conn = conn;
	r->id = job->id;
	r->held = evbuffer_new();
	r->cursor = retain_open(job->id, since, &chunks);
	*count = chunks;
	if (job->started_seq > since && job->started_ms != 0) {
		r->head = evbuffer_new();
		events_write_started(r->head, job, job->started_seq);
		(*count)++;
	}
	if ((job->state == JOB_COMPLETED || job->state == JOB_FAILED) &&
	    job->seq > since) {
		r->tail = evbuffer_new();
		events_write_end(r->tail, job);
		(*count)++;
	}
	if (w != NULL) {
		w->replay = r;
		r->watch = w;
	}
	TAILQ_INSERT_TAIL(&replays, r, link);
	return r;
}

static void
replay_free(struct replay *r)
{
	TAILQ_REMOVE(&replays, r, link);
	if (r->watch != NULL)
		r->watch->replay = NULL;
	replay_batch_free(r->batch);
	retain_close(r->cursor);
	if (r->head != NULL)
		evbuffer_free(r->head);
	if (r->tail != NULL)
		evbuffer_free(r->tail);
	evbuffer_free(r->held);
	free(r);
}

/* A batch's literals are written: it goes on. */
static void
replay_encoded(void *arg)
{
	replay_pump(arg);
}

/* Sends what the connection takes, a batch of kept chunks at a time,
 * encoded by a worker for a JSON connection; once the snapshot is
 * through, the end and the held live events, and the watch goes on
 * live. */
static void
replay_pump(struct replay *r)
{
	struct evbuffer *out = conn_output(r->conn);
	struct output_chunk c;

	if (out == NULL)
		return; /* closing: watch_conn_closed() frees it */
	if (r->head != NULL) {
		evbuffer_add_buffer(out, r->head);
		evbuffer_free(r->head);
		r->head = NULL;
	}
	while (!conn_blocked(r->conn)) {
		if (r->batch != NULL && replay_batch_busy(r->batch))
			return; /* replay_encoded() calls again */
		if (r->batch != NULL && replay_batch_next(r->batch, &c)) {
			output_frame_write(out, conn_binary(r->conn), &c);
			continue;
		}
		replay_batch_free(r->batch);
		r->batch = NULL;
		if (r->cursor == NULL)
			break;
		r->batch = replay_batch_read(r->cursor, r->id);
		if (r->batch == NULL) {
			retain_close(r->cursor);
			r->cursor = NULL;
			break;
		}
		if (!conn_binary(r->conn)) {
			replay_batch_encode(r->batch, replay_encoded, r);
			return;
		}
	}
	if (r->cursor != NULL || r->batch != NULL)
		return; /* watch_conn_drained() calls again */
	if (r->tail != NULL)
		evbuffer_add_buffer(out, r->tail);
	evbuffer_add_buffer(out, r->held);
	struct job *job = r->watch != NULL ? r->watch->job : NULL;
	replay_free(r);
	if (job != NULL)
		watch_resume_job(job);
}
