/* A process job's start, done on the worker pool: the work item carries
 * the args as plain C data; a worker looks the user up (NSS), builds the
 * environment and the PATH search list, and spawns (spawn.c). Back on
 * the loop, a failed start becomes the job's error. */
#ifndef ASYNCD_PROCESS_LAUNCH_H
#define ASYNCD_PROCESS_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "../../job-kind.h"
#include "../../spawn.h"

struct json_object;
struct pool_work;
struct process_job;

/* The work item: filled on the loop, used on a worker, read back on the
 * loop. The worker sees plain C data only (never JOB). */
struct process_spawn {
	struct process_job *p; /* for the loop's side only */
	uid_t uid;
	gid_t gid;
	bool switch_user;
	char **argv; /* NULL-terminated */
	char **env;  /* the args' "K=V", NULL-terminated */
	char *cwd, *stdin_path;
	/* results */
	bool skipped; /* cancelled before the spawn */
	int user_err; /* the user database failed with this errno */
	int rc;       /* spawn_start() */
	struct spawn_error error;
	struct spawn_proc proc;
};

/* Copies the validated ARGS into a work item for JOB's owner. */
struct process_spawn *process_spawn_new(const struct job *job,
					struct json_object *args);
void process_spawn_free(struct process_spawn *s);
/* On a worker (a pool_work_fn): the user look-up, then the spawn. */
void process_spawn_work(struct pool_work *w, void *arg);
/* Fails JOB with what went wrong in S. */
void process_spawn_fail(struct job *job, const struct process_spawn *s);

#endif
