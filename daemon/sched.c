/* Runnable jobs, per kind, in fair turns between users. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <json-c/linkhash.h>

#include "kinds.h"
#include "sched.h"
#include "xmalloc.h"

/* One user's runnable jobs of one kind, oldest first. It outlives its
 * jobs, to remember when the user was last served. */
struct user_queue {
	uid_t uid;
	struct kind_slot *slot;
	uint64_t served;  /* the slot's turn that last started a job of it */
	unsigned running; /* its jobs of the kind running now */
	bool in_ring;
	TAILQ_HEAD(, job) jobs;
	TAILQ_ENTRY(user_queue) link; /* in the ring, while it can start one */
};

/* Scheduling state of one kind. Users who can start a job wait in a ring
 * ordered by when they were last served: the head goes next, then to the
 * back. A user who arrives goes before everyone served since its last
 * turn, so a long queue of one user never starves another's job, and a
 * user who keeps re-arriving cannot jump the line either.
 *
 * A user is in the ring exactly when it has runnable jobs and fewer
 * running than the per-user cap. One at its cap leaves the ring when its
 * last allowed job starts and comes back, in its turn, when one of them
 * ends: a start never looks at a user who cannot start, nor at any of
 * its queued jobs. */
struct kind_slot {
	const struct job_kind *kind;
	unsigned running;
	unsigned max_running;
	unsigned max_per_user; /* set explicitly; 0: follows max_running */
	uint64_t turns;
	TAILQ_HEAD(, user_queue) ring;
	struct lh_table *users; /* uid -> its user_queue, every user seen */
};

static struct kind_slot *slots;
static size_t nslots;
static void (*sched_kick)(void);

/* Frees a user_queue with the table of its slot's users. */
static void
user_queue_free_entry(struct lh_entry *e)
{
	free(lh_entry_v(e));
}

static unsigned
ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

void
sched_init(void (*kick)(void))
{
	sched_kick = kick;
	nslots = kinds_count();
	slots = xcalloc(nslots, sizeof *slots);
	for (size_t i = 0; i < nslots; i++) {
		slots[i].kind = kinds_at(i);
		slots[i].max_running = slots[i].kind->default_max_running
					       ? slots[i].kind->default_max_running
					       : ncpus();
		TAILQ_INIT(&slots[i].ring);
		slots[i].users = lh_kptr_table_new(16, user_queue_free_entry);
	}
}

void
sched_free(void)
{
	for (size_t i = 0; i < nslots; i++)
		lh_table_free(slots[i].users);
	free(slots);
	slots = NULL;
	nslots = 0;
}

static struct kind_slot *
slot_of(const struct job_kind *kind)
{
	for (size_t i = 0; i < nslots; i++)
		if (slots[i].kind == kind)
			return &slots[i];
	return NULL;
}

unsigned
sched_default_per_user(unsigned n)
{
	/* N minus a tenth, rounded up: 16 -> 14, 100000 -> 90000. */
	if (n < 10)
		return n;
	return n - n / 10 - (n % 10 != 0);
}

/* How many jobs of SLOT's kind one user may run at once. */
static unsigned
slot_user_cap(const struct kind_slot *slot)
{
	return slot->max_per_user != 0
		       ? slot->max_per_user
		       : sched_default_per_user(slot->max_running);
}

void
sched_kind_names(struct json_object *array)
{
	for (size_t i = 0; i < nslots; i++)
		json_object_array_add(array,
				      json_object_new_string(slots[i].kind->name));
}

/* Puts UQ in the ring before the first user served after it. */
static void
ring_insert(struct kind_slot *slot, struct user_queue *uq)
{
	struct user_queue *at;

	TAILQ_FOREACH(at, &slot->ring, link)
		if (at->served > uq->served)
			break;
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, uq, link);
	else
		TAILQ_INSERT_TAIL(&slot->ring, uq, link);
	uq->in_ring = true;
}

/* Whether UQ belongs in the ring: it has a job it may start. */
static bool
user_can_start(const struct user_queue *uq)
{
	return !TAILQ_EMPTY(&uq->jobs) && uq->running < slot_user_cap(uq->slot);
}

/* Puts UQ in the ring, in its turn, or takes it out, as it now can or
 * cannot start a job. Returns true when it went in. */
static bool
user_queue_update(struct user_queue *uq)
{
	bool can = user_can_start(uq);

	if (can && !uq->in_ring) {
		ring_insert(uq->slot, uq);
		return true;
	}
	if (!can && uq->in_ring) {
		TAILQ_REMOVE(&uq->slot->ring, uq, link);
		uq->in_ring = false;
	}
	return false;
}

/* A limit of SLOT changed: every user's place in the ring follows. */
static void
slot_limits_changed(struct kind_slot *slot)
{
	struct lh_entry *e;

	lh_foreach(slot->users, e)
		user_queue_update(lh_entry_v(e));
	sched_kick();
}

int
sched_set_max_running(const char *name, unsigned n)
{
	const struct job_kind *kind = kinds_find(name);

	if (kind == NULL || n == 0)
		return -1;
	slot_of(kind)->max_running = n;
	slot_limits_changed(slot_of(kind));
	return 0;
}

int
sched_set_max_running_per_user(const char *name, unsigned n)
{
	const struct job_kind *kind = kinds_find(name);

	if (kind == NULL || n == 0)
		return -1;
	slot_of(kind)->max_per_user = n;
	slot_limits_changed(slot_of(kind));
	return 0;
}

struct json_object *
sched_max_running(void)
{
	struct json_object *obj = json_object_new_object();

	for (size_t i = 0; i < nslots; i++)
		json_object_object_add(obj, slots[i].kind->name,
				       json_object_new_int64(slots[i].max_running));
	return obj;
}

struct json_object *
sched_max_running_per_user(void)
{
	struct json_object *obj = json_object_new_object();

	for (size_t i = 0; i < nslots; i++)
		json_object_object_add(
			obj, slots[i].kind->name,
			json_object_new_int64(slot_user_cap(&slots[i])));
	return obj;
}

/* UID's queue in SLOT, made on first use. */
static struct user_queue *
user_queue_of(struct kind_slot *slot, uid_t uid)
{
	const void *key = (const void *)(uintptr_t)uid;
	void *v;
	struct user_queue *uq;

	if (lh_table_lookup_ex(slot->users, key, &v))
		return v;
	uq = xcalloc(1, sizeof *uq);
	uq->uid = uid;
	uq->slot = slot;
	TAILQ_INIT(&uq->jobs);
	lh_table_insert(slot->users, key, uq);
	return uq;
}

void
sched_push(struct job *job)
{
	struct kind_slot *slot = slot_of(job->kind);
	struct user_queue *uq = user_queue_of(slot, job->owner.uid);

	TAILQ_INSERT_TAIL(&uq->jobs, job, queue_link);
	job->queue = uq;
	user_queue_update(uq);
	sched_kick();
}

void
sched_remove(struct job *job)
{
	struct user_queue *uq = job->queue;

	if (uq == NULL)
		return;
	TAILQ_REMOVE(&uq->jobs, job, queue_link);
	job->queue = NULL;
	user_queue_update(uq);
}

/* Takes the next job of SLOT: the oldest of the user served longest ago
 * among those below their cap. */
static struct job *
queue_pop(struct kind_slot *slot)
{
	struct user_queue *uq = TAILQ_FIRST(&slot->ring);
	struct job *job;

	if (uq == NULL)
		return NULL;
	job = TAILQ_FIRST(&uq->jobs);
	TAILQ_REMOVE(&uq->jobs, job, queue_link);
	job->queue = NULL;
	uq->served = ++slot->turns;
	uq->running++;
	TAILQ_REMOVE(&slot->ring, uq, link);
	if (user_can_start(uq)) /* to the back of the line */
		TAILQ_INSERT_TAIL(&slot->ring, uq, link);
	else /* until one of its jobs ends, or it queues more */
		uq->in_ring = false;
	return job;
}

void
sched_run(void (*start)(struct job *job))
{
	for (size_t i = 0; i < nslots; i++) {
		struct kind_slot *slot = &slots[i];
		struct job *job;
		while (slot->running < slot->max_running &&
		       (job = queue_pop(slot)) != NULL) {
			slot->running++;
			start(job);
		}
	}
}

void
sched_ended(const struct job *job)
{
	struct kind_slot *slot = slot_of(job->kind);
	void *v;

	slot->running--;
	if (!lh_table_lookup_ex(slot->users,
				(const void *)(uintptr_t)job->owner.uid, &v))
		return; /* cannot be: the job started from its queue */
	((struct user_queue *)v)->running--;
	if (user_queue_update(v))
		sched_kick();
}
