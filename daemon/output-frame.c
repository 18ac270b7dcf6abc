/* job.output framed per connection. A binary frame's bytes are referred
 * to where a worker's buffer holds them, so the loop copies nothing. */
#include <event2/buffer.h>

#include "events.h"
#include "output-buf.h"
#include "output-frame.h"

void
output_frame_write(struct evbuffer *out, bool binary,
		   const struct output_chunk *c)
{
	const char *stream = events_stream_name(c->stream);

	if (!binary) {
		events_write_output(out, c->id, c->seq, stream, c->offset, c->enc,
				    c->raw, c->len);
		return;
	}
	events_write_output_header(out, c->id, c->seq, stream, c->offset,
				   c->len);
	if (c->buf != NULL && output_buf_holds(c->buf, c->raw, c->len))
		output_buf_add(out, c->buf, c->raw, c->len);
	else
		evbuffer_add(out, c->raw, c->len);
}
