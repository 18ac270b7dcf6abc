/* A replay's kept chunks read and encoded a batch at a time (see
 * replay-batch.h). */
#include <stdlib.h>
#include <string.h>

#include "output-buf.h"
#include "output-encode.h"
#include "output-frame.h"
#include "pool.h"
#include "replay-batch.h"
#include "retain.h"
#include "xmalloc.h"

/* Raw bytes read into one batch, at least (a chunk is not split). */
#define REPLAY_BATCH_BYTES (1024 * 1024)

/* What a chunk's event needs beside its encoded form. */
struct replay_meta {
	uint32_t seq;
	enum job_stream stream;
	size_t at; /* its bytes in the batch's buffer */
};

struct replay_batch {
	uint64_t id;
	struct output_buf *buf;  /* the chunks' raw bytes, one after another */
	struct encoded_output e; /* the chunks; their text once encoded */
	struct replay_meta *meta;
	size_t next;             /* the next chunk to send */
	struct pool_work *work;
	void (*done)(void *arg);
	void *arg;
	bool orphaned; /* freed while WORK was out */
};

static void
replay_batch_add(struct replay_batch *b, const struct retained_chunk *c,
		 size_t *used)
{
	if (b->e.n == b->e.cap) {
		b->e.cap = b->e.cap ? 2 * b->e.cap : 32;
		b->e.chunks = xreallocarray(b->e.chunks, b->e.cap,
					    sizeof *b->e.chunks);
		b->meta = xreallocarray(b->meta, b->e.cap, sizeof *b->meta);
	}
	if (*used + c->len > b->buf->size) {
		size_t size = 2 * b->buf->size;
		if (size < *used + c->len)
			size = *used + c->len;
		b->buf = xrealloc(b->buf, sizeof *b->buf + size);
		b->buf->size = size;
	}
	memcpy(b->buf->data + *used, c->data, c->len);
	/* RAW is set once BUF stops moving. */
	b->e.chunks[b->e.n] = (struct encoded_chunk){
		.enc = c->enc, .offset = c->offset, .len = c->len};
	b->meta[b->e.n] = (struct replay_meta){c->seq, c->stream, *used};
	b->e.n++;
	*used += c->len;
}

struct replay_batch *
replay_batch_read(struct retain_cursor *cur, uint64_t id)
{
	struct replay_batch *b;
	struct retained_chunk c;
	size_t used = 0;

	if (!retain_next(cur, &c))
		return NULL;
	b = xcalloc(1, sizeof *b);
	b->id = id;
	b->buf = output_buf_new(c.len); /* grows as chunks come */
	do
		replay_batch_add(b, &c, &used);
	while (used < REPLAY_BATCH_BYTES && retain_next(cur, &c));
	for (size_t i = 0; i < b->e.n; i++)
		b->e.chunks[i].raw = b->buf->data + b->meta[i].at;
	return b;
}

static void
replay_batch_work(struct pool_work *w, void *arg)
{
	struct replay_batch *b = arg;

	if (!pool_cancelled(w))
		output_encode_texts(&b->e);
}

static void
replay_batch_destroy(struct replay_batch *b)
{
	output_buf_unref(b->buf);
	output_buf_unref(b->e.text);
	free(b->e.chunks);
	free(b->meta);
	free(b);
}

static void
replay_batch_done(void *arg, bool cancelled)
{
	struct replay_batch *b = arg;

	b->work = NULL;
	if (b->orphaned) {
		replay_batch_destroy(b);
		return;
	}
	if (!cancelled)
		b->done(b->arg);
}

void
replay_batch_encode(struct replay_batch *b, void (*done)(void *arg),
		    void *arg)
{
	b->done = done;
	b->arg = arg;
	b->work = pool_submit(replay_batch_work, replay_batch_done, b);
}

bool
replay_batch_busy(const struct replay_batch *b)
{
	return b->work != NULL;
}

bool
replay_batch_next(struct replay_batch *b, struct output_chunk *c)
{
	if (b->next == b->e.n)
		return false;
	*c = output_encoded_chunk(&b->e, b->next, b->meta[b->next].stream,
				  b->buf);
	c->id = b->id;
	c->seq = b->meta[b->next].seq;
	b->next++;
	return true;
}

void
replay_batch_free(struct replay_batch *b)
{
	if (b == NULL)
		return;
	if (b->work != NULL) {
		b->orphaned = true;
		pool_cancel(b->work);
		return;
	}
	replay_batch_destroy(b);
}
