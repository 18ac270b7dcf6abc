/* Line framing with a size limit: one JSON message per '\n'-ended line. */
#ifndef ASYNCD_FRAME_H
#define ASYNCD_FRAME_H

#include <stdbool.h>
#include <stddef.h>

struct evbuffer;

struct frame_reader {
	size_t max;      /* longest line accepted, without its "\r\n" */
	bool discarding; /* inside an oversized line: drop up to its '\n' */
	size_t scanned;  /* bytes already searched for '\n' */
	size_t pending;  /* bytes frame_consume() drains */
};

enum frame_result {
	FRAME_NONE,      /* no complete line buffered yet */
	FRAME_LINE,      /* *line, *len: one line, without "\n" or "\r\n" */
	FRAME_TOO_LARGE, /* a line passed the limit; its bytes are dropped */
};

void frame_init(struct frame_reader *fr, size_t max);

/* Finds the next line in IN. On FRAME_LINE, *line points into IN (made
 * contiguous) and stays valid until frame_consume(), which the caller
 * must call before the next frame_next(). An oversized line is drained
 * as it arrives, never buffered. */
enum frame_result frame_next(struct frame_reader *fr, struct evbuffer *in,
			     const char **line, size_t *len);
void frame_consume(struct frame_reader *fr, struct evbuffer *in);

#endif
