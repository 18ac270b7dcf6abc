/* A download job's state, shared by the files of the download kind:
 * download.c (the job's life: the file, the end, the kind table) and
 * transfer.c (libcurl's side: attempts, retries, backpressure). */
#ifndef ASYNCD_DOWNLOAD_H
#define ASYNCD_DOWNLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "../../job-kind.h"
#include "args.h"
#include "file.h"

enum dl_phase {
	DL_OPENING,    /* DEST.part being opened (pool) */
	DL_TRANSFER,   /* libcurl at work (loop) */
	DL_RETRY_WAIT, /* the retry timer runs */
	DL_COMMITTING, /* DEST.part being checked and renamed (pool) */
	DL_ENDING,     /* DEST.part being discarded (pool): then it fails */
};

/* The longest validator (ETag or Last-Modified) kept for If-Range; a
 * longer one is not used. */
#define DL_VALIDATOR_MAX 200

struct download;

/* What a transfer tells the kind, which hands these to it: the transfer
 * knows nothing of files and jobs. */
struct download_events {
	/* Everything arrived: check the hash and put the file in place. */
	void (*succeeded)(struct download *d);
	/* Stop whatever runs and fail the job with the recorded failure. */
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
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	bool in_multi; /* added to the multi handle */
	bool paused;   /* receiving stopped (curl_easy_pause) */
	bool begin_held; /* an attempt waits for job.resume to begin */
	struct event *retry_ev;
	struct event *resume_ev; /* job.resume, on the next turn of the loop */
	int attempt; /* retries done */
	long long started_ms;
	/* The response of this attempt. */
	bool response_seen;
	long status;
	int64_t range_start, range_total; /* its Content-Range, or -1 */
	uint64_t skip;     /* leading bytes to drop: we have them already */
	bool have_all;     /* a 416 saying the part is the whole file */
	bool again;        /* start a new attempt at once, from byte 0 */
	char resp_etag[DL_VALIDATOR_MAX + 1]; /* strong ETag, or "" */
	char resp_modified[64];               /* Last-Modified, or "" */
	char resp_date[64];                   /* Date, or "" */
	/* What we have. */
	uint64_t have; /* bytes of the file, resumed part included */
	/* The validator of the body we have (If-Range), from the first
	 * response or the resume note of an earlier attempt; NULL: none. */
	char *validator;
	struct curl_slist *headers; /* this attempt's If-Range */
	bool keep_for_restart; /* stopping for a restart: keep DEST.part */
	/* From an earlier attempt's resume note: its resolved DEST, and the
	 * bytes its part held at a stop (-1: not known). */
	char *note_path;
	int64_t note_offset;
	int64_t total; /* the whole size when known, else -1 */
	char *content_type;
	/* A failure to end with; a callback records it. */
	const char *fail_code;
	char fail_msg[300];
	long fail_status; /* http-error */
	int fail_errno;   /* io-error */
	bool fail_retryable;
	/* Where the bytes go. */
	struct download_file *file; /* NULL when streaming */
	EVP_MD_CTX *sha;            /* streaming: the hash */
};

/* transfer.c */

/* Records the failure to end with; the first one wins. */
void download_record(struct download *d, const char *code, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

/* Sets up what D's transfers need before the first one. */
void download_transfer_init(struct download *d);
/* Starts an attempt: from byte HAVE when we have some. */
void download_transfer_begin(struct download *d);
/* Lets a paused transfer go on. */
void download_transfer_unpause(struct download *d);
/* job.pause (PAUSED) or job.resume of D's job. */
void download_transfer_pause_job(struct download *d, bool paused);
/* Takes the transfer out of libcurl and stops a pending retry. */
void download_transfer_stop(struct download *d);
/* The URL the transfer ended at, after redirects. */
const char *download_transfer_url(struct download *d);
/* Frees what download_transfer_init and the attempts made. */
void download_transfer_free(struct download *d);

#endif
