/* The state database: one SQLite file in the state directory that holds
 * every job the daemon knows, so that jobs, results and ids survive a
 * restart or a crash. All calls run on the event loop thread; the job
 * table (store.c) decides when to write and groups writes into one
 * transaction per loop pass. */
#ifndef ASYNCD_DB_H
#define ASYNCD_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "job-kind.h"

/* The schema this build writes; PRAGMA user_version holds it. */
#define DB_SCHEMA_VERSION 5

enum db_sync { DB_SYNC_NORMAL, DB_SYNC_FULL };

/* Opens (creating it when missing) DIR/asyncd.db. Refuses, with a log
 * line naming the file and what to do, a file that is not an asyncd
 * database, one from a newer asyncd, or one that fails its check.
 * Returns 0 or -1. */
int db_open(const char *dir, enum db_sync sync);
void db_close(void);
/* Prepares every statement now (the daemon prepares each on its first
 * use): the tests' check that all of them fit the schema. 0 or -1. */
int db_prepare_all(void);
const char *db_path(void);
/* Bytes the database and its journal take on disk. */
long long db_bytes(void);

/* One transaction: begin, writes, commit (or rollback after a failure).
 * Each returns 0, or -1 after logging the reason into db_last_error(). */
int db_begin(void);
int db_commit(void);
void db_rollback(void);
const char *db_last_error(void);

/* Writes JOB's row (insert or update). */
int db_put_job(const struct job *job);
/* Deletes the N oldest finished jobs, calling FN with each one's id and
 * state. */
int db_forget_oldest(unsigned n,
		     void (*fn)(uint64_t id, enum job_state state, void *arg),
		     void *arg);
/* The highest id ever given (a meta value kept beside the rows). */
int db_set_last_id(uint64_t id);
uint64_t db_last_id(void);
/* Finished rows per state, as db_set_count last wrote them (kept beside
 * the rows: counting a million rows at start takes a scan of them all);
 * 0 for the unfinished states. */
void db_count(unsigned counts[JOB_NSTATES]);
/* Notes, in the open transaction, that N rows are in STATE
 * (JOB_COMPLETED or JOB_FAILED). */
int db_set_count(enum job_state state, unsigned n);

/* The job with ID, read into a new struct job (freed by the job table's
 * destructor), or NULL. */
struct job *db_load(uint64_t id);
/* The id of the job with KEY ("uid/key"), or 0. */
uint64_t db_find_key(const char *key);
/* Calls FN with each unfinished job, in id order, as db_load makes them. */
void db_each_unfinished(void (*fn)(struct job *job));

/* Filters of db_list: OWNER < 0, STATE < 0, KIND and QUEUE NULL mean
 * any. */
struct db_filter {
	long long owner;
	int state;
	const char *kind;
	const char *queue;
	uint64_t before_id;          /* 0: no bound */
	long long finished_before_ms; /* 0: no bound; else finished jobs only */
};
/* How much of the table one db_list call may look at: BUDGET units,
 * a row one, a matching row (which the caller loads and writes out)
 * MATCH_COST more. */
struct db_list_bound {
	unsigned budget; /* rows that do not match it may pass over */
	uint64_t next_before; /* out: where to go on when it ran out, or 0 */
};
/* Ids of up to LIMIT jobs matching F, newest first, into IDS; returns
 * how many. Stops early when B's budget runs out, with B->next_before
 * set to the last id it looked at. */
unsigned db_list(const struct db_filter *f, unsigned limit,
		 struct db_list_bound *b, uint64_t *ids);
/* The query plan of the statement db_list runs for F, one line per step
 * (EXPLAIN QUERY PLAN), for the tests; the caller frees it. */
char *db_list_plan(const struct db_filter *f);

/* Deletes finished job ID; *STATE is the state it had, or JOB_QUEUED
 * when there was no such finished row. */
int db_delete_finished(uint64_t id, enum job_state *state);

/* Writes a named queue's settings (none: its row goes). */
int db_put_queue(uid_t owner, const char *name, unsigned max_running,
		 bool paused);
/* Calls FN with every queue that has settings of its own. */
void db_each_queue(void (*fn)(uid_t owner, const char *name,
			      unsigned max_running, bool paused));

#endif
