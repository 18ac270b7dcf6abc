/* A job's output stream that the loop fills piece by piece (a pipe's
 * reads) and that workers cut and encode for JSON watchers and kept
 * output (output-encode.h), in order: one batch at a time is on the
 * pool, and what comes meanwhile waits in the next buffer, which is not
 * filled past its size: the owner stops reading while the stream is
 * full and reads again when it is called back. When nothing needs the
 * UTF-8 cuts (binary watchers only, nothing kept) the bytes go out at
 * once on the loop, cut anywhere, as job_output() would. */
#ifndef ASYNCD_OUTPUT_STREAM_H
#define ASYNCD_OUTPUT_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "job-kind.h"

/* At most this many bytes wait for the pool, besides the batch on it
 * (less for a stream whose batches were small). */
#define OUTPUT_STREAM_BUF PROTO_BINARY_CHUNK_MAX

struct output_stream;

/* A stream of JOB's output. FLUSHED(ARG) is called on the loop after a
 * batch from the pool went out, as the last thing the stream does then:
 * there may be room again, the watchers may be blocked now
 * (job_output_blocked()), or the stream may have ended
 * (output_stream_ended()); it may free the stream. */
struct output_stream *output_stream_new(struct job *job,
					enum job_stream stream,
					void (*flushed)(void *arg),
					void *arg);
/* Where the next bytes go, and in *LEN how many fit (0: full, until
 * FLUSHED). */
unsigned char *output_stream_space(struct output_stream *s, size_t *len);
/* N bytes were put at the space: they go out, or to the pool. */
void output_stream_commit(struct output_stream *s, size_t n);
/* Whether no byte fits until FLUSHED. */
bool output_stream_full(const struct output_stream *s);
/* Ends the stream once what it holds went out (an unfinished character
 * as base64). True when that happened now; else FLUSHED follows. */
bool output_stream_end(struct output_stream *s);
/* Whether the end went out. */
bool output_stream_ended(const struct output_stream *s);
/* Lets go of S (NULL is ignored) without ending it; a batch on the pool
 * is cancelled and freed when the pool hands it back. */
void output_stream_free(struct output_stream *s);

#endif
