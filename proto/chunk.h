/* The job.output chunk encoder: cuts a byte stream into chunks of at most
 * PROTO_CHUNK_MAX raw bytes, each sent as UTF-8 text when it is valid
 * UTF-8 (cut on character boundaries) and as base64 otherwise. */
#ifndef ASYNCD_CHUNK_H
#define ASYNCD_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>


enum chunk_encoding { CHUNK_UTF8, CHUNK_BASE64 };

const char *chunk_encoding_name(enum chunk_encoding enc);

/* Receives one chunk: RAW/LEN are the chunk's raw bytes (the encoder does
 * not base64 them itself, so that the sink can write straight into its
 * output); OFFSET counts the stream's raw bytes before it. */
typedef void (*chunk_sink)(void *arg, enum chunk_encoding enc,
			   uint64_t offset, const unsigned char *raw,
			   size_t len);

struct chunk_encoder {
	bool base64_only;       /* "encoding": "base64" */
	unsigned char carry[4]; /* a character cut by the previous write */
	size_t ncarry;
	uint64_t offset; /* raw bytes handed to the sink so far */
};

void chunk_init(struct chunk_encoder *enc, bool base64_only);

/* Encodes LEN more bytes of the stream. */
void chunk_write(struct chunk_encoder *enc, const void *data, size_t len,
		 chunk_sink sink, void *arg);

/* Encodes LEN more bytes without looking at them, in chunks of at most
 * PROTO_BINARY_CHUNK_MAX tagged base64 (which holds for any bytes), for sinks
 * that send them raw: a binary frame needs no UTF-8 check. A character
 * cut by an earlier chunk_write() is finished first as it would be. */
void chunk_write_raw(struct chunk_encoder *enc, const void *data, size_t len,
		     chunk_sink sink, void *arg);

/* Ends the stream: bytes of an unfinished character go out as base64. */
void chunk_finish(struct chunk_encoder *enc, chunk_sink sink, void *arg);

#endif
