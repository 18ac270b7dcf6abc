/* job.output framed per connection. A binary frame's bytes are referred
 * to where a worker's buffer holds them, or sent from the file with
 * sendfile(), so the loop copies nothing. */
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>

#include "events.h"
#include "log.h"
#include "output-buf.h"
#include "output-frame.h"

/* Appends the frame's last bytes as a small chain of their own, made with
 * evbuffer_reserve_space(). libevent 2.1's evbuffer_add() sizes a new
 * chain after the last one's length, and for a file range that length
 * counts its offset in the file: the next line after a range at 4 GiB
 * would allocate 4 GiB. A reserved chain is as small as asked, and the
 * lines that follow it go into it. */
static void
output_frame_tail(struct evbuffer *out, const void *tail, size_t len)
{
	struct evbuffer_iovec vec;

	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &vec, 1) < 1)
		return;
	memcpy(vec.iov_base, tail, len);
	vec.iov_len = len;
	evbuffer_commit_space(out, &vec, 1);
}

/* A JSON line whose data a worker encoded: the literal by reference, its
 * closing quote and the line's end in a small chain (as above). */
static void
output_frame_encoded(struct evbuffer *out, const struct output_chunk *c)
{
	char end[4] = {c->text[c->text_len - 1], '}', '}', '\n'};

	events_write_output_head(out, c->id, c->seq,
				 events_stream_name(c->stream), c->offset,
				 c->enc);
	output_buf_add(out, c->text_buf, c->text, c->text_len - 1);
	output_frame_tail(out, end, sizeof end);
}

void
output_frame_write(struct evbuffer *out, bool binary,
		   const struct output_chunk *c)
{
	const char *stream = events_stream_name(c->stream);
	size_t body = c->len > 0 ? c->len - 1 : 0;

	if (!binary && c->text != NULL) {
		output_frame_encoded(out, c);
		return;
	}
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
		output_frame_tail(out, &c->seg_last, 1);
		return;
	}
	if (c->buf != NULL && output_buf_holds(c->buf, c->raw, c->len))
		output_buf_add(out, c->buf, c->raw, body);
	else
		evbuffer_add(out, c->raw, body);
	output_frame_tail(out, &c->raw[body], 1);
}
