/* Where a download's file goes, and whether it may go there.
 *
 * DEST as given; DEST/NAME when DEST is a directory; without DEST, NAME
 * in the download directory: --download-dir, else ~/Downloads of the
 * daemon's user ($HOME, else the home the user database gives). A daemon
 * running as root serves many users from one directory it owns, so each
 * user gets a subdirectory named after the uid, made on first use (mode
 * 0700, owned by the user): --download-dir (default
 * /var/lib/asyncd/downloads)/UID/. The download directory is made when
 * missing.
 *
 * These run on the worker pool: they touch the file system, as the user
 * where it is the user's file. */
#ifndef ASYNCD_DOWNLOAD_DEST_H
#define ASYNCD_DOWNLOAD_DEST_H

#include <stdbool.h>

struct identity;

/* Sets *PATH (allocated) to where the file of user ID goes; DOWNLOAD_DIR
 * is --download-dir as it was when the job started, or NULL. Returns 0
 * or an errno value; after a failure to make the directory, *PATH is
 * that directory (for the message), else NULL. */
int download_dest_resolve(const struct identity *id, const char *dest,
			  const char *name, const char *download_dir,
			  char **path);
/* Whether the file may be written at PATH: 0, EEXIST for an existing
 * file unless OVERWRITE, EISDIR for a directory, or the errno of the
 * look-up. */
int download_dest_check(const struct identity *id, const char *path,
			bool overwrite);

#endif
