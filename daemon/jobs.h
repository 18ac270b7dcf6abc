/* The job table's behaviour: submission, the state machine, the fair
 * queue and its limits, dependencies, timeouts, and event fan-out to the
 * connections that watch. The RPC handlers and the server call in here. */
#ifndef ASYNCD_JOBS_H
#define ASYNCD_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "job-kind.h"

struct conn;
struct json_object;

struct submit_request {
	const struct job_kind *kind;
	struct json_object *args; /* validated by the kind */
	const char *label;
	const uint64_t *after;
	unsigned nafter;
	long long timeout_ms; /* 0: none */
	bool watch;
	const char *key;
	int on_interrupt; /* enum on_interrupt, or -1: the kind's default */
	const char *queue; /* NULL: "default" */
	int priority;
	long long not_before_ms; /* wall clock; 0: at once */
	struct job_retry retry;
	const uint64_t *after_any;
	unsigned nafter_any;
	uint64_t restarted_from;
};

enum on_interrupt { ON_INTERRUPT_FAIL, ON_INTERRUPT_REQUEUE };

/* Sets up the job table on the state database in STATE_DIR (NULL: in
 * memory only) and takes the jobs it holds: -1 if it cannot be used. */
int jobs_init(const char *state_dir, enum db_sync sync);
void jobs_free(void);


/* Submits a job for PEER. Returns 0 with *out set (and *existing when the
 * key found an earlier job), or a JSON-RPC error code; for -32602 ERR
 * names the field. */
int jobs_submit(const struct peer *peer, struct conn *conn,
		const struct submit_request *req, struct job **out,
		bool *existing, struct param_error *err);

/* The job ID if PEER may see it, else NULL. */
struct job *jobs_lookup(const struct peer *peer, uint64_t id);
/* Asks JOB to stop with "cancelled": 0, or -32002 when it has ended. */
int jobs_cancel(struct job *job);
/* Pauses or resumes JOB (PROTOCOL.md, "Pause and resume"): 0 with
 * *CHANGED, or -32002 when it has ended. */
int jobs_set_paused(struct job *job, bool paused, bool *changed);
/* Gives queued JOB another priority: 0, or -32007 when it is not
 * queued. */
int jobs_set_priority(struct job *job, int priority);

/* Jobs PEER can see, newest first. STATE < 0, KIND and QUEUE NULL:
 * any. *NEXT_BEFORE: 0, or where to go on when the list stopped at its
 * bound of work (store_list). */
struct json_object *jobs_list(const struct peer *peer, int state,
			      const char *kind, const char *queue,
			      unsigned limit, uint64_t before_id,
			      uint64_t *next_before);
/* Counts by state, for daemon.info. */
void jobs_counts(unsigned counts[JOB_NSTATES]);
unsigned jobs_unfinished(void);
/* True when every job that must end before the daemon exits has: all of
 * them in memory, only the running ones with a database. */
bool jobs_stopped(void);

/* Refuse new jobs (-32004) and stop the unfinished ones with
 * "interrupted"; the caller runs the loop until jobs_stopped(). */
void jobs_shutdown(void);
bool jobs_shutting_down(void);

#endif
