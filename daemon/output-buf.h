/* Buffers of job output that connections' output buffers refer to
 * instead of copying: a worker fills one, the loop hands references to
 * it to every binary watcher (evbuffer_add_reference), and it is freed
 * when the last of them has been written to its socket. */
#ifndef ASYNCD_OUTPUT_BUF_H
#define ASYNCD_OUTPUT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct output_buf {
	unsigned refs; /* its owner's, plus one per reference queued */
	size_t size;
	unsigned char data[];
};

/* A buffer of SIZE bytes, held by its owner (refs 1). */
struct output_buf *output_buf_new(size_t size);
/* Lets go of one hold; the last frees it. NULL is ignored. */
void output_buf_unref(struct output_buf *ob);
/* Whether only its owner holds it, so that it may be written again. */
bool output_buf_unshared(const struct output_buf *ob);
/* Whether P[0..LEN) lies inside OB. */
bool output_buf_holds(const struct output_buf *ob, const void *p, size_t len);
/* Appends P[0..LEN) (inside OB) to OUT by reference, holding OB until
 * OUT has let go of those bytes. */
void output_buf_add(struct evbuffer *out, struct output_buf *ob,
		    const void *p, size_t len);

#endif
