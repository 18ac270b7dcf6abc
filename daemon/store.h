/* The job table: every job the daemon knows, by id, by idempotency key,
 * and in id order. Unfinished jobs and a few recently finished ones live
 * in memory; with a state database (db.c) every job is also written
 * there, and finished jobs are read back from it on demand.
 *
 * Durability: a change to a job is marked with store_touch(); all marked
 * jobs are written in one transaction by a commit callback that is made
 * active at the first mark. libevent runs active callbacks before it
 * polls again, and sockets are written only after a poll, so whatever a
 * response or an event reports is committed before it reaches a socket. */
#ifndef ASYNCD_STORE_H
#define ASYNCD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sys/types.h>

#include "db.h"

struct job;

/* Opens the state database in DIR (NULL: memory only) and sets up the
 * table. FREE_JOB frees a job the table lets go of. Returns -1 when the
 * database cannot be used (logged). */
int store_init(const char *dir, enum db_sync sync,
	       void (*free_job)(struct job *job));
/* Writes what is pending and frees every job. */
void store_free(void);
bool store_durable(void);
/* False while writes fail (a full disk): new jobs are refused then. */
bool store_available(void);
/* Why the last write failed. */
const char *store_failure(void);
/* {"path","sync","bytes","available"} for daemon.info, or NULL. */
struct json_object *store_info(void);

/* The id for the next job: increasing, never reused, across restarts. */
uint64_t store_next_id(void);
void store_add(struct job *job);
/* Marks JOB changed: it is written before the loop polls again. */
void store_touch(struct job *job);
/* JOB has ended: it stays findable, in memory for a while, then (with a
 * database) only there. Counts it as finished. */
void store_finished(struct job *job);
/* Writes what is pending now (before a query of the database). */
void store_sync(void);

/* The job with ID, loading a finished one from the database; NULL if
 * none. The pointer is good until the next store_get(). */
struct job *store_get(uint64_t id);
/* The job with ID if it is in memory (every unfinished job is). */
struct job *store_get_resident(uint64_t id);
/* The job holding KEY ("uid/key"), or NULL. */
struct job *store_find_key(const char *key);
/* Finished jobs of each state, in memory and in the database. */
void store_finished_counts(unsigned counts[JOB_NSTATES]);
/* Calls FN with each unfinished job the database holds at start, in id
 * order; FN takes it (store_add). */
void store_each_unfinished(void (*fn)(struct job *job));

/* Iteration over the jobs in memory, newest first. */
struct job *store_newest(void);
struct job *store_older(struct job *job);

/* Up to LIMIT jobs matching F, newest first: FN is called with each (a
 * job loaded for the call only, or one in memory). Returns 0, or when
 * the bound of work of one call ran out first, the id below which the
 * rest lies (PROTOCOL.md: next_before_id). */
uint64_t store_list(const struct db_filter *f, unsigned limit,
		void (*fn)(const struct job *job, void *arg), void *arg);

/* Writes a named queue's settings at once, in a transaction of their
 * own: 0, or -1 when the database cannot be written. */
int store_write_queue(uid_t owner, const char *name, unsigned max_running,
		      bool paused);
/* Forgets the N finished jobs IDS and their kept output, on disk before
 * it returns: 0, or -1 when the database cannot be written (nothing is
 * forgotten then). */
int store_remove(const uint64_t *ids, unsigned n);

#endif
