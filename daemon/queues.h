/* Named queues. Every job is in one queue of its owner ("default" unless
 * it was submitted to another): user A's "encode" and user B's "encode"
 * are different queues. A queue may limit how many of its jobs run at
 * once (whatever their kind) and may be paused; the scheduler starts a
 * job only when its queue allows. A queue exists while it has unfinished
 * jobs or settings of its own; the settings are kept in the state
 * database. */
#ifndef ASYNCD_QUEUES_H
#define ASYNCD_QUEUES_H

#include <stdbool.h>
#include <sys/types.h>

#define QUEUE_NAME_MAX 64
#define QUEUE_DEFAULT "default"
#define QUEUES_PER_USER 1000
#define QUEUE_MAX_RUNNING 1024

struct lane;

struct job_queue {
	uid_t owner;
	char name[QUEUE_NAME_MAX + 1];
	unsigned max_running; /* 0: no limit of its own */
	bool paused;
	unsigned jobs;        /* its unfinished jobs */
	unsigned running;     /* of them, running now (the scheduler counts) */
	struct lane **lanes;  /* the scheduler's, one per kind, or NULL */
};

/* Whether NAME is a queue name: 1 to 64 bytes of [A-Za-z0-9._-]. */
bool queue_name_valid(const char *name);

/* Sets up the table; with a database, reads the queues' settings. */
void queues_init(void);
void queues_free(void);

/* OWNER's queue NAME, or NULL when it does not exist. */
struct job_queue *queues_find(uid_t owner, const char *name);
/* OWNER's queue NAME, made when missing; NULL when OWNER has
 * QUEUES_PER_USER queues already. */
struct job_queue *queues_get(uid_t owner, const char *name);

/* The same, made even past the limit: for a job the database holds. */
struct job_queue *queues_restore(uid_t owner, const char *name);

/* Whether a job of Q may start now as far as Q is concerned. */
static inline bool
queue_allows_start(const struct job_queue *q)
{
	return !q->paused && (q->max_running == 0 || q->running < q->max_running);
}

/* A job joins Q (submitted, or restored at a start), or leaves it (it
 * ended): a queue with no jobs and no settings of its own goes. */
void queue_job_added(struct job_queue *q);
void queue_job_removed(struct job_queue *q);

/* Forgets Q if nothing keeps it: no jobs and no settings of its own. */
void queues_drop_unused(struct job_queue *q);

/* Changes Q's settings, written to the database first: 0, or -1 when
 * the store cannot take them (nothing changed then). Q stays, even
 * unused, until queues_drop_unused(). */
int queue_set_max_running(struct job_queue *q, unsigned max_running);
int queue_set_paused(struct job_queue *q, bool paused);

/* Calls FN with every queue PEER_UID may see (0: every queue), in
 * owner then name order, that has jobs or settings. */
void queues_each(uid_t peer_uid, void (*fn)(struct job_queue *q, void *arg),
		 void *arg);

#endif
