/* Retained output: the job.output chunks of the jobs whose kind keeps
 * them (process), so that job.watch with "since" and asyncctl log give
 * them again later, after a reconnect or a restart.
 *
 * Per job and stream at most --keep-output bytes are kept, in whole
 * chunks, the oldest dropped first; all jobs together at most
 * --keep-output-total, past which the output of the oldest finished jobs
 * goes first. With a state directory the chunks are files under
 * DIR/output, one series of segment files per job and stream; without
 * one they are kept in memory under the same limits. A write that fails
 * (a full disk) never fails the job: it is logged once and that job's
 * output is no longer kept. */
#ifndef ASYNCD_RETAIN_H
#define ASYNCD_RETAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../proto/chunk.h"
#include "job-kind.h"

struct retained_chunk {
	uint32_t seq;
	enum job_stream stream;
	enum chunk_encoding enc;
	uint64_t offset;
	const unsigned char *data;
	size_t len;
};

/* Sets up retention in STATE_DIR/output (NULL: in memory) and finds what
 * an earlier run kept there. Returns 0 or -1 (logged). */
int retain_init(const char *state_dir);
void retain_free(void);
/* Bytes of output kept now, in all. */
long long retain_bytes(void);

/* Keeps one chunk of job ID's output. */
void retain_chunk(uint64_t id, const struct retained_chunk *chunk);
/* Job ID has ended: its output may now go under the total cap. */
void retain_finished(uint64_t id);
/* Forgets job ID's output (a new attempt, or the job is gone). */
void retain_drop(uint64_t id);
/* Marks every job with kept output as ended except those UNFINISHED
 * says are not (at start, once the jobs are back). */
void retain_settle(bool (*unfinished)(uint64_t id));

/* A snapshot of job ID's kept chunks whose seq is above SINCE: what it
 * holds stays readable until it is closed, whatever the limits drop
 * meanwhile. *COUNT is how many chunks it gives; NULL when none is kept. */
struct retain_cursor *retain_open(uint64_t id, uint32_t since,
				  unsigned *count);
/* The snapshot's next chunk in seq order, into *CHUNK (its data is good
 * until the next call); false at its end. */
bool retain_next(struct retain_cursor *cur, struct retained_chunk *chunk);
void retain_close(struct retain_cursor *cur);

#endif
