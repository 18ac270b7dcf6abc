/* A job's output stream encoded on the pool, in order (see
 * output-stream.h).
 *
 * Invariants:
 * - The stream's chunk encoder belongs to the worker while a batch is on
 *   the pool (WORK set), to the loop otherwise; so chunks are cut as one
 *   pass over the stream would cut them, whatever the batches.
 * - PENDING holds bytes only while a batch is on the pool: otherwise a
 *   commit sends them on at once.
 * - A batch's bytes are referred to by binary watchers' frames; a batch
 *   that filled less than half its buffer is copied into one of its own
 *   size first (on the worker), so that a slow stream does not pin a
 *   mostly empty buffer per line it writes.
 */
#include <stdlib.h>
#include <string.h>

#include "output-buf.h"
#include "output-encode.h"
#include "output-frame.h"
#include "output-stream.h"
#include "pool.h"
#include "xmalloc.h"

/* The smallest buffer: one read of a full pipe. */
#define OUTPUT_STREAM_MIN (64 * 1024)

struct output_stream {
	struct job *job; /* NULL once let go while a batch is on the pool */
	enum job_stream stream;
	void (*flushed)(void *arg);
	void *arg;
	struct chunk_encoder enc;
	struct output_buf *pending; /* filled by the loop; or NULL */
	size_t pending_len;
	size_t last_batch; /* the size of the batch before */
	bool ending, ended;
	/* The batch on the pool: its bytes, whether JSON watchers want
	 * its literals, and what the worker made of it. */
	struct pool_work *work;
	struct output_buf *batch;
	size_t batch_len;
	bool text;
	struct output_buf *compact;
	struct encoded_output *encoded;
};

struct output_stream *
output_stream_new(struct job *job, enum job_stream stream,
		  void (*flushed)(void *arg), void *arg)
{
	struct output_stream *s = xcalloc(1, sizeof *s);

	s->job = job;
	s->stream = stream;
	s->flushed = flushed;
	s->arg = arg;
	chunk_init(&s->enc, false);
	return s;
}

/* Sends one chunk the loop cut, its bytes copied into each frame (the
 * pending buffer is filled again after). */
static void
output_stream_sink(void *arg, enum chunk_encoding enc, uint64_t offset,
		   const unsigned char *raw, size_t len)
{
	struct output_stream *s = arg;

	job_output_chunk(s->job, &(struct output_chunk){.stream = s->stream,
							.offset = offset,
							.enc = enc,
							.raw = raw,
							.len = len});
}

/* Worker: cuts and encodes the batch. */
static void
output_stream_work(struct pool_work *w, void *arg)
{
	struct output_stream *s = arg;
	struct output_buf *raw = s->batch;

	if (pool_cancelled(w))
		return;
	if (s->batch_len < raw->size / 2) {
		s->compact = output_buf_new(s->batch_len);
		memcpy(s->compact->data, raw->data, s->batch_len);
		raw = s->compact;
	}
	s->encoded = output_encode(&s->enc, raw->data, s->batch_len, s->text);
}

/* Sends the chunks the worker encoded, in order. */
static void
output_stream_send_encoded(struct output_stream *s)
{
	struct encoded_output *e = s->encoded;
	struct output_buf *raw = s->compact != NULL ? s->compact : s->batch;

	for (size_t i = 0; i < e->n; i++) {
		const struct encoded_chunk *c = &e->chunks[i];
		struct output_chunk out = {.stream = s->stream,
					   .offset = c->offset,
					   .enc = c->enc,
					   .raw = c->raw,
					   .len = c->len,
					   .buf = raw};
		if (e->text != NULL) {
			out.text_buf = e->text;
			out.text = (const char *)e->text->data + c->text_at;
			out.text_len = c->text_len;
		}
		job_output_chunk(s->job, &out);
	}
}

/* Lets go of what the last batch holds (frames may hold it longer). */
static void
output_stream_batch_free(struct output_stream *s)
{
	output_encoded_free(s->encoded);
	output_buf_unref(s->compact);
	output_buf_unref(s->batch);
	s->encoded = NULL;
	s->compact = s->batch = NULL;
	s->batch_len = 0;
}

static void output_stream_done(void *arg, bool cancelled);

/* Sends on what waits, with nothing on the pool: to a worker when JSON
 * watchers or kept output need UTF-8 cuts, else cut anywhere here; then
 * the end, if asked for. */
static void
output_stream_kick(struct output_stream *s)
{
	if (s->work != NULL || s->ended)
		return;
	if (s->pending_len > 0 && job_output_wants_json(s->job)) {
		s->batch = s->pending;
		s->batch_len = s->last_batch = s->pending_len;
		s->pending = NULL;
		s->pending_len = 0;
		s->text = job_output_has_json_watcher(s->job);
		s->work = pool_submit(output_stream_work, output_stream_done, s);
		return;
	}
	if (s->pending_len > 0) {
		chunk_write_raw(&s->enc, s->pending->data, s->pending_len,
				output_stream_sink, s);
		s->pending_len = 0;
	}
	if (s->ending) {
		chunk_finish(&s->enc, output_stream_sink, s);
		s->ended = true;
	}
}

/* Back from the pool, or handed back cancelled at a forced shutdown. */
static void
output_stream_done(void *arg, bool cancelled)
{
	struct output_stream *s = arg;

	s->work = NULL;
	if (s->job == NULL) { /* let go meanwhile */
		output_stream_batch_free(s);
		output_buf_unref(s->pending);
		free(s);
		return;
	}
	/* Only a forced shutdown cancels, after letting go: not reached. */
	if (!cancelled && s->encoded != NULL)
		output_stream_send_encoded(s);
	output_stream_batch_free(s);
	output_stream_kick(s);
	s->flushed(s->arg);
}

unsigned char *
output_stream_space(struct output_stream *s, size_t *len)
{
	/* Twice what the last batch held: a steady stream's batches fill
	 * at least half of it (not copied again), a faster one grows. */
	if (s->pending == NULL) {
		size_t size = 2 * s->last_batch;
		if (size < OUTPUT_STREAM_MIN)
			size = OUTPUT_STREAM_MIN;
		if (size > OUTPUT_STREAM_BUF)
			size = OUTPUT_STREAM_BUF;
		s->pending = output_buf_new(size);
		s->pending_len = 0;
	}
	*len = s->pending->size - s->pending_len;
	return s->pending->data + s->pending_len;
}

void
output_stream_commit(struct output_stream *s, size_t n)
{
	s->pending_len += n;
	output_stream_kick(s);
}

bool
output_stream_full(const struct output_stream *s)
{
	return s->pending != NULL && s->pending_len == s->pending->size;
}

bool
output_stream_end(struct output_stream *s)
{
	s->ending = true;
	output_stream_kick(s);
	return s->ended;
}

bool
output_stream_ended(const struct output_stream *s)
{
	return s->ended;
}

void
output_stream_free(struct output_stream *s)
{
	if (s == NULL)
		return;
	if (s->work != NULL) {
		s->job = NULL;
		pool_cancel(s->work); /* output_stream_done() frees S */
		return;
	}
	output_stream_batch_free(s);
	output_buf_unref(s->pending);
	free(s);
}
