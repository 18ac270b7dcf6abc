/* Where a download's file goes: the destination, the download directory
 * and the per-user directories of a root daemon (see dest.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../identity.h"
#include "../../log.h"
#include "../../userdb.h"
#include "../../xmalloc.h"
#include "dest.h"

#define DOWNLOAD_ROOT_DIR "/var/lib/asyncd/downloads"
#define DOWNLOAD_DIR_MODE 0755
#define DOWNLOAD_USER_DIR_MODE 0700

static char *
path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	char *p;

	if (asprintf(&p, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/",
		     name) < 0)
		fatal("asprintf");
	return p;
}

/* Enters NAME under AT (made with MODE if missing): a symbolic link is
 * followed only when root owns it, since another user's could send root
 * anywhere. The directory's descriptor, or -1 with errno set. */
static int
enter_dir(int at, const char *name, mode_t mode)
{
	struct stat st;
	int fd;

	if (mkdirat(at, name, mode) < 0 && errno != EEXIST)
		return -1;
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd;
	if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISLNK(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (st.st_uid != 0) {
		log_warnx("%s: a link of uid %u in the download directory's path; "
			  "refused", name, (unsigned)st.st_uid);
		errno = ELOOP;
		return -1;
	}
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* As root: opens DIR, made (MODE) where missing, from / one component at
 * a time (enter_dir), and refuses it when others may write it without
 * the sticky bit (they could swap the users' directories). The
 * descriptor, or -1 with errno set. */
static int
open_base_dir(const char *dir, mode_t mode)
{
	char *copy = xstrdup(dir), *save = NULL;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), next, err;
	struct stat st;

	for (char *name = strtok_r(copy, "/", &save); name != NULL && fd >= 0;
	     name = strtok_r(NULL, "/", &save)) {
		next = enter_dir(fd, name, mode);
		err = errno;
		close(fd);
		fd = next;
		errno = err;
	}
	err = errno;
	free(copy);
	if (fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0002) &&
	    !(st.st_mode & S_ISVTX)) {
		log_warnx("download directory %s: others may write it; refused",
			  dir);
		close(fd);
		fd = -1;
		err = EPERM;
	}
	errno = err;
	return fd;
}

/* As root: BASE/UID, the user's own directory: made mode 0700 and given
 * to the user; one that is there already must be the user's, or root's
 * (then it is given to the user), never a third user's. */
static int
user_subdir(const struct identity *id, const char *base, char **out)
{
	char uid[16];
	struct stat st;
	int err = 0, base_fd, fd;

	snprintf(uid, sizeof uid, "%u", (unsigned)id->uid);
	*out = path_join(base, uid);
	if ((base_fd = open_base_dir(base, DOWNLOAD_DIR_MODE)) < 0)
		return errno;
	if (mkdirat(base_fd, uid, DOWNLOAD_USER_DIR_MODE) < 0 && errno != EEXIST)
		err = errno;
	else if ((fd = openat(base_fd, uid, O_RDONLY | O_DIRECTORY |
						   O_NOFOLLOW | O_CLOEXEC)) < 0)
		err = errno;
	else {
		if (fstat(fd, &st) < 0)
			err = errno;
		else if (st.st_uid == 0 &&
			 (fchown(fd, id->uid, id->gid) < 0 ||
			  fchmod(fd, DOWNLOAD_USER_DIR_MODE) < 0))
			err = errno;
		else if (st.st_uid != 0 && st.st_uid != id->uid) {
			log_warnx("%s belongs to uid %u, not to uid %u; refused",
				  *out, (unsigned)st.st_uid, (unsigned)id->uid);
			err = EACCES;
		}
		close(fd);
	}
	close(base_fd);
	return err;
}

/* The daemon user's ~/Downloads: $HOME's, else the user database's. */
static int
home_downloads(char **out)
{
	const char *home = getenv("HOME");
	struct userdb_user u;
	int err;

	if (home != NULL && home[0] == '/') {
		if (asprintf(out, "%s/Downloads", home) < 0)
			fatal("asprintf");
		return 0;
	}
	if ((err = userdb_by_uid(geteuid(), &u)) != 0)
		return err;
	*out = path_join(u.home, "Downloads");
	userdb_user_free(&u);
	return 0;
}

/* The directory a download without dest goes to, made if missing: the
 * one place that decides it (see dest.h). */
static int
default_dir(const struct identity *id, const char *configured, char **out)
{
	int err;

	if (geteuid() == 0)
		return user_subdir(id, configured != NULL ? configured
							  : DOWNLOAD_ROOT_DIR,
				   out);
	if (configured != NULL)
		*out = xstrdup(configured);
	else if ((err = home_downloads(out)) != 0)
		return err;
	if (mkdir(*out, DOWNLOAD_DIR_MODE) < 0 && errno != EEXIST)
		return errno;
	return 0;
}

int
download_dest_resolve(const struct identity *id, const char *dest,
		      const char *name, const char *download_dir,
		      char **path)
{
	struct stat st;
	char *dir = NULL;
	int rc;

	*path = NULL;
	if (dest == NULL) {
		if ((rc = default_dir(id, download_dir, &dir)) != 0) {
			*path = dir;
			return rc;
		}
		*path = path_join(dir, name);
		free(dir);
		return 0;
	}
	rc = identity_stat(id, dest, &st);
	if (rc == 0 && S_ISDIR(st.st_mode))
		*path = path_join(dest, name);
	else if (rc == 0 || rc == -ENOENT)
		*path = xstrdup(dest);
	else
		return -rc;
	return 0;
}

int
download_dest_check(const struct identity *id, const char *path,
		    bool overwrite)
{
	struct stat st;
	int rc = identity_stat(id, path, &st);

	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return -rc;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	return overwrite ? 0 : EEXIST;
}
