/* The worker pool: every item's done function runs once on the loop
 * thread, in a drained batch; cancelling queued and running items;
 * finished work is not lost when the pool stops. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "../../daemon/runtime.h"
#include "../../daemon/pool.h"
#include "../testutil.h"

#define WORKERS 2

static pthread_t loop_thread;

static void
setup(void)
{
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	daemon_base = event_base_new();
	ck_assert_ptr_nonnull(daemon_base);
	loop_thread = pthread_self();
	pool_init(WORKERS);
}

static void
teardown(void)
{
	pool_free();
	event_base_free(daemon_base);
	daemon_base = NULL;
}

/* Runs the loop until *FLAG reaches WANT. */
static void
loop_until(atomic_int *flag, int want)
{
	while (atomic_load(flag) < want)
		event_base_loop(daemon_base, EVLOOP_ONCE);
}

struct item {
	atomic_int worked;
	int done;
	bool cancelled;
	atomic_int *ndone;
};

static void
item_work(struct pool_work *w UNUSED, void *arg)
{
	struct item *it = arg;

	ck_assert(!pthread_equal(pthread_self(), loop_thread));
	atomic_fetch_add(&it->worked, 1);
}

static void
item_done(void *arg, bool cancelled)
{
	struct item *it = arg;

	ck_assert(pthread_equal(pthread_self(), loop_thread));
	it->done++;
	it->cancelled = cancelled;
	atomic_fetch_add(it->ndone, 1);
}

START_TEST(every_item_runs_once_and_is_done_on_the_loop)
{
	enum { N = 5000 };
	struct item *items = calloc(N, sizeof *items);
	atomic_int ndone = 0;

	for (int i = 0; i < N; i++) {
		items[i].ndone = &ndone;
		pool_submit(item_work, item_done, &items[i]);
	}
	loop_until(&ndone, N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(atomic_load(&items[i].worked), 1);
		ck_assert_int_eq(items[i].done, 1);
		ck_assert(!items[i].cancelled);
	}
	free(items);
}
END_TEST

/* Work that holds its worker until released. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static atomic_int blocked;

static void
blocking_work(struct pool_work *w UNUSED, void *arg UNUSED)
{
	atomic_fetch_add(&blocked, 1);
	pthread_mutex_lock(&gate_lock);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void
open_gate(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void *
open_gate_later(void *arg UNUSED)
{
	usleep(200000);
	open_gate();
	return NULL;
}

START_TEST(a_cancelled_queued_item_never_runs)
{
	struct item blockers[WORKERS] = {0}, queued = {0}, after = {0};
	atomic_int ndone = 0;
	struct pool_work *w;

	for (int i = 0; i < WORKERS; i++) {
		blockers[i].ndone = &ndone;
		pool_submit(blocking_work, item_done, &blockers[i]);
	}
	while (atomic_load(&blocked) < WORKERS)
		usleep(1000);
	/* Every worker is busy: these stay queued. */
	queued.ndone = &ndone;
	after.ndone = &ndone;
	w = pool_submit(item_work, item_done, &queued);
	pool_submit(item_work, item_done, &after);
	pool_cancel(w);
	ck_assert_int_eq(queued.done, 0); /* never from inside pool_cancel */
	loop_until(&ndone, 1);
	ck_assert_int_eq(queued.done, 1);
	ck_assert(queued.cancelled);
	open_gate();
	loop_until(&ndone, WORKERS + 2);
	ck_assert_int_eq(atomic_load(&queued.worked), 0);
	ck_assert_int_eq(atomic_load(&after.worked), 1);
	ck_assert(!after.cancelled);
}
END_TEST

static atomic_int spinning;

/* Runs until cancelled (or ten seconds). */
static void
cancellable_work(struct pool_work *w, void *arg)
{
	struct item *it = arg;

	atomic_store(&spinning, 1);
	for (int i = 0; i < 10000 && !pool_cancelled(w); i++)
		usleep(1000);
	if (pool_cancelled(w))
		atomic_store(&it->worked, 1);
}

START_TEST(a_running_item_sees_its_cancellation)
{
	struct item it = {0};
	atomic_int ndone = 0;
	struct pool_work *w;

	it.ndone = &ndone;
	w = pool_submit(cancellable_work, item_done, &it);
	while (atomic_load(&spinning) == 0)
		usleep(1000);
	pool_cancel(w);
	loop_until(&ndone, 1);
	ck_assert_int_eq(atomic_load(&it.worked), 1);
	ck_assert_int_eq(it.done, 1);
	ck_assert(!it.cancelled); /* its work ran */
}
END_TEST

START_TEST(stopping_runs_the_done_functions_of_finished_work)
{
	struct item it = {0};
	atomic_int ndone = 0;

	it.ndone = &ndone;
	pool_submit(item_work, item_done, &it);
	while (atomic_load(&it.worked) == 0)
		usleep(1000);
	pool_free(); /* the loop never ran */
	ck_assert_int_eq(it.done, 1);
	pool_init(WORKERS); /* for teardown */
}
END_TEST

/* Items still queued when the pool stops go back to their owners as
 * cancelled, never dropped: their owners free what they hold. */
START_TEST(stopping_hands_queued_items_back_cancelled)
{
	struct item blockers[WORKERS] = {0}, queued[3] = {{0}};
	atomic_int ndone = 0;

	for (int i = 0; i < WORKERS; i++) {
		blockers[i].ndone = &ndone;
		pool_submit(blocking_work, item_done, &blockers[i]);
	}
	while (atomic_load(&blocked) < WORKERS)
		usleep(1000);
	for (int i = 0; i < 3; i++) {
		queued[i].ndone = &ndone;
		pool_submit(item_work, item_done, &queued[i]);
	}
	/* The workers are released once pool_free() waits for them: they
	 * finish what they hold and stop, taking nothing more. */
	pthread_t opener;
	ck_assert_int_eq(pthread_create(&opener, NULL, open_gate_later, NULL),
			 0);
	pool_free(); /* the loop never ran */
	pthread_join(opener, NULL);
	for (int i = 0; i < WORKERS; i++) {
		ck_assert_int_eq(blockers[i].done, 1);
		ck_assert(!blockers[i].cancelled);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(queued[i].done, 1);
		ck_assert(queued[i].cancelled);
		ck_assert_int_eq(atomic_load(&queued[i].worked), 0);
	}
	pool_init(WORKERS); /* for teardown */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, every_item_runs_once_and_is_done_on_the_loop);
	tcase_add_test(tc, a_cancelled_queued_item_never_runs);
	tcase_add_test(tc, a_running_item_sees_its_cancellation);
	tcase_add_test(tc, stopping_runs_the_done_functions_of_finished_work);
	tcase_add_test(tc, stopping_hands_queued_items_back_cancelled);
	suite_add_tcase(s, tc);
	return run_suite(s);
}
