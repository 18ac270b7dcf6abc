/* Kept output on its way to a replay (job.watch with "since"), a batch at
 * a time: the loop reads the next chunks from the kept segments (memory,
 * or files just written, so in the page cache), a worker writes their
 * JSON literals when the connection takes JSON lines, and the loop
 * frames them by reference. */
#ifndef ASYNCD_REPLAY_BATCH_H
#define ASYNCD_REPLAY_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct output_chunk;
struct replay_batch;
struct retain_cursor;

/* Reads job ID's next kept chunks from CUR, about 1 MiB of them; NULL
 * when CUR has none left. */
struct replay_batch *replay_batch_read(struct retain_cursor *cur,
				       uint64_t id);
/* Has a worker write B's literals, then calls DONE(ARG) on the loop,
 * unless B was freed meanwhile. */
void replay_batch_encode(struct replay_batch *b, void (*done)(void *arg),
			 void *arg);
/* Whether B is with a worker. */
bool replay_batch_busy(const struct replay_batch *b);
/* Fills C with B's next chunk to send (its literal too, once encoded);
 * false when all were taken. C refers to B's buffers, held by the
 * output buffers it is framed into. */
bool replay_batch_next(struct replay_batch *b, struct output_chunk *c);
/* NULL is ignored; a batch with a worker is let go of when it is done. */
void replay_batch_free(struct replay_batch *b);

#endif
