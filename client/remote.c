/* asyncctl -H [USER@]HOST[:SOCKET]: runs `ssh -xT [USER@]HOST asyncctl
 * bridge [--socket SOCKET]` and speaks the protocol over a socketpair on
 * its stdin and stdout. The daemon there sees the bridge's uid, the user
 * ssh logged in as. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remote.h"

/* What asyncctl runs on the other host. */
#define REMOTE_BRIDGE "asyncctl bridge"

static char *
remote_strdup(const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		abort();
	return copy;
}

/* S quoted for the remote user's shell, which ssh hands the command to:
 * inside single quotes, each ' as '\''. Malloc'd. */
static char *
remote_quote(const char *s)
{
	size_t n = 3;
	char *q, *p;

	for (const char *c = s; *c != '\0'; c++)
		n += *c == '\'' ? 4 : 1;
	if ((q = p = malloc(n)) == NULL)
		abort();
	*p++ = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}

/* SSH split on spaces and tabs, with room for 3 more words and the NULL;
 * NULL when it holds no word. */
static char **
remote_split(const char *ssh, size_t *n)
{
	char *copy = strdup(ssh), *save = NULL, **argv;
	size_t cap = strlen(ssh) / 2 + 5;

	if (copy == NULL || (argv = calloc(cap, sizeof *argv)) == NULL)
		abort();
	*n = 0;
	for (char *w = strtok_r(copy, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save))
		argv[(*n)++] = remote_strdup(w);
	free(copy);
	if (*n == 0) {
		free(argv);
		return NULL;
	}
	return argv;
}

const char *
remote_init(struct remote *r, const char *spec, const char *socket,
            const char *ssh)
{
	const char *colon = strstr(spec, ":/"), *at;
	char *quoted = NULL;
	size_t n;
	int rc;

	memset(r, 0, sizeof *r);
	/* SOCKET is absolute: the first ":/" ends HOST, and an IPv6 address
	 * keeps its colons. */
	r->dest = colon != NULL ? strndup(spec, (size_t)(colon - spec))
	                        : remote_strdup(spec);
	if (r->dest == NULL)
		abort();
	at = strrchr(r->dest, '@');
	if ((at != NULL ? at[1] : r->dest[0]) == '\0') {
		remote_free(r);
		return "no HOST in [USER@]HOST[:SOCKET]";
	}
	if (r->dest[0] == '-') {
		remote_free(r);
		return "a HOST cannot start with '-'";
	}
	if (colon != NULL && socket != NULL) {
		remote_free(r);
		return "a SOCKET in [USER@]HOST[:SOCKET] and --socket too";
	}
	if (colon != NULL)
		socket = colon + 1;
	if (socket != NULL)
		quoted = remote_quote(socket);
	rc = asprintf(&r->command, "%s%s%s", REMOTE_BRIDGE,
	              quoted != NULL ? " --socket " : "",
	              quoted != NULL ? quoted : "");
	free(quoted);
	if (rc < 0)
		abort();
	if ((r->argv = remote_split(ssh, &n)) == NULL) {
		remote_free(r);
		return "no ssh program in --ssh or $ASYNCCTL_SSH";
	}
	r->argv[n++] = remote_strdup("-xT");
	r->argv[n++] = remote_strdup(r->dest);
	r->argv[n++] = remote_strdup(r->command);
	return NULL;
}

void
remote_free(struct remote *r)
{
	for (size_t i = 0; r->argv != NULL && r->argv[i] != NULL; i++)
		free(r->argv[i]);
	free(r->argv);
	free(r->dest);
	free(r->command);
	memset(r, 0, sizeof *r);
}

/* In the child: FD becomes its stdin and stdout, and it runs ssh. */
static void __attribute__((noreturn))
remote_exec(const struct remote *r, int fd, pid_t parent)
{
	/* Ended with asyncctl, however asyncctl ends. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
		_exit(127);
	/* Ctrl-C on the terminal reaches the whole foreground group: it is
	 * asyncctl's to act on (it cancels its jobs over this very
	 * connection), so ssh must outlive it. ssh keeps SIGINT ignored. */
	signal(SIGINT, SIG_IGN);
	/* dup2 leaves the copies open across exec, FD itself does not. */
	for (int target = STDIN_FILENO; target <= STDOUT_FILENO; target++)
		if (fd == target ? fcntl(fd, F_SETFD, 0) < 0
		                 : dup2(fd, target) < 0)
			_exit(127);
	execvp(r->argv[0], r->argv);
	dprintf(STDERR_FILENO, "asyncctl: cannot run %s: %s\n", r->argv[0],
	        strerror(errno));
	_exit(127);
}

int
remote_spawn(const struct remote *r, pid_t *pid)
{
	pid_t parent = getpid();
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	*pid = fork();
	if (*pid < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		errno = err;
		return -1;
	}
	if (*pid == 0) {
		close(sv[0]);
		remote_exec(r, sv[1], parent);
	}
	close(sv[1]);
	return sv[0];
}
