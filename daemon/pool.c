/* The worker pool: N threads take items off a locked queue; finished
 * items go on a locked done-queue, and one event (activated from the
 * worker, libevent being set up for threads) makes the loop drain it.
 *
 * Invariants:
 * - An item is in exactly one place: the work queue (POOL_QUEUED), a
 *   worker's hands (POOL_RUNNING), or the done-queue (POOL_DONE), until
 *   the loop runs its done function and frees it.
 * - event_active() merges activations, so the loop callback drains the
 *   done-queue completely every time it runs.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "runtime.h"
#include "log.h"
#include "pool.h"
#include "xmalloc.h"

enum pool_state { POOL_QUEUED, POOL_RUNNING, POOL_DONE };

struct pool_work {
	pool_work_fn work;
	pool_done_fn done;
	void *arg;
	enum pool_state state;  /* under pool_lock */
	bool ran;               /* the work function ran */
	atomic_bool cancelled;  /* read by the worker without the lock */
	TAILQ_ENTRY(pool_work) link;
};

TAILQ_HEAD(pool_list, pool_work);

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct pool_list pool_queue = TAILQ_HEAD_INITIALIZER(pool_queue);
static struct pool_list pool_done = TAILQ_HEAD_INITIALIZER(pool_done);
static bool pool_stopping;
static pthread_t *pool_threads;
static unsigned pool_size, pool_nthreads; /* threads to start, started */
static struct event *pool_done_ev;

/* Takes the next item, or NULL once the pool stops. Called locked. */
static struct pool_work *
pool_take(void)
{
	struct pool_work *w;

	while ((w = TAILQ_FIRST(&pool_queue)) == NULL && !pool_stopping)
		pthread_cond_wait(&pool_cond, &pool_lock);
	if (pool_stopping)
		return NULL;
	TAILQ_REMOVE(&pool_queue, w, link);
	w->state = POOL_RUNNING;
	return w;
}

/* Hands W to the loop. Called locked. Only the first item of a batch
 * needs to wake the loop: until it drains the queue, the event is
 * active already. */
static void
pool_finish(struct pool_work *w)
{
	bool was_empty = TAILQ_EMPTY(&pool_done);

	w->state = POOL_DONE;
	TAILQ_INSERT_TAIL(&pool_done, w, link);
	if (was_empty)
		event_active(pool_done_ev, 0, 0);
}

/* A worker: runs items until the pool stops. */
static void *
pool_thread(void *arg UNUSED)
{
	struct pool_work *w;

	pthread_mutex_lock(&pool_lock);
	while ((w = pool_take()) != NULL) {
		pthread_mutex_unlock(&pool_lock);
		w->work(w, w->arg);
		w->ran = true;
		pthread_mutex_lock(&pool_lock);
		pool_finish(w);
	}
	pthread_mutex_unlock(&pool_lock);
	return NULL;
}

/* Runs the done function of every finished item, including those that
 * finish meanwhile. */
static void
pool_drain(void)
{
	struct pool_list batch;
	struct pool_work *w;

	for (;;) {
		pthread_mutex_lock(&pool_lock);
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &pool_done, link);
		pthread_mutex_unlock(&pool_lock);
		if (TAILQ_EMPTY(&batch))
			return;
		while ((w = TAILQ_FIRST(&batch)) != NULL) {
			TAILQ_REMOVE(&batch, w, link);
			w->done(w->arg, !w->ran);
			free(w);
		}
	}
}

static void
pool_done_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	pool_drain();
}

void
pool_init(unsigned n)
{
	pool_done_ev = event_new(daemon_base, -1, 0, pool_done_cb, NULL);
	if (pool_done_ev == NULL)
		fatalx("cannot create the worker pool's event");
	pool_size = n < 2 ? 2 : n;
}

/* Starts the workers, at the first submission: a daemon answers its
 * first request without waiting for threads that only jobs use. */
static void
pool_start(void)
{
	sigset_t all, old;
	int rc;

	pool_threads = xcalloc(pool_size, sizeof *pool_threads);
	/* Signals belong to the loop thread: workers start with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (pool_nthreads = 0; pool_nthreads < pool_size; pool_nthreads++) {
		rc = pthread_create(&pool_threads[pool_nthreads], NULL,
				    pool_thread, NULL);
		if (rc != 0) {
			errno = rc;
			fatal("pthread_create");
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_debug("worker pool: %u threads", pool_size);
}

/* Once the workers are gone: runs the done function of every item, the
 * queued ones (and any submitted meanwhile) as cancelled, until none is
 * left. */
static void
pool_hand_back(void)
{
	struct pool_work *w;
	bool empty;

	for (;;) {
		pthread_mutex_lock(&pool_lock);
		while ((w = TAILQ_FIRST(&pool_queue)) != NULL) {
			TAILQ_REMOVE(&pool_queue, w, link);
			w->state = POOL_DONE;
			TAILQ_INSERT_TAIL(&pool_done, w, link);
		}
		empty = TAILQ_EMPTY(&pool_done);
		pthread_mutex_unlock(&pool_lock);
		if (empty)
			return;
		pool_drain();
	}
}

void
pool_free(void)
{
	if (pool_done_ev == NULL)
		return;
	pthread_mutex_lock(&pool_lock);
	pool_stopping = true;
	pthread_cond_broadcast(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
	for (unsigned i = 0; i < pool_nthreads; i++)
		pthread_join(pool_threads[i], NULL);
	free(pool_threads);
	pool_threads = NULL;
	pool_nthreads = 0;
	/* Every item goes back to its owner, so that it releases what it
	 * holds: those whose work ran as usual, the rest as cancelled. */
	pool_hand_back();
	event_free(pool_done_ev);
	pool_done_ev = NULL;
	pool_stopping = false;
}

struct pool_work *
pool_submit(pool_work_fn work, pool_done_fn done, void *arg)
{
	struct pool_work *w = xcalloc(1, sizeof *w);

	w->work = work;
	w->done = done;
	w->arg = arg;
	w->state = POOL_QUEUED;
	atomic_init(&w->cancelled, false);
	/* Between pool_init and pool_free only, and not while pool_free
	 * hands items back (those are cancelled). */
	if (pool_nthreads == 0 && pool_done_ev != NULL && !pool_stopping)
		pool_start();
	pthread_mutex_lock(&pool_lock);
	TAILQ_INSERT_TAIL(&pool_queue, w, link);
	pthread_cond_signal(&pool_cond);
	pthread_mutex_unlock(&pool_lock);
	return w;
}

void
pool_cancel(struct pool_work *w)
{
	atomic_store(&w->cancelled, true);
	pthread_mutex_lock(&pool_lock);
	if (w->state == POOL_QUEUED && !pool_stopping) {
		TAILQ_REMOVE(&pool_queue, w, link);
		pool_finish(w);
	}
	pthread_mutex_unlock(&pool_lock);
}

bool
pool_cancelled(const struct pool_work *w)
{
	return atomic_load(&((struct pool_work *)w)->cancelled);
}
