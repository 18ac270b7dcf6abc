/* job.output chunks cut and encoded off the loop: a worker runs a
 * stream's chunk encoder over a buffer it read and writes each chunk's
 * JSON string literal, so that the loop only frames them (a header, a
 * reference to the literal). */
#ifndef ASYNCD_OUTPUT_ENCODE_H
#define ASYNCD_OUTPUT_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/chunk.h"
#include "job-kind.h"

struct output_buf;
struct output_chunk;

struct encoded_chunk {
	enum chunk_encoding enc;
	uint64_t offset;          /* in the stream */
	const unsigned char *raw; /* in the data encoded, or the side bytes */
	size_t len;
	size_t text_at, text_len; /* its literal in the text buffer */
	size_t side_at; /* RAW is SIDE + SIDE_AT: a completed carry */
	bool in_side;
};

struct encoded_output {
	struct encoded_chunk *chunks;
	size_t n, cap;
	/* Characters completed from a carry (one per 64 KiB piece cut in a
	 * character, within a buffer or from the previous one): their bytes
	 * lie in no buffer, so they are kept here, each chunk its own. */
	unsigned char *side;
	size_t nside, side_cap;
	struct output_buf *text; /* the literals, quotes included */
};

/* Worker: cuts DATA[0..LEN) with ENC, which it advances as chunk_write()
 * does, and encodes every chunk. The bytes of DATA must stay while the
 * result is used. */
struct encoded_output *output_encode(struct chunk_encoder *enc,
				     const unsigned char *data, size_t len);
/* Worker: writes the literal of each of E's chunks, already cut (their
 * encoding, raw bytes and length set), into a new text buffer. */
void output_encode_texts(struct encoded_output *e);
/* Chunk I of E, to send as STREAM's output: its raw bytes (referred to
 * where they lie in BUF, else copied) and its literal once written. */
struct output_chunk output_encoded_chunk(const struct encoded_output *e,
					 size_t i, enum job_stream stream,
					 struct output_buf *buf);
/* Lets go of the text (references to it may hold it longer). */
void output_encoded_free(struct encoded_output *e);

#endif
