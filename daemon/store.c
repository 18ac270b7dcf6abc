/* The job table in memory, written through to the state database. */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>
#include <json-c/linkhash.h>

#include "idmap.h"
#include "job-kind.h"
#include "log.h"
#include "metrics.h"
#include "retain.h"
#include "store.h"
#include "xmalloc.h"

/* Finished jobs kept in memory when a database holds them all: the ones
 * clients just saw end are the ones they ask about next. */
#define STORE_CACHE 256

/* The jobs one job.list may look at and pass over on the loop, so that
 * no request holds it (bench/bench-store.sh, part 3); the jobs it
 * returns are bounded by its limit. Past it the answer is short and says
 * where to go on (next_before_id). Measured: a row of the database costs
 * about 0.4 us, a job in memory 0.12 us: each budget is under a
 * millisecond, which keeps another client's p99 well under 5 ms on a
 * busy 2-CPU machine (4000 rows gave 4.3 ms there). */
#define LIST_BUDGET 2000
#define LIST_RESIDENT_BUDGET 6000

TAILQ_HEAD(job_list, job);

static struct idmap by_id;
static struct lh_table *by_key;
static struct job_list in_order = TAILQ_HEAD_INITIALIZER(in_order);
static struct job_list finished = TAILQ_HEAD_INITIALIZER(finished);
static unsigned nfinished_resident;
static unsigned finished_counts[JOB_NSTATES]; /* in memory and on disk */
static unsigned counts_written[JOB_NSTATES];  /* what the database says */
static struct job_list dirty = TAILQ_HEAD_INITIALIZER(dirty);
static uint64_t last_id, last_id_written;
static void (*free_job)(struct job *job);

static bool durable;
static enum db_sync sync_mode;
static bool available = true;
static struct event *commit_ev, *retry_ev;

/* Ids the pending transaction deleted, dropped from memory once it
 * commits. */
static uint64_t *forgotten;
static unsigned nforgotten, forgotten_cap;

static void commit_cb(evutil_socket_t fd, short what, void *arg);
static void commit_last_cb(evutil_socket_t fd, short what, void *arg);

int
store_init(const char *dir, enum db_sync sync,
	   void (*free_job_fn)(struct job *job))
{
	idmap_init(&by_id);
	by_key = lh_kchar_table_new(64, NULL);
	if (by_key == NULL)
		fatalx("cannot allocate the key index");
	free_job = free_job_fn;
	if (dir == NULL)
		return 0;
	if (db_open(dir, sync) < 0)
		return -1;
	durable = true;
	sync_mode = sync;
	last_id = last_id_written = db_last_id();
	db_count(finished_counts);
	memcpy(counts_written, finished_counts, sizeof counts_written);
	commit_ev = event_new(daemon_base, -1, 0, commit_last_cb, NULL);
	retry_ev = evtimer_new(daemon_base, commit_cb, NULL);
	log_info("state database %s: %u finished jobs, last id %llu",
		 db_path(), finished_counts[JOB_COMPLETED] +
				    finished_counts[JOB_FAILED],
		 (unsigned long long)last_id);
	return 0;
}

/* Removes JOB from memory and frees it. */
static void
resident_drop(struct job *job)
{
	idmap_del(&by_id, job->id);
	if (job->key != NULL)
		lh_table_delete(by_key, job->key);
	TAILQ_REMOVE(&in_order, job, all_link);
	if (job->state == JOB_COMPLETED || job->state == JOB_FAILED) {
		TAILQ_REMOVE(&finished, job, finished_link);
		nfinished_resident--;
	}
	if (job->dirty)
		TAILQ_REMOVE(&dirty, job, dirty_link);
	free_job(job);
}

void
store_free(void)
{
	struct job *job;

	store_sync();
	while ((job = TAILQ_LAST(&in_order, job_list)) != NULL) {
		job->dirty = false; /* what could not be written is lost now */
		resident_drop(job);
	}
	TAILQ_INIT(&dirty);
	if (commit_ev != NULL)
		event_free(commit_ev);
	if (retry_ev != NULL)
		event_free(retry_ev);
	commit_ev = retry_ev = NULL;
	if (durable)
		db_close();
	durable = false;
	free(forgotten);
	forgotten = NULL;
	nforgotten = forgotten_cap = 0;
	idmap_free(&by_id);
	lh_table_free(by_key);
	by_key = NULL;
}

bool
store_durable(void)
{
	return durable;
}

bool
store_available(void)
{
	return available;
}

const char *
store_failure(void)
{
	return durable ? db_last_error() : "";
}

struct json_object *
store_info(void)
{
	struct json_object *info;

	if (!durable)
		return NULL;
	info = json_object_new_object();
	json_object_object_add(info, "path", json_object_new_string(db_path()));
	json_object_object_add(info, "sync",
			       json_object_new_string(sync_mode == DB_SYNC_FULL
							      ? "full"
							      : "normal"));
	json_object_object_add(info, "bytes", json_object_new_int64(db_bytes()));
	json_object_object_add(info, "available",
			       json_object_new_boolean(available));
	if (!available)
		json_object_object_add(info, "error",
				       json_object_new_string(db_last_error()));
	return info;
}

uint64_t
store_next_id(void)
{
	return ++last_id;
}

void
store_add(struct job *job)
{
	idmap_put(&by_id, job->id, job);
	if (job->key != NULL)
		lh_table_insert(by_key, job->key, job);
	TAILQ_INSERT_TAIL(&in_order, job, all_link);
}

void
store_touch(struct job *job)
{
	if (!durable || job->dirty)
		return;
	job->dirty = true;
	TAILQ_INSERT_TAIL(&dirty, job, dirty_link);
	if (available)
		event_active(commit_ev, 0, 0);
}

/* Drops the oldest finished jobs from memory beyond LIMIT; with a
 * database only those it holds already. */
static void
evict_resident(unsigned limit)
{
	struct job *job;

	while (nfinished_resident > limit &&
	       (job = TAILQ_FIRST(&finished)) != NULL && !job->dirty) {
		if (!durable) {
			finished_counts[job->state]--;
			retain_drop(job->id); /* forgotten for good */
		}
		resident_drop(job);
	}
}

void
store_finished(struct job *job)
{
	TAILQ_INSERT_TAIL(&finished, job, finished_link);
	nfinished_resident++;
	finished_counts[job->state]++;
	store_touch(job);
	if (!durable)
		evict_resident(daemon_opts.keep_finished);
}

/* Notes a job the open transaction deletes, to let it go from memory
 * and from the counts once the transaction commits. */
static void
note_forgotten(uint64_t id, enum job_state state, void *arg)
{
	unsigned *gone = arg;

	if (state == JOB_COMPLETED || state == JOB_FAILED)
		gone[state]++;
	if (nforgotten == forgotten_cap) {
		forgotten_cap = forgotten_cap ? forgotten_cap * 2 : 64;
		forgotten = xreallocarray(forgotten, forgotten_cap,
					  sizeof *forgotten);
	}
	forgotten[nforgotten++] = id;
}

/* Deletes the finished jobs beyond --keep-finished in the open
 * transaction. */
static int
forget_excess(unsigned gone[JOB_NSTATES])
{
	unsigned total = finished_counts[JOB_COMPLETED] +
			 finished_counts[JOB_FAILED];

	if (total <= daemon_opts.keep_finished)
		return 0;
	return db_forget_oldest(total - daemon_opts.keep_finished,
				note_forgotten, gone);
}

static void
commit_failed(void)
{
	static const struct timeval retry = {1, 0};

	db_rollback();
	if (available)
		log_warnx("state database %s: %s; new jobs are refused until "
			  "it can be written again (retried every second)",
			  db_path(), db_last_error());
	available = false;
	evtimer_add(retry_ev, &retry);
}

/* Writes the finished counts the open transaction leaves into COUNTS
 * (every finished job is written by then, GONE deleted). */
static int
write_counts(const unsigned gone[JOB_NSTATES], unsigned counts[JOB_NSTATES])
{
	for (int s = JOB_COMPLETED; s <= JOB_FAILED; s++) {
		counts[s] = finished_counts[s] - gone[s];
		if (counts[s] != counts_written[s] &&
		    db_set_count((enum job_state)s, counts[s]) < 0)
			return -1;
	}
	return 0;
}

/* Writes every changed job in one transaction. */
static void
commit_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	unsigned gone[JOB_NSTATES] = {0}, counts[JOB_NSTATES] = {0};
	struct job *job;
	long long t0;

	if (TAILQ_EMPTY(&dirty) && last_id == last_id_written)
		return;
	t0 = now_mono_us();
	if (db_begin() < 0)
		goto fail;
	TAILQ_FOREACH(job, &dirty, dirty_link)
		if (db_put_job(job) < 0)
			goto fail;
	if (forget_excess(gone) < 0 || write_counts(gone, counts) < 0 ||
	    (last_id != last_id_written && db_set_last_id(last_id) < 0) ||
	    db_commit() < 0)
		goto fail;
	metrics_store_commit((double)(now_mono_us() - t0) / 1e6);
	memcpy(counts_written, counts, sizeof counts_written);
	if (!available)
		log_notice("state database %s: writable again", db_path());
	available = true;
	last_id_written = last_id;
	while ((job = TAILQ_FIRST(&dirty)) != NULL) {
		TAILQ_REMOVE(&dirty, job, dirty_link);
		job->dirty = false;
	}
	finished_counts[JOB_COMPLETED] -= gone[JOB_COMPLETED];
	finished_counts[JOB_FAILED] -= gone[JOB_FAILED];
	for (unsigned i = 0; i < nforgotten; i++) {
		retain_drop(forgotten[i]);
		if ((job = idmap_get(&by_id, forgotten[i])) != NULL)
			resident_drop(job);
	}
	nforgotten = 0;
	evict_resident(STORE_CACHE);
	return;
fail:
	nforgotten = 0;
	commit_failed();
}

/* The commit, as late in the loop's pass as it can be: while other
 * callbacks are still active it goes behind them (a few times at most),
 * so that a job changed again in this same pass, as one that starts and
 * ends at once, is written once. It still runs before the loop polls, so
 * before any socket is written. */
static void
commit_last_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned deferred;

	if (deferred < 4 &&
	    event_base_get_num_events(daemon_base, EVENT_BASE_COUNT_ACTIVE) > 0) {
		deferred++;
		event_active(commit_ev, 0, 0);
		return;
	}
	deferred = 0;
	commit_cb(fd, what, arg);
}

void
store_sync(void)
{
	if (durable && available)
		commit_cb(-1, 0, NULL);
}

struct job *
store_get_resident(uint64_t id)
{
	return idmap_get(&by_id, id);
}

struct job *
store_get(uint64_t id)
{
	struct job *job = idmap_get(&by_id, id);

	if (job != NULL || !durable || (job = db_load(id)) == NULL)
		return job;
	if (job->state != JOB_COMPLETED && job->state != JOB_FAILED) {
		/* Every unfinished job is in memory: a row that says
		 * otherwise is one this build could not take at start. */
		free_job(job);
		return NULL;
	}
	store_add(job);
	TAILQ_INSERT_TAIL(&finished, job, finished_link);
	nfinished_resident++;
	evict_resident(STORE_CACHE);
	return job;
}

struct job *
store_find_key(const char *key)
{
	void *job;
	uint64_t id;

	if (lh_table_lookup_ex(by_key, key, &job))
		return job;
	if (!durable || (id = db_find_key(key)) == 0)
		return NULL;
	return store_get(id);
}

void
store_finished_counts(unsigned counts[JOB_NSTATES])
{
	for (int i = 0; i < JOB_NSTATES; i++)
		counts[i] = finished_counts[i];
}

void
store_each_unfinished(void (*fn)(struct job *job))
{
	if (durable)
		db_each_unfinished(fn);
}

struct job *
store_newest(void)
{
	return TAILQ_LAST(&in_order, job_list);
}

struct job *
store_older(struct job *job)
{
	return TAILQ_PREV(job, job_list, all_link);
}

/* The newest job in memory whose id is below ID. */
static struct job *
newest_below(uint64_t id)
{
	struct job *job;

	if (id > last_id)
		return store_newest();
	/* Ids are dense: step down to the nearest one still in memory. */
	for (uint64_t i = id - 1; i > 0; i--) {
		if ((job = store_get_resident(i)) != NULL)
			return job;
		if (id - i > 4096)
			break;
	}
	/* A long run of evicted ids: walk from the oldest end instead. */
	TAILQ_FOREACH_REVERSE(job, &in_order, job_list, all_link)
		if (job->id < id)
			return job;
	return NULL;
}

static bool
matches(const struct job *job, const struct db_filter *f)
{
	return (f->owner < 0 || job->owner.uid == (uid_t)f->owner) &&
	       (f->state < 0 || job->state == (enum job_state)f->state) &&
	       (f->kind == NULL || strcmp(job->kind->name, f->kind) == 0) &&
	       (f->queue == NULL || strcmp(job->queue, f->queue) == 0) &&
	       (f->finished_before_ms == 0 ||
		(job->state >= JOB_COMPLETED &&
		 job->finished_ms < f->finished_before_ms));
}

/* Walks the jobs in memory for F from the newest below F->before_id,
 * within B's budget (as db_list does). */
static void
list_resident(const struct db_filter *f, unsigned limit,
	      struct db_list_bound *b,
	      void (*fn)(const struct job *job, void *arg), void *arg)
{
	struct job *job;
	unsigned n = 0, cost = 0;
	uint64_t last = 0;

	b->next_before = 0;
	job = f->before_id ? newest_below(f->before_id) : store_newest();
	for (; job != NULL && n < limit && cost < b->budget;
	     job = store_older(job)) {
		last = job->id;
		if (matches(job, f)) {
			fn(job, arg);
			n++;
		} else {
			cost++;
		}
	}
	if (job != NULL && n < limit)
		b->next_before = last; /* the budget ran out first */
}

uint64_t
store_list(const struct db_filter *f, unsigned limit,
	   void (*fn)(const struct job *job, void *arg), void *arg)
{
	struct db_list_bound b = {LIST_BUDGET, 0};
	struct job *job;
	uint64_t *ids;
	unsigned n;

	/* Every unfinished job is in memory: a list of queued or running
	 * ones walks those, not every row the database holds. */
	if (!durable || f->state == JOB_QUEUED || f->state == JOB_RUNNING) {
		b = (struct db_list_bound){LIST_RESIDENT_BUDGET, 0};
		list_resident(f, limit, &b, fn, arg);
		return b.next_before;
	}
	store_sync();
	ids = xreallocarray(NULL, limit, sizeof *ids);
	n = db_list(f, limit, &b, ids);
	for (unsigned i = 0; i < n; i++) {
		if ((job = store_get_resident(ids[i])) != NULL) {
			fn(job, arg);
		} else if ((job = db_load(ids[i])) != NULL) {
			fn(job, arg);
			free_job(job);
		}
	}
	free(ids);
	return b.next_before;
}

int
store_write_queue(uid_t owner, const char *name, unsigned max_running,
		  bool paused)
{
	if (!durable)
		return 0;
	if (!available)
		return -1;
	if (db_begin() < 0 ||
	    db_put_queue(owner, name, max_running, paused) < 0 ||
	    db_commit() < 0) {
		db_rollback();
		return -1;
	}
	return 0;
}

int
store_remove(const uint64_t *ids, unsigned n)
{
	unsigned gone[JOB_NSTATES] = {0}, counts[JOB_NSTATES];
	struct job *job;

	if (durable) {
		/* What this pass changed first: a job that just ended must
		 * not be written back after its row is deleted. */
		store_sync();
		if (!available)
			return -1;
		if (db_begin() < 0)
			goto fail;
		for (unsigned i = 0; i < n; i++) {
			enum job_state state;
			if (db_delete_finished(ids[i], &state) < 0)
				goto fail;
			if (state == JOB_COMPLETED || state == JOB_FAILED)
				gone[state]++;
		}
		if (write_counts(gone, counts) < 0 || db_commit() < 0)
			goto fail;
		memcpy(counts_written, counts, sizeof counts_written);
		finished_counts[JOB_COMPLETED] -= gone[JOB_COMPLETED];
		finished_counts[JOB_FAILED] -= gone[JOB_FAILED];
	}
	for (unsigned i = 0; i < n; i++) {
		retain_drop(ids[i]);
		if ((job = idmap_get(&by_id, ids[i])) != NULL) {
			if (!durable)
				finished_counts[job->state]--;
			resident_drop(job);
		}
	}
	return 0;
fail:
	db_rollback();
	return -1;
}
