/* The file a download writes: DEST.part, created with the submitting
 * user's identity, written and hashed (SHA-256) on the worker pool in
 * order, renamed to DEST at the end. The loop only copies the received
 * bytes into a bounded queue: a slow disk pauses the transfer (see
 * download_file_full), it never blocks the loop.
 *
 * Every operation runs on the pool and reports back on the loop through
 * a callback; at most one runs at a time, and an operation asked for
 * while writes are pending waits for them. */
#ifndef ASYNCD_DOWNLOAD_FILE_H
#define ASYNCD_DOWNLOAD_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Where and how the file is made. Strings are copied. */
struct download_file_spec {
	uid_t uid; /* the submitting user */
	gid_t gid;
	const char *dest; /* absolute, or NULL: inside the download directory */
	const char *name; /* the file name inside a directory */
	/* --download-dir as it is when the job starts (a SIGHUP may change
	 * it later), or NULL; dest.h says where that puts the file. */
	const char *download_dir;
	bool overwrite;
	bool resume; /* keep and continue an existing DEST.part */
};

/* The end of an operation: ERR is 0 or an errno value. */
typedef void (*download_file_cb)(void *arg, int err);

struct download_file;

/* DRAINED is called each time queued bytes reached the file, with 0 or
 * the errno of a failed write, and when the daemon-wide budget frees up
 * after download_file_full() said so: a paused transfer can go on. */
struct download_file *download_file_new(const struct download_file_spec *spec,
					download_file_cb drained, void *arg);
/* Frees F, which must be idle (no operation running). */
void download_file_free(struct download_file *f);
/* Lets go of F whatever it is doing, for an owner torn down at a forced
 * shutdown: no callback follows; F is freed now if idle, else when the
 * pool hands its operation back (that operation stops early when it can;
 * DEST.part stays as it is, for a later attempt or as a crash leaves
 * it). NULL is ignored. */
void download_file_release(struct download_file *f);

/* Resolves DEST (a directory means DEST/NAME), refuses an existing DEST
 * unless overwrite (EEXIST) or a directory (EISDIR), opens DEST.part and,
 * with resume, hashes what it already holds. */
void download_file_open(struct download_file *f, download_file_cb done);
/* DEST, once resolved (or the best guess before: for error messages). */
const char *download_file_path(const struct download_file *f);
/* Bytes found in DEST.part by a resuming open. */
uint64_t download_file_resumed(const struct download_file *f);

/* Queues LEN bytes for writing. */
void download_file_write(struct download_file *f, const void *data,
			 size_t len);
/* Drops the bytes queued and not yet written and, once the write under
 * way (if any) is done, empties DEST.part and restarts the hash: what is
 * queued afterwards is a new body from its first byte. */
void download_file_truncate(struct download_file *f);
/* True when enough is queued, by F or by all downloads together, that
 * the producer should wait for DRAINED. */
bool download_file_full(struct download_file *f);

/* Once every queued byte is written: closes the file and, if WANT_SHA256
 * (hex) is NULL or matches, renames DEST.part to DEST (refusing to
 * replace DEST unless overwrite: EEXIST). A mismatch renames nothing:
 * see download_file_mismatch. DONE gets 0 or an errno value. */
void download_file_commit(struct download_file *f, const char *want_sha256,
			  download_file_cb done);
/* After a commit: the SHA-256 of the whole file in hex, and whether it
 * differed from the one wanted. */
const char *download_file_sha256(const struct download_file *f);
bool download_file_mismatch(const struct download_file *f);

/* Ends the file after a failure or a stop: stops what runs as soon as it
 * can, drops unwritten bytes, closes, and removes DEST.part unless KEEP
 * (then the bytes queued so far are written first). DONE gets 0. */
void download_file_discard(struct download_file *f, bool keep,
			   download_file_cb done);
/* After a discard with KEEP: the bytes DEST.part holds, written and
 * flushed to the disk (fdatasync), or -1 when that is not known. */
int64_t download_file_kept(const struct download_file *f);

#endif
