/* A download's file, written on the worker pool (see file.h): the write
 * pipeline. Where the file goes is dest.c's; the buffers of the bytes on
 * their way are chunks.c's.
 *
 * Why not write on the loop: a write(2) that lands in the page cache is
 * quick, but one that meets dirty-page throttling or a slow or remote
 * disk blocks for as long as the disk likes, and with it every client of
 * the daemon. Measured with bench/bench-download.sh (2 vCPUs, ext4,
 * loopback; medians of 3), the same code writing and hashing inside the
 * libcurl write callback against this file:
 *   1 GiB to disk:         loop 2.08 s (0.73 x curl -o)   pool 1.01 s (1.51 x)
 *   daemon.info meanwhile: loop p99 463 ms                 pool p99 5.6 ms
 *   100 x 10 MiB at once:  loop 3.45 s, VmHWM 18 MB       pool 2.66 s, 198 MB
 * The pool also overlaps receiving (loop thread) with hashing and
 * writing (a worker). Its cost is memory with many downloads at once:
 * each paused transfer's libcurl buffer is full, libcurl 7.88 holds what
 * it had not delivered when the pause came, and up to
 * DOWNLOAD_FILE_BUDGET waits here. With 100 at once that memory (and
 * the cache misses of touching it) was what cost: 512 KiB buffers, a
 * 32 MiB budget and 256 KiB chunks (a partly filled one per file) gave
 * 1.79 s and 193 MB; buffers scaled down to 128 KiB when others run
 * (transfer.c), an 8 MiB budget and 64 KiB chunks written four
 * to a writev(2) give 1.48 s and 68 MB (the 1 GiB case: 1.07 s before,
 * 1.02 s after; callgrind: SHA-256 and memcpy are ~99% of user time).
 *
 * Ownership: the loop owns `pending` and the operation bookkeeping; a
 * worker owns everything else while the one operation in flight runs, and
 * hands it back through the pool's done-queue (which orders the memory).
 *
 * Memory: writes are batched; while one batch is being written and
 * hashed, the next accumulates in `pending`. Both are lists of fixed-size
 * chunks, recycled through a spare list (chunks.c: no page faults for
 * buffers that come and go, and a download whose bytes are all written
 * holds none).
 * The producer is told to wait (download_file_full) once `pending` holds
 * DOWNLOAD_FILE_QUEUE_MAX bytes,
 * or once the bytes not yet written by all downloads together reach
 * DOWNLOAD_FILE_BUDGET; a file refused for the budget is woken when the
 * total has fallen to half of it. However slow the disk, the daemon holds
 * about the budget, plus what each producer adds before it stops (one
 * receive buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../identity.h"
#include "../../log.h"
#include "../../pool.h"
#include "../../xmalloc.h"
#include "chunks.h"
#include "dest.h"
#include "file.h"

#define DOWNLOAD_FILE_QUEUE_MAX (512 * 1024)
#define DOWNLOAD_FILE_READ_CHUNK (1024 * 1024) /* hashing a resumed part */
#define DOWNLOAD_FILE_MODE 0644

/* Chunks hashed, then written by one writev(2). */
#define CHUNKS_PER_WRITE 4

enum file_op { OP_NONE, OP_OPEN, OP_WRITE, OP_TRUNCATE, OP_COMMIT, OP_DISCARD };

struct download_file {
	/* Read-only after creation. */
	uid_t uid;
	gid_t gid;
	char *dest, *name;
	char *download_dir; /* --download-dir when the job started, or NULL */
	bool overwrite, resume;
	char *want_sha; /* set before the commit is submitted */
	/* The worker's while an operation runs. */
	struct identity id;
	bool have_id;
	int fd;
	bool part_opened; /* DEST.part is ours to remove */
	char *path, *part;
	EVP_MD_CTX *sha;
	uint64_t resumed;
	int64_t kept; /* bytes in a part kept by a discard, or -1 */
	struct chunk_list inflight;
	int write_err;
	int op_err;
	char sha_hex[65];
	bool mismatch;
	/* The loop's. */
	struct chunk_list pending;
	size_t unwritten; /* pending + inflight, counted in `unwritten_total` */
	bool waiting;     /* on `waiters`, refused for the budget */
	TAILQ_ENTRY(download_file) wait_link;
	enum file_op op;
	struct pool_work *work;
	download_file_cb drained, done;
	void *arg;
	bool truncate_wanted, commit_wanted, discard_wanted, keep;
	bool released; /* the owner is gone: freed when the operation ends */
};

static void download_file_kick(struct download_file *f);

static size_t unwritten_total;
static unsigned nfiles; /* with none left, the spare chunks go */
static TAILQ_HEAD(, download_file) waiters = TAILQ_HEAD_INITIALIZER(waiters);

/* ---- Worker side -------------------------------------------------------- */

/* Writes all LEN bytes; 0 or an errno value. */
static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Opens DEST.part as the user: a regular file (never a FIFO that would
 * block the worker), created, or kept for resuming. */
static int
open_part(struct download_file *f)
{
	int flags = O_CREAT | O_NOFOLLOW | O_NONBLOCK;
	struct stat st;
	int fd;

	flags |= f->resume ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC;
	if (asprintf(&f->part, "%s.part", f->path) < 0)
		fatal("asprintf");
	fd = identity_open(&f->id, f->part, flags, DOWNLOAD_FILE_MODE);
	if (fd < 0)
		return -fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, f->resume ? O_APPEND : 0) < 0) {
		close(fd);
		return EINVAL;
	}
	f->fd = fd;
	f->part_opened = true;
	f->resumed = f->resume ? (uint64_t)st.st_size : 0;
	return 0;
}

/* Hashes the bytes a resumed DEST.part already holds. */
static int
hash_part(struct pool_work *w, struct download_file *f)
{
	unsigned char *buf = xmalloc(DOWNLOAD_FILE_READ_CHUNK);
	uint64_t off = 0;
	int err = 0;

	while (off < f->resumed) {
		ssize_t n = pread(f->fd, buf, DOWNLOAD_FILE_READ_CHUNK,
				  (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? errno : EIO;
			break;
		}
		EVP_DigestUpdate(f->sha, buf, (size_t)n);
		off += (uint64_t)n;
		if (pool_cancelled(w)) {
			err = ECANCELED;
			break;
		}
	}
	free(buf);
	return err;
}

static void
open_work(struct pool_work *w, void *arg)
{
	struct download_file *f = arg;
	int rc = identity_lookup(&f->id, f->uid, f->gid);

	if (rc < 0) {
		f->op_err = -rc;
		return;
	}
	f->have_id = true;
	if ((f->op_err = download_dest_resolve(&f->id, f->dest, f->name,
					       f->download_dir, &f->path)) != 0 ||
	    (f->op_err = download_dest_check(&f->id, f->path,
					     f->overwrite)) != 0 ||
	    (f->op_err = open_part(f)) != 0)
		return;
	if (f->resume)
		f->op_err = hash_part(w, f);
}

/* Writes N chunks from CH on with writev(2); 0 or an errno value. */
static int
write_chunks(int fd, const struct chunk *ch, int n)
{
	struct iovec iov[CHUNKS_PER_WRITE];
	size_t want = 0;
	ssize_t got;

	for (int i = 0; i < n; i++, ch = ch->next) {
		iov[i].iov_base = (void *)ch->data;
		iov[i].iov_len = ch->len;
		want += ch->len;
	}
	got = writev(fd, iov, n);
	if (got < 0 && errno != EINTR)
		return errno;
	if (got < 0)
		got = 0;
	if ((size_t)got == want)
		return 0;
	/* A short write: the rest one chunk at a time. */
	for (int i = 0; i < n; i++) {
		size_t skip = (size_t)got < iov[i].iov_len ? (size_t)got
							   : iov[i].iov_len;
		int err = write_all(fd,
				    (const unsigned char *)iov[i].iov_base + skip,
				    iov[i].iov_len - skip);
		if (err != 0)
			return err;
		got -= (ssize_t)skip;
	}
	return 0;
}

/* Hashes and writes the batch, CHUNKS_PER_WRITE chunks at a time: each
 * group is written while the hashing left it in the cache. */
static void
write_work(struct pool_work *w UNUSED, void *arg)
{
	struct download_file *f = arg;
	struct chunk *ch = f->inflight.head;

	while (ch != NULL && f->write_err == 0) {
		struct chunk *first = ch;
		int n = 0;
		for (; ch != NULL && n < CHUNKS_PER_WRITE; ch = ch->next, n++)
			EVP_DigestUpdate(f->sha, ch->data, ch->len);
		f->write_err = write_chunks(f->fd, first, n);
	}
}

/* rename(2) as the user; without overwrite never replaces DEST. */
static int
rename_part(struct download_file *f)
{
	struct stat st;
	int rc, err = 0;

	if (f->overwrite)
		return -identity_rename(&f->id, f->part, f->path);
	if ((rc = identity_enter(&f->id)) < 0)
		return -rc;
	if (renameat2(AT_FDCWD, f->part, AT_FDCWD, f->path,
		      RENAME_NOREPLACE) < 0) {
		err = errno;
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		if (err == EINVAL && lstat(f->path, &st) < 0 && errno == ENOENT)
			err = rename(f->part, f->path) < 0 ? errno : 0;
		else if (err == EINVAL)
			err = EEXIST;
	}
	identity_leave(&f->id);
	return err;
}

static void
commit_work(struct pool_work *w, void *arg)
{
	struct download_file *f = arg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (pool_cancelled(w)) {
		f->op_err = ECANCELED;
		return;
	}
	if (f->write_err != 0) {
		f->op_err = f->write_err;
		return;
	}
	if (close(f->fd) < 0 && errno != EINTR) {
		f->fd = -1;
		f->op_err = errno;
		return;
	}
	f->fd = -1;
	EVP_DigestFinal_ex(f->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(f->sha_hex + 2 * i, 3, "%02x", md[i]);
	if (f->want_sha != NULL && strcasecmp(f->want_sha, f->sha_hex) != 0) {
		f->mismatch = true;
		return;
	}
	f->op_err = pool_cancelled(w) ? ECANCELED : rename_part(f);
}

/* Empties DEST.part and starts the hash again: the body comes anew. */
static void
truncate_work(struct pool_work *w UNUSED, void *arg)
{
	struct download_file *f = arg;

	if (ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
		f->write_err = errno;
	if (!EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL))
		fatalx("cannot set up SHA-256");
}

/* A kept part gets the bytes queued so far, on disk (fdatasync: a later
 * attempt trusts its size), and `kept` says how many it holds. */
static void
discard_work(struct pool_work *w UNUSED, void *arg)
{
	struct download_file *f = arg;
	struct stat st;
	int rc;

	if (f->fd >= 0) {
		for (struct chunk *ch = f->inflight.head; ch != NULL && f->keep;
		     ch = ch->next)
			if (write_all(f->fd, ch->data, ch->len) != 0)
				break;
		if (f->keep && fdatasync(f->fd) == 0 && fstat(f->fd, &st) == 0)
			f->kept = (int64_t)st.st_size;
		close(f->fd);
		f->fd = -1;
	}
	if (f->keep || !f->part_opened)
		return;
	rc = identity_unlink(&f->id, f->part);
	if (rc < 0 && rc != -ENOENT)
		log_warnx("cannot remove %s: %s", f->part, strerror(-rc));
}

/* ---- Loop side ---------------------------------------------------------- */

/* Sets how many of F's bytes are not written yet. */
static void
account(struct download_file *f, size_t unwritten)
{
	unwritten_total = unwritten_total - f->unwritten + unwritten;
	f->unwritten = unwritten;
}

/* Once the total is down to half the budget, the files refused for it
 * may go on: their DRAINED is called (those queued meanwhile wait for the
 * next time). */
static void
wake_waiters(void)
{
	struct download_file *f;
	size_t n = 0;

	if (unwritten_total > DOWNLOAD_FILE_BUDGET / 2)
		return;
	TAILQ_FOREACH(f, &waiters, wait_link)
		n++;
	while (n-- > 0 && (f = TAILQ_FIRST(&waiters)) != NULL) {
		TAILQ_REMOVE(&waiters, f, wait_link);
		f->waiting = false;
		f->drained(f->arg, 0);
	}
}

static void
op_done(void *arg, bool cancelled)
{
	struct download_file *f = arg;
	enum file_op op = f->op;
	download_file_cb done = f->done;

	f->op = OP_NONE;
	f->work = NULL;
	if (f->released) {
		download_file_free(f);
		return;
	}
	if (cancelled && (op == OP_OPEN || op == OP_COMMIT))
		f->op_err = ECANCELED;
	chunks_release(&f->inflight);
	account(f, f->pending.len);
	if (op == OP_DISCARD) {
		wake_waiters();
		done(f->arg, 0);
		return;
	}
	if (f->discard_wanted) {
		/* The caller is waiting for the discard, not this. */
		download_file_kick(f);
		return;
	}
	download_file_kick(f);
	if (op == OP_WRITE || op == OP_TRUNCATE) {
		f->drained(f->arg, f->write_err);
		wake_waiters();
	} else {
		done(f->arg, f->op_err);
	}
}

static void
submit(struct download_file *f, enum file_op op, pool_work_fn fn)
{
	f->op = op;
	f->work = pool_submit(fn, op_done, f);
}

/* Starts the next operation, if any is due and none runs. */
static void
download_file_kick(struct download_file *f)
{
	if (f->op != OP_NONE)
		return;
	if (f->discard_wanted && !f->keep) {
		chunks_release(&f->pending);
		account(f, 0);
	}
	/* Before the bytes queued since it was asked for, kept or not: a
	 * kept part never holds two bodies. */
	if (f->truncate_wanted && f->write_err == 0 && f->fd >= 0) {
		f->truncate_wanted = false;
		submit(f, OP_TRUNCATE, truncate_work);
	} else if (f->pending.len > 0 && f->write_err == 0 && f->fd >= 0) {
		f->inflight = f->pending;
		memset(&f->pending, 0, sizeof f->pending);
		submit(f, f->discard_wanted ? OP_DISCARD : OP_WRITE,
		       f->discard_wanted ? discard_work : write_work);
	} else if (f->discard_wanted) {
		submit(f, OP_DISCARD, discard_work);
	} else if (f->commit_wanted) {
		f->commit_wanted = false;
		submit(f, OP_COMMIT, commit_work);
	}
}

struct download_file *
download_file_new(const struct download_file_spec *spec,
		  download_file_cb drained, void *arg)
{
	struct download_file *f = xcalloc(1, sizeof *f);

	f->uid = spec->uid;
	f->gid = spec->gid;
	f->dest = spec->dest ? xstrdup(spec->dest) : NULL;
	f->name = xstrdup(spec->name);
	f->download_dir = spec->download_dir ? xstrdup(spec->download_dir)
					     : NULL;
	f->overwrite = spec->overwrite;
	f->resume = spec->resume;
	f->fd = -1;
	f->kept = -1;
	f->sha = EVP_MD_CTX_new();
	if (f->sha == NULL || !EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL))
		fatalx("cannot set up SHA-256");
	f->drained = drained;
	nfiles++;
	f->arg = arg;
	return f;
}

void
download_file_free(struct download_file *f)
{
	if (f == NULL)
		return;
	if (f->op != OP_NONE)
		fatalx("download_file_free while an operation runs");
	if (f->waiting)
		TAILQ_REMOVE(&waiters, f, wait_link);
	account(f, 0);
	if (f->fd >= 0)
		close(f->fd);
	if (f->have_id)
		identity_release(&f->id);
	EVP_MD_CTX_free(f->sha);
	nfiles--;
	chunks_release(&f->inflight);
	chunks_release(&f->pending);
	if (nfiles == 0)
		chunks_free_spare();
	free(f->dest);
	free(f->name);
	free(f->download_dir);
	free(f->want_sha);
	free(f->path);
	free(f->part);
	free(f);
}

void
download_file_open(struct download_file *f, download_file_cb done)
{
	f->done = done;
	submit(f, OP_OPEN, open_work);
}

const char *
download_file_path(const struct download_file *f)
{
	if (f->path != NULL)
		return f->path;
	return f->dest != NULL ? f->dest : f->name;
}

uint64_t
download_file_resumed(const struct download_file *f)
{
	return f->resumed;
}

void
download_file_truncate(struct download_file *f)
{
	/* Unwritten bytes belong to the body being dropped. */
	size_t inflight = f->unwritten - f->pending.len;

	chunks_release(&f->pending);
	account(f, inflight);
	f->truncate_wanted = true;
	download_file_kick(f);
}

void
download_file_write(struct download_file *f, const void *data, size_t len)
{
	chunks_append(&f->pending, data, len);
	account(f, f->unwritten + len);
	download_file_kick(f);
}

bool
download_file_full(struct download_file *f)
{
	if (f->pending.len >= DOWNLOAD_FILE_QUEUE_MAX)
		return true;
	if (unwritten_total < DOWNLOAD_FILE_BUDGET)
		return false;
	if (!f->waiting) {
		TAILQ_INSERT_TAIL(&waiters, f, wait_link);
		f->waiting = true;
	}
	return true;
}

void
download_file_commit(struct download_file *f, const char *want_sha256,
		     download_file_cb done)
{
	free(f->want_sha);
	f->want_sha = want_sha256 ? xstrdup(want_sha256) : NULL;
	f->done = done;
	f->commit_wanted = true;
	download_file_kick(f);
}

const char *
download_file_sha256(const struct download_file *f)
{
	return f->sha_hex;
}

int64_t
download_file_kept(const struct download_file *f)
{
	return f->kept;
}

bool
download_file_mismatch(const struct download_file *f)
{
	return f->mismatch;
}

void
download_file_discard(struct download_file *f, bool keep,
		      download_file_cb done)
{
	f->done = done;
	f->keep = keep;
	f->discard_wanted = true;
	f->commit_wanted = false;
	/* A write runs to its end (it is short, and a kept part wants its
	 * bytes); opening (hashing a resumed part) and committing stop. */
	if (f->op == OP_OPEN || f->op == OP_COMMIT)
		pool_cancel(f->work);
	download_file_kick(f);
}

void
download_file_release(struct download_file *f)
{
	size_t inflight;

	if (f == NULL)
		return;
	if (f->op == OP_NONE) {
		download_file_free(f);
		return;
	}
	f->released = true;
	if (f->waiting) { /* no DRAINED call may reach the owner now */
		TAILQ_REMOVE(&waiters, f, wait_link);
		f->waiting = false;
	}
	inflight = f->unwritten - f->pending.len;
	chunks_release(&f->pending);
	account(f, inflight);
	f->truncate_wanted = f->commit_wanted = f->discard_wanted = false;
	/* Hashing a resumed part stops early; a commit renames nothing (a
	 * later attempt continues the part). A write runs to its end. */
	if (f->op == OP_OPEN || f->op == OP_COMMIT)
		pool_cancel(f->work);
}
