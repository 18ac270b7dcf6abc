/* Spawning with clone(CLONE_VM | CLONE_VFORK), see spawn.h.
 *
 * Why not fork(): fork copies the page tables of the whole daemon, which
 * costs in proportion to its memory (issue 5 measured ~100 spawns/s from
 * a parent with 256 MiB touched). A CLONE_VM child shares the memory and
 * the calling thread sleeps until the child has exec'd (CLONE_VFORK), the
 * way glibc's posix_spawn works; posix_spawn itself cannot switch the
 * user, hence this file.
 *
 * Rules for the functions marked SPAWN_CHILD, which run in the child:
 * - only system calls on data built before the clone (the spec, the
 *   child struct); no malloc, no stdio, no locks;
 * - raw syscalls for setgroups/setresgid/setresuid: glibc's wrappers
 *   broadcast the change to every thread of the process, and the threads
 *   they would find are the daemon's;
 * - not instrumented by the sanitizers, which do not know this stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spawn.h"
#include "xmalloc.h"

#define SPAWN_CHILD __attribute__((no_sanitize("address", "undefined")))
#define SPAWN_STACK_SIZE (128 * 1024)
/* The child's descriptor for the error pipe until exec closes it; every
 * descriptor it keeps is moved below SPAWN_FIRST_FREE first. */
#define SPAWN_REPORT_FD 4
#define SPAWN_FIRST_FREE 5
/* The system calls taking 32-bit ids, where the plain ones take 16-bit
 * ids (i386, 32-bit arm). */
#ifdef SYS_setresuid32
#define SPAWN_SYS_SETGROUPS SYS_setgroups32
#define SPAWN_SYS_SETRESGID SYS_setresgid32
#define SPAWN_SYS_SETRESUID SYS_setresuid32
#define SPAWN_SYS_SETUID SYS_setuid32
#else
#define SPAWN_SYS_SETGROUPS SYS_setgroups
#define SPAWN_SYS_SETRESGID SYS_setresgid
#define SPAWN_SYS_SETRESUID SYS_setresuid
#define SPAWN_SYS_SETUID SYS_setuid
#endif
/* What execvp searches when there is no PATH at all. */
#define SPAWN_DEFAULT_PATH "/bin:/usr/bin"

/* What the child gets, in the memory it shares with the caller. */
struct spawn_child {
	const struct spawn_spec *spec;
	int out_fd, err_fd, progress_fd; /* the pipes' write ends */
	int report_fd;                   /* the error pipe's write end */
	sigset_t empty;
};

/* Sends STAGE and ERR to the parent and ends the child. */
SPAWN_CHILD __attribute__((noreturn)) static void
spawn_child_fail(const struct spawn_child *c, enum spawn_stage stage, int err)
{
	struct spawn_error e = {stage, err};
	ssize_t n;

	do
		n = write(c->report_fd, &e, sizeof e);
	while (n < 0 && errno == EINTR);
	_exit(127);
}

/* Gives every signal its default action back: the daemon's handlers mean
 * nothing to the program, and an ignored SIGPIPE would be inherited.
 * The raw syscall reaches glibc's internal signals too, which its
 * sigaction() refuses; an all-zero kernel sigaction is SIG_DFL, no flags
 * and an empty mask whatever the architecture's field order. */
SPAWN_CHILD static void
spawn_child_signals(void)
{
	static const unsigned long dfl[8];

	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, (long)sig, dfl, NULL,
				(long)(_NSIG / 8));
}

/* Becomes the user, and checks that root cannot be regained. */
SPAWN_CHILD static void
spawn_child_user(const struct spawn_child *c)
{
	const struct spawn_spec *s = c->spec;

	if (syscall(SPAWN_SYS_SETGROUPS, (long)s->ngroups, s->groups) < 0 ||
	    syscall(SPAWN_SYS_SETRESGID, (long)s->gid, (long)s->gid,
		    (long)s->gid) < 0 ||
	    syscall(SPAWN_SYS_SETRESUID, (long)s->uid, (long)s->uid,
		    (long)s->uid) < 0)
		spawn_child_fail(c, SPAWN_STAGE_USER, errno);
	if (s->uid != 0 && syscall(SPAWN_SYS_SETUID, 0L) == 0)
		spawn_child_fail(c, SPAWN_STAGE_REGAIN, EPERM);
}

/* Closes every descriptor from FIRST up. */
SPAWN_CHILD static void
spawn_child_close_from(const struct spawn_child *c, int first)
{
	struct rlimit rl;

	if (close_range((unsigned)first, ~0U, 0) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	for (rlim_t fd = (rlim_t)first; fd < rl.rlim_cur; fd++)
		close((int)fd);
}

/* Leaves the child with the pipes on 1, 2 and SPAWN_PROGRESS_FD, the
 * error pipe on SPAWN_REPORT_FD (close-on-exec), and nothing else; 0 is
 * left free for stdin. Done first, before anything that may block, so
 * that the descriptors of spawns running meanwhile on other threads are
 * not held. */
SPAWN_CHILD static void
spawn_child_fds(struct spawn_child *c)
{
	int keep[SPAWN_PROGRESS_FD + 1] = {-1, c->out_fd, c->err_fd,
					   c->progress_fd};

	/* Out of the way of the targets first. */
	if (c->report_fd < SPAWN_FIRST_FREE) {
		int fd = fcntl(c->report_fd, F_DUPFD_CLOEXEC, SPAWN_FIRST_FREE);
		if (fd < 0)
			spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
		c->report_fd = fd;
	}
	for (int i = 1; i <= SPAWN_PROGRESS_FD; i++) {
		if (keep[i] >= SPAWN_FIRST_FREE)
			continue;
		keep[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, SPAWN_FIRST_FREE);
		if (keep[i] < 0)
			spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	}
	for (int i = 1; i <= SPAWN_PROGRESS_FD; i++)
		if (dup2(keep[i], i) < 0)
			spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	if (dup3(c->report_fd, SPAWN_REPORT_FD, O_CLOEXEC) < 0)
		spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	c->report_fd = SPAWN_REPORT_FD;
	close(0);
	spawn_child_close_from(c, SPAWN_FIRST_FREE);
}

/* Opens stdin on 0, as the user. O_NONBLOCK so that a FIFO cannot hold
 * the open (and the calling thread) forever; the program gets a blocking
 * descriptor. */
SPAWN_CHILD static void
spawn_child_stdin(const struct spawn_child *c)
{
	int fd = open(c->spec->stdin_path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
	int fl;

	if (fd < 0)
		spawn_child_fail(c, SPAWN_STAGE_STDIN, errno);
	if (fd != 0 && (dup2(fd, 0) < 0 || close(fd) < 0))
		spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	if ((fl = fcntl(0, F_GETFL)) < 0 ||
	    fcntl(0, F_SETFL, fl & ~O_NONBLOCK) < 0)
		spawn_child_fail(c, SPAWN_STAGE_STDIN, errno);
}

/* Tries each candidate file like execvp, without its fallback to a
 * shell: EACCES is remembered, "not there" goes on, anything else stops. */
SPAWN_CHILD static void
spawn_child_exec(const struct spawn_child *c)
{
	const struct spawn_spec *s = c->spec;
	bool denied = false;
	int err = ENOENT;

	for (char *const *p = s->paths; *p != NULL; p++) {
		execve(*p, s->argv, s->envp);
		err = errno;
		if (err == EACCES)
			denied = true;
		else if (err != ENOENT && err != ENOTDIR && err != ESTALE &&
			 err != ENODEV && err != ETIMEDOUT)
			spawn_child_fail(c, SPAWN_STAGE_EXEC, err);
	}
	spawn_child_fail(c, SPAWN_STAGE_EXEC, denied ? EACCES : err);
}

/* The child: default signals, its descriptors, a session of its own, the
 * user, stdin and cwd as that user, exec; any failure goes to the parent
 * with its stage. */
SPAWN_CHILD static int
spawn_child_main(void *arg)
{
	struct spawn_child *c = arg;
	const struct spawn_spec *s = c->spec;

	spawn_child_signals();
	spawn_child_fds(c);
	if (setsid() < 0)
		spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	if (s->switch_user)
		spawn_child_user(c);
	spawn_child_stdin(c);
	if (chdir(s->cwd) < 0)
		spawn_child_fail(c, SPAWN_STAGE_CWD, errno);
	if (sigprocmask(SIG_SETMASK, &c->empty, NULL) < 0)
		spawn_child_fail(c, SPAWN_STAGE_SETUP, errno);
	spawn_child_exec(c);
	return 127;
}

/* ---- The caller's side -------------------------------------------------- */

static void
spawn_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int
spawn_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Runs the child on a fresh stack with every signal blocked (it unblocks
 * them once its handlers are reset). Returns its pid or -1. */
static pid_t
spawn_clone(struct spawn_child *child, int *pidfd)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	sigset_t all, old;
	char *stack;
	pid_t pid;
	int err;

	stack = mmap(NULL, SPAWN_STACK_SIZE + page, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	mprotect(stack, page, PROT_NONE); /* a guard below the stack */
	sigfillset(&all);
	sigemptyset(&child->empty);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(spawn_child_main, stack + page + SPAWN_STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD, child,
		    pidfd);
	err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SPAWN_STACK_SIZE + page);
	errno = err;
	return pid;
}

/* Reads the child's report: 0 when it exec'd, else -1 with ERROR set. */
static int
spawn_report(int fd, struct spawn_error *error)
{
	ssize_t n;

	do
		n = read(fd, error, sizeof *error);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof *error) {
		error->stage = SPAWN_STAGE_SETUP;
		error->err = n < 0 ? errno : EIO;
	}
	return -1;
}

int
spawn_start(const struct spawn_spec *spec, struct spawn_proc *proc,
	    struct spawn_error *error)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, prog[2] = {-1, -1};
	int report[2] = {-1, -1}, pidfd = -1;
	struct spawn_child child;
	siginfo_t si;
	pid_t pid;

	error->stage = SPAWN_STAGE_PARENT;
	if (pipe2(report, O_CLOEXEC) < 0)
		goto fail;
	if (spec->helper) {
		child = (struct spawn_child){.spec = spec, .out_fd = 1,
					    .err_fd = 2,
					    .progress_fd = spec->channel_fd,
					    .report_fd = report[1]};
	} else {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
		    pipe2(prog, O_CLOEXEC) < 0 || spawn_nonblock(out[0]) < 0 ||
		    spawn_nonblock(err[0]) < 0 || spawn_nonblock(prog[0]) < 0)
			goto fail;
		child = (struct spawn_child){.spec = spec, .out_fd = out[1],
					    .err_fd = err[1],
					    .progress_fd = prog[1],
					    .report_fd = report[1]};
	}
	pid = spawn_clone(&child, &pidfd);
	if (pid < 0)
		goto fail;
	spawn_close(&out[1]);
	spawn_close(&err[1]);
	spawn_close(&prog[1]);
	spawn_close(&report[1]);
	if (spawn_report(report[0], error) < 0) {
		/* The child has exited (or is exiting): reap it. */
		while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 &&
		       errno == EINTR)
			;
		errno = error->err;
		goto cleanup;
	}
	spawn_close(&report[0]);
	*proc = (struct spawn_proc){pid, pidfd, out[0], err[0], prog[0]};
	return 0;

fail:
	error->err = errno;
cleanup:
	spawn_close(&pidfd);
	for (int i = 0; i < 2; i++) {
		spawn_close(&out[i]);
		spawn_close(&err[i]);
		spawn_close(&prog[i]);
		spawn_close(&report[i]);
	}
	return -1;
}

/* ---- The PATH search list ----------------------------------------------- */

char **
spawn_search_list(const char *file, const char *path)
{
	size_t n = 1, k = 0, flen = strlen(file);
	const char *p, *colon;
	char **v;

	if (strchr(file, '/') != NULL) {
		v = xcalloc(2, sizeof *v);
		v[0] = xstrdup(file);
		return v;
	}
	if (path == NULL)
		path = SPAWN_DEFAULT_PATH;
	for (p = path; *p != '\0'; p++)
		n += *p == ':';
	v = xcalloc(n + 1, sizeof *v);
	for (p = path;; p = colon + 1) {
		colon = strchrnul(p, ':');
		size_t dlen = (size_t)(colon - p);
		if (dlen == 0) {
			v[k++] = xstrdup(file); /* the working directory */
		} else {
			v[k] = xmalloc(dlen + 1 + flen + 1);
			memcpy(v[k], p, dlen);
			v[k][dlen] = '/';
			memcpy(v[k] + dlen + 1, file, flen + 1);
			k++;
		}
		if (*colon == '\0')
			break;
	}
	return v;
}

void
spawn_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}
