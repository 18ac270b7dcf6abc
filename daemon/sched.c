/* Runnable jobs, per kind, in fair turns between users, by priority
 * within a user, under the limits of kinds, users and named queues. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <json-c/linkhash.h>

#include "heap.h"
#include "kinds.h"
#include "log.h"
#include "queues.h"
#include "sched.h"
#include "xmalloc.h"

/* One user's runnable jobs of one kind in one of the user's named queues,
 * highest priority first, then in submission order. */
struct lane {
	struct user_turn *turn;
	struct job_queue *jq;
	struct heap jobs;
	bool eligible;   /* in its user's heap of lanes that may start */
	size_t index;    /* there */
};

/* One user's runnable jobs of one kind, in its lanes. It outlives its
 * jobs, to remember when the user was last served. */
struct user_turn {
	uid_t uid;
	struct kind_slot *slot;
	uint64_t served;  /* the slot's turn that last started a job of it */
	unsigned running; /* its jobs of the kind running now */
	bool in_ring;
	struct heap lanes; /* lanes whose queue allows a start, by head job */
	TAILQ_ENTRY(user_turn) link; /* in the ring, while it can start one */
};

/* Scheduling state of one kind. Users who can start a job wait in a ring
 * ordered by when they were last served: the head goes next, then to the
 * back. A user who arrives goes before everyone served since its last
 * turn, so a long queue of one user never starves another's job, and a
 * user who keeps re-arriving cannot jump the line either.
 *
 * A user is in the ring exactly when it has a lane that may start (its
 * queue is neither paused nor at its limit) and fewer running than the
 * per-user cap. Within the user, the job that goes is the head of the
 * lane whose head goes first: highest priority, then oldest. A start
 * never looks at a user, a queue or a job that cannot start. */
struct kind_slot {
	const struct job_kind *kind;
	unsigned running;
	unsigned max_running;
	unsigned max_per_user; /* set explicitly; 0: follows max_running */
	uint64_t turns;
	TAILQ_HEAD(, user_turn) ring;
	struct lh_table *users; /* uid -> its user_turn, every user seen */
};

static struct kind_slot *slots;
static size_t nslots;
static void (*sched_kick)(void);

/* Frees a user_turn with the table of its slot's users. */
static void
user_turn_free_entry(struct lh_entry *e)
{
	struct user_turn *turn = lh_entry_v(e);

	heap_free(&turn->lanes);
	free(turn);
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
		slots[i].users = lh_kptr_table_new(16, user_turn_free_entry);
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

static size_t
slot_index(const struct job_kind *kind)
{
	for (size_t i = 0; i < nslots; i++)
		if (slots[i].kind == kind)
			return i;
	fatalx("job kind %s has no slot", kind->name);
}

static struct kind_slot *
slot_of(const struct job_kind *kind)
{
	return &slots[slot_index(kind)];
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

/* ---- Order: priority, then submission ----------------------------------- */

static bool
job_before(const void *a, const void *b)
{
	const struct job *x = a, *y = b;

	return x->priority != y->priority ? x->priority > y->priority
					  : x->id < y->id;
}

static size_t *
job_index(void *job)
{
	return &((struct job *)job)->sched_index;
}

static bool
lane_before(const void *a, const void *b)
{
	return job_before(heap_top(&((const struct lane *)a)->jobs),
			  heap_top(&((const struct lane *)b)->jobs));
}

static size_t *
lane_index(void *lane)
{
	return &((struct lane *)lane)->index;
}

/* ---- The ring of users -------------------------------------------------- */

/* Puts TURN in the ring before the first user served after it. */
static void
ring_insert(struct kind_slot *slot, struct user_turn *turn)
{
	struct user_turn *at;

	TAILQ_FOREACH(at, &slot->ring, link)
		if (at->served > turn->served)
			break;
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, turn, link);
	else
		TAILQ_INSERT_TAIL(&slot->ring, turn, link);
	turn->in_ring = true;
}

/* Whether TURN belongs in the ring: it has a job it may start. */
static bool
user_can_start(const struct user_turn *turn)
{
	return !heap_empty(&turn->lanes) &&
	       turn->running < slot_user_cap(turn->slot);
}

/* Puts TURN in the ring, in its turn, or takes it out, as it now can or
 * cannot start a job. Returns true when it went in. */
static bool
user_turn_update(struct user_turn *turn)
{
	bool can = user_can_start(turn);

	if (can && !turn->in_ring) {
		ring_insert(turn->slot, turn);
		return true;
	}
	if (!can && turn->in_ring) {
		TAILQ_REMOVE(&turn->slot->ring, turn, link);
		turn->in_ring = false;
	}
	return false;
}

/* A limit of SLOT changed: every user's place in the ring follows. */
static void
slot_limits_changed(struct kind_slot *slot)
{
	struct lh_entry *e;

	lh_foreach(slot->users, e)
		user_turn_update(lh_entry_v(e));
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

/* UID's turn in SLOT, made on first use. */
static struct user_turn *
user_turn_of(struct kind_slot *slot, uid_t uid)
{
	const void *key = (const void *)(uintptr_t)uid;
	void *v;
	struct user_turn *turn;

	if (lh_table_lookup_ex(slot->users, key, &v))
		return v;
	turn = xcalloc(1, sizeof *turn);
	turn->uid = uid;
	turn->slot = slot;
	heap_init(&turn->lanes, lane_before, lane_index);
	lh_table_insert(slot->users, key, turn);
	return turn;
}

/* ---- Lanes -------------------------------------------------------------- */

/* JQ's lane of JOB's kind, made on first use. */
static struct lane *
lane_of(struct job_queue *jq, const struct job *job)
{
	size_t k = slot_index(job->kind);
	struct lane *lane;

	if (jq->lanes == NULL)
		jq->lanes = xcalloc(nslots, sizeof *jq->lanes);
	if ((lane = jq->lanes[k]) == NULL) {
		lane = jq->lanes[k] = xcalloc(1, sizeof *lane);
		lane->turn = user_turn_of(&slots[k], jq->owner);
		lane->jq = jq;
		heap_init(&lane->jobs, job_before, job_index);
	}
	return lane;
}

/* Puts LANE in its user's heap, in order, or takes it out, as it now
 * may or may not start a job; then the user's place in the ring. Returns
 * true when the user went into the ring. */
static bool
lane_update(struct lane *lane)
{
	struct user_turn *turn = lane->turn;
	bool can = !heap_empty(&lane->jobs) && queue_allows_start(lane->jq);

	if (can && !lane->eligible)
		heap_push(&turn->lanes, lane);
	else if (!can && lane->eligible)
		heap_remove(&turn->lanes, lane);
	else if (can)
		heap_fix(&turn->lanes, lane); /* its head changed */
	lane->eligible = can;
	return user_turn_update(turn);
}

void
sched_queue_changed(struct job_queue *jq)
{
	bool kick = false;

	if (jq->lanes == NULL)
		return;
	for (size_t k = 0; k < nslots; k++)
		if (jq->lanes[k] != NULL && lane_update(jq->lanes[k]))
			kick = true;
	if (kick)
		sched_kick();
}

void
sched_queue_free(struct job_queue *jq)
{
	if (jq->lanes == NULL)
		return;
	for (size_t k = 0; k < nslots; k++) {
		struct lane *lane = jq->lanes[k];
		if (lane == NULL)
			continue;
		if (lane->eligible) {
			heap_remove(&lane->turn->lanes, lane);
			user_turn_update(lane->turn);
		}
		heap_free(&lane->jobs);
		free(lane);
	}
	free(jq->lanes);
	jq->lanes = NULL;
}

/* ---- Jobs --------------------------------------------------------------- */

void
sched_push(struct job *job)
{
	struct lane *lane = lane_of(job->jq, job);

	heap_push(&lane->jobs, job);
	job->lane = lane;
	if (lane_update(lane))
		sched_kick();
}

void
sched_remove(struct job *job)
{
	struct lane *lane = job->lane;

	if (lane == NULL)
		return;
	heap_remove(&lane->jobs, job);
	job->lane = NULL;
	lane_update(lane);
}

bool
sched_queued(const struct job *job)
{
	return job->lane != NULL;
}

/* The running count of JQ went from or to its limit: its lanes follow. */
static void
queue_count_changed(struct job_queue *jq, bool was_allowed)
{
	if (queue_allows_start(jq) != was_allowed)
		sched_queue_changed(jq);
}

/* Takes the next job of SLOT: of the user served longest ago among those
 * who may start one, the first of its lanes' heads. */
static struct job *
queue_pop(struct kind_slot *slot)
{
	struct user_turn *turn = TAILQ_FIRST(&slot->ring);
	struct lane *lane;
	struct job *job;
	bool was_allowed;

	if (turn == NULL)
		return NULL;
	lane = heap_top(&turn->lanes);
	job = heap_top(&lane->jobs);
	heap_remove(&lane->jobs, job);
	job->lane = NULL;
	turn->served = ++slot->turns;
	turn->running++;
	TAILQ_REMOVE(&slot->ring, turn, link);
	turn->in_ring = false;
	was_allowed = queue_allows_start(lane->jq);
	lane->jq->running++;
	/* Back in the ring, if it can start more, behind everyone: it was
	 * served last. */
	lane_update(lane);
	queue_count_changed(lane->jq, was_allowed);
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
	struct user_turn *turn = user_turn_of(slot, job->owner.uid);
	bool was_allowed = queue_allows_start(job->jq);

	slot->running--;
	turn->running--;
	job->jq->running--;
	queue_count_changed(job->jq, was_allowed);
	if (user_turn_update(turn))
		sched_kick();
}
