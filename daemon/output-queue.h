/* A job's output on its way to JSON watchers, cut and encoded on the
 * worker pool instead of the loop. The bytes of every stream of a job go
 * into one queue, in the order they were read; a worker encodes one batch
 * at a time, and the loop sends its chunks in that order, so that a chunk
 * of stderr never overtakes an earlier one of stdout. */
#ifndef ASYNCD_OUTPUT_QUEUE_H
#define ASYNCD_OUTPUT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "job-kind.h"

struct output_chunk;
struct output_queue;

/* What the queue calls back, on the loop thread. */
struct output_queue_ops {
	/* Sends one encoded chunk (its raw bytes and its JSON literal). */
	void (*send)(void *arg, const struct output_chunk *c);
	/* Ends STREAM, whose bytes have all been sent. */
	void (*end)(void *arg, enum job_stream stream);
	/* The queue has nothing left: the last call it makes in a turn, so
	 * that it may free the queue. */
	void (*drained)(void *arg);
};

struct output_queue *output_queue_new(const struct output_queue_ops *ops,
				      void *arg);
/* Frees Q; a batch still on a worker is let go of when it comes back,
 * and nothing is called back any more. NULL is ignored. */
void output_queue_free(struct output_queue *q);

/* Queues a copy of DATA[0..LEN), STREAM's next bytes, to be cut by ENC:
 * the loop must leave ENC alone while the queue is busy. */
void output_queue_push(struct output_queue *q, enum job_stream stream,
		       struct chunk_encoder *enc, const void *data, size_t len);
/* Queues STREAM's end, after the bytes before it. */
void output_queue_end(struct output_queue *q, enum job_stream stream);

/* Whether bytes or an end are queued or being encoded. NULL: false. */
bool output_queue_busy(const struct output_queue *q);
/* Whether the queue holds as much as it should: the producer waits. */
bool output_queue_full(const struct output_queue *q);

#endif
