/* asyncctl top: a full-screen live view of jobs, driven by events. The
 * loop and the keys (top.c) over a connection that never waits for an
 * answer (top-conn.c), the jobs it knows (top-jobs.c), the main screen
 * (top-draw.c) and the output pane of one job (top-log.c). */
#ifndef ASYNCCTL_TOP_H
#define ASYNCCTL_TOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;
struct json_object;
struct output_event;

/* ---- top-conn.c: requests sent, answers taken as they come ------------ */

struct top_conn;
/* The response to a request of top_conn_send(); TAG is the sender's. */
typedef void (*top_reply_fn)(void *arg, uint64_t tag,
			     struct json_object *response);
/* An event (a notification) off the connection. */
typedef void (*top_event_fn)(void *arg, struct json_object *event);
/* A job.output event taken apart without json-c (proto/output-line.h),
 * its data decoded. */
typedef void (*top_output_fn)(void *arg, const struct output_event *ev,
			      const unsigned char *data, size_t len);

/* Connects to the socket at PATH; NULL (errno set) when that fails.
 * Events go to ON_EVENT, job.output ones (when ON_OUTPUT is not NULL)
 * mostly to ON_OUTPUT, each with ARG. */
struct top_conn *top_conn_open(const char *path, top_event_fn on_event,
			       top_output_fn on_output, void *arg);
/* Closes it; the answers still due are dropped without a call. */
void top_conn_free(struct top_conn *tc);
/* Its socket, to poll. */
int top_conn_fd(struct top_conn *tc);
/* Sends METHOD with PARAMS (taken, may be NULL); its response goes to
 * FN (NULL: dropped) with ARG and TAG. -1 when the connection broke. */
int top_conn_send(struct top_conn *tc, const char *method,
		  struct json_object *params, top_reply_fn fn, void *arg,
		  uint64_t tag);
/* Reads what the socket holds (once) and hands out every whole message.
 * False when the connection closed. */
bool top_conn_read(struct top_conn *tc);

/* ---- top-jobs.c: what the events say of each job ----------------------- */

enum top_state { TOP_QUEUED, TOP_RUNNING, TOP_COMPLETED, TOP_FAILED };

/* Progress samples kept for a job's rate: about the last 4 seconds. */
#define TOP_RATE_SAMPLES 8

struct top_job {
	uint64_t id;
	enum top_state state;
	char kind[16];
	char queue[65];
	char *label;  /* NULL: none */
	int64_t priority;
	int64_t owner; /* -1: not known yet */
	bool paused;
	bool waiting;  /* for jobs named by after / after_any */
	bool asked;    /* a job.get was sent for the fields events lack */
	long long started_ms, finished_ms; /* wall clock, 0: not known */
	long long not_before_ms, retry_at_ms;
	/* Progress: the last job.progress, and samples for the rate. */
	bool progress;
	int64_t done, total; /* total -1: not known */
	bool bytes;          /* else items */
	struct {
		long long ms;
		int64_t done;
	} samples[TOP_RATE_SAMPLES];
	int nsamples;
	/* The end: "completed", or the error code, and a detail. */
	char end[32];
	char detail[48];
};

/* Counts of one kind: unfinished now, ended since top started. */
struct top_kind {
	char name[16];
	unsigned queued, running, completed, failed;
};

struct top_jobs {
	struct top_job **live; /* unfinished, by id */
	size_t nlive, live_cap;
	struct top_job **done; /* the last KEEP finished, newest first */
	size_t ndone, keep;
	struct top_kind kinds[16];
	size_t nkinds;
	/* Display order (top_jobs_order()), rebuilt on demand. */
	struct top_job **order;
	size_t norder, order_cap, nrunning, nqueued;
};

void top_jobs_init(struct top_jobs *jobs, size_t keep);
void top_jobs_free(struct top_jobs *jobs);
/* Forgets the unfinished jobs (a new connection sends them again). */
void top_jobs_forget_live(struct top_jobs *jobs);
/* The answer to job.watch with all: every unfinished job now. Jobs
 * known as unfinished and not in it have ended unseen and are dropped. */
void top_jobs_snapshot(struct top_jobs *jobs, struct json_object *array,
		       long long now_ms);
/* Finished job objects (answers to job.list) that ended before top
 * started: among the last finished, by when they ended, unless known. */
void top_jobs_seed(struct top_jobs *jobs, struct json_object *array,
		   long long now_ms);
/* A job object (the answer to job.get): its fields over what is known. */
void top_jobs_merge(struct top_jobs *jobs, struct json_object *job,
		    long long now_ms);
/* An event. Returns the id of a job it made known without the fields
 * that only a job object has (queue, label...), for the caller to ask
 * job.get; 0 otherwise. */
uint64_t top_jobs_event(struct top_jobs *jobs, struct json_object *event,
			long long now_ms);
/* Notes a kind the daemon runs, so that it is counted even at zero. */
void top_jobs_note_kind(struct top_jobs *jobs, const char *kind);
/* Recounts the kinds' queued and running jobs. */
void top_jobs_count(struct top_jobs *jobs);
/* The job ID, unfinished or among the last finished; NULL if neither. */
struct top_job *top_jobs_find(struct top_jobs *jobs, uint64_t id);
/* Rebuilds jobs->order: running jobs by id, queued ones by priority
 * (higher first) then id, then the finished ones, newest first. */
void top_jobs_order(struct top_jobs *jobs);
/* Units a second over the last seconds, 0 when stalled, -1 before
 * there are two samples. */
double top_job_rate(const struct top_job *job, long long now_ms);

/* ---- top.c: the view ---------------------------------------------------- */

struct top_log;

struct top {
	struct ctl *ctl;
	struct top_conn *conn; /* NULL while the connection is lost */
	struct top_jobs jobs;
	struct top_log *log;   /* the output pane when open */
	uint64_t selected;     /* the selected job's id, 0: none */
	size_t sel_index;      /* its row in jobs.order */
	size_t scroll;         /* the first row of jobs.order on screen */
	struct json_object *info;   /* the last daemon.info result */
	struct json_object *queues; /* the last queue.list queues */
	char load[64];         /* /proc/loadavg, its first three figures */
	bool watching;         /* the job.watch with all was answered */
	bool snapshot_asked;   /* a job.watch with all is on its way */
	bool figures_asked;    /* daemon.info and queue.list are on theirs */
	long long lost_ms;     /* when the connection was lost, 0: it is up */
	char status[256];      /* the message of the bottom line */
	long long status_until;
};

/* ---- top-draw.c: the main screen --------------------------------------- */

/* Sets up colours, once curses runs. */
void top_draw_init(void);
/* Draws the whole view of T into the curses screen (not refreshed);
 * jobs.order and the selection are up to date. */
void top_draw(struct top *t, long long now_ms);
/* Rows of jobs the screen has room for, for paging and scrolling. */
int top_draw_job_rows(void);
/* Writes LEN bytes of the UTF-8 text S at (Y, X), in at most WIDTH
 * columns; what is not a printable character shows as '?'. */
void top_draw_text(int y, int x, int width, const char *s, size_t len);

/* ---- top-log.c: the output pane of one job ----------------------------- */

/* Opens the pane of job ID (of KIND): its own connection to PATH, whose
 * job.watch with since 0 replays the kept output. NULL, with a message
 * in ERR, when it cannot connect. */
struct top_log *top_log_open(const char *path, uint64_t id, const char *kind,
			     char *err, size_t errlen);
void top_log_free(struct top_log *log);
/* Its socket, to poll; -1 once the connection is gone. */
int top_log_fd(struct top_log *log);
/* Reads what came; false when nothing changed on screen. */
bool top_log_read(struct top_log *log);
/* A key in the pane: scrolls; returns false for Esc and q (close it). */
bool top_log_key(struct top_log *log, int key);
/* Draws the pane over the whole screen (not refreshed). */
void top_log_draw(struct top_log *log);

#endif
