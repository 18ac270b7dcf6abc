/* asyncctl -H: the daemon of another host, through ssh running
 * `asyncctl bridge` there. */
#ifndef ASYNCCTL_REMOTE_H
#define ASYNCCTL_REMOTE_H

#include <sys/types.h>

/* The ssh command line that reaches one host's daemon. */
struct remote {
	char *dest;    /* [USER@]HOST, as ssh takes it */
	char *command; /* the command run there: asyncctl bridge ... */
	char **argv;   /* the whole ssh command line, NULL-terminated */
};

/* Fills R from SPEC, [USER@]HOST[:SOCKET] (SOCKET an absolute path),
 * SOCKET (a socket on HOST given apart, or NULL) and SSH, the ssh program
 * and its options, split on spaces. Returns NULL, or why SPEC or SSH is
 * not usable (then R holds nothing). */
const char *remote_init(struct remote *r, const char *spec, const char *socket,
                        const char *ssh);
void remote_free(struct remote *r);
/* Starts ssh with one end of a socketpair as its stdin and stdout and
 * returns the other end, with its pid in *PID; -1 (errno set) when no
 * process could be made. ssh's stderr is ours. */
int remote_spawn(const struct remote *r, pid_t *pid);

#endif
