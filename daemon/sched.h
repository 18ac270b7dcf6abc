/* The queue of runnable jobs: per kind, a limit of jobs running at once,
 * a cap on those of one user, and a fair turn between users. jobs.c
 * decides when a job is runnable; this decides which runnable job starts
 * next. */
#ifndef ASYNCD_SCHED_H
#define ASYNCD_SCHED_H

#include "job-kind.h"

struct json_object;
struct job_queue;

/* Sets up a queue per kind of the kind table; KICK is called when jobs
 * may start (a limit was raised, a job became runnable). */
void sched_init(void (*kick)(void));
void sched_free(void);

/* Appends the kind names to ARRAY. */
void sched_kind_names(struct json_object *array);
/* Sets how many jobs of kind NAME may run at once; -1 if no such kind. */
int sched_set_max_running(const char *name, unsigned n);
/* Sets how many jobs of kind NAME one user may run at once, from then
 * on whatever max_running becomes; -1 if no such kind. */
int sched_set_max_running_per_user(const char *name, unsigned n);
/* The per-user cap of a kind with N slots that nobody set: N minus a
 * tenth, rounded up, from 10 slots on; all N below. */
unsigned sched_default_per_user(unsigned n);
/* {"kind": limit, ...} for daemon.info. */
struct json_object *sched_max_running(void);
/* {"kind": cap, ...} of the per-user caps, for daemon.info. */
struct json_object *sched_max_running_per_user(void);

/* Makes JOB runnable: it waits in its named queue's lane of its kind,
 * by priority, then submission order. */
void sched_push(struct job *job);
/* Takes JOB off the runnable jobs, if it is there (a job whose priority
 * changes is taken off and pushed again). */
void sched_remove(struct job *job);
/* Whether JOB is runnable and waits for its turn. */
bool sched_queued(const struct job *job);
/* JQ was paused, resumed or given another limit: its jobs follow. */
void sched_queue_changed(struct job_queue *jq);
/* JQ goes: the lanes made for it (empty by then) go too. */
void sched_queue_free(struct job_queue *jq);
/* Starts jobs with START while their kinds have room: each in turn, of
 * the user served longest ago among the users below their cap and with
 * a queue that allows a start, the job of highest priority, then the
 * oldest. */
void sched_run(void (*start)(struct job *job));
/* The running JOB ended (or goes back to the queue): its place, and one
 * of its user's, is free. */
void sched_ended(const struct job *job);

#endif
