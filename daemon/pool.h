/* A fixed pool of worker threads for blocking work (file I/O, NSS
 * look-ups, hashing). A work item is self-contained: its work function
 * runs on a worker and must not touch jobs, connections or json-c
 * objects; its done function then runs on the event loop thread. Results
 * come back through one wake-up event and a locked queue that the loop
 * drains completely. */
#ifndef ASYNCD_POOL_H
#define ASYNCD_POOL_H

#include <stdbool.h>

struct pool_work;

/* Runs on a worker thread. */
typedef void (*pool_work_fn)(struct pool_work *w, void *arg);
/* Runs on the loop thread once, after the work function returned, or
 * instead of it (CANCELLED true) when the item was cancelled before a
 * worker took it. Never called from inside pool_submit/pool_cancel. */
typedef void (*pool_done_fn)(void *arg, bool cancelled);

/* Sets up a pool of N worker threads on daemon_base's loop; they start
 * with the first pool_submit. */
void pool_init(unsigned n);
/* Stops the workers after the items they are running, then runs the done
 * function of every item, so that its owner frees what it holds: as
 * usual for those whose work ran, with CANCELLED true for those still
 * queued (and for any a done function submits now: a done function
 * called with CANCELLED must not submit again). Runs on the loop thread
 * after the loop has stopped. */
void pool_free(void);
struct pool_work *pool_submit(pool_work_fn work, pool_done_fn done, void *arg);
/* Asks W to stop: a queued item will not run; a running one sees
 * pool_cancelled() true. Its done function still follows. W must not be
 * used after its done function ran. */
void pool_cancel(struct pool_work *w);
/* For the work function: whether pool_cancel() was called. */
bool pool_cancelled(const struct pool_work *w);

#endif
