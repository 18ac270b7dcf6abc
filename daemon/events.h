/* Job events and job objects on the wire, written straight into output
 * buffers: they are on every job's path, so they are not built as json-c
 * objects first (which costs a hash table per object and a second copy). */
#ifndef ASYNCD_EVENTS_H
#define ASYNCD_EVENTS_H

#include <stdint.h>

#include "job-kind.h"

struct evbuffer;

/* The wire name of a job.output stream: "data", "stdout", "stderr". */
const char *events_stream_name(enum job_stream stream);

/* The job object of PROTOCOL.md. */
void events_write_job(struct evbuffer *out, const struct job *job);
/* The same job object as a json-c value (it serialises as that text),
 * for responses built with json-c. */
struct json_object *events_job_object(const struct job *job);
/* One notification line each; SEQ where a replay gives an old event
 * again, else JOB's current one. */
void events_write_started(struct evbuffer *out, const struct job *job,
			  uint32_t seq);
/* job.paused, or job.resumed when not PAUSED. */
void events_write_paused(struct evbuffer *out, const struct job *job,
			 bool paused);
/* job.retrying: the attempt that failed with ERROR (JSON text) and when
 * the next may start. */
void events_write_retrying(struct evbuffer *out, const struct job *job,
			   const char *error);
void events_write_progress(struct evbuffer *out, const struct job *job,
			   uint64_t done, int64_t total, const char *unit);
/* job.completed or job.failed, as JOB's state says. */
void events_write_end(struct evbuffer *out, const struct job *job);
/* One job.output line of job ID; RAW is encoded as ENC says. */
void events_write_output(struct evbuffer *out, uint64_t id, uint32_t seq,
			 const char *stream, uint64_t offset,
			 enum chunk_encoding enc, const unsigned char *raw,
			 size_t len);
/* A job.output line up to its data member's value ("data":), which the
 * caller writes (a JSON string encoded beforehand), then "}}\n". */
void events_write_output_head(struct evbuffer *out, uint64_t id,
			      uint32_t seq, const char *stream,
			      uint64_t offset, enum chunk_encoding enc);
/* The header line of a binary job.output frame ("encoding": "binary",
 * "length": LEN); the LEN raw bytes follow it, written by the caller. */
void events_write_output_header(struct evbuffer *out, uint64_t id,
				uint32_t seq, const char *stream,
				uint64_t offset, size_t len);
/* The size of S as a JSON string literal, quotes included, and the
 * literal written at P (SIZE that size), returning its end. Pure: a
 * worker thread encodes output with them. */
size_t events_json_string_size(const unsigned char *s, size_t len);
char *events_json_string_put(char *p, const unsigned char *s, size_t len,
			     size_t size);
/* S as a JSON string literal, quotes included. */
void events_write_json_string(struct evbuffer *out, const unsigned char *s,
			      size_t len);

#endif
