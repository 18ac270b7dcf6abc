/* Per-thread filesystem identity switching (see identity.h).
 *
 * glibc's setgroups() changes every thread of the process (it broadcasts
 * to all of them), so the raw system call is used: it changes only the
 * calling thread. setfsuid()/setfsgid() are per-thread already and never
 * report failure: each change is checked with a call of -1, which changes
 * nothing and returns the current value.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "userdb.h"
#include "xmalloc.h"

/* The daemon's own identity, read once, before any thread switches. */
static pthread_once_t identity_once = PTHREAD_ONCE_INIT;
static uid_t own_uid;
static gid_t own_gid;
static gid_t *own_groups;
static size_t own_ngroups;

static void
identity_read_own(void)
{
	int n;

	own_uid = geteuid();
	own_gid = getegid();
	n = getgroups(0, NULL);
	if (n < 0)
		fatal("getgroups");
	own_groups = xcalloc((size_t)n + 1, sizeof *own_groups);
	n = getgroups(n, own_groups);
	if (n < 0)
		fatal("getgroups");
	own_ngroups = (size_t)n;
}

bool
identity_may_act_as(uid_t uid)
{
	pthread_once(&identity_once, identity_read_own);
	return own_uid == 0 || uid == own_uid;
}

int
identity_lookup(struct identity *id, uid_t uid, gid_t gid)
{
	struct userdb_user u;
	int rc;

	pthread_once(&identity_once, identity_read_own);
	memset(id, 0, sizeof *id);
	if (!identity_may_act_as(uid))
		return -EPERM;
	id->uid = uid;
	id->gid = gid;
	id->active = own_uid == 0 && uid != 0;
	if (!id->active)
		return 0;
	rc = userdb_by_uid(uid, &u);
	if (rc == ENOENT) {
		/* No entry: the peer's own gid is all we know of. */
		id->groups = xmalloc(sizeof *id->groups);
		id->groups[0] = gid;
		id->ngroups = 1;
		return 0;
	}
	if (rc != 0)
		return -rc;
	rc = userdb_grouplist(u.name, u.gid, &id->groups, &id->ngroups);
	userdb_user_free(&u);
	return -rc;
}

void
identity_release(struct identity *id)
{
	free(id->groups);
	id->groups = NULL;
	id->ngroups = 0;
}

/* Sets the calling thread's supplementary groups: 0 or -errno. */
static int
identity_setgroups(const gid_t *groups, size_t n)
{
	if (syscall(SYS_setgroups, n, groups) < 0)
		return -errno;
	return 0;
}

int
identity_enter(const struct identity *id)
{
	int rc;

	if (!id->active)
		return 0;
	pthread_once(&identity_once, identity_read_own);
	if ((rc = identity_setgroups(id->groups, id->ngroups)) < 0)
		return rc;
	setfsgid(id->gid);
	setfsuid(id->uid);
	if ((uid_t)setfsuid((uid_t)-1) != id->uid ||
	    (gid_t)setfsgid((gid_t)-1) != id->gid) {
		identity_leave(id);
		return -EPERM;
	}
	return 0;
}

void
identity_leave(const struct identity *id)
{
	if (!id->active)
		return;
	/* The uid first: back at 0 it has the capabilities again. */
	setfsuid(own_uid);
	setfsgid(own_gid);
	if ((uid_t)setfsuid((uid_t)-1) != own_uid ||
	    (gid_t)setfsgid((gid_t)-1) != own_gid ||
	    identity_setgroups(own_groups, own_ngroups) < 0) {
		/* Going on would serve one user with another's rights. */
		log_warnx("cannot restore the daemon's identity");
		abort();
	}
}

int
identity_open(const struct identity *id, const char *path, int flags,
	      mode_t mode)
{
	int rc, fd, err;

	if ((rc = identity_enter(id)) < 0)
		return rc;
	fd = open(path, flags | O_CLOEXEC, mode);
	err = errno;
	identity_leave(id);
	return fd < 0 ? -err : fd;
}

int
identity_stat(const struct identity *id, const char *path, struct stat *st)
{
	int rc, err;

	if ((rc = identity_enter(id)) < 0)
		return rc;
	rc = stat(path, st);
	err = errno;
	identity_leave(id);
	return rc < 0 ? -err : 0;
}

int
identity_unlink(const struct identity *id, const char *path)
{
	int rc, err;

	if ((rc = identity_enter(id)) < 0)
		return rc;
	rc = unlink(path);
	err = errno;
	identity_leave(id);
	return rc < 0 ? -err : 0;
}

int
identity_rename(const struct identity *id, const char *from, const char *to)
{
	int rc, err;

	if ((rc = identity_enter(id)) < 0)
		return rc;
	rc = rename(from, to);
	err = errno;
	identity_leave(id);
	return rc < 0 ? -err : 0;
}
