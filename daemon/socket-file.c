/* The socket file a daemon listens on (see socket-file.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "socket-file.h"
#include "xmalloc.h"

/* Creates the directory holding the socket when it is missing, and
 * refuses one that someone else could swap the socket in (another user's,
 * or writable by others without the sticky bit). */
static int
make_parent_dir(const char *path, mode_t mode)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	struct stat st;
	int rc = 0;

	if (slash == NULL || slash == dir)
		goto out;
	*slash = '\0';
	if (mkdir(dir, mode) < 0 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		rc = -1;
	} else if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) ||
		   (st.st_uid != geteuid() && st.st_uid != 0) ||
		   ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX))) {
		log_warnx("%s: not a directory of this user's, closed to others",
			  dir);
		rc = -1;
	}
out:
	free(dir);
	return rc;
}

/* -1 and a log line when PATH is served by a live daemon, is not a
 * socket, or cannot be checked; removes a stale socket file. */
static int
claim_path(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc, err;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : (log_warn("%s", path), -1);
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket", path);
		return -1;
	}
	/* Stale only when a connect is refused: without a socket to try
	 * (EMFILE) or on another error, a live daemon may be serving it. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		log_warn("%s: cannot tell whether another asyncd serves it: "
			 "socket",
			 path);
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	err = errno;
	close(fd);
	if (rc == 0) {
		log_warnx("%s: another asyncd is serving it", path);
		return -1;
	}
	if (err != ECONNREFUSED && err != ENOENT) {
		errno = err;
		log_warn("%s: cannot tell whether another asyncd serves it: "
			 "connect",
			 path);
		return -1;
	}
	log_info("removing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("unlink %s", path);
		return -1;
	}
	return 0;
}

int
socket_file_bind(const char *path, int mode)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	mode_t old_umask;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		log_warnx("socket path too long: %s", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if (make_parent_dir(path, geteuid() == 0 ? 0755 : 0700) < 0 ||
	    claim_path(path, &sun) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_warn("socket");
		return -1;
	}
	/* No moment with a wider mode than asked for. */
	old_umask = umask(0777 & ~(mode_t)mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		log_warn("bind %s", path);
		umask(old_umask);
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (chmod(path, (mode_t)mode) < 0 || listen(fd, SOMAXCONN) < 0) {
		log_warn("%s", path);
		unlink(path);
		close(fd);
		return -1;
	}
	return fd;
}

