/* One start of a server, timed from fork to its first answer:
 *   bench-start SOCK PROGRAM [ARG...]
 * forks and execs PROGRAM, then connects to SOCK, sends one daemon.info
 * request and reads one line, retrying the connection until it works.
 * Prints "start_us N", then stops the server (SIGTERM) and reaps it.
 * bench-start.sh runs it against asyncd and bench/minimal-server. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define START_TIMEOUT_S 10.0
#define RETRY_NS 50000 /* between connection attempts */

static const char request[] =
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.info\"}\n";

/* A connection to PATH, or -1 while nothing listens there. */
static int
try_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return fd;
	if (errno != ENOENT && errno != ECONNREFUSED) {
		perror(path);
		exit(1);
	}
	close(fd);
	return -1;
}

/* Whether one full line came back on FD before the deadline. */
static int
got_answer(int fd, double deadline)
{
	static struct bench_reader r;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	r.fd = fd;
	r.start = r.end = 0;
	bench_write_all(fd, request, sizeof request - 1);
	if (poll(&p, 1, (int)((deadline - bench_now_s()) * 1000)) <= 0)
		return 0;
	return bench_read_line(&r) != NULL;
}

int
main(int argc, char **argv)
{
	const struct timespec retry = {0, RETRY_NS};
	double t0, deadline;
	int fd = -1, status;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: bench-start SOCK PROGRAM [ARG...]\n");
		return 2;
	}
	unlink(argv[1]);
	t0 = bench_now_s();
	deadline = t0 + START_TIMEOUT_S;
	pid = fork();
	if (pid == 0) {
		execv(argv[2], argv + 2);
		_exit(127);
	}
	while ((fd = try_connect(argv[1])) < 0 && bench_now_s() < deadline)
		nanosleep(&retry, NULL);
	if (fd < 0 || !got_answer(fd, deadline)) {
		fprintf(stderr, "%s: no answer on %s\n", argv[2], argv[1]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	printf("start_us %.0f\n", (bench_now_s() - t0) * 1e6);
	close(fd);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	unlink(argv[1]);
	return 0;
}
