/* A download's file in asyncd-net: written by the loop, hashed behind it
 * by a worker that reads the file back (see sink.h).
 *
 * Locking: one mutex guards every sink's shared fields (`written`,
 * `hashed`, `gen` and the flags), the queue of sinks that have hashing
 * to do and the lists of sinks to wake; the workers hold it only to
 * take a block and to give it back. `offset` is the loop's alone; the
 * hash context is the worker's that has the sink (`busy`), and the
 * loop's once the sink is done.
 *
 * A truncation (a new body from byte 0) may come while a worker reads
 * the old bytes: it bumps `gen`, and a worker that finds `gen` changed
 * when it comes back drops what it read, a failure included (the file
 * got shorter under it), and starts the hash again.
 *
 * The hash is of the file as it is read back, so a part that someone
 * else changes between the write and the read is hashed as changed, as
 * a resumed part always was.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../daemon/log.h"
#include "../daemon/xmalloc.h"
#include "sink.h"

/* What a worker reads back and hashes at a time: small enough to stay in
 * the cache between the read and the hash. A sink goes to a worker once
 * SINK_KICK bytes wait (or it finished), so that a worker that keeps up
 * is woken once per SINK_KICK, not per write. */
#define SINK_BLOCK (256 * 1024)
#define SINK_KICK (1024 * 1024)
/* libcurl hands over 16 KiB at a time; the loop gathers them into one
 * write of this size. Measured here (1 GiB to ext4's page cache): 16 KiB
 * pwrites cost 0.39 s of CPU, a 16 KiB memcpy into a 256 KiB buffer and
 * its pwrite 0.23 s; 1 MiB writes were slower again, at times. */
#define SINK_STAGE (256 * 1024)
/* Bytes written but not hashed that one sink, and all of them together,
 * have before their transfers pause; they go on at half. The bytes are
 * in the page cache, not here: this keeps them there for the read back,
 * and the hash's tail at the end short. */
#define SINK_LAG_MAX (64 * 1024 * 1024)
#define SINK_BUDGET (256 * 1024 * 1024)
#define SINK_WORKERS 2

struct sink {
	int fd;
	/* The loop's. */
	uint64_t offset; /* where it writes next */
	int wfail;       /* a failed write or truncation */
	unsigned char *stage; /* SINK_STAGE bytes on their way to the file */
	size_t staged;
	EVP_MD_CTX *sha;
	/* Under the lock. */
	uint64_t written; /* bytes in the file the hash may read */
	uint64_t hashed;  /* bytes hashed, of this generation */
	uint64_t prefix;  /* there at the start: not counted as lag */
	uint64_t counted; /* its share of total_lag */
	unsigned gen;     /* bumped by a truncation */
	bool restart;     /* the hash starts again from byte 0 */
	bool busy;        /* queued or taken by a worker */
	int err;
	bool finishing, drop, done;
	bool waiting; /* on `waiters`: wake it once it has caught up */
	bool woken;   /* on `woken`: the loop calls its wake function */
	char hex[65];
	sink_wake_fn wake;
	void *arg;
	TAILQ_ENTRY(sink) work_link, wait_link, wake_link;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, sink) work = TAILQ_HEAD_INITIALIZER(work);
static TAILQ_HEAD(, sink) waiters = TAILQ_HEAD_INITIALIZER(waiters);
static TAILQ_HEAD(, sink) woken = TAILQ_HEAD_INITIALIZER(woken);
static uint64_t total_lag;
static bool quitting;
static pthread_t workers[SINK_WORKERS];
static int wake_fd = -1;
static struct event *wake_ev;

/* ---- Shared state, under the lock --------------------------------------- */

/* Marks S for its wake function. */
static void
sink_wake_locked(struct sink *s)
{
	uint64_t one = 1;

	if (s->woken)
		return;
	s->woken = true;
	TAILQ_INSERT_TAIL(&woken, s, wake_link);
	if (write(wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_warn("cannot wake the loop");
}

/* Bytes written that the hash has still to read, beyond the prefix. */
static uint64_t
sink_lag_locked(const struct sink *s)
{
	uint64_t from = s->restart ? 0 : s->hashed;

	if (from < s->prefix)
		from = s->prefix;
	return s->written > from ? s->written - from : 0;
}

/* Brings S's share of total_lag up to date, and wakes the sinks waiting
 * for it to go down. */
static void
sink_account_locked(struct sink *s)
{
	uint64_t lag = s->drop || s->err != 0 ? 0 : sink_lag_locked(s);
	struct sink *w, *next;

	total_lag = total_lag - s->counted + lag;
	s->counted = lag;
	for (w = TAILQ_FIRST(&waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, wait_link);
		if (w->counted >= SINK_LAG_MAX / 2 ||
		    total_lag >= SINK_BUDGET / 2)
			continue;
		TAILQ_REMOVE(&waiters, w, wait_link);
		w->waiting = false;
		sink_wake_locked(w);
	}
}

/* Whether the hash has nothing to do for S now. */
static bool
sink_idle_locked(const struct sink *s)
{
	return s->drop || s->err != 0 ||
	       (!s->restart && s->hashed >= s->written);
}

/* Whether a worker should hash more of S now: whole blocks, and what is
 * left of the last one only once that is all that will come for a
 * while (the sink is finishing, or its transfer waits for the hash). */
static bool
sink_has_work_locked(const struct sink *s)
{
	if (sink_idle_locked(s))
		return false;
	return s->restart || s->finishing || s->waiting ||
	       s->written - s->hashed >= SINK_BLOCK;
}

/* Hands S to a worker once SINK_KICK bytes wait, or it has anything to
 * hash and will get no more for a while. */
static void
sink_kick_locked(struct sink *s)
{
	if (s->busy || !sink_has_work_locked(s))
		return;
	if (!s->finishing && !s->restart && !s->waiting &&
	    s->written - s->hashed < SINK_KICK)
		return;
	s->busy = true;
	TAILQ_INSERT_TAIL(&work, s, work_link);
	pthread_cond_signal(&work_cv);
}

/* Once a finishing sink is all hashed: the hash is final and the loop
 * hears of it. */
static void
sink_check_done_locked(struct sink *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!s->finishing || s->done || s->busy || !sink_idle_locked(s))
		return;
	EVP_DigestFinal_ex(s->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(s->hex + 2 * i, 3, "%02x", md[i]);
	s->done = true;
	sink_wake_locked(s);
}

/* ---- Workers ------------------------------------------------------------ */

/* Reads LEN bytes of S's file at OFF into BUF and hashes them, without
 * the lock: the bytes hashed, or -errno. */
static int64_t
sink_hash_block(struct sink *s, unsigned char *buf, uint64_t off, size_t len)
{
	ssize_t n;

	do
		n = pread(s->fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EIO; /* shorter than what was written */
	if (!EVP_DigestUpdate(s->sha, buf, (size_t)n))
		return -ENOMEM;
	return n;
}

/* Hashes S until it has caught up with the writes, with the lock held on
 * entry and on return. */
static void
sink_run(struct sink *s, unsigned char *buf)
{
	while (sink_has_work_locked(s)) {
		if (s->restart) {
			s->restart = false;
			s->hashed = 0;
			if (!EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL))
				fatalx("cannot set up SHA-256");
			continue;
		}
		uint64_t off = s->hashed;
		uint64_t left = s->written - off;
		size_t len = left < SINK_BLOCK ? (size_t)left : SINK_BLOCK;
		unsigned gen = s->gen;
		pthread_mutex_unlock(&mu);
		int64_t n = sink_hash_block(s, buf, off, len);
		pthread_mutex_lock(&mu);
		if (s->gen != gen)
			continue; /* truncated meanwhile: `restart` is set */
		if (n < 0) {
			if (s->err == 0) {
				s->err = (int)-n;
				sink_wake_locked(s); /* the transfer stops */
			}
		} else {
			s->hashed += (uint64_t)n;
		}
		sink_account_locked(s);
	}
	s->busy = false;
	sink_check_done_locked(s);
	pthread_cond_broadcast(&idle_cv);
}

static void *
sink_worker(void *arg UNUSED)
{
	unsigned char *buf = NULL;
	struct sink *s;

	pthread_mutex_lock(&mu);
	for (;;) {
		while ((s = TAILQ_FIRST(&work)) == NULL && !quitting)
			pthread_cond_wait(&work_cv, &mu);
		if (s == NULL)
			break;
		TAILQ_REMOVE(&work, s, work_link);
		if (buf == NULL)
			buf = xmalloc(SINK_BLOCK);
		sink_run(s, buf);
	}
	pthread_mutex_unlock(&mu);
	free(buf);
	return NULL;
}

/* ---- The loop's side ---------------------------------------------------- */

static void
sink_wake_cb(evutil_socket_t fd, short what UNUSED, void *arg UNUSED)
{
	uint64_t n;
	struct sink *s;

	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_warn("eventfd");
	/* One at a time: a wake function may free its sink, or another. */
	for (;;) {
		pthread_mutex_lock(&mu);
		s = TAILQ_FIRST(&woken);
		if (s != NULL) {
			TAILQ_REMOVE(&woken, s, wake_link);
			s->woken = false;
		}
		pthread_mutex_unlock(&mu);
		if (s == NULL)
			break;
		s->wake(s->arg);
	}
}

void
sink_init(struct event_base *base)
{
	wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wake_fd < 0)
		fatal("eventfd");
	wake_ev = event_new(base, wake_fd, EV_READ | EV_PERSIST, sink_wake_cb,
			    NULL);
	if (wake_ev == NULL || event_add(wake_ev, NULL) < 0)
		fatalx("cannot watch the workers' eventfd");
	for (int i = 0; i < SINK_WORKERS; i++)
		if (pthread_create(&workers[i], NULL, sink_worker, NULL) != 0)
			fatalx("cannot start a worker thread");
}

void
sink_shutdown(void)
{
	pthread_mutex_lock(&mu);
	quitting = true;
	pthread_cond_broadcast(&work_cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < SINK_WORKERS; i++)
		pthread_join(workers[i], NULL);
	event_free(wake_ev);
	close(wake_fd);
}

struct sink *
sink_new(int fd, uint64_t have, sink_wake_fn wake, void *arg)
{
	struct sink *s = xcalloc(1, sizeof *s);

	s->fd = fd;
	s->offset = have;
	s->written = have;
	s->prefix = have;
	s->wake = wake;
	s->arg = arg;
	s->sha = EVP_MD_CTX_new();
	if (s->sha == NULL || !EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL))
		fatalx("cannot set up SHA-256");
	if (have > 0) {
		/* The part's bytes are hashed at once, whatever their size. */
		pthread_mutex_lock(&mu);
		s->busy = true;
		TAILQ_INSERT_TAIL(&work, s, work_link);
		pthread_cond_signal(&work_cv);
		pthread_mutex_unlock(&mu);
	}
	return s;
}

void
sink_free(struct sink *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&mu);
	s->drop = true;
	if (s->busy && !TAILQ_EMPTY(&work)) {
		/* Queued, not taken: it need not wait for a worker. */
		struct sink *q;
		TAILQ_FOREACH(q, &work, work_link)
			if (q == s)
				break;
		if (q != NULL) {
			TAILQ_REMOVE(&work, s, work_link);
			s->busy = false;
		}
	}
	while (s->busy)
		pthread_cond_wait(&idle_cv, &mu);
	total_lag -= s->counted;
	if (s->waiting)
		TAILQ_REMOVE(&waiters, s, wait_link);
	if (s->woken)
		TAILQ_REMOVE(&woken, s, wake_link);
	pthread_mutex_unlock(&mu);
	EVP_MD_CTX_free(s->sha);
	close(s->fd);
	free(s->stage);
	free(s);
}

/* Writes all of LEN bytes of DATA at S's offset, which it advances. */
static int
sink_pwrite_all(struct sink *s, const unsigned char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = pwrite(s->fd, data, len, (off_t)s->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		s->offset += (uint64_t)n;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes what the loop gathered; the bytes are the hash's then. */
static int
sink_flush(struct sink *s)
{
	int err;

	if (s->staged == 0 || s->wfail != 0)
		return s->wfail;
	err = sink_pwrite_all(s, s->stage, s->staged);
	s->staged = 0;
	pthread_mutex_lock(&mu);
	s->written = s->offset; /* what did reach the file, failure or not */
	if (err != 0 && s->err == 0)
		s->err = err;
	sink_account_locked(s);
	sink_kick_locked(s);
	pthread_mutex_unlock(&mu);
	s->wfail = err;
	return err;
}

int
sink_write(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	int err = s->wfail;

	if (s->stage == NULL)
		s->stage = xmalloc(SINK_STAGE);
	while (len > 0 && err == 0) {
		size_t n = SINK_STAGE - s->staged;
		if (n > len)
			n = len;
		memcpy(s->stage + s->staged, p, n);
		s->staged += n;
		p += n;
		len -= n;
		if (s->staged == SINK_STAGE)
			err = sink_flush(s);
	}
	return err;
}

void
sink_truncate(struct sink *s)
{
	s->staged = 0; /* the old body's */
	pthread_mutex_lock(&mu);
	s->gen++;
	s->restart = true;
	s->written = s->prefix = 0;
	sink_account_locked(s);
	pthread_mutex_unlock(&mu);
	s->offset = 0;
	if (ftruncate(s->fd, 0) < 0) {
		int err = errno;
		s->wfail = err;
		pthread_mutex_lock(&mu);
		if (s->err == 0)
			s->err = err;
		sink_account_locked(s);
		pthread_mutex_unlock(&mu);
	}
}

bool
sink_full(struct sink *s)
{
	bool full;

	pthread_mutex_lock(&mu);
	full = s->counted >= SINK_LAG_MAX || total_lag >= SINK_BUDGET;
	if (full && !s->waiting) {
		s->waiting = true;
		TAILQ_INSERT_TAIL(&waiters, s, wait_link);
	}
	/* Its transfer waits: the hash takes all, even less than a block
	 * (else a sum of such rests could hold every transfer). */
	sink_kick_locked(s);
	pthread_mutex_unlock(&mu);
	return full;
}

void
sink_finish(struct sink *s, bool drop)
{
	if (!drop)
		sink_flush(s); /* a failure is the sink's error */
	pthread_mutex_lock(&mu);
	s->finishing = true;
	s->drop = s->drop || drop;
	sink_account_locked(s);
	sink_kick_locked(s);
	sink_check_done_locked(s);
	pthread_mutex_unlock(&mu);
}

bool
sink_done(const struct sink *s, int *err, char hex[65])
{
	bool done;

	pthread_mutex_lock(&mu);
	done = s->done;
	if (done) {
		*err = s->err;
		memcpy(hex, s->hex, 65);
	}
	pthread_mutex_unlock(&mu);
	return done;
}

int
sink_error(const struct sink *s)
{
	int err;

	pthread_mutex_lock(&mu);
	err = s->err;
	pthread_mutex_unlock(&mu);
	return err;
}
