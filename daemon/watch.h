/* Who watches which job: watch registrations between jobs and
 * connections, "watch all", and delivery of a job's events to its
 * watchers, with the backpressure that their output buffers exert. */
#ifndef ASYNCD_WATCH_H
#define ASYNCD_WATCH_H

#include <stdbool.h>

#include "job-kind.h"

struct conn;
struct evbuffer;
struct json_object;
struct output_chunk;

/* Sends JOB's future events to CONN (once per connection). */
void watch_add(struct job *job, struct conn *conn);
/* Drops every watch of JOB (it has ended). */
void watch_remove_all(struct job *job);
/* Registers a new JOB with the connection that submitted it (if it asked
 * to watch) and with every watch-all connection whose peer may see it. */
void watch_new_job(struct job *job, struct conn *conn, bool watch);
/* Makes CONN a watch-all connection for PEER and watches the unfinished
 * jobs PEER may see; returns them as job objects, newest first, at most
 * LIMIT of them (0: all), setting *MORE when it left some out. */
struct json_object *watch_all(const struct peer *peer, struct conn *conn,
			      unsigned limit, bool *more);

/* Where an event of JOB is written. With one watcher it is that
 * watcher's own output (no copy); with several, a buffer of its own
 * (OWNED) that watch_event_end() copies to each and frees. BUF is NULL
 * when nobody watches. */
struct watch_event {
	struct evbuffer *buf;
	bool owned;
};

struct watch_event watch_event_begin(struct job *job);
/* Delivers what was written to EV.buf (from watch_event_begin). */
void watch_event_end(struct job *job, struct watch_event ev);

/* Whether a watcher of JOB takes job.output as JSON lines; when none
 * does, its bytes need no UTF-8 check. */
bool watch_wants_json(struct job *job);
/* Whether every watcher of JOB takes binary frames straight into its
 * socket's buffer (none replays): then chunks may be file ranges. */
bool watch_takes_files(struct job *job);
/* Sends job.output chunk C of JOB to every watcher, each in the form its
 * connection asked for (output-frame.h). */
void watch_output(struct job *job, const struct output_chunk *c);

/* Starts a replay to CONN of JOB's kept events whose seq is above SINCE,
 * in their order and with their seq: its job.started, its kept job.output
 * chunks, its job.completed or job.failed; then CONN watches JOB live (if
 * it still runs). *COUNT is how many events the replay sends. Nothing is
 * sent until watch_replay_start(), which the response goes before. NULL
 * when CONN replays JOB already. */
struct replay *watch_replay(struct job *job, struct conn *conn,
			    uint32_t since, unsigned *count);
/* Sends the replay (a struct replay) as fast as its connection reads. */
void watch_replay_start(void *replay);

/* The server tells us about connections. */
void watch_conn_closed(struct conn *conn);
/* Resumes JOB's producer if it waited (job_output_blocked()) and nothing
 * holds it back now. */
void watch_resume_job(struct job *job);
void watch_conn_drained(struct conn *conn);

#endif
