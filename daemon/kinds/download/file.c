/* A download's file on the daemon's side (see file.h): where it goes
 * (dest.c), opened, renamed and removed as the user on the worker pool.
 * The bytes are the network process's business: it gets the descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../identity.h"
#include "../../log.h"
#include "../../pool.h"
#include "../../xmalloc.h"
#include "dest.h"
#include "file.h"

#define DOWNLOAD_FILE_MODE 0644

struct download_file {
	/* Read-only after creation. */
	uid_t uid;
	gid_t gid;
	char *dest, *name;
	char *download_dir;
	bool overwrite, resume;
	void *arg;
	/* The worker's while an operation runs. */
	struct identity id;
	bool have_id;
	char *path;      /* DEST */
	char *base;      /* DEST's last component */
	char *part_name; /* BASE.part */
	int dir_fd;      /* DEST's directory */
	int fd;          /* DEST.part */
	bool part_opened; /* DEST.part is ours to remove */
	int64_t kept;
	bool keep;
	int op_err;
	/* The loop's. */
	struct pool_work *work;
	download_file_cb done;
	bool released; /* the owner is gone: freed when the operation ends */
};

/* ---- Worker side -------------------------------------------------------- */

/* Opens DEST's directory and DEST.part in it as the user: a regular file
 * (never a FIFO that would block the worker), created, or kept for
 * resuming. */
static int
open_part(struct download_file *f)
{
	int flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
	char *copy = xstrdup(f->path);
	struct stat st;
	int rc, err = 0;

	f->base = xstrdup(basename(f->path));
	if (asprintf(&f->part_name, "%s.part", f->base) < 0)
		fatal("asprintf");
	if (!f->resume)
		flags |= O_TRUNC;
	if ((rc = identity_enter(&f->id)) < 0) {
		free(copy);
		return -rc;
	}
	f->dir_fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dir_fd < 0)
		err = errno;
	else if ((f->fd = openat(f->dir_fd, f->part_name, flags,
				 DOWNLOAD_FILE_MODE)) < 0)
		err = errno;
	identity_leave(&f->id);
	free(copy);
	if (err != 0)
		return err;
	f->part_opened = true;
	if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(f->fd, F_SETFL, 0) < 0)
		return EINVAL;
	return 0;
}

static void
open_work(struct pool_work *w, void *arg)
{
	struct download_file *f = arg;
	int rc;

	if (pool_cancelled(w)) {
		f->op_err = ECANCELED;
		return;
	}
	rc = identity_lookup(&f->id, f->uid, f->gid);

	if (rc < 0) {
		f->op_err = -rc;
		return;
	}
	f->have_id = true;
	if ((f->op_err = download_dest_resolve(&f->id, f->dest, f->name,
					       f->download_dir, &f->path)) != 0 ||
	    (f->op_err = download_dest_check(&f->id, f->path,
					     f->overwrite)) != 0)
		return;
	f->op_err = open_part(f);
}

/* renameat2(2) as the user, in the directory the part was made in;
 * without overwrite never replaces DEST. */
static int
rename_part(struct download_file *f)
{
	struct stat st;
	int rc, err = 0;

	if ((rc = identity_enter(&f->id)) < 0)
		return -rc;
	if (renameat2(f->dir_fd, f->part_name, f->dir_fd, f->base,
		      f->overwrite ? 0 : RENAME_NOREPLACE) < 0) {
		err = errno;
		/* A file system without RENAME_NOREPLACE: check, then rename. */
		if (err == EINVAL && !f->overwrite &&
		    fstatat(f->dir_fd, f->base, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    errno == ENOENT)
			err = renameat(f->dir_fd, f->part_name, f->dir_fd,
				       f->base) < 0
				      ? errno
				      : 0;
		else if (err == EINVAL && !f->overwrite)
			err = EEXIST;
	}
	identity_leave(&f->id);
	return err;
}

static void
commit_work(struct pool_work *w, void *arg)
{
	struct download_file *f = arg;

	if (pool_cancelled(w)) {
		f->op_err = ECANCELED;
		return;
	}
	if (close(f->fd) < 0 && errno != EINTR) {
		f->fd = -1;
		f->op_err = errno;
		return;
	}
	f->fd = -1;
	f->op_err = rename_part(f);
}

/* A kept part is flushed (a later attempt trusts its size), and `kept`
 * says how many bytes it holds; any other is removed. */
static void
discard_work(struct pool_work *w UNUSED, void *arg)
{
	struct download_file *f = arg;
	struct stat st;
	int rc;

	if (f->fd >= 0) {
		if (f->keep && fdatasync(f->fd) == 0 && fstat(f->fd, &st) == 0)
			f->kept = (int64_t)st.st_size;
		close(f->fd);
		f->fd = -1;
	}
	if (f->keep || !f->part_opened)
		return;
	if ((rc = identity_enter(&f->id)) == 0) {
		if (unlinkat(f->dir_fd, f->part_name, 0) < 0)
			rc = -errno;
		identity_leave(&f->id);
	}
	if (rc < 0 && rc != -ENOENT)
		log_warnx("cannot remove %s.part: %s", f->path, strerror(-rc));
}

/* ---- Loop side ---------------------------------------------------------- */

static void
op_done(void *arg, bool cancelled)
{
	struct download_file *f = arg;

	f->work = NULL;
	if (f->released) {
		download_file_free(f);
		return;
	}
	if (cancelled && f->op_err == 0)
		f->op_err = ECANCELED;
	f->done(f->arg, f->op_err);
}

static void
submit(struct download_file *f, pool_work_fn fn, download_file_cb done)
{
	f->done = done;
	f->op_err = 0;
	f->work = pool_submit(fn, op_done, f);
}

struct download_file *
download_file_new(const struct download_file_spec *spec, void *arg)
{
	struct download_file *f = xcalloc(1, sizeof *f);

	f->uid = spec->uid;
	f->gid = spec->gid;
	f->dest = spec->dest ? xstrdup(spec->dest) : NULL;
	f->name = xstrdup(spec->name);
	f->download_dir = spec->download_dir ? xstrdup(spec->download_dir)
					     : NULL;
	f->overwrite = spec->overwrite;
	f->resume = spec->resume;
	f->dir_fd = -1;
	f->fd = -1;
	f->kept = -1;
	f->arg = arg;
	return f;
}

void
download_file_free(struct download_file *f)
{
	if (f == NULL)
		return;
	if (f->work != NULL)
		fatalx("download_file_free while an operation runs");
	if (f->fd >= 0)
		close(f->fd);
	if (f->dir_fd >= 0)
		close(f->dir_fd);
	if (f->have_id)
		identity_release(&f->id);
	free(f->dest);
	free(f->name);
	free(f->download_dir);
	free(f->path);
	free(f->base);
	free(f->part_name);
	free(f);
}

void
download_file_release(struct download_file *f)
{
	if (f == NULL)
		return;
	if (f->work == NULL) {
		download_file_free(f);
		return;
	}
	f->released = true;
	pool_cancel(f->work);
}

void
download_file_cancel(struct download_file *f)
{
	if (f->work != NULL)
		pool_cancel(f->work);
}

void
download_file_open(struct download_file *f, download_file_cb done)
{
	submit(f, open_work, done);
}

const char *
download_file_path(const struct download_file *f)
{
	if (f->path != NULL)
		return f->path;
	return f->dest != NULL ? f->dest : f->name;
}

int
download_file_fd(const struct download_file *f)
{
	return f->fd;
}

int64_t
download_file_size(const struct download_file *f)
{
	struct stat st;

	if (f->fd < 0 || fstat(f->fd, &st) < 0)
		return -1;
	return (int64_t)st.st_size;
}

void
download_file_commit(struct download_file *f, download_file_cb done)
{
	submit(f, commit_work, done);
}

void
download_file_discard(struct download_file *f, bool keep,
		      download_file_cb done)
{
	f->keep = keep;
	submit(f, discard_work, done);
}

int64_t
download_file_kept(const struct download_file *f)
{
	return f->kept;
}
