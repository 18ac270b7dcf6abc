/* Socket activation and sd_notify, spoken by their documented protocols
 * (sd_listen_fds(3), sd_notify(3)): the daemon does not link libsystemd,
 * whose dependencies were most of its start-up. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "activation.h"
#include "log.h"

/* The first passed fd, as in sd-daemon.h. */
#define ACTIVATION_FD_START 3

/* sd_listen_fds(1) by the protocol: the number of fds passed to this
 * process from fd 3 on, made close-on-exec; the variables are removed. */
static int
activation_listen_fds(void)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	long long pid, n = 0;
	char *end;

	if (pid_s == NULL || fds_s == NULL)
		goto done;
	errno = 0;
	pid = strtoll(pid_s, &end, 10);
	if (errno != 0 || end == pid_s || *end != '\0' || pid != getpid())
		goto done;
	n = strtoll(fds_s, &end, 10);
	if (errno != 0 || end == fds_s || *end != '\0' || n < 0 ||
	    n > INT_MAX - ACTIVATION_FD_START) {
		log_warnx("socket activation: bad LISTEN_FDS=%s", fds_s);
		n = 0;
		goto done;
	}
	for (int fd = ACTIVATION_FD_START; fd < ACTIVATION_FD_START + n; fd++)
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_warn("socket activation: fd %d", fd);
			n = 0;
			goto done;
		}
done:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}

/* Whether FD is a listening AF_UNIX SOCK_STREAM socket. */
static int
activation_is_unix_listener(int fd)
{
	int domain = 0, type = 0, listening = 0;
	socklen_t len;

	len = sizeof domain;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return 0;
	len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	len = sizeof listening;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		return 0;
	return domain == AF_UNIX && type == SOCK_STREAM && listening;
}

int
activation_listen_fd(void)
{
	int n;

	n = activation_listen_fds();
	if (n == 0)
		return -1;
	if (n > 1)
		log_warnx("socket activation: %d sockets passed, serving only "
			  "the first", n);
	if (!activation_is_unix_listener(ACTIVATION_FD_START))
		fatalx("socket activation: fd %d is not a listening Unix "
		       "stream socket", ACTIVATION_FD_START);
	log_info("serving the socket passed by the service manager");
	return ACTIVATION_FD_START;
}

/* sd_notify(0, MSG) by the protocol: one datagram to $NOTIFY_SOCKET, a
 * path or, with a leading '@', a name in the abstract namespace. Never
 * blocks the event loop. */
static void
activation_send(const char *msg)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	socklen_t socklen;
	size_t len;
	int fd;

	if (name == NULL || (name[0] != '/' && name[0] != '@'))
		return;
	len = strlen(name);
	if (len >= sizeof sun.sun_path) {
		log_debug("NOTIFY_SOCKET too long");
		return;
	}
	memcpy(sun.sun_path, name, len);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	socklen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		log_debug("notify: socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
		   (struct sockaddr *)&sun, socklen) < 0)
		log_debug("notify %s: %s", name, strerror(errno));
	close(fd);
}

void
activation_notify(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	activation_send(msg);
}
