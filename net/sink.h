/* Where a download's bytes go in asyncd-net: its file, written by the
 * loop and hashed (SHA-256) by a worker thread that trails the writes.
 *
 * The loop gathers what libcurl hands it (16 KiB at a time) into one
 * 256 KiB buffer and writes that (pwrite) before the write callback
 * returns, so that a write error ends the transfer there. A worker
 * hashes the file behind it: it reads back what was written from the
 * page cache, in blocks, on its own thread, so that a download runs at
 * the speed of the slower of receiving-and-writing and hashing, not of
 * their sum. The worker is handed the sink only once a block's worth is
 * waiting (or at the end), and the loop is woken (an eventfd) only when
 * a sink it paused has caught up, when hashing failed, or when a
 * finished sink is all hashed.
 */
#ifndef ASYNCD_NET_SINK_H
#define ASYNCD_NET_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct sink;

/* Called on the loop: the sink caught up after sink_full() said so,
 * hashing failed (sink_error()), or it finished (sink_done()). */
typedef void (*sink_wake_fn)(void *arg);

/* Starts the workers; their wake-ups arrive on BASE. */
void sink_init(struct event_base *base);
/* Stops the workers; every sink must be freed. */
void sink_shutdown(void);

/* A sink writing to FD (which it owns, open for reading and writing)
 * whose first HAVE bytes are in the file already: they are read back and
 * hashed first. */
struct sink *sink_new(int fd, uint64_t have, sink_wake_fn wake, void *arg);
/* Waits for the worker to leave S, then frees it and closes its fd. */
void sink_free(struct sink *s);

/* Appends LEN bytes, written to the file once 256 KiB have gathered:
 * 0, or the errno of a failed write (or of a failure before it), which
 * stays the sink's. */
int sink_write(struct sink *s, const void *data, size_t len);
/* Empties the file and restarts the hash: what follows is a new body
 * from its first byte. A failure is the sink's error. */
void sink_truncate(struct sink *s);
/* True when the hash is far enough behind the writes (for S alone, or
 * for all sinks together) that the transfer should pause; the wake
 * function follows once it has caught up to half of that. */
bool sink_full(struct sink *s);
/* No more bytes come: what is gathered is written, and the wake
 * function follows once all is hashed (with DROP, at once: nothing more
 * is written and the hash is not wanted). */
void sink_finish(struct sink *s, bool drop);
/* After sink_finish: whether all is done; then *ERR is the errno of the
 * first failed write or read (0: none) and HEX the SHA-256 of the file. */
bool sink_done(const struct sink *s, int *err, char hex[65]);
/* The errno of a failed write or read so far, or 0: the transfer stops. */
int sink_error(const struct sink *s);

#endif
