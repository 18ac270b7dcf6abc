/* A download's file in asyncd-net: written and hashed by two lanes of
 * workers over one list of chunks (see sink.h).
 *
 * Locking: one mutex guards every sink's list, its lanes and the queue
 * of lanes that have work; the workers hold it only to take a batch and
 * to give it back. The chunk a batch covers is read by its worker
 * without the lock: the loop never touches a published chunk again, and
 * it is freed only once both lanes have passed it. `open`, the chunk the
 * loop fills, is the loop's alone until it is published (and not counted
 * in `queued` until then).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../daemon/log.h"
#include "../daemon/xmalloc.h"
#include "sink.h"

#define SINK_CHUNK (256 * 1024)
/* Unwritten bytes one sink, and all of them together, hold before their
 * transfers pause; they go on once it is down to half. */
#define SINK_QUEUE_MAX (8 * 1024 * 1024)
#define SINK_BUDGET (32 * 1024 * 1024)
/* Chunks one writev(2) takes, and one hashing batch. */
#define SINK_BATCH 4
#define SINK_READ_BLOCK (1024 * 1024) /* reading back a resumed part */
/* Data chunks kept for reuse while downloads run, so that a busy process
 * allocates (and faults in) its buffers once: a queue's worth. */
#define SINK_SPARE (SINK_QUEUE_MAX / SINK_CHUNK)
#define SINK_WORKERS 2

enum chunk_kind {
	CHUNK_DATA,
	CHUNK_TRUNCATE,  /* empty the file, restart the hash */
	CHUNK_HASH_FILE, /* hash the file's first `len` bytes */
};

struct chunk {
	struct chunk *next;
	enum chunk_kind kind;
	int passed; /* lanes done with it */
	size_t len;
	unsigned char data[]; /* SINK_CHUNK of them for data */
};

enum { LANE_WRITE, LANE_HASH, NLANES };

struct lane {
	struct sink *sink;
	int which;
	struct chunk *next; /* the next chunk it takes; NULL: caught up */
	bool busy;          /* queued or taken by a worker */
	TAILQ_ENTRY(lane) link;
};

struct sink {
	int fd;
	uint64_t offset; /* where the write lane writes next */
	EVP_MD_CTX *sha;
	struct chunk *head, *tail; /* published, not yet passed by both */
	struct chunk *open;        /* the loop's, filling */
	struct lane lanes[NLANES];
	size_t queued; /* bytes in published chunks */
	int err;
	bool finishing, drop, done;
	bool waiting; /* on `waiters`: wake it once it has drained */
	bool woken;   /* on `woken`: the loop calls its wake function */
	char hex[65];
	sink_wake_fn wake;
	void *arg;
	TAILQ_ENTRY(sink) wait_link, wake_link;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, lane) work = TAILQ_HEAD_INITIALIZER(work);
static TAILQ_HEAD(, sink) waiters = TAILQ_HEAD_INITIALIZER(waiters);
static TAILQ_HEAD(, sink) woken = TAILQ_HEAD_INITIALIZER(woken);
static size_t total_queued;
static struct chunk *spare; /* data chunks to reuse, on `next` */
static unsigned nspare, nsinks;
static bool quitting;
static pthread_t workers[SINK_WORKERS];
static int wake_fd = -1;
static struct event *wake_ev;

/* ---- Chunks ------------------------------------------------------------- */

/* Frees CH, or keeps it for reuse, under the lock. */
static void
sink_chunk_put_locked(struct chunk *ch)
{
	if (ch->kind == CHUNK_DATA && nspare < SINK_SPARE) {
		ch->next = spare;
		spare = ch;
		nspare++;
		return;
	}
	free(ch);
}

/* An empty data chunk, for the loop to fill. */
static struct chunk *
sink_chunk_get(void)
{
	struct chunk *ch;

	pthread_mutex_lock(&mu);
	if ((ch = spare) != NULL) {
		spare = ch->next;
		nspare--;
	}
	pthread_mutex_unlock(&mu);
	if (ch == NULL)
		ch = xmalloc(sizeof *ch + SINK_CHUNK);
	*ch = (struct chunk){.kind = CHUNK_DATA};
	return ch;
}

/* ---- Workers ------------------------------------------------------------ */

/* Marks S for its wake function, under the lock. */
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

static bool
sink_drained(const struct sink *s)
{
	return s->queued < SINK_QUEUE_MAX / 2 && total_queued < SINK_BUDGET / 2;
}

/* Frees the chunks both lanes have passed and wakes the sinks waiting
 * for room, under the lock. */
static void
sink_release_locked(struct sink *s)
{
	struct chunk *ch;

	while ((ch = s->head) != NULL && ch->passed == NLANES) {
		s->head = ch->next;
		if (s->head == NULL)
			s->tail = NULL;
		if (ch->kind == CHUNK_DATA) {
			s->queued -= ch->len;
			total_queued -= ch->len;
		}
		sink_chunk_put_locked(ch);
	}
	struct sink *w, *next;
	for (w = TAILQ_FIRST(&waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, wait_link);
		if (!sink_drained(w))
			continue;
		TAILQ_REMOVE(&waiters, w, wait_link);
		w->waiting = false;
		sink_wake_locked(w);
	}
}

/* Writes the N buffers of IOV at *OFFSET, which it advances. */
static int
sink_write_all(int fd, struct iovec *iov, int n, uint64_t *offset)
{
	while (n > 0) {
		ssize_t got = pwritev(fd, iov, n, (off_t)*offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return errno;
		*offset += (uint64_t)got;
		while (n > 0 && (size_t)got >= iov->iov_len) {
			got -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + got;
			iov->iov_len -= (size_t)got;
		}
	}
	return 0;
}

/* Reads the file's first LEN bytes back into the hash. */
static int
sink_hash_file(struct sink *s, uint64_t len)
{
	unsigned char *buf = xmalloc(SINK_READ_BLOCK);
	uint64_t off = 0;
	int err = 0;

	while (off < len) {
		size_t want = len - off < SINK_READ_BLOCK ? (size_t)(len - off)
							  : SINK_READ_BLOCK;
		ssize_t n = pread(s->fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO; /* shorter than it was */
			break;
		}
		EVP_DigestUpdate(s->sha, buf, (size_t)n);
		off += (uint64_t)n;
	}
	free(buf);
	return err;
}

/* Does one lane's work on the N chunks from FIRST, without the lock:
 * the errno of a failure, or 0. */
static int
sink_lane_work(struct sink *s, int which, struct chunk *first, int n,
	       bool skip)
{
	struct iovec iov[SINK_BATCH];
	struct chunk *ch = first;
	int nio = 0;

	if (skip)
		return 0;
	if (first->kind == CHUNK_TRUNCATE) {
		if (which == LANE_HASH)
			return EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL) ? 0
									    : ENOMEM;
		s->offset = 0;
		return ftruncate(s->fd, 0) < 0 ? errno : 0;
	}
	if (first->kind == CHUNK_HASH_FILE)
		return which == LANE_HASH ? sink_hash_file(s, first->len) : 0;
	for (int i = 0; i < n; i++, ch = ch->next) {
		if (which == LANE_HASH)
			EVP_DigestUpdate(s->sha, ch->data, ch->len);
		else
			iov[nio++] = (struct iovec){ch->data, ch->len};
	}
	return nio > 0 ? sink_write_all(s->fd, iov, nio, &s->offset) : 0;
}

/* The chunks the lane takes next: up to SINK_BATCH of data, or one
 * marker alone. */
static int
sink_lane_batch(struct lane *l)
{
	struct chunk *ch = l->next;
	int n = 1;

	if (ch->kind != CHUNK_DATA)
		return 1;
	while (n < SINK_BATCH && ch->next != NULL &&
	       ch->next->kind == CHUNK_DATA)
		ch = ch->next, n++;
	return n;
}

/* Once both lanes have passed everything of a finishing sink: the hash
 * is final and the loop hears of it. */
static void
sink_check_done_locked(struct sink *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!s->finishing || s->done)
		return;
	for (int i = 0; i < NLANES; i++)
		if (s->lanes[i].busy || s->lanes[i].next != NULL)
			return;
	EVP_DigestFinal_ex(s->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(s->hex + 2 * i, 3, "%02x", md[i]);
	s->done = true;
	sink_wake_locked(s);
}

/* Runs lane L until it has caught up, with the lock held on entry and on
 * return. */
static void
sink_run_lane(struct lane *l)
{
	struct sink *s = l->sink;

	while (l->next != NULL) {
		struct chunk *first = l->next, *ch = first;
		int n = sink_lane_batch(l);
		bool skip = s->drop || (l->which == LANE_WRITE && s->err != 0);
		pthread_mutex_unlock(&mu);
		int err = sink_lane_work(s, l->which, first, n, skip);
		pthread_mutex_lock(&mu);
		if (err != 0 && s->err == 0) {
			s->err = err;
			sink_wake_locked(s); /* the transfer stops */
		}
		for (int i = 0; i < n; i++, ch = ch->next) {
			ch->passed++;
			l->next = ch->next;
		}
		sink_release_locked(s);
	}
	l->busy = false;
	sink_check_done_locked(s);
	pthread_cond_broadcast(&idle_cv);
}

static void *
sink_worker(void *arg UNUSED)
{
	struct lane *l;

	pthread_mutex_lock(&mu);
	for (;;) {
		while ((l = TAILQ_FIRST(&work)) == NULL && !quitting)
			pthread_cond_wait(&work_cv, &mu);
		if (l == NULL)
			break;
		TAILQ_REMOVE(&work, l, link);
		sink_run_lane(l);
	}
	pthread_mutex_unlock(&mu);
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

/* Appends CH to S's list and gives the idle lanes work, under the lock. */
static void
sink_publish_locked(struct sink *s, struct chunk *ch)
{
	if (s->tail != NULL)
		s->tail->next = ch;
	else
		s->head = ch;
	s->tail = ch;
	if (ch->kind == CHUNK_DATA) {
		s->queued += ch->len;
		total_queued += ch->len;
	}
	for (int i = 0; i < NLANES; i++) {
		struct lane *l = &s->lanes[i];
		if (l->next == NULL)
			l->next = ch;
		if (!l->busy) {
			l->busy = true;
			TAILQ_INSERT_TAIL(&work, l, link);
			pthread_cond_signal(&work_cv);
		}
	}
}

static void
sink_publish(struct sink *s, struct chunk *ch)
{
	pthread_mutex_lock(&mu);
	sink_publish_locked(s, ch);
	pthread_mutex_unlock(&mu);
}

static struct chunk *
sink_marker(enum chunk_kind kind, size_t len)
{
	struct chunk *ch = xcalloc(1, sizeof *ch);

	ch->kind = kind;
	ch->len = len;
	return ch;
}

/* Publishes the chunk the loop was filling, if any. */
static void
sink_publish_open(struct sink *s)
{
	struct chunk *ch = s->open;

	if (ch == NULL)
		return;
	s->open = NULL;
	if (ch->len == 0) {
		free(ch);
		return;
	}
	sink_publish(s, ch);
}

struct sink *
sink_new(int fd, uint64_t have, sink_wake_fn wake, void *arg)
{
	struct sink *s = xcalloc(1, sizeof *s);

	s->fd = fd;
	s->offset = have;
	s->wake = wake;
	s->arg = arg;
	s->sha = EVP_MD_CTX_new();
	if (s->sha == NULL || !EVP_DigestInit_ex(s->sha, EVP_sha256(), NULL))
		fatalx("cannot set up SHA-256");
	for (int i = 0; i < NLANES; i++)
		s->lanes[i] = (struct lane){.sink = s, .which = i};
	pthread_mutex_lock(&mu);
	nsinks++;
	pthread_mutex_unlock(&mu);
	if (have > 0)
		sink_publish(s, sink_marker(CHUNK_HASH_FILE, (size_t)have));
	return s;
}

void
sink_free(struct sink *s)
{
	struct chunk *ch;

	if (s == NULL)
		return;
	free(s->open);
	s->open = NULL;
	pthread_mutex_lock(&mu);
	s->drop = true;
	while (s->lanes[LANE_WRITE].busy || s->lanes[LANE_HASH].busy)
		pthread_cond_wait(&idle_cv, &mu);
	for (int i = 0; i < NLANES; i++)
		s->lanes[i].next = NULL;
	while ((ch = s->head) != NULL) {
		s->head = ch->next;
		if (ch->kind == CHUNK_DATA)
			total_queued -= ch->len;
		sink_chunk_put_locked(ch);
	}
	/* The last download gone: so are the buffers it kept. */
	if (--nsinks == 0) {
		while ((ch = spare) != NULL) {
			spare = ch->next;
			free(ch);
		}
		nspare = 0;
	}
	if (s->waiting)
		TAILQ_REMOVE(&waiters, s, wait_link);
	if (s->woken)
		TAILQ_REMOVE(&woken, s, wake_link);
	pthread_mutex_unlock(&mu);
	EVP_MD_CTX_free(s->sha);
	close(s->fd);
	free(s);
}

void
sink_write(struct sink *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		if (s->open == NULL)
			s->open = sink_chunk_get();
		size_t n = SINK_CHUNK - s->open->len;
		if (n > len)
			n = len;
		memcpy(s->open->data + s->open->len, p, n);
		s->open->len += n;
		p += n;
		len -= n;
		if (s->open->len == SINK_CHUNK)
			sink_publish_open(s);
	}
}

void
sink_truncate(struct sink *s)
{
	sink_publish_open(s);
	sink_publish(s, sink_marker(CHUNK_TRUNCATE, 0));
}

bool
sink_full(struct sink *s)
{
	bool full;

	pthread_mutex_lock(&mu);
	full = s->queued >= SINK_QUEUE_MAX || total_queued >= SINK_BUDGET;
	if (full && !s->waiting) {
		s->waiting = true;
		TAILQ_INSERT_TAIL(&waiters, s, wait_link);
	}
	pthread_mutex_unlock(&mu);
	return full;
}

void
sink_finish(struct sink *s, bool drop)
{
	if (drop) {
		free(s->open);
		s->open = NULL;
	}
	sink_publish_open(s);
	pthread_mutex_lock(&mu);
	s->finishing = true;
	s->drop = s->drop || drop;
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
