/* The state directory: resolved, checked and locked at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "state-dir.h"
#include "xmalloc.h"

#define STATE_DIR_SYSTEM "/var/lib/asyncd"

char *
state_dir_resolve(const char *option)
{
	const char *base;
	char *dir;

	if (option != NULL)
		return strcmp(option, "none") == 0 ? NULL : xstrdup(option);
	if (geteuid() == 0)
		return xstrdup(STATE_DIR_SYSTEM);
	if ((base = getenv("XDG_STATE_HOME")) != NULL && base[0] == '/') {
		if (asprintf(&dir, "%s/asyncd", base) < 0)
			fatal("asprintf");
	} else if ((base = getenv("HOME")) != NULL && base[0] == '/') {
		if (asprintf(&dir, "%s/.local/state/asyncd", base) < 0)
			fatal("asprintf");
	} else {
		if (asprintf(&dir, "/tmp/asyncd-%u/state", (unsigned)geteuid()) < 0)
			fatal("asprintf");
	}
	return dir;
}

/* mkdir -p with MODE for the directories it makes. */
static int
make_dirs(const char *dir, mode_t mode)
{
	char *path = xstrdup(dir);
	int rc = 0;

	for (char *p = path + 1; *p != '\0' && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) < 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (rc == 0 && mkdir(path, mode) < 0 && errno != EEXIST)
		rc = -1;
	if (rc < 0)
		log_warn("state directory %s: mkdir", path);
	free(path);
	return rc;
}

/* Refuses a directory someone else could swap files in. Its mode may let
 * others through (the system service's is 0711, for the download
 * directories under it): the files in it are 0600. */
static int
check_owner_mode(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) < 0) {
		log_warn("state directory %s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("state directory %s: not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_warnx("state directory %s: owned by uid %u, not by this "
			  "daemon's uid %u; fix its owner or give another "
			  "--state-dir", dir, (unsigned)st.st_uid,
			  (unsigned)geteuid());
		return -1;
	}
	if (st.st_mode & 0022) {
		log_warnx("state directory %s: writable by others (mode %04o); "
			  "make it 0700 or give another --state-dir", dir,
			  (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* An flock on DIR/asyncd.lock, never released: the kernel drops it when
 * the daemon exits, however it exits. */
static int
take_lock(const char *dir)
{
	char path[4096], pid[32];
	struct stat st;
	int fd, len;

	snprintf(path, sizeof path, "%s/asyncd.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
			pid[n > 0 ? n : 0] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
			log_warnx("state directory %s is in use by another "
				  "asyncd%s%s; stop it first or give another "
				  "--state-dir", dir, pid[0] ? ", pid " : "", pid);
		} else {
			log_warn("%s: flock", path);
		}
		close(fd);
		return -1;
	}
	/* The pid is for the message above, not for the locking. It is
	 * written over the last one, and the file cut only when that was
	 * longer: a truncation is a journalled change on ext4, a fifth of a
	 * millisecond of every start. */
	len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (pwrite(fd, pid, (size_t)len, 0) != len ||
	    (fstat(fd, &st) == 0 && st.st_size > len && ftruncate(fd, len) < 0))
		log_warn("%s", path);
	return 0;
}

int
state_dir_open(const char *dir)
{
	if (dir[0] != '/') {
		log_warnx("state directory %s: not an absolute path", dir);
		return -1;
	}
	if (make_dirs(dir, 0700) < 0 || check_owner_mode(dir) < 0)
		return -1;
	return take_lock(dir);
}
