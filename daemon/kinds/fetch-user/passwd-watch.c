/* The user database files, watched (see passwd-watch.h).
 *
 * Each file's directory is watched, not the file: vipw, useradd and
 * nss_wrapper's tests replace the file by renaming a new one over it,
 * which an inode watch on the old file would not see. Events name the
 * file changed, so the other files of /etc cost a read and a compare.
 * A symbolic link is followed once, at the start. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "../../log.h"
#include "../../runtime.h"
#include "../../xmalloc.h"
#include "passwd-watch.h"

#define PASSWD_WATCH_POLL_MS 100
/* In-place writes, and a file renamed over, made or removed. */
#define PASSWD_WATCH_MASK                                                      \
	(IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |            \
	 IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF)
#define PASSWD_WATCH_NFILES 2

struct passwd_watch_file {
	char *path; /* symbolic links resolved */
	const char *name; /* its last component, in path */
	int wd;           /* its directory's watch */
	struct stat seen; /* when polling */
};

static struct {
	bool started;
	int fd; /* inotify, or -1: polling */
	struct event *ev;
	unsigned long gen;
	long long polled_ms;
	struct passwd_watch_file files[PASSWD_WATCH_NFILES];
} pw = {.fd = -1};

/* The file that holds a database: the one WRAPPER_ENV names when set
 * (nss_wrapper reads that one instead), else /etc's. */
static char *
passwd_watch_path(const char *wrapper_env, const char *etc)
{
	const char *path = getenv(wrapper_env);
	char real[PATH_MAX];

	if (path == NULL || *path == '\0')
		path = etc;
	return xstrdup(realpath(path, real) != NULL ? real : path);
}

static bool
passwd_watch_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Without inotify: a stat() of each file, at most every
 * PASSWD_WATCH_POLL_MS. */
static void
passwd_watch_poll(void)
{
	long long now = now_mono_ms();
	bool changed = false;

	if (pw.polled_ms != 0 && now - pw.polled_ms < PASSWD_WATCH_POLL_MS)
		return;
	pw.polled_ms = now;
	for (int i = 0; i < PASSWD_WATCH_NFILES; i++) {
		struct passwd_watch_file *f = &pw.files[i];
		struct stat st;
		if (stat(f->path, &st) < 0)
			memset(&st, 0, sizeof st);
		if (!passwd_watch_same(&st, &f->seen)) {
			f->seen = st;
			changed = true;
		}
	}
	if (changed)
		pw.gen++;
}

/* Gives up inotify for polling (a watch that went away, a read that
 * failed). */
static void
passwd_watch_to_polling(void)
{
	if (pw.ev != NULL)
		event_free(pw.ev);
	pw.ev = NULL;
	close(pw.fd);
	pw.fd = -1;
	pw.gen++;
}

/* Whether event E may be about one of the files. */
static bool
passwd_watch_relevant(const struct inotify_event *e)
{
	if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF |
		       IN_MOVE_SELF | IN_UNMOUNT))
		return true;
	for (int i = 0; i < PASSWD_WATCH_NFILES; i++)
		if (e->wd == pw.files[i].wd && e->len > 0 &&
		    strcmp(e->name, pw.files[i].name) == 0)
			return true;
	return false;
}

/* Reads every event queued (mostly none: one read() that fails with
 * EAGAIN) and moves the generation on if one is about the files. */
static void
passwd_watch_drain(void)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool gone = false;
	ssize_t n;

	while ((n = read(pw.fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (void *)p;
			if (passwd_watch_relevant(e))
				pw.gen++;
			gone |= (e->mask & IN_IGNORED) != 0;
			p += sizeof *e + e->len;
		}
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		log_warn("inotify on the user database");
		gone = true;
	}
	if (gone)
		passwd_watch_to_polling();
}

static void
passwd_watch_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	passwd_watch_drain();
}

/* Watches each file's directory; false when inotify cannot. */
static bool
passwd_watch_add(void)
{
	for (int i = 0; i < PASSWD_WATCH_NFILES; i++) {
		struct passwd_watch_file *f = &pw.files[i];
		char *dir = xstrdup(f->path), *slash = strrchr(dir, '/');
		if (slash != NULL)
			*(slash == dir ? slash + 1 : slash) = '\0';
		f->wd = inotify_add_watch(pw.fd, slash != NULL ? dir : ".",
					  PASSWD_WATCH_MASK);
		free(dir);
		if (f->wd < 0)
			return false;
	}
	return true;
}

static void
passwd_watch_start(void)
{
	static const char *const files[PASSWD_WATCH_NFILES][2] = {
		{"NSS_WRAPPER_PASSWD", "/etc/passwd"},
		{"NSS_WRAPPER_GROUP", "/etc/group"},
	};

	pw.started = true;
	for (int i = 0; i < PASSWD_WATCH_NFILES; i++) {
		struct passwd_watch_file *f = &pw.files[i];
		const char *slash;
		f->path = passwd_watch_path(files[i][0], files[i][1]);
		slash = strrchr(f->path, '/');
		f->name = slash != NULL ? slash + 1 : f->path;
	}
	pw.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pw.fd < 0 || !passwd_watch_add()) {
		log_warn("inotify on the user database: checking it every "
			 "%d ms instead", PASSWD_WATCH_POLL_MS);
		if (pw.fd >= 0)
			close(pw.fd);
		pw.fd = -1;
		return;
	}
	pw.ev = event_new(daemon_base, pw.fd, EV_READ | EV_PERSIST,
			  passwd_watch_cb, NULL);
	event_add(pw.ev, NULL);
}

unsigned long
passwd_watch_generation(void)
{
	if (!pw.started)
		passwd_watch_start();
	/* Read the queue here too, not only from the event: a change made
	 * after this loop pass polled shows there only at the next pass,
	 * while a request read in this one is answered now. A read that
	 * finds nothing costs less than the two stat() it replaces, and is
	 * simpler than event priorities (which would not cover that case). */
	if (pw.fd >= 0)
		passwd_watch_drain();
	else
		passwd_watch_poll();
	return pw.gen;
}

void
passwd_watch_free(void)
{
	if (pw.fd >= 0)
		passwd_watch_to_polling();
	for (int i = 0; i < PASSWD_WATCH_NFILES; i++) {
		free(pw.files[i].path);
		pw.files[i] = (struct passwd_watch_file){.wd = -1};
	}
	pw.started = false;
	pw.polled_ms = 0;
}
