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

#include "daemon.h"
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

/* Part of one stream's kept chunks: a file, or a buffer in memory. */
struct segment {
	unsigned no;
	size_t bytes;
	int fd;                 /* the last segment's, while written */
	struct evbuffer *mem;   /* without a state directory */
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
static long long total;

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

/* Adds a segment to the end of LOG; FD -1 for one found at start. */
static struct segment *
segment_add(struct stream_log *log, unsigned no, size_t bytes, int fd)
{
	struct segment *seg = xcalloc(1, sizeof *seg);

	seg->no = no;
	seg->bytes = bytes;
	seg->fd = fd;
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

static void
segment_remove(struct kept *k, enum job_stream s, struct segment *seg)
{
	struct stream_log *log = &k->streams[s];
	char path[4096];

	TAILQ_REMOVE(&log->segments, seg, link);
	log->bytes -= seg->bytes;
	total -= (long long)seg->bytes;
	segment_close(seg);
	if (seg->mem != NULL)
		evbuffer_free(seg->mem);
	if (dir != NULL) {
		segment_path(path, sizeof path, k->id, s, seg->no);
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("%s", path);
	}
	free(seg);
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
	struct segment *seg = segment_add(log, no, (size_t)st.st_size, -1);
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
		segment_path(path, sizeof path, k->id, s, log->next_no);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND |
					O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			log_warn("%s: output of job %llu is no longer kept",
				 path, (unsigned long long)k->id);
			return NULL;
		}
	}
	if (!TAILQ_EMPTY(&log->segments))
		segment_close(TAILQ_LAST(&log->segments, segment_list));
	return segment_add(log, log->next_no, 0, fd);
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

long long
retain_bytes(void)
{
	return total;
}

/* The bytes of SEG, in a buffer the caller frees; NULL if unreadable. */
static unsigned char *
segment_read(const struct kept *k, enum job_stream s,
	     const struct segment *seg, size_t *len)
{
	char path[4096];
	unsigned char *buf = xmalloc(seg->bytes ? seg->bytes : 1);
	size_t got = 0;
	int fd;

	if (seg->mem != NULL) {
		*len = evbuffer_copyout(seg->mem, buf, seg->bytes) < 0
			       ? 0
			       : seg->bytes;
		return buf;
	}
	segment_path(path, sizeof path, k->id, s, seg->no);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		free(buf);
		return NULL;
	}
	while (got < seg->bytes) {
		ssize_t n = read(fd, buf + got, seg->bytes - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return buf;
}

/* The chunks of one stream above SINCE, read into memory. */
struct stream_chunks {
	unsigned char **bufs;
	size_t nbufs;
	struct retained_chunk *chunks;
	size_t n, cap;
};

static void
collect(const struct kept *k, enum job_stream s, uint32_t since,
	struct stream_chunks *out)
{
	const struct segment *seg;

	TAILQ_FOREACH(seg, &k->streams[s].segments, link) {
		size_t len = 0, at = 0;
		unsigned char *buf = segment_read(k, s, seg, &len);
		if (buf == NULL)
			continue;
		out->bufs = xreallocarray(out->bufs, out->nbufs + 1,
					  sizeof *out->bufs);
		out->bufs[out->nbufs++] = buf;
		while (at + sizeof(struct record) <= len) {
			struct record rec;
			memcpy(&rec, buf + at, sizeof rec);
			if (at + sizeof rec + rec.len > len)
				break; /* a torn last record (a crash) */
			if (rec.seq > since) {
				if (out->n == out->cap) {
					out->cap = out->cap ? out->cap * 2 : 64;
					out->chunks = xreallocarray(
						out->chunks, out->cap,
						sizeof *out->chunks);
				}
				out->chunks[out->n++] = (struct retained_chunk){
					.seq = rec.seq,
					.stream = s,
					.enc = (enum chunk_encoding)rec.enc,
					.offset = rec.offset,
					.data = buf + at + sizeof rec,
					.len = rec.len};
			}
			at += sizeof rec + rec.len;
		}
	}
}

unsigned
retain_each(uint64_t id, uint32_t since,
	    void (*fn)(const struct retained_chunk *chunk, void *arg),
	    void *arg)
{
	struct kept *k = kept_get(id, false);
	struct stream_chunks sc[STREAM_COUNT];
	size_t at[STREAM_COUNT] = {0};
	unsigned n = 0;

	if (k == NULL)
		return 0;
	memset(sc, 0, sizeof sc);
	for (int s = 0; s < STREAM_COUNT; s++)
		collect(k, (enum job_stream)s, since, &sc[s]);
	/* Merge the streams by seq: each is in order already. */
	for (;;) {
		int best = -1;
		for (int s = 0; s < STREAM_COUNT; s++)
			if (at[s] < sc[s].n &&
			    (best < 0 || sc[s].chunks[at[s]].seq <
						 sc[best].chunks[at[best]].seq))
				best = s;
		if (best < 0)
			break;
		fn(&sc[best].chunks[at[best]++], arg);
		n++;
	}
	for (int s = 0; s < STREAM_COUNT; s++) {
		for (size_t i = 0; i < sc[s].nbufs; i++)
			free(sc[s].bufs[i]);
		free(sc[s].bufs);
		free(sc[s].chunks);
	}
	return n;
}
