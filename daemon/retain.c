/* Retained output in segment files (or in memory), with the per-stream
 * and total limits. Everything runs on the event loop thread: appending a
 * chunk is one writev into the page cache. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "runtime.h"
#include "events.h"
#include "idmap.h"
#include "log.h"
#include "retain.h"
#include "xmalloc.h"

/* Each chunk is stored behind this header. */
struct record {
	uint32_t seq;
	uint32_t len;
	uint64_t offset;
	uint8_t enc;
	uint8_t pad[7];
};

/* Part of one stream's kept chunks: a file, or a buffer in memory. A
 * segment a reader has pinned outlives its removal until it is unpinned. */
struct segment {
	uint64_t id;
	enum job_stream stream;
	unsigned no;
	size_t bytes;
	int fd;                 /* the last segment's, while written */
	struct evbuffer *mem;   /* without a state directory */
	unsigned pins;          /* cursors reading it */
	bool dead;              /* removed while pinned */
	/* Its records: kept up to date as chunks are added, so that a
	 * replay counts and skips whole segments without reading them; for
	 * a segment found at start, learnt the first time one is read. */
	bool counted;
	uint32_t nrec, first_seq, last_seq;
	TAILQ_ENTRY(segment) link;
};
TAILQ_HEAD(segment_list, segment);

struct stream_log {
	struct segment_list segments; /* oldest first */
	size_t bytes;
	unsigned next_no;
};

/* The kept output of one job. */
struct kept {
	uint64_t id;
	bool finished;
	bool failed; /* a write failed: nothing more is kept */
	struct stream_log streams[STREAM_COUNT];
	TAILQ_ENTRY(kept) all_link;
	TAILQ_ENTRY(kept) finished_link; /* in the order they ended */
};
TAILQ_HEAD(kept_list, kept);

static char *dir; /* STATE/output, or NULL in memory */
static struct idmap by_id;
static struct kept_list all = TAILQ_HEAD_INITIALIZER(all);
static struct kept_list finished = TAILQ_HEAD_INITIALIZER(finished);
static long long total; /* bytes kept in all */

static void
segment_path(char *buf, size_t size, uint64_t id, enum job_stream s,
	     unsigned no)
{
	snprintf(buf, size, "%s/%llu-%s-%u", dir, (unsigned long long)id,
		 events_stream_name(s), no);
}

static struct kept *
kept_get(uint64_t id, bool create)
{
	struct kept *k = idmap_get(&by_id, id);

	if (k != NULL || !create)
		return k;
	k = xcalloc(1, sizeof *k);
	k->id = id;
	for (int s = 0; s < STREAM_COUNT; s++)
		TAILQ_INIT(&k->streams[s].segments);
	idmap_put(&by_id, id, k);
	TAILQ_INSERT_TAIL(&all, k, all_link);
	return k;
}

/* Adds a segment to the end of job K's stream S; FD -1 for one found at
 * start. */
static struct segment *
segment_add(struct kept *k, enum job_stream s, unsigned no, size_t bytes,
	    int fd)
{
	struct stream_log *log = &k->streams[s];
	struct segment *seg = xcalloc(1, sizeof *seg);

	seg->id = k->id;
	seg->stream = s;
	seg->no = no;
	seg->bytes = bytes;
	seg->fd = fd;
	seg->counted = bytes == 0;
	if (dir == NULL)
		seg->mem = evbuffer_new();
	TAILQ_INSERT_TAIL(&log->segments, seg, link);
	log->bytes += bytes;
	total += (long long)bytes;
	if (no >= log->next_no)
		log->next_no = no + 1;
	return seg;
}

static void
segment_close(struct segment *seg)
{
	if (seg->fd >= 0)
		close(seg->fd);
	seg->fd = -1;
}

/* Frees SEG and its file. */
static void
segment_destroy(struct segment *seg)
{
	char path[4096];

	segment_close(seg);
	if (seg->mem != NULL)
		evbuffer_free(seg->mem);
	if (dir != NULL) {
		segment_path(path, sizeof path, seg->id, seg->stream, seg->no);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("%s", path);
	}
	free(seg);
}

static void
segment_remove(struct kept *k, enum job_stream s, struct segment *seg)
{
	struct stream_log *log = &k->streams[s];

	TAILQ_REMOVE(&log->segments, seg, link);
	log->bytes -= seg->bytes;
	total -= (long long)seg->bytes;
	segment_close(seg);
	if (seg->pins > 0)
		seg->dead = true; /* its last reader destroys it */
	else
		segment_destroy(seg);
}

static void
kept_remove(struct kept *k)
{
	struct segment *seg;

	for (int s = 0; s < STREAM_COUNT; s++)
		while ((seg = TAILQ_FIRST(&k->streams[s].segments)) != NULL)
			segment_remove(k, (enum job_stream)s, seg);
	if (k->finished)
		TAILQ_REMOVE(&finished, k, finished_link);
	TAILQ_REMOVE(&all, k, all_link);
	idmap_del(&by_id, k->id);
	free(k);
}

/* Takes a file name "ID-STREAM-NO" found in DIR at start. */
static void
adopt_file(const char *name)
{
	unsigned long long id;
	unsigned no;
	char stream[16], path[4096];
	struct stat st;
	int s, n = 0;

	if (sscanf(name, "%llu-%15[a-z]-%u%n", &id, stream, &no, &n) != 3 ||
	    name[n] != '\0' || id == 0)
		return;
	for (s = 0; s < STREAM_COUNT; s++)
		if (strcmp(events_stream_name(s), stream) == 0)
			break;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (s == STREAM_COUNT || lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	struct kept *k = kept_get(id, true);
	struct stream_log *log = &k->streams[s];
	struct segment *seg = segment_add(k, (enum job_stream)s, no,
					  (size_t)st.st_size, -1);
	/* readdir gives no order: keep the list sorted by number. */
	TAILQ_REMOVE(&log->segments, seg, link);
	struct segment *at;
	TAILQ_FOREACH(at, &log->segments, link)
		if (at->no > no)
			break;
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, seg, link);
	else
		TAILQ_INSERT_TAIL(&log->segments, seg, link);
}

int
retain_init(const char *state_dir)
{
	DIR *d;
	struct dirent *e;

	idmap_init(&by_id);
	if (state_dir == NULL)
		return 0;
	if (asprintf(&dir, "%s/output", state_dir) < 0)
		fatal("asprintf");
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("%s", dir);
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		log_warn("%s", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL)
		adopt_file(e->d_name);
	closedir(d);
	return 0;
}

static int
kept_by_id(const void *a, const void *b)
{
	uint64_t x = (*(struct kept *const *)a)->id;
	uint64_t y = (*(struct kept *const *)b)->id;

	return x < y ? -1 : x > y;
}

void
retain_settle(bool (*unfinished)(uint64_t id))
{
	struct kept **ended = NULL, *k;
	size_t n = 0;

	/* Ended ones in id order: the order in which they will go. */
	ended = xreallocarray(NULL, by_id.count + 1, sizeof *ended);
	TAILQ_FOREACH(k, &all, all_link)
		if (!k->finished && !unfinished(k->id))
			ended[n++] = k;
	qsort(ended, n, sizeof *ended, kept_by_id);
	for (size_t i = 0; i < n; i++)
		retain_finished(ended[i]->id);
	free(ended);
}

void
retain_free(void)
{
	struct kept *k;
	struct segment *seg;

	/* The files stay for the next start; only memory goes. */
	while ((k = TAILQ_FIRST(&all)) != NULL) {
		for (int s = 0; s < STREAM_COUNT; s++) {
			while ((seg = TAILQ_FIRST(&k->streams[s].segments))) {
				TAILQ_REMOVE(&k->streams[s].segments, seg, link);
				segment_close(seg);
				if (seg->mem != NULL)
					evbuffer_free(seg->mem);
				free(seg);
			}
		}
		TAILQ_REMOVE(&all, k, all_link);
		free(k);
	}
	TAILQ_INIT(&finished);
	idmap_free(&by_id);
	free(dir);
	dir = NULL;
	total = 0;
}

/* Drops the oldest finished jobs' output while the total is over the
 * cap; KEEP is the job being written, never dropped here. */
static void
enforce_total(const struct kept *keep)
{
	struct kept *k, *next;

	for (k = TAILQ_FIRST(&finished);
	     k != NULL && total > (long long)daemon_opts.keep_output_total;
	     k = next) {
		next = TAILQ_NEXT(k, finished_link);
		if (k != keep)
			kept_remove(k);
	}
}

/* Opens a new last segment for LOG; NULL after a failure (logged). */
static struct segment *
segment_open(struct kept *k, enum job_stream s)
{
	struct stream_log *log = &k->streams[s];
	char path[4096];
	int fd = -1;

	if (dir != NULL) {
		/* A number still taken belongs to a segment a reader has
		 * pinned past its removal: take the next. */
		do {
			segment_path(path, sizeof path, k->id, s, log->next_no);
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
						O_CLOEXEC | O_NOFOLLOW, 0600);
		} while (fd < 0 && errno == EEXIST && ++log->next_no != 0);
		if (fd < 0) {
			log_warn("%s: output of job %llu is no longer kept",
				 path, (unsigned long long)k->id);
			return NULL;
		}
	}
	if (!TAILQ_EMPTY(&log->segments))
		segment_close(TAILQ_LAST(&log->segments, segment_list));
	return segment_add(k, s, log->next_no, 0, fd);
}

/* A segment holds about a quarter of what a stream keeps, so that the
 * oldest quarter goes at once when the stream is full. */
static size_t
segment_size(void)
{
	size_t quarter = daemon_opts.keep_output / 4;

	return quarter > 4096 ? quarter : 4096;
}

void
retain_chunk(uint64_t id, const struct retained_chunk *c)
{
	struct record rec = {.seq = c->seq,
			     .len = (uint32_t)c->len,
			     .offset = c->offset,
			     .enc = (uint8_t)c->enc};
	size_t need = sizeof rec + c->len;
	struct kept *k;
	struct stream_log *log;
	struct segment *seg;

	if (need > daemon_opts.keep_output)
		return; /* not even alone: the offsets show the gap */
	k = kept_get(id, true);
	log = &k->streams[c->stream];
	if (k->failed)
		return;
	while (log->bytes + need > daemon_opts.keep_output &&
	       (seg = TAILQ_FIRST(&log->segments)) != NULL)
		segment_remove(k, c->stream, seg);
	seg = TAILQ_LAST(&log->segments, segment_list);
	if (seg == NULL || (seg->fd < 0 && seg->mem == NULL) ||
	    seg->bytes + need > segment_size())
		seg = segment_open(k, c->stream);
	if (seg == NULL) {
		k->failed = true;
		return;
	}
	if (seg->mem != NULL) {
		evbuffer_add(seg->mem, &rec, sizeof rec);
		evbuffer_add(seg->mem, c->data, c->len);
	} else {
		struct iovec iov[2] = {{&rec, sizeof rec},
				       {(void *)c->data, c->len}};
		ssize_t n = writev(seg->fd, iov, 2);
		if (n != (ssize_t)need) {
			log_warn("output of job %llu is no longer kept",
				 (unsigned long long)id);
			k->failed = true;
			/* What a short write left is not a whole record. */
			if (n > 0 && ftruncate(seg->fd, (off_t)seg->bytes) < 0)
				log_warn("ftruncate");
			return;
		}
	}
	if (seg->nrec++ == 0)
		seg->first_seq = c->seq;
	seg->last_seq = c->seq;
	seg->bytes += need;
	log->bytes += need;
	total += (long long)need;
	enforce_total(k);
}

void
retain_finished(uint64_t id)
{
	struct kept *k = kept_get(id, false);

	if (k == NULL || k->finished)
		return;
	for (int s = 0; s < STREAM_COUNT; s++) {
		struct segment *seg = TAILQ_LAST(&k->streams[s].segments,
						 segment_list);
		if (seg != NULL)
			segment_close(seg);
	}
	k->finished = true;
	TAILQ_INSERT_TAIL(&finished, k, finished_link);
	enforce_total(NULL);
}

void
retain_drop(uint64_t id)
{
	struct kept *k = kept_get(id, false);

	if (k != NULL)
		kept_remove(k);
}

/* ---- Reading: a snapshot cursor --------------------------------------- */

/* One stream of a snapshot: its segments, pinned, each up to what it held
 * when the snapshot was taken. */
struct stream_cursor {
	struct segment **segs;
	size_t *limits;
	size_t nsegs, at;
	size_t off; /* in segs[at] */
	int fd;     /* segs[at]'s file, open for reading */
	bool have;  /* REC is the next record above SINCE */
	struct record rec;
	/* Bytes of that file read ahead: small records cost one read per
	 * window, not two each. */
	unsigned char *ahead;
	size_t ahead_at, ahead_len;
};

struct retain_cursor {
	uint32_t since;
	struct stream_cursor streams[STREAM_COUNT];
	unsigned char *buf;
	size_t cap;
};

/* What a cursor reads ahead of a file segment at a time. */
#define CURSOR_AHEAD (256 * 1024)

/* Reads LEN bytes at OFF of segs[at] into BUF; false if it cannot. */
static bool
cursor_read(struct stream_cursor *sc, size_t off, void *buf, size_t len)
{
	struct segment *seg = sc->segs[sc->at];
	char path[4096];

	if (seg->mem != NULL) {
		struct evbuffer_ptr pos;
		return evbuffer_ptr_set(seg->mem, &pos, off, EVBUFFER_PTR_SET) == 0 &&
		       evbuffer_copyout_from(seg->mem, &pos, buf, len) ==
			       (ev_ssize_t)len;
	}
	if (sc->fd < 0) {
		segment_path(path, sizeof path, seg->id, seg->stream, seg->no);
		sc->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (sc->fd < 0)
			return false;
		sc->ahead_len = 0;
	}
	if (off >= sc->ahead_at && off + len <= sc->ahead_at + sc->ahead_len) {
		memcpy(buf, sc->ahead + (off - sc->ahead_at), len);
		return true;
	}
	if (len >= CURSOR_AHEAD)
		return pread(sc->fd, buf, len, (off_t)off) == (ssize_t)len;
	if (sc->ahead == NULL)
		sc->ahead = xmalloc(CURSOR_AHEAD);
	size_t want = sc->limits[sc->at] - off;
	ssize_t n = pread(sc->fd, sc->ahead,
			  want < CURSOR_AHEAD ? want : CURSOR_AHEAD, (off_t)off);
	sc->ahead_at = off;
	sc->ahead_len = n > 0 ? (size_t)n : 0;
	if (sc->ahead_len < len)
		return false;
	memcpy(buf, sc->ahead, len);
	return true;
}

static void
cursor_next_segment(struct stream_cursor *sc)
{
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
	sc->at++;
	sc->off = 0;
}

/* Finds the next record above SINCE; false at the end of the snapshot. */
static bool
cursor_peek(struct stream_cursor *sc, uint32_t since)
{
	while (!sc->have && sc->at < sc->nsegs) {
		size_t limit = sc->limits[sc->at];
		const struct segment *seg = sc->segs[sc->at];
		/* Seqs grow within a segment: none above SINCE here. */
		if (sc->off == 0 && seg->counted &&
		    (seg->nrec == 0 || seg->last_seq <= since)) {
			cursor_next_segment(sc);
			continue;
		}
		if (sc->off + sizeof sc->rec > limit ||
		    !cursor_read(sc, sc->off, &sc->rec, sizeof sc->rec) ||
		    sc->off + sizeof sc->rec + sc->rec.len > limit) {
			/* Its end, or a record a crash tore. */
			cursor_next_segment(sc);
			continue;
		}
		if (sc->rec.seq > since)
			sc->have = true;
		else
			sc->off += sizeof sc->rec + sc->rec.len;
	}
	return sc->have;
}

/* Walks the headers of segs[I] as the snapshot holds it: the records
 * above SINCE; a segment found at start learns its counts. */
static uint32_t
cursor_walk(struct stream_cursor *sc, size_t i, uint32_t since)
{
	struct segment *seg = sc->segs[i];
	uint32_t n = 0, seen = 0, first = 0, last = 0;

	sc->at = i;
	sc->off = 0;
	while (sc->off + sizeof sc->rec <= sc->limits[i] &&
	       cursor_read(sc, sc->off, &sc->rec, sizeof sc->rec) &&
	       sc->off + sizeof sc->rec + sc->rec.len <= sc->limits[i]) {
		if (seen++ == 0)
			first = sc->rec.seq;
		last = sc->rec.seq;
		n += sc->rec.seq > since;
		sc->off += sizeof sc->rec + sc->rec.len;
	}
	if (sc->fd >= 0)
		close(sc->fd);
	sc->fd = -1;
	if (!seg->counted) { /* found at start: it no longer grows */
		seg->counted = true;
		seg->nrec = seen;
		seg->first_seq = first;
		seg->last_seq = last;
	}
	return n;
}

/* The records of segs[I] above SINCE, from its counts where they tell:
 * only a segment that SINCE falls inside is read. */
static uint32_t
cursor_count(struct stream_cursor *sc, size_t i, uint32_t since)
{
	const struct segment *seg = sc->segs[i];

	if (!seg->counted)
		return cursor_walk(sc, i, since);
	if (seg->nrec == 0 || seg->last_seq <= since)
		return 0;
	if (seg->first_seq > since)
		return seg->nrec;
	return cursor_walk(sc, i, since);
}

struct retain_cursor *
retain_open(uint64_t id, uint32_t since, unsigned *count)
{
	struct kept *k = kept_get(id, false);
	struct retain_cursor *cur;
	struct segment *seg;

	*count = 0;
	if (k == NULL)
		return NULL;
	cur = xcalloc(1, sizeof *cur);
	cur->since = since;
	for (int s = 0; s < STREAM_COUNT; s++) {
		struct stream_cursor *sc = &cur->streams[s];
		sc->fd = -1;
		TAILQ_FOREACH(seg, &k->streams[s].segments, link) {
			sc->segs = xreallocarray(sc->segs, sc->nsegs + 1,
						 sizeof *sc->segs);
			sc->limits = xreallocarray(sc->limits, sc->nsegs + 1,
						   sizeof *sc->limits);
			seg->pins++;
			sc->limits[sc->nsegs] = seg->bytes;
			sc->segs[sc->nsegs++] = seg;
		}
		for (size_t i = 0; i < sc->nsegs; i++)
			*count += cursor_count(sc, i, since);
		sc->at = sc->off = 0;
	}
	return cur;
}

bool
retain_next(struct retain_cursor *cur, struct retained_chunk *chunk)
{
	struct stream_cursor *best = NULL;
	int best_s = 0;

	for (int s = 0; s < STREAM_COUNT; s++) {
		struct stream_cursor *sc = &cur->streams[s];
		if (cursor_peek(sc, cur->since) &&
		    (best == NULL || sc->rec.seq < best->rec.seq)) {
			best = sc;
			best_s = s;
		}
	}
	if (best == NULL)
		return false;
	if (best->rec.len > cur->cap) {
		cur->cap = best->rec.len;
		cur->buf = xrealloc(cur->buf, cur->cap);
	}
	best->have = false;
	if (!cursor_read(best, best->off + sizeof best->rec, cur->buf,
			 best->rec.len)) {
		cursor_next_segment(best); /* unreadable: skip the rest */
		return retain_next(cur, chunk);
	}
	*chunk = (struct retained_chunk){.seq = best->rec.seq,
					 .stream = (enum job_stream)best_s,
					 .enc = (enum chunk_encoding)best->rec.enc,
					 .offset = best->rec.offset,
					 .data = cur->buf,
					 .len = best->rec.len};
	best->off += sizeof best->rec + best->rec.len;
	return true;
}

void
retain_close(struct retain_cursor *cur)
{
	if (cur == NULL)
		return;
	for (int s = 0; s < STREAM_COUNT; s++) {
		struct stream_cursor *sc = &cur->streams[s];
		if (sc->fd >= 0)
			close(sc->fd);
		for (size_t i = 0; i < sc->nsegs; i++)
			if (--sc->segs[i]->pins == 0 && sc->segs[i]->dead)
				segment_destroy(sc->segs[i]);
		free(sc->segs);
		free(sc->limits);
		free(sc->ahead);
	}
	free(cur->buf);
	free(cur);
}

long long
retain_bytes(void)
{
	return total;
}
