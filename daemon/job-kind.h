/* Jobs as the job kinds see them: the kind table's interface and the calls
 * a kind makes to report progress, output and its end. All of it runs on
 * the event loop thread. */
#ifndef ASYNCD_JOB_KIND_H
#define ASYNCD_JOB_KIND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "../proto/chunk.h"
#include "../proto/proto.h"
#include "runtime.h"

struct json_object;
struct job;
struct output_queue;

/* A -32602 problem with a request's params: the offending field, why. */
struct param_error {
	char field[96];
	char reason[160];
};

/* Fills ERR; returns -1 so that validators can "return param_fail(...)". */
int param_fail(struct param_error *err, const char *field, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));

struct job_kind {
	const char *name;
	/* Checks ARGS at submit; on a problem fills ERR (field "args.x") and
	 * returns -1. Nothing is created then. */
	int (*validate)(struct json_object *args, struct param_error *err);
	/* Starts the job. ARGS is borrowed for the call only. The kind ends
	 * the job later, exactly once, with job_complete() or job_fail(). */
	void (*start)(struct job *job, struct json_object *args);
	/* Asks a running job to stop. The kind ends the job as usual once its
	 * work has really stopped; the failure reported is the stop reason
	 * (cancelled, timeout, interrupted) whatever the kind says. */
	void (*cancel)(struct job *job);
	/* Optional: releases the kind's state of a job that is being torn
	 * down without ending, at a forced shutdown (the stop's grace ran
	 * out); the job is not ended and no event is sent. Called while the
	 * job table is freed, for a job whose priv is set: it must not call
	 * the job_*() functions below, and must leave nothing that refers
	 * to JOB (work still on the pool or in libcurl is handed back to
	 * the kind when those are freed, after the jobs). */
	void (*free)(struct job *job);
	/* Optional: the connections this job streams to have drained below
	 * their high-water mark after job_output_blocked() said true. */
	void (*resume)(struct job *job);
	/* Pauses a running job (PAUSED) or lets it go on (job.pause,
	 * job.resume): it stops making progress and producing output, but
	 * keeps what it holds (a process is stopped, a transfer paused, a
	 * clock stopped). It still stops as usual when cancelled or timed
	 * out while paused. job->paused already holds PAUSED. The hook must
	 * not end the job (jobs.c and the request use it afterwards): what
	 * may end it on a resume (a held result, a buffered chunk) is done
	 * on a later turn of the loop. */
	void (*pause)(struct job *job, bool paused);
	/* Optional: whether a job with ARGS that was running when the daemon
	 * stopped is queued again at restart (on_interrupt "requeue") unless
	 * its submitter said otherwise. NULL: it fails with "interrupted". */
	bool (*requeue_by_default)(struct json_object *args);
	/* Its job.output chunks are kept for job.watch since (retain.h). */
	bool retain_output;
	/* Jobs of this kind running at once, unless the daemon is told
	 * otherwise; 0 means the number of CPUs. */
	unsigned default_max_running;
};

enum job_stream { STREAM_DATA, STREAM_STDOUT, STREAM_STDERR, STREAM_COUNT };

struct watch;
TAILQ_HEAD(watch_head, watch);

/* A job's retry policy (PROTOCOL.md, "Retries"). */
struct job_retry {
	unsigned max; /* retries after the first failure; 0: none */
	long long delay_ms;
	double backoff;
};

struct job {
	uint64_t id;
	const struct job_kind *kind;
	enum job_state state;
	struct peer owner;
	char *label;
	char *key;  /* "uid/key" for the key index, or NULL */
	char *args; /* the submitted args as compact JSON text */
	struct json_object *args_obj; /* parsed, until the first scheduling */
	uint64_t *after;
	unsigned nafter;
	unsigned deps_pending;  /* dependencies not yet completed */
	struct job **dependents; /* queued jobs waiting on this one */
	unsigned ndependents;
	long long created_ms, started_ms, finished_ms; /* wall clock */
	long long started_mono_ms;
	long long timeout_ms;
	struct event *timeout_ev;
	char *result; /* JSON text, when completed */
	char *error;  /* JSON text, when failed */
	struct json_object *stop_error; /* a stop was asked for: its error */
	unsigned attempts; /* times it has started */
	bool requeue;      /* on_interrupt "requeue" */
	char *resume;      /* the kind's JSON note for a later attempt */
	uint32_t seq;               /* events emitted */
	uint32_t seq_ceiling;       /* what the database has for seq */
	uint32_t started_seq;       /* the seq of its last job.started */
	bool output_waiting;        /* the kind waits for resume() */
	long long progress_last_ms;
	struct chunk_encoder *encoders[STREAM_COUNT];
	/* Output on its way through the pool (output-queue.h), or NULL. */
	struct output_queue *outq;
	/* The kind ended it while output was still queued (one of them is
	 * set): the end waits until that is sent, so that it comes after. */
	struct json_object *end_result, *end_error;
	struct watch_head watches;
	TAILQ_ENTRY(job) all_link;     /* every job, in id order */
	TAILQ_ENTRY(job) finished_link; /* finished jobs, oldest first */
	TAILQ_ENTRY(job) queue_link;   /* the runnable queue of its user */
	TAILQ_ENTRY(job) stop_link;    /* jobs with a stop to carry out */
	TAILQ_ENTRY(job) fresh_link;   /* submitted since the last kick */
	bool fresh;
	char *queue;                   /* the name of its named queue */
	struct job_queue *jq;          /* that queue, while unfinished */
	int priority;                  /* -100 ... 100: higher starts first */
	struct lane *lane;             /* where it waits while runnable */
	size_t sched_index;            /* its place there */
	bool paused;                   /* job.pause */
	long long not_before_ms;       /* delayed start (wall clock); 0: none */
	struct job_retry retry;        /* max 0: failures are not retried */
	unsigned retries;              /* failed attempts retried so far */
	long long retry_at_ms;         /* waits to be retried until; 0: not */
	struct event *hold_ev;         /* wakes it at not_before or retry_at */
	uint64_t *after_any;           /* waits for these to end, however */
	unsigned nafter_any;
	uint64_t restarted_from;       /* the job it was restarted from; 0 */
	bool stop_listed; /* on the list of stops to carry out */
	bool dirty;       /* changed since the state database last had it */
	TAILQ_ENTRY(job) dirty_link;
	void *priv; /* the kind's own state */
};

/* Whether PEER may see JOB: its owner, and root. (Here, beside the job,
 * so that the job table and the watchers share one rule.) */
static inline bool
jobs_visible(const struct peer *peer, const struct job *job)
{
	return peer->uid == 0 || peer->uid == job->owner.uid;
}

/* Ending a job may free it (--keep-finished drops the oldest finished
 * jobs at once): a kind must not touch JOB after these calls. */

/* Ends a running job successfully; takes RESULT. */
void job_complete(struct job *job, struct json_object *result);
/* Ends a running job with error CODE and MESSAGE; EXTRA (taken, may be
 * NULL) holds further members of the error object, such as "errno". */
void job_fail(struct job *job, const char *code, const char *message,
	      struct json_object *extra);
/* job_fail with "io-error" (or not-found, permission-denied ... as ERR
 * says) and "errno". */
void job_fail_errno(struct job *job, int err, const char *what);

/* Reports progress; at most PROTO_PROGRESS_PER_SEC events a second reach
 * watchers unless FINAL. TOTAL < 0 is null. UNIT is "bytes" or "items".
 * False when the rate limit held this one back. */
bool job_progress(struct job *job, uint64_t done, int64_t total,
		  const char *unit, bool final);

/* Logs a line about JOB at PRIORITY, with its fields (log_job()) and the
 * journal's MSGID (msgids.h). */
void job_log(const struct job *job, int priority, const char *msgid,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Replaces the kind's note for a later attempt of JOB (NOTE is JSON text,
 * copied; NULL clears it). It is saved with the job, so a restart finds it
 * in job->resume. */
void job_set_resume(struct job *job, const char *note);
/* The error code JOB is being stopped with ("cancelled", "timeout",
 * "interrupted" when the daemon stops...), or NULL. */
const char *job_stop_reason(const struct job *job);
/* True when JOB is being stopped because the daemon stops and it will be
 * queued again at restart: the kind keeps what a later attempt needs. */
bool job_stopping_for_restart(const struct job *job);

/* Streams output: the bytes go through the stream's chunk encoder to the
 * job's watchers. With no watcher the bytes are dropped, not buffered. */
void job_output(struct job *job, enum job_stream stream, const void *data,
		size_t len);
/* Sends one chunk the kind cut itself (its own chunk encoder, maybe run
 * on a worker with output_encode()): C's stream, offset, encoding, raw
 * bytes and, if encoded, its JSON literal; the job gives it its seq. The
 * chunk must be what chunk_write() (or, for binary watchers only,
 * chunk_write_raw()) would cut at this point of the stream. */
struct output_chunk;
void job_output_chunk(struct job *job, const struct output_chunk *c);
/* Whether a watcher takes JSON lines or the output is kept: then chunks
 * must be cut on UTF-8 boundaries, at most PROTO_CHUNK_MAX. */
bool job_output_wants_json(struct job *job);
/* Whether output may go as ranges of a file (job_output_file): every
 * watcher takes binary frames straight to its socket, and nothing keeps
 * the bytes. */
bool job_output_to_files(struct job *job);
/* Sends LEN bytes (at most PROTO_BINARY_CHUNK_MAX: one frame) of the
 * file FD at OFFSET as STREAM's output at STREAM_OFFSET, with sendfile()
 * from the page cache: a worker must have brought them there (sendfile()
 * to /dev/null), for the loop must not wait for a disk, and read the
 * last of them, LAST. Only when job_output_to_files() said so just now.
 * Returns 0, or -1 (nothing sent) when FD cannot be shared (EMFILE). */
int job_output_file(struct job *job, enum job_stream stream,
		    uint64_t stream_offset, int fd, uint64_t offset, size_t len,
		    unsigned char last);
/* Ends STREAM: flushes an unfinished character as base64. */
void job_output_end(struct job *job, enum job_stream stream);
/* True when a watcher is past its high-water mark: the kind stops
 * producing until its resume() is called. */
bool job_output_blocked(struct job *job);

#endif
