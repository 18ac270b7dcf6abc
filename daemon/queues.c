/* Named queues (see queues.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/linkhash.h>

#include "db.h"
#include "log.h"
#include "queues.h"
#include "sched.h"
#include "store.h"
#include "xmalloc.h"

/* "uid/name" -> struct job_queue. */
static struct lh_table *by_name;
/* uid -> how many queues that user has (in the pointer). */
static struct lh_table *per_user;

bool
queue_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > QUEUE_NAME_MAX)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	return true;
}

static void
queue_free_entry(struct lh_entry *e)
{
	struct job_queue *q = lh_entry_v(e);

	free(lh_entry_k(e));
	sched_queue_free(q);
	free(q);
}

static char *
queue_key(uid_t owner, const char *name)
{
	char *key;

	if (asprintf(&key, "%u/%s", (unsigned)owner, name) < 0)
		fatal("asprintf");
	return key;
}

static unsigned
user_queues(uid_t owner)
{
	void *v;

	if (!lh_table_lookup_ex(per_user, (const void *)(uintptr_t)owner, &v))
		return 0;
	return (unsigned)(uintptr_t)v;
}

static void
user_queues_set(uid_t owner, unsigned n)
{
	const void *key = (const void *)(uintptr_t)owner;

	if (n == 0)
		lh_table_delete(per_user, key);
	else if (lh_table_lookup_entry(per_user, key) != NULL)
		lh_table_lookup_entry(per_user, key)->v = (void *)(uintptr_t)n;
	else
		lh_table_insert(per_user, key, (void *)(uintptr_t)n);
}

struct job_queue *
queues_find(uid_t owner, const char *name)
{
	char *key = queue_key(owner, name);
	void *v = NULL;

	lh_table_lookup_ex(by_name, key, &v);
	free(key);
	return v;
}

/* OWNER's queue NAME, made when missing, past the limit if FORCE. */
static struct job_queue *
queue_get(uid_t owner, const char *name, bool force)
{
	struct job_queue *q = queues_find(owner, name);
	unsigned n;

	if (q != NULL)
		return q;
	if ((n = user_queues(owner)) >= QUEUES_PER_USER && !force)
		return NULL;
	q = xcalloc(1, sizeof *q);
	q->owner = owner;
	snprintf(q->name, sizeof q->name, "%s", name);
	lh_table_insert(by_name, queue_key(owner, name), q);
	user_queues_set(owner, n + 1);
	return q;
}

struct job_queue *
queues_get(uid_t owner, const char *name)
{
	return queue_get(owner, name, false);
}

struct job_queue *
queues_restore(uid_t owner, const char *name)
{
	return queue_get(owner, name, true);
}

void
queues_drop_unused(struct job_queue *q)
{
	char *key;

	if (q->jobs > 0 || q->max_running != 0 || q->paused)
		return;
	user_queues_set(q->owner, user_queues(q->owner) - 1);
	key = queue_key(q->owner, q->name);
	lh_table_delete(by_name, key); /* frees Q */
	free(key);
}

static void
queue_restore(uid_t owner, const char *name, unsigned max_running,
	      bool paused)
{
	struct job_queue *q;

	if (!queue_name_valid(name) || (q = queues_get(owner, name)) == NULL) {
		log_warnx("queue %u/%s in the database: skipped",
			  (unsigned)owner, name);
		return;
	}
	q->max_running = max_running <= QUEUE_MAX_RUNNING ? max_running : 0;
	q->paused = paused;
}

void
queues_init(void)
{
	by_name = lh_kchar_table_new(64, queue_free_entry);
	per_user = lh_kptr_table_new(16, NULL);
	if (by_name == NULL || per_user == NULL)
		fatalx("cannot allocate the queue table");
	if (store_durable())
		db_each_queue(queue_restore);
}

void
queues_free(void)
{
	if (by_name != NULL)
		lh_table_free(by_name);
	if (per_user != NULL)
		lh_table_free(per_user);
	by_name = per_user = NULL;
}

void
queue_job_added(struct job_queue *q)
{
	q->jobs++;
}

void
queue_job_removed(struct job_queue *q)
{
	q->jobs--;
	queues_drop_unused(q);
}

/* Writes Q's settings as they would become; 0 or -1. */
static int
queue_save(const struct job_queue *q, unsigned max_running, bool paused)
{
	if (!store_durable())
		return 0;
	return store_write_queue(q->owner, q->name, max_running, paused);
}

int
queue_set_max_running(struct job_queue *q, unsigned max_running)
{
	if (queue_save(q, max_running, q->paused) < 0)
		return -1;
	q->max_running = max_running;
	sched_queue_changed(q);
	return 0;
}

int
queue_set_paused(struct job_queue *q, bool paused)
{
	if (queue_save(q, q->max_running, paused) < 0)
		return -1;
	q->paused = paused;
	sched_queue_changed(q);
	return 0;
}

static int
queue_order(const void *a, const void *b)
{
	const struct job_queue *x = *(struct job_queue *const *)a;
	const struct job_queue *y = *(struct job_queue *const *)b;

	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
queues_each(uid_t peer_uid, void (*fn)(struct job_queue *q, void *arg),
	    void *arg)
{
	struct job_queue **all = xreallocarray(NULL, (size_t)by_name->count + 1,
					       sizeof *all);
	struct lh_entry *e;
	size_t n = 0;

	lh_foreach(by_name, e) {
		struct job_queue *q = lh_entry_v(e);
		if (peer_uid == 0 || q->owner == peer_uid)
			all[n++] = q;
	}
	qsort(all, n, sizeof *all, queue_order);
	for (size_t i = 0; i < n; i++)
		fn(all[i], arg);
	free(all);
}
