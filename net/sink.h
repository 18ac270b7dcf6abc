/* Where a download's bytes go in asyncd-net: its file, written and
 * hashed (SHA-256) at the same time by two worker threads, so that a
 * download runs at the speed of the slower of receiving, writing and
 * hashing, not of their sum.
 *
 * The loop thread copies what libcurl hands it into chunks (the one copy
 * of each byte: libcurl reuses its buffer) and publishes each full chunk
 * on the sink's list. Each sink has two lanes over that list, one writing
 * and one hashing, each taken by one worker at a time and in order; a
 * chunk is freed once both lanes have passed it. A worker stays with a
 * lane while it has chunks, so a busy download costs a hand-off per
 * batch, not per chunk. The loop is woken (an eventfd) only when a sink
 * it paused has drained, or when a finished sink is all on disk.
 */
#ifndef ASYNCD_NET_SINK_H
#define ASYNCD_NET_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct sink;

/* Called on the loop: the sink drained after sink_full() said so, or it
 * finished (sink_done() says which). */
typedef void (*sink_wake_fn)(void *arg);

/* Starts the workers; their wake-ups arrive on BASE. */
void sink_init(struct event_base *base);
/* Stops the workers; every sink must be freed. */
void sink_shutdown(void);

/* A sink writing to FD (which it owns) whose first HAVE bytes are in the
 * file already: they are read back and hashed first. */
struct sink *sink_new(int fd, uint64_t have, sink_wake_fn wake, void *arg);
/* Waits for the workers to leave S, then frees it and closes its fd. */
void sink_free(struct sink *s);

/* Queues LEN bytes for the file. */
void sink_write(struct sink *s, const void *data, size_t len);
/* Empties the file and restarts the hash, after the bytes queued so far:
 * what follows is a new body from its first byte. */
void sink_truncate(struct sink *s);
/* True when S holds enough unwritten bytes (alone, or all sinks
 * together) that the transfer should pause; the wake function follows
 * once it has drained to half. */
bool sink_full(struct sink *s);
/* No more bytes come: the wake function follows once everything queued
 * is written and hashed (with DROP, once the queue is dropped). */
void sink_finish(struct sink *s, bool drop);
/* After sink_finish: whether all is done; then *ERR is the errno of the
 * first failed write or read (0: none) and HEX the SHA-256 of the file. */
bool sink_done(const struct sink *s, int *err, char hex[65]);
/* The errno of a failed write so far, or 0: the transfer stops. */
int sink_error(const struct sink *s);

#endif
