/* Runnable jobs, per kind, in fair turns between users. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "kinds.h"
#include "sched.h"
#include "xmalloc.h"

/* One user's runnable jobs of one kind, oldest first. It outlives its
 * jobs, to remember when the user was last served. */
struct user_queue {
	uid_t uid;
	struct kind_slot *slot;
	uint64_t served; /* the slot's turn that last started a job of it */
	bool in_ring;
	TAILQ_HEAD(, job) jobs;
	TAILQ_ENTRY(user_queue) link; /* in the ring, while it has jobs */
	struct user_queue *next;      /* every user of the slot */
};

/* Scheduling state of one kind. Users with runnable jobs wait in a ring
 * ordered by when they were last served: the head goes next, then to the
 * back. A user who arrives goes before everyone served since its last
 * turn, so a long queue of one user never starves another's job, and a
 * user who keeps re-arriving cannot jump the line either. */
struct kind_slot {
	const struct job_kind *kind;
	unsigned running;
	unsigned max_running;
	uint64_t turns;
	TAILQ_HEAD(, user_queue) ring;
	struct user_queue *users;
};

static struct kind_slot *slots;
static size_t nslots;
static void (*sched_kick)(void);
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
	nslots = job_kinds_count;
	slots = xcalloc(nslots, sizeof *slots);
	for (size_t i = 0; i < nslots; i++) {
		slots[i].kind = job_kinds[i];
		slots[i].max_running = job_kinds[i]->default_max_running
					       ? job_kinds[i]->default_max_running
					       : ncpus();
		TAILQ_INIT(&slots[i].ring);
	}
}

void
sched_free(void)
{
	for (size_t i = 0; i < nslots; i++) {
		struct user_queue *uq;
		while ((uq = slots[i].users) != NULL) {
			slots[i].users = uq->next;
			free(uq);
		}
	}
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

void
sched_kind_names(struct json_object *array)
{
	for (size_t i = 0; i < nslots; i++)
		json_object_array_add(array,
				      json_object_new_string(slots[i].kind->name));
}

int
sched_set_max_running(const char *name, unsigned n)
{
	const struct job_kind *kind = kinds_find(name);

	if (kind == NULL || n == 0)
		return -1;
	slot_of(kind)->max_running = n;
	sched_kick();
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

static struct user_queue *
user_queue_of(struct kind_slot *slot, uid_t uid)
{
	struct user_queue *uq;

	for (uq = slot->users; uq != NULL; uq = uq->next)
		if (uq->uid == uid)
			return uq;
	uq = xcalloc(1, sizeof *uq);
	uq->uid = uid;
	uq->slot = slot;
	TAILQ_INIT(&uq->jobs);
	uq->next = slot->users;
	slot->users = uq;
	return uq;
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

void
sched_push(struct job *job)
{
	struct kind_slot *slot = slot_of(job->kind);
	struct user_queue *uq = user_queue_of(slot, job->owner.uid);

	TAILQ_INSERT_TAIL(&uq->jobs, job, queue_link);
	job->queue = uq;
	if (!uq->in_ring)
		ring_insert(slot, uq);
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
	if (TAILQ_EMPTY(&uq->jobs) && uq->in_ring) {
		TAILQ_REMOVE(&uq->slot->ring, uq, link);
		uq->in_ring = false;
	}
}

/* Takes the next job of SLOT: the oldest of the user served longest ago. */
static struct job *
queue_pop(struct kind_slot *slot)
{
	struct user_queue *uq = TAILQ_FIRST(&slot->ring);
	struct job *job;

	if (uq == NULL)
		return NULL;
	job = TAILQ_FIRST(&uq->jobs);
	uq->served = ++slot->turns;
	sched_remove(job);
	if (uq->in_ring) { /* to the back of the line */
		TAILQ_REMOVE(&slot->ring, uq, link);
		TAILQ_INSERT_TAIL(&slot->ring, uq, link);
	}
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
sched_ended(const struct job_kind *kind)
{
	slot_of(kind)->running--;
}
