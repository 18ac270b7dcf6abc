/* Line framing over an evbuffer, bounded before anything is copied. */
#include <event2/buffer.h>

#include "frame.h"

void
frame_init(struct frame_reader *fr, size_t max)
{
	fr->max = max;
	fr->discarding = false;
	fr->scanned = 0;
	fr->pending = 0;
}

/* Position of the first '\n' in IN at or after FROM, or -1. */
static ev_ssize_t
frame_find_eol(struct evbuffer *in, size_t from)
{
	struct evbuffer_ptr start;

	if (evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET) < 0)
		return -1;
	return evbuffer_search(in, "\n", 1, &start).pos;
}

/* Drops bytes of an oversized line; true once its '\n' has gone too. */
static bool
frame_discard(struct frame_reader *fr, struct evbuffer *in)
{
	ev_ssize_t eol = frame_find_eol(in, 0);

	if (eol < 0) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return false;
	}
	evbuffer_drain(in, (size_t)eol + 1);
	fr->discarding = false;
	return true;
}

enum frame_result
frame_next(struct frame_reader *fr, struct evbuffer *in, const char **line,
	   size_t *len)
{
	size_t buffered = evbuffer_get_length(in);
	ev_ssize_t eol;

	if (fr->discarding && !frame_discard(fr, in))
		return FRAME_NONE;
	eol = frame_find_eol(in, fr->scanned);
	if (eol < 0) {
		buffered = evbuffer_get_length(in);
		/* Allow one byte more: it may be the '\r' before the '\n'. */
		if (buffered <= fr->max + 1) {
			fr->scanned = buffered;
			return FRAME_NONE;
		}
		fr->scanned = 0;
		fr->discarding = true;
		frame_discard(fr, in);
		return FRAME_TOO_LARGE;
	}
	fr->scanned = 0;
	size_t n = (size_t)eol;
	const char *p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n + 1);
	size_t content = n;
	if (content > 0 && p[content - 1] == '\r')
		content--;
	if (content > fr->max) {
		evbuffer_drain(in, n + 1);
		return FRAME_TOO_LARGE;
	}
	fr->pending = n + 1;
	*line = p;
	*len = content;
	return FRAME_LINE;
}

void
frame_consume(struct frame_reader *fr, struct evbuffer *in)
{
	evbuffer_drain(in, fr->pending);
	fr->pending = 0;
}
