/* job.output framed per connection. A binary frame's bytes are referred
 * to where a worker's buffer holds them, or sent from the file with
 * sendfile(), so the loop copies nothing. */
#include <inttypes.h>

#include <event2/buffer.h>

#include "events.h"
#include "log.h"
#include "output-buf.h"
#include "output-frame.h"

/* Appends the frame's last byte as a small chain of its own, made with
 * evbuffer_reserve_space(). libevent 2.1's evbuffer_add() sizes a new
 * chain after the last one's length, and for a file range that length
 * counts its offset in the file: the next line after a range at 4 GiB
 * would allocate 4 GiB. A reserved chain is as small as asked, and the
 * lines that follow it go into it. */
static void
output_frame_tail(struct evbuffer *out, unsigned char last)
{
	struct evbuffer_iovec vec;

	if (evbuffer_reserve_space(out, 1, &vec, 1) < 1)
		return;
	*(unsigned char *)vec.iov_base = last;
	vec.iov_len = 1;
	evbuffer_commit_space(out, &vec, 1);
}

void
output_frame_write(struct evbuffer *out, bool binary,
		   const struct output_chunk *c)
{
	const char *stream = events_stream_name(c->stream);
	size_t body = c->len > 0 ? c->len - 1 : 0;

	if (!binary) {
		events_write_output(out, c->id, c->seq, stream, c->offset, c->enc,
				    c->raw, c->len);
		return;
	}
	events_write_output_header(out, c->id, c->seq, stream, c->offset,
				   c->len);
	if (c->len == 0)
		return;
	if (c->seg != NULL) {
		/* Cannot fail for a socket's output (sendfile needs no
		 * memory); were it to, the offsets show the gap. */
		if (body > 0 &&
		    evbuffer_add_file_segment(out, c->seg,
					      (ev_off_t)c->seg_offset,
					      (ev_off_t)body) < 0)
			log_warnx("job %" PRIu64 ": a file range could not be "
				  "queued", c->id);
		output_frame_tail(out, c->seg_last);
		return;
	}
	if (c->buf != NULL && output_buf_holds(c->buf, c->raw, c->len))
		output_buf_add(out, c->buf, c->raw, body);
	else
		evbuffer_add(out, c->raw, body);
	output_frame_tail(out, c->raw[body]);
}
