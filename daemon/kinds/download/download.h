/* A download job's state, shared by the files of the download kind:
 * download.c (the job's life: the file, the end, the kind table) and
 * transfer.c (the transfer, which runs in the network process). */
#ifndef ASYNCD_DOWNLOAD_H
#define ASYNCD_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "../../job-kind.h"
#include "args.h"
#include "file.h"

enum dl_phase {
	DL_OPENING,    /* DEST.part being opened (pool) */
	DL_TRANSFER,   /* the network process at work */
	DL_COMMITTING, /* DEST.part being renamed (pool) */
	DL_ENDING,     /* DEST.part being discarded (pool): then it fails */
};

struct download;

/* What a transfer tells the kind, which hands these to it: the transfer
 * knows nothing of files and results. */
struct download_events {
	/* Everything arrived: D's sha256 holds the hash (a file's). */
	void (*succeeded)(struct download *d);
	/* The transfer is over and failed (or was stopped): fail the job
	 * with the recorded failure. */
	void (*aborted)(struct download *d);
	/* A response set the validator: note what a later attempt needs to
	 * continue (OFFSET >= 0: the bytes the part holds). */
	void (*validated)(struct download *d, int64_t offset);
};

struct download {
	struct job *job;
	const struct download_events *events;
	enum dl_phase phase;
	struct download_args args;
	/* The transfer. */
	bool in_net;   /* the network process has it */
	bool stopping; /* asked to stop: its end is awaited */
	int attempt;   /* retries done */
	long long started_ms;
	uint64_t have;   /* bytes of the file, resumed part included */
	uint64_t streamed; /* a stream's bytes handed to its watchers */
	uint64_t credit_owed; /* ... and not yet given back to the window */
	int64_t total;   /* the whole size when known, else -1 */
	/* The validator of the body we have (If-Range), from the first
	 * response or the resume note of an earlier attempt; NULL: none. */
	char *validator;
	bool keep_for_restart; /* stopping for a restart: keep DEST.part */
	/* From an earlier attempt's resume note: its resolved DEST, and the
	 * bytes its part held at a stop (-1: not known). */
	char *note_path;
	int64_t note_offset;
	/* How it ended. */
	long status;
	char *content_type;
	char *url; /* after redirects */
	char sha256[65];
	/* A failure to end with; the first one recorded wins. */
	const char *fail_code;
	char fail_msg[300];
	long fail_status; /* http-error */
	int fail_errno;   /* io-error */
	/* Where the bytes go. */
	struct download_file *file; /* NULL when streaming */
};

/* transfer.c */

/* Records the failure to end with; the first one wins. */
void download_record(struct download *d, const char *code, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
/* Starts the transfer in the network process, from byte HAVE. */
void download_transfer_begin(struct download *d);
/* job.pause (PAUSED) or job.resume of D's job. */
void download_transfer_pause_job(struct download *d, bool paused);
/* The watchers of a stream drained: its window opens again. */
void download_transfer_drained(struct download *d);
/* Asks the transfer to stop; aborted() follows once it has (with KEEP,
 * once the file has every byte received). False when none runs. */
bool download_transfer_stop(struct download *d, bool keep);
/* Lets go of the transfer at once: its owner is being torn down. */
void download_transfer_forget(struct download *d);

#endif
