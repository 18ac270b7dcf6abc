/* read-file's state, shared by the kind (read-file.c: the job's life,
 * the order of reads, pause and cancel) and its reads (slot.c: what a
 * worker does for one read, and how the loop sends what it brought). */
#ifndef ASYNCD_READ_FILE_H
#define ASYNCD_READ_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../../proto/chunk.h"
#include "../../job-kind.h"

struct encoded_output;
struct event;
struct output_buf;
struct pool_work;

/* Bytes one pool item reads: they are cut into protocol chunks of
 * PROTO_CHUNK_MAX (JSON) or sent as one binary frame. Many chunks a wake-up
 * of the loop rather than one cut the cost of the hand-overs
 * (bench/bench-read-file.sh), for 2 x 1 MiB of buffers a job. */
#define READ_FILE_CHUNK PROTO_BINARY_CHUNK_MAX
#define READ_FILE_INFLIGHT 2

struct read_file;

/* One read of at most READ_FILE_CHUNK bytes. */
struct read_slot {
	struct read_file *rf;
	struct pool_work *work; /* while in flight */
	uint64_t offset;
	size_t len; /* bytes asked for */
	size_t got; /* bytes read */
	int err;    /* errno of a failed read, or 0 */
	bool ready; /* read, waiting for its turn */
	/* Brought into the page cache (sendfile() to /dev/null), not read:
	 * sent as a file range to watchers that all take binary frames. */
	bool by_file;
	unsigned char last; /* by_file: the last byte brought in */
	struct output_buf *buf; /* binary watchers may still refer to it */
	/* Its chunks, cut and encoded by a worker for JSON watchers, when
	 * its turn came (the encoder goes through the file in order). */
	struct encoded_output *encoded;
};

struct read_file {
	struct job *job; /* NULL once the job ended */
	char *path;
	uid_t uid;
	gid_t gid;
	uint64_t offset; /* args.offset */
	int64_t length;  /* args.length, or -1: to the end */

	/* Filled by the open work, read on the loop after it. */
	struct pool_work *open_work;
	int fd;
	int null_fd; /* /dev/null, where by_file reads go; or -1 */
	int open_err;
	const char *open_what; /* what failed, for the message */
	uint64_t size;
	bool size_known; /* false: the kernel does not report it (procfs) */

	uint64_t end;   /* where reading stops: args.length, or never */
	uint64_t ahead; /* reads run ahead up to here, the size at open */
	uint64_t next; /* offset of the next read to schedule */
	uint64_t sent; /* bytes delivered */
	bool eof;      /* a read came back short: the file ended */
	/* The stream's chunk encoder: a worker runs it for the slot whose
	 * turn it is, the loop for the rest (output-encode.h). */
	struct chunk_encoder enc;
	struct read_slot slots[READ_FILE_INFLIGHT];
	unsigned head;     /* the slot delivered next */
	unsigned nbusy;    /* slots busy, from head on */
	unsigned inflight; /* pool items whose done function is due */
	struct event *go_ev; /* goes on after job.resume */
};

/* Worker: one read into the slot's buffer, or, when the slot is by_file,
 * into the page cache only. */
void read_slot_work(struct pool_work *w, void *arg);
/* Sends SLOT's bytes in the form the watchers take now. False when a
 * worker must read or encode them first; DONE follows on the loop. */
bool read_slot_send(struct read_file *rf, struct read_slot *slot,
		    void (*done)(void *slot, bool cancelled));
/* A chunk sink for the loop's own cuts of RF's stream (chunk_finish() at
 * the end): ARG is a struct read_slot_out. */
struct read_slot_out {
	struct read_file *rf;
	struct read_slot *slot; /* whose buffer holds the bytes, or NULL */
};
void read_slot_sink(void *arg, enum chunk_encoding enc, uint64_t offset,
		    const unsigned char *raw, size_t len);

#endif
