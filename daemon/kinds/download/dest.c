/* Where a download's file goes: the destination, the download directory
 * and the per-user directories of a root daemon (see dest.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dest.h"
#include "../../identity.h"
#include "../../log.h"
#include "../../userdb.h"
#include "../../xmalloc.h"

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

/* mkdir -p DIR as the daemon; 0 or an errno value. */
static int
make_dirs(const char *dir, mode_t mode)
{
	char *copy = xstrdup(dir);
	int err = 0;

	for (char *s = strchr(copy + 1, '/');; s = strchr(s + 1, '/')) {
		if (s != NULL)
			*s = '\0';
		if (copy[0] != '\0' && mkdir(copy, mode) < 0 && errno != EEXIST) {
			err = errno;
			break;
		}
		if (s == NULL)
			break;
		*s = '/';
	}
	free(copy);
	return err;
}

/* As root: BASE/UID, a directory owned by the user, mode 0700. */
static int
user_subdir(const struct identity *id, const char *base, char **out)
{
	char uid[16];
	struct stat st;
	int err, fd;

	if ((err = make_dirs(base, DOWNLOAD_DIR_MODE)) != 0)
		return err;
	snprintf(uid, sizeof uid, "%u", (unsigned)id->uid);
	*out = path_join(base, uid);
	if (mkdir(*out, DOWNLOAD_USER_DIR_MODE) < 0 && errno != EEXIST)
		return errno;
	fd = open(*out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	err = 0;
	if (fstat(fd, &st) < 0)
		err = errno;
	else if (st.st_uid != id->uid && fchown(fd, id->uid, id->gid) < 0)
		err = errno;
	close(fd);
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
