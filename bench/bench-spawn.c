/* Spawn throughput of process jobs beside its baselines:
 *   bench-spawn asyncd SOCK N PROGRAM
 *       N process jobs of PROGRAM submitted at once, pipelined from one
 *       client (watch true), timed from the first byte sent to the last
 *       terminal event
 *   bench-spawn posix_spawn N PROGRAM MIB
 *       a plain loop of posix_spawn + waitpid, from a process with MIB of
 *       memory touched
 *   bench-spawn fork N PROGRAM MIB
 *       the same with fork + execv (what a forking daemon pays)
 *   bench-spawn ballast SOCK MIB
 *       makes asyncd hold MIB of live memory: MIB queued process jobs
 *       with 1,000,000-byte args, waiting on a day-long sleep job
 * Each measure prints one line "name value" for bench-spawn.sh. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define BALLAST_BYTES 1000000

extern char **environ;

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

/* Lines received and what they were. */
struct counts {
	long responses, errors, completed, failed;
	char *buf;
	size_t len, cap;
};

static void
count_line(struct counts *c, const char *line)
{
	if (strstr(line, "\"method\":\"job.completed\"") != NULL)
		c->completed++;
	else if (strstr(line, "\"method\":\"job.failed\"") != NULL)
		c->failed++;
	else if (strstr(line, "\"method\"") == NULL)
		c->responses++;
	if (strstr(line, "\"method\"") == NULL &&
	    strstr(line, "\"error\":{\"code\"") != NULL) {
		fprintf(stderr, "error response: %.300s\n", line);
		c->errors++;
	}
}

/* Reads what is there and counts the complete lines. */
static void
count_input(int fd, struct counts *c)
{
	char *nl, *start;
	ssize_t n;

	if (c->cap - c->len < 65536) {
		c->cap = c->cap * 2 + 65536;
		c->buf = realloc(c->buf, c->cap + 1);
	}
	n = read(fd, c->buf + c->len, c->cap - c->len);
	if (n == 0) {
		fprintf(stderr, "asyncd closed the connection\n");
		exit(1);
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		die("read");
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	start = c->buf;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		count_line(c, start);
		start = nl + 1;
	}
	c->len -= (size_t)(start - c->buf);
	memmove(c->buf, start, c->len);
}

/* Sends OUT while counting what comes back, until DONE(c) says so. */
static void
exchange(int fd, const char *out, size_t len, struct counts *c,
	 int (*done)(const struct counts *, long), long n)
{
	size_t sent = 0;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (!done(c, n)) {
		struct pollfd pfd = {fd, POLLIN | (sent < len ? POLLOUT : 0), 0};
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			die("poll");
		if (pfd.revents & POLLOUT) {
			ssize_t w = write(fd, out + sent, len - sent);
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				die("write");
			if (w > 0)
				sent += (size_t)w;
		}
		if (pfd.revents & (POLLIN | POLLHUP))
			count_input(fd, c);
		if (c->errors > 0)
			exit(1);
	}
}

static int
all_ended(const struct counts *c, long n)
{
	return c->completed + c->failed >= n;
}

static int
all_answered(const struct counts *c, long n)
{
	return c->responses >= n;
}

static void
bench_asyncd(const char *sock, long n, const char *program)
{
	struct counts c = {0};
	size_t cap = (size_t)n * (strlen(program) + 128), len = 0;
	char *out = malloc(cap);
	int fd = bench_connect(sock);
	double t0, t1;

	for (long i = 1; i <= n; i++)
		len += (size_t)snprintf(out + len, cap - len,
					"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
					"\"job.submit\",\"params\":{\"kind\":\"process\","
					"\"args\":{\"argv\":[\"%s\"]}}}\n",
					i, program);
	t0 = bench_now_s();
	exchange(fd, out, len, &c, all_ended, n);
	t1 = bench_now_s();
	if (c.failed > 0)
		fprintf(stderr, "%ld jobs failed\n", c.failed);
	printf("asyncd_spawns_per_s %.0f\n", (double)n / (t1 - t0));
	close(fd);
	free(out);
	free(c.buf);
}

/* Touched memory, kept for the process's life (global: a store the
 * compiler cannot drop). */
char *bench_touched;

/* Allocates and touches MIB of memory in small pages, as a daemon's heap
 * is (no transparent huge pages, which would make fork cheap). */
static void
touch_mib(long mib)
{
	size_t size = (size_t)mib << 20;

	if (size == 0)
		return;
	bench_touched = mmap(NULL, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bench_touched == MAP_FAILED)
		die("mmap");
	madvise(bench_touched, size, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < size; i += 4096)
		bench_touched[i] = 1;
}

static void
bench_posix_spawn(long n, const char *program, long mib)
{
	char *argv[] = {(char *)program, NULL};
	double t0;
	pid_t pid;
	int status, rc;

	touch_mib(mib);
	t0 = bench_now_s();
	for (long i = 0; i < n; i++) {
		if ((rc = posix_spawn(&pid, program, NULL, NULL, argv, environ)) != 0) {
			errno = rc;
			die("posix_spawn");
		}
		waitpid(pid, &status, 0);
	}
	printf("posix_spawn_per_s %.0f\n", (double)n / (bench_now_s() - t0));
}

static void
bench_fork(long n, const char *program, long mib)
{
	char *argv[] = {(char *)program, NULL};
	double t0;
	pid_t pid;
	int status;

	touch_mib(mib);
	t0 = bench_now_s();
	for (long i = 0; i < n; i++) {
		pid = fork();
		if (pid < 0)
			die("fork");
		if (pid == 0) {
			execv(program, argv);
			_exit(127);
		}
		waitpid(pid, &status, 0);
	}
	printf("fork_per_s %.0f\n", (double)n / (bench_now_s() - t0));
}

/* The id of the sleep job the ballast waits on. */
static long
ballast_blocker(int fd)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\",\"params\":"
		"{\"kind\":\"sleep\",\"args\":{\"ms\":86400000},\"watch\":false}}\n";
	char buf[4096];
	ssize_t n;
	char *id;

	if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
		die("write");
	n = read(fd, buf, sizeof buf - 1);
	if (n <= 0)
		die("read");
	buf[n] = '\0';
	id = strstr(buf, "\"job\":{\"id\":");
	if (id == NULL) {
		fprintf(stderr, "unexpected: %s\n", buf);
		exit(1);
	}
	return strtol(id + 12, NULL, 10);
}

static void
bench_ballast(const char *sock, long mib)
{
	int fd = bench_connect(sock);
	long blocker = ballast_blocker(fd);
	size_t one = BALLAST_BYTES + 256, len = 0;
	char *out = malloc((size_t)mib * one), *pad = malloc(BALLAST_BYTES + 1);
	struct counts c = {0};

	memset(pad, 'x', BALLAST_BYTES);
	pad[BALLAST_BYTES] = '\0';
	for (long i = 0; i < mib; i++)
		len += (size_t)snprintf(out + len, one,
					"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
					"\"job.submit\",\"params\":{\"kind\":\"process\","
					"\"after\":[%ld],\"watch\":false,\"args\":{\"argv\":"
					"[\"true\"],\"env\":{\"BALLAST\":\"%s\"}}}}\n",
					i + 2, blocker, pad);
	exchange(fd, out, len, &c, all_answered, mib);
	/* One job that can start: the daemon drops the parsed args it keeps
	 * for "fresh" jobs only when it next schedules, and jobs waiting on
	 * another do not make it schedule. */
	len = (size_t)snprintf(out, one,
			       "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			       "\"job.submit\",\"params\":{\"kind\":\"sleep\","
			       "\"watch\":false,\"args\":{\"ms\":0}}}\n",
			       mib + 2);
	exchange(fd, out, len, &c, all_answered, mib + 1);
	printf("ballast_jobs %ld\n", mib);
	close(fd);
	free(out);
	free(pad);
	free(c.buf);
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: bench-spawn asyncd SOCK N PROGRAM\n"
		"       bench-spawn posix_spawn|fork N PROGRAM MIB\n"
		"       bench-spawn ballast SOCK MIB\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && strcmp(argv[1], "asyncd") == 0)
		bench_asyncd(argv[2], atol(argv[3]), argv[4]);
	else if (argc == 5 && strcmp(argv[1], "posix_spawn") == 0)
		bench_posix_spawn(atol(argv[2]), argv[3], atol(argv[4]));
	else if (argc == 5 && strcmp(argv[1], "fork") == 0)
		bench_fork(atol(argv[2]), argv[3], atol(argv[4]));
	else if (argc == 4 && strcmp(argv[1], "ballast") == 0)
		bench_ballast(argv[2], atol(argv[3]));
	else
		usage();
	return 0;
}
