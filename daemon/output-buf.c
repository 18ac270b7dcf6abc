/* Reference-counted output buffers. Every hold and release happens on
 * the loop thread: evbuffer cleanups run where the buffer is drained. */
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "output-buf.h"
#include "xmalloc.h"

struct output_buf *
output_buf_new(size_t size)
{
	struct output_buf *ob = xmalloc(sizeof *ob + size);

	ob->refs = 1;
	ob->size = size;
	return ob;
}

void
output_buf_unref(struct output_buf *ob)
{
	if (ob != NULL && --ob->refs == 0)
		free(ob);
}

bool
output_buf_unshared(const struct output_buf *ob)
{
	return ob->refs == 1;
}

bool
output_buf_holds(const struct output_buf *ob, const void *p, size_t len)
{
	uintptr_t start = (uintptr_t)ob->data, at = (uintptr_t)p;

	return at >= start && at - start <= ob->size &&
	       len <= ob->size - (at - start);
}

/* The evbuffer let go of the bytes it referred to. */
static void
output_buf_cleanup(const void *data, size_t len, void *arg)
{
	(void)data;
	(void)len;
	output_buf_unref(arg);
}

void
output_buf_add(struct evbuffer *out, struct output_buf *ob, const void *p,
	       size_t len)
{
	if (len == 0)
		return;
	ob->refs++;
	if (evbuffer_add_reference(out, p, len, output_buf_cleanup, ob) < 0) {
		ob->refs--;
		evbuffer_add(out, p, len);
	}
}
