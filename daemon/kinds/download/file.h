/* The file a download writes: DEST.part, opened (or created) as the
 * submitting user, then handed to the network process, which writes and
 * hashes it (net/sink.c); renamed to DEST at the end, or removed. The
 * part is opened, renamed and removed through the descriptor of its
 * directory, taken when it was opened: a directory moved or replaced
 * meanwhile cannot send the rename or the removal elsewhere.
 *
 * Every operation runs on the worker pool (the file system may block)
 * and reports back on the loop through a callback; one at a time. */
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

struct download_file *download_file_new(const struct download_file_spec *spec,
					void *arg);
/* Frees F, which must be idle (no operation running). */
void download_file_free(struct download_file *f);
/* Lets go of F whatever it is doing, for an owner torn down at a forced
 * shutdown: no callback follows; F is freed now if idle, else when the
 * pool hands its operation back. DEST.part stays. NULL is ignored. */
void download_file_release(struct download_file *f);

/* Asks the operation under way (an open, a commit) to stop where it
 * can: its callback then gets ECANCELED. */
void download_file_cancel(struct download_file *f);

/* Resolves DEST (a directory means DEST/NAME), refuses an existing DEST
 * unless overwrite (EEXIST) or a directory (EISDIR), and opens DEST.part
 * for reading and writing: emptied, or as it is with resume. */
void download_file_open(struct download_file *f, download_file_cb done);
/* DEST, once resolved (or the best guess before: for error messages). */
const char *download_file_path(const struct download_file *f);
/* DEST.part's descriptor once open, else -1: F keeps it. */
int download_file_fd(const struct download_file *f);
/* The bytes DEST.part holds now (fstat), or -1. */
int64_t download_file_size(const struct download_file *f);

/* Closes DEST.part and renames it to DEST (refusing to replace DEST
 * unless overwrite: EEXIST). DONE gets 0 or an errno value. */
void download_file_commit(struct download_file *f, download_file_cb done);
/* Ends the file after a failure or a stop: closes DEST.part and removes
 * it unless KEEP; a kept part is flushed to the disk first. DONE gets 0. */
void download_file_discard(struct download_file *f, bool keep,
			   download_file_cb done);
/* After a discard with KEEP: the bytes DEST.part holds, written and
 * flushed (fdatasync), or -1 when that is not known. */
int64_t download_file_kept(const struct download_file *f);

#endif
