/* The in-memory job table. */
#include <json-c/linkhash.h>

#include "idmap.h"
#include "job.h"
#include "log.h"
#include "store.h"

static struct idmap by_id;
static struct lh_table *by_key;
static TAILQ_HEAD(job_list, job) in_order = TAILQ_HEAD_INITIALIZER(in_order);
static uint64_t last_id;

void
store_init(void)
{
	idmap_init(&by_id);
	by_key = lh_kchar_table_new(64, NULL);
	if (by_key == NULL)
		fatalx("cannot allocate the key index");
	TAILQ_INIT(&in_order);
}

void
store_free(void)
{
	idmap_free(&by_id);
	lh_table_free(by_key);
	by_key = NULL;
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
store_remove(struct job *job)
{
	idmap_del(&by_id, job->id);
	if (job->key != NULL)
		lh_table_delete(by_key, job->key);
	TAILQ_REMOVE(&in_order, job, all_link);
}

struct job *
store_get(uint64_t id)
{
	return idmap_get(&by_id, id);
}

struct job *
store_find_key(const char *key)
{
	void *job;

	return lh_table_lookup_ex(by_key, key, &job) ? job : NULL;
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

struct job *
store_newest_below(uint64_t id)
{
	struct job *job;

	if (id > last_id)
		return store_newest();
	/* Ids are dense: step down to the nearest one still stored. */
	for (uint64_t i = id - 1; i > 0; i--) {
		if ((job = store_get(i)) != NULL)
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
