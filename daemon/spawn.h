/* Starting a program without forking the daemon's memory: a
 * clone(CLONE_VM | CLONE_VFORK) child on a small stack of its own sets
 * itself up (session, signals, user, stdin, cwd, descriptors) and execs.
 *
 * The child shares the daemon's memory while it runs, so it only makes
 * system calls on data built before the clone: no allocation, no locks,
 * no NSS, no glibc set*id() (those signal every thread of the daemon).
 * Whatever fails in the child reaches the parent through a close-on-exec
 * pipe as (stage, errno). Call from a worker thread: the calling thread
 * waits until the child has exec'd or failed.
 */
#ifndef ASYNCD_SPAWN_H
#define ASYNCD_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The child's descriptor that carries progress lines. */
#define SPAWN_PROGRESS_FD 3

/* Everything the child uses, built by the caller. */
struct spawn_spec {
	char *const *argv;  /* what the program sees, NULL-terminated */
	char *const *envp;  /* NULL-terminated */
	char *const *paths; /* files to try in turn (the PATH search) */
	const char *cwd;
	const char *stdin_path;
	bool switch_user; /* take uid, gid and groups (the daemon is root) */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
	/* A helper of the daemon's own (the network process) rather than a
	 * job's program: CHANNEL_FD is its descriptor 3 instead of a
	 * progress pipe, and its stdout and stderr are the daemon's. No
	 * pipes are made; the spawn_proc's are -1. */
	bool helper;
	int channel_fd;
};

/* A running child: its pidfd and the daemon's (non-blocking,
 * close-on-exec) ends of its stdout, stderr and progress pipes. */
struct spawn_proc {
	pid_t pid;
	int pidfd;
	int out_fd, err_fd, progress_fd;
};

/* Where starting failed. */
enum spawn_stage {
	SPAWN_STAGE_PARENT, /* pipes, stack or clone in the daemon */
	SPAWN_STAGE_SETUP,  /* session or descriptors in the child */
	SPAWN_STAGE_USER,   /* setgroups, setgid, setuid */
	SPAWN_STAGE_REGAIN, /* root could be regained after setuid */
	SPAWN_STAGE_STDIN,
	SPAWN_STAGE_CWD,
	SPAWN_STAGE_EXEC,
};

struct spawn_error {
	enum spawn_stage stage;
	int err;
};

/* Starts SPEC: 0 with PROC filled, or -1 with ERROR filled and nothing
 * left behind (a child that failed has been reaped). */
int spawn_start(const struct spawn_spec *spec, struct spawn_proc *proc,
		struct spawn_error *error);

/* The files to try for program FILE: FILE itself when it has a slash,
 * else each directory of PATH (an empty one is the working directory)
 * joined with FILE. NULL-terminated; free with spawn_strv_free(). */
char **spawn_search_list(const char *file, const char *path);
void spawn_strv_free(char **v);

#endif
