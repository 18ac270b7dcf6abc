/* A job's output encoded on the pool, in order (see output-queue.h).
 *
 * Items wait in one list; a worker takes all of them as a batch and cuts
 * and encodes each with its stream's encoder (output_encode()). While it
 * does, the loop queues what comes next in a fresh list, so a job has at
 * most one batch on the pool and its encoders are never used by two
 * threads at once. Consecutive bytes of one stream share an item's
 * buffer, so a program's many small writes are one hand-off. */
#include <stdlib.h>
#include <string.h>

#include "output-buf.h"
#include "output-encode.h"
#include "output-frame.h"
#include "output-queue.h"
#include "pool.h"
#include "xmalloc.h"

/* Bytes queued and on the pool before the producer is asked to wait. */
#define OUTPUT_QUEUE_MAX (1024 * 1024)
/* An item's buffer grows up to this; more bytes start a new item. */
#define OUTPUT_ITEM_MAX (256 * 1024)

struct output_item {
	enum job_stream stream;
	struct chunk_encoder *enc;
	struct output_buf *buf;        /* its bytes; NULL: the stream's end */
	size_t len;
	struct encoded_output *encoded; /* by the worker */
};

struct output_list {
	struct output_item *items;
	size_t n, cap;
};

struct output_queue {
	const struct output_queue_ops *ops;
	void *arg;
	struct output_list waiting;
	struct output_list batch; /* on the pool while WORK is set */
	struct pool_work *work;
	size_t bytes; /* in both lists */
	bool orphaned; /* freed by its owner while WORK was out */
};

struct output_queue *
output_queue_new(const struct output_queue_ops *ops, void *arg)
{
	struct output_queue *q = xcalloc(1, sizeof *q);

	q->ops = ops;
	q->arg = arg;
	return q;
}

static void
output_list_clear(struct output_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		output_buf_unref(l->items[i].buf);
		output_encoded_free(l->items[i].encoded);
	}
	l->n = 0;
}

static void
output_queue_destroy(struct output_queue *q)
{
	output_list_clear(&q->waiting);
	output_list_clear(&q->batch);
	free(q->waiting.items);
	free(q->batch.items);
	free(q);
}

void
output_queue_free(struct output_queue *q)
{
	if (q == NULL)
		return;
	if (q->work != NULL) {
		q->orphaned = true;
		pool_cancel(q->work);
		return;
	}
	output_queue_destroy(q);
}

bool
output_queue_busy(const struct output_queue *q)
{
	return q != NULL && (q->work != NULL || q->waiting.n > 0);
}

bool
output_queue_full(const struct output_queue *q)
{
	return q != NULL && q->bytes >= OUTPUT_QUEUE_MAX;
}

/* ---- The worker's side -------------------------------------------------- */

static void
output_queue_work(struct pool_work *w, void *arg)
{
	struct output_queue *q = arg;

	for (size_t i = 0; i < q->batch.n && !pool_cancelled(w); i++) {
		struct output_item *it = &q->batch.items[i];
		if (it->buf != NULL)
			it->encoded =
				output_encode(it->enc, it->buf->data, it->len);
	}
}

/* ---- The loop's side ---------------------------------------------------- */

/* Sends one encoded item's chunks, referring to its bytes and text. */
static void
output_queue_send_item(struct output_queue *q, const struct output_item *it)
{
	for (size_t i = 0; i < it->encoded->n; i++) {
		struct output_chunk c = output_encoded_chunk(it->encoded, i,
							     it->stream, it->buf);
		q->ops->send(q->arg, &c);
	}
}

static void output_queue_done(void *arg, bool cancelled);

static void
output_queue_submit(struct output_queue *q)
{
	struct output_list next = q->batch;

	q->batch = q->waiting;
	q->waiting = next; /* emptied: its array is kept for reuse */
	q->work = pool_submit(output_queue_work, output_queue_done, q);
}

static void
output_queue_done(void *arg, bool cancelled)
{
	struct output_queue *q = arg;

	q->work = NULL;
	if (q->orphaned || cancelled) {
		if (q->orphaned)
			output_queue_destroy(q);
		return;
	}
	for (size_t i = 0; i < q->batch.n; i++) {
		struct output_item *it = &q->batch.items[i];
		if (it->buf == NULL) {
			q->ops->end(q->arg, it->stream);
			continue;
		}
		output_queue_send_item(q, it);
		q->bytes -= it->len;
	}
	output_list_clear(&q->batch);
	if (q->waiting.n > 0)
		output_queue_submit(q);
	else
		q->ops->drained(q->arg); /* may free Q */
}

static struct output_item *
output_list_add(struct output_list *l)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->items = xreallocarray(l->items, l->cap, sizeof *l->items);
	}
	l->items[l->n] = (struct output_item){0};
	return &l->items[l->n++];
}

/* The waiting item STREAM's next LEN bytes can join, or NULL. Its buffer
 * is the queue's alone until it is encoded, so it may still grow. */
static struct output_item *
output_queue_tail(struct output_queue *q, enum job_stream stream, size_t len)
{
	struct output_item *it;

	if (q->waiting.n == 0)
		return NULL;
	it = &q->waiting.items[q->waiting.n - 1];
	if (it->buf == NULL || it->stream != stream ||
	    it->len + len > OUTPUT_ITEM_MAX)
		return NULL;
	if (it->len + len > it->buf->size) {
		size_t size = it->buf->size * 2;
		if (size < it->len + len)
			size = it->len + len;
		if (size > OUTPUT_ITEM_MAX)
			size = OUTPUT_ITEM_MAX;
		it->buf = xrealloc(it->buf, sizeof *it->buf + size);
		it->buf->size = size;
	}
	return it;
}

void
output_queue_push(struct output_queue *q, enum job_stream stream,
		  struct chunk_encoder *enc, const void *data, size_t len)
{
	struct output_item *it = output_queue_tail(q, stream, len);

	if (it == NULL) {
		it = output_list_add(&q->waiting);
		it->stream = stream;
		it->enc = enc;
		it->buf = output_buf_new(len);
	}
	memcpy(it->buf->data + it->len, data, len);
	it->len += len;
	q->bytes += len;
	if (q->work == NULL)
		output_queue_submit(q);
}

void
output_queue_end(struct output_queue *q, enum job_stream stream)
{
	struct output_item *it = output_list_add(&q->waiting);

	it->stream = stream;
	if (q->work == NULL)
		output_queue_submit(q);
}
