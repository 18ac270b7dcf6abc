/* One job.output event in the form each connection takes: a JSON line
 * (data as UTF-8 text or base64), or, on a connection that asked for
 * binary frames (conn.configure), a header line and the raw bytes. */
#ifndef ASYNCD_OUTPUT_FRAME_H
#define ASYNCD_OUTPUT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job-kind.h"

struct evbuffer;
struct evbuffer_file_segment;
struct output_buf;

struct output_chunk {
	uint64_t id;
	uint32_t seq;
	enum job_stream stream;
	uint64_t offset;
	enum chunk_encoding enc; /* what the JSON form says */
	const unsigned char *raw;
	size_t len;
	struct output_buf *buf; /* holds RAW, to refer to; or NULL: copy */
	/* The JSON form's data as a string literal encoded beforehand (by a
	 * worker, output-encode.h), inside TEXT_BUF; or NULL: encode now. */
	struct output_buf *text_buf;
	const char *text;
	size_t text_len;
	/* Instead of RAW: LEN bytes at SEG_OFFSET of a file segment, sent
	 * with sendfile(), only for binary frames to a socket's buffer; the
	 * last of them is SEG_LAST, in memory (see output-frame.c). */
	struct evbuffer_file_segment *seg;
	uint64_t seg_offset;
	unsigned char seg_last;
};

/* Appends chunk C to OUT, as a binary frame when BINARY. */
void output_frame_write(struct evbuffer *out, bool binary,
			const struct output_chunk *c);

#endif
