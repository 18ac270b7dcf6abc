/* Acting as the submitting user for file access.
 *
 * When the daemon runs as root, a worker thread takes the user's
 * filesystem identity (raw setgroups syscall, setfsgid, setfsuid: all
 * per-thread) around each file operation and restores the daemon's own
 * right after, so that a user reaches through asyncd only what it could
 * reach itself. When the daemon is not root (or the user is root) nothing
 * is switched: the daemon's permissions already are the user's.
 *
 * Use from the worker pool: identity_lookup() asks NSS, which may block,
 * and switching identity on the loop thread would affect everything else
 * it does meanwhile.
 */
#ifndef ASYNCD_IDENTITY_H
#define ASYNCD_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct identity {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups, malloc'd */
	size_t ngroups;
	bool active; /* switching is needed */
};

/* Whether this daemon may act for user UID: as root it becomes any user
 * for the work it does for them, otherwise it is only itself. The one
 * answer the server (at accept) and every kind (before it touches a
 * file or runs a program) ask. */
bool identity_may_act_as(uid_t uid);

/* Sets ID up for user UID with primary group GID (a peer's credentials):
 * the supplementary groups are those the user database gives the user
 * (none beyond GID when it has no entry). Returns 0, -EPERM when this
 * daemon may not act as UID, or -errno when the user database failed. Free with identity_release(). */
int identity_lookup(struct identity *id, uid_t uid, gid_t gid);
void identity_release(struct identity *id);

/* Takes ID's filesystem identity on the calling thread: 0, or -errno
 * (nothing switched then). Every successful call must be paired with
 * identity_leave() on the same thread before it does anything else. */
int identity_enter(const struct identity *id);
/* Restores the daemon's own identity; aborts if that fails. */
void identity_leave(const struct identity *id);

/* open(2) as ID (O_CLOEXEC added): a descriptor, or -errno. */
int identity_open(const struct identity *id, const char *path, int flags,
		  mode_t mode);
/* stat(2) as ID: 0 or -errno. */
int identity_stat(const struct identity *id, const char *path,
		  struct stat *st);
/* unlink(2) as ID: 0 or -errno. */
int identity_unlink(const struct identity *id, const char *path);
/* rename(2) as ID: 0 or -errno. */
int identity_rename(const struct identity *id, const char *from,
		    const char *to);

#endif
