/* Helpers of bench-read-file.sh, each beside its baseline:
 *   bench-read-file getpw N             N look-ups of root as fetch-user
 *                                       does them (getpwuid_r,
 *                                       getgrouplist, getgrgid_r), in a loop
 *   bench-read-file fetch SOCK N        N fetch-user jobs from one client,
 *                                       pipelined, submit to last event
 *   bench-read-file rawread SOCK PATH   one read-file job, its events read
 *                                       off the socket and not parsed: what
 *                                       the daemon delivers
 *   bench-read-file rawcat SOCK PATH    the same for a process job that
 *                                       runs `cat PATH` (its stdout)
 *   bench-read-file binread SOCK PATH   the same on a connection that asked
 *                                       for binary frames (conn.configure):
 *                                       headers parsed, the bytes counted
 *                                       and not written anywhere
 * Each prints one line "name value unit" for the script to collect. */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

/* One fetch-user's worth of look-ups of uid 0. */
static void
lookup_root(char *buf, size_t size)
{
	struct passwd pw, *res;
	struct group gr, *gres;
	gid_t groups[256];
	int n = 256;

	if (getpwuid_r(0, &pw, buf, size, &res) != 0 || res == NULL) {
		fprintf(stderr, "getpwuid_r failed\n");
		exit(1);
	}
	getgrouplist(pw.pw_name, pw.pw_gid, groups, &n);
	for (int i = 0; i < n; i++)
		getgrgid_r(groups[i], &gr, buf + size / 2, size / 2, &gres);
}

static void
bench_getpw(long n)
{
	static char buf[65536];
	double t0 = bench_now_s();

	for (long i = 0; i < n; i++)
		lookup_root(buf, sizeof buf);
	printf("getpw_per_s %.0f lookups/s\n", (double)n / (bench_now_s() - t0));
}

/* Counts the lines in BUF[0..len) that contain NEEDLE, carrying a partial
 * line over in CARRY. */
static long
count_lines(const char *buf, size_t len, const char *needle, char *carry,
	    size_t *ncarry, size_t cap)
{
	long found = 0;
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		size_t piece = i - start;
		if (*ncarry + piece < cap) {
			memcpy(carry + *ncarry, buf + start, piece);
			carry[*ncarry + piece] = '\0';
			if (strstr(carry, needle) != NULL)
				found++;
		}
		*ncarry = 0;
		start = i + 1;
	}
	if (len > start && *ncarry + (len - start) < cap) {
		memcpy(carry + *ncarry, buf + start, len - start);
		*ncarry += len - start;
	}
	return found;
}

/* Submits N fetch-user jobs as fast as the socket takes them while reading
 * the events, until N have completed. */
static void
bench_fetch(const char *sock, long n)
{
	static char in[1 << 16], carry[1 << 16];
	char line[256];
	size_t ncarry = 0, off = 0, len = 0;
	long sent = 0, done = 0;
	int fd = bench_connect(sock);
	double t0 = bench_now_s();

	while (done < n) {
		struct pollfd pfd = {fd, POLLIN | (sent < n ? POLLOUT : 0), 0};
		if (poll(&pfd, 1, 10000) <= 0) {
			fprintf(stderr, "fetch: stalled at %ld of %ld\n", done, n);
			exit(1);
		}
		if ((pfd.revents & POLLOUT) && sent < n) {
			if (off == len) {
				len = (size_t)snprintf(line, sizeof line,
					"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
					"\"job.submit\",\"params\":{\"kind\":"
					"\"fetch-user\",\"args\":{\"uid\":0}}}\n",
					sent + 1);
				off = 0;
			}
			ssize_t w = write(fd, line + off, len - off);
			if (w > 0 && (off += (size_t)w) == len)
				sent++;
		}
		if (pfd.revents & (POLLIN | POLLHUP)) {
			ssize_t r = read(fd, in, sizeof in);
			if (r <= 0) {
				fprintf(stderr, "fetch: connection closed\n");
				exit(1);
			}
			done += count_lines(in, (size_t)r,
					    "\"method\":\"job.completed\"", carry,
					    &ncarry, sizeof carry);
		}
	}
	printf("fetch_per_s %.0f jobs/s\n", (double)n / (bench_now_s() - t0));
	close(fd);
}

/* Whether the terminal event's method shows in P[0..len). Inside a data
 * string every '"' is escaped, so this cannot come from file content. */
static int
has_end(const char *p, size_t len)
{
	static const char done[] = "\"method\":\"job.completed\"";
	static const char failed[] = "\"method\":\"job.failed\"";

	return memmem(p, len, done, sizeof done - 1) != NULL ||
	       memmem(p, len, failed, sizeof failed - 1) != NULL;
}

/* Submits a job of KIND with ARGS and reads its events raw until its
 * terminal event; prints NAME_s. */
static void
bench_raw(const char *name, const char *sock, const char *kind,
	  const char *args)
{
	static char buf[(1 << 20) + 32];
	char req[4352];
	long long total = 0;
	size_t keep = 0;
	int fd = bench_connect(sock);
	int n;
	double t0;

	n = snprintf(req, sizeof req,
		     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"job.submit\","
		     "\"params\":{\"kind\":\"%s\",\"args\":%s}}\n", kind,
		     args);
	t0 = bench_now_s();

	if (write(fd, req, (size_t)n) != n) {
		perror("write");
		exit(1);
	}
	for (;;) {
		/* The last 31 bytes stay in front: a name cut between reads. */
		ssize_t r = read(fd, buf + keep, sizeof buf - 32);
		if (r <= 0) {
			fprintf(stderr, "%s: connection closed\n", name);
			exit(1);
		}
		total += r;
		if (has_end(buf, keep + (size_t)r))
			break;
		size_t have = keep + (size_t)r;
		keep = have < 31 ? have : 31;
		memmove(buf, buf + have - keep, keep);
	}
	printf("%s_s %.3f s (%lld bytes of events)\n", name,
	       bench_now_s() - t0, total);
	close(fd);
}

/* Skips the raw bytes of binary frames in BUF[0..len), parsing each
 * header line (kept in LINE across reads) for its length; returns 1 at
 * the job's terminal event. *SKIP carries the frame bytes still to come
 * into the next read, *PAYLOAD counts them. */
static int
binary_scan(const char *buf, size_t len, char *line, size_t *nline,
	    size_t cap, size_t *skip, long long *payload)
{
	static const char key[] = "\"length\":";
	size_t i = 0;

	while (i < len) {
		if (*skip > 0) {
			size_t n = len - i < *skip ? len - i : *skip;
			*skip -= n;
			*payload += (long long)n;
			i += n;
			continue;
		}
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t piece = (nl != NULL ? (size_t)(nl - buf) : len) - i;
		if (*nline + piece >= cap) {
			fprintf(stderr, "binread: a header line too long\n");
			exit(1);
		}
		memcpy(line + *nline, buf + i, piece);
		*nline += piece;
		i += piece;
		if (nl == NULL)
			break;
		i++; /* the '\n' */
		line[*nline] = '\0';
		*nline = 0;
		if (has_end(line, strlen(line)))
			return 1;
		const char *k = strstr(line, "\"encoding\":\"binary\"") != NULL
					? strstr(line, key)
					: NULL;
		if (k != NULL)
			*skip = (size_t)strtoull(k + sizeof key - 1, NULL, 10);
	}
	return 0;
}

/* One read-file job on a binary connection, read in large blocks. */
static void
bench_binread(const char *sock, const char *path)
{
	static char buf[4 << 20], line[1 << 16];
	char req[4352];
	size_t nline = 0, skip = 0;
	long long payload = 0;
	int fd = bench_connect(sock);
	int n = snprintf(req, sizeof req,
			 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"conn.configure\","
			 "\"params\":{\"binary\":true}}\n"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"job.submit\","
			 "\"params\":{\"kind\":\"read-file\",\"args\":"
			 "{\"path\":\"%s\"}}}\n", path);
	double t0 = bench_now_s();

	if (write(fd, req, (size_t)n) != n) {
		perror("write");
		exit(1);
	}
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r <= 0) {
			fprintf(stderr, "binread: connection closed\n");
			exit(1);
		}
		if (binary_scan(buf, (size_t)r, line, &nline, sizeof line, &skip,
				&payload))
			break;
	}
	printf("binread_s %.3f s (%lld bytes of payload)\n", bench_now_s() - t0,
	       payload);
	close(fd);
}

int
main(int argc, char **argv)
{
	char args[4200];

	if (argc == 3 && strcmp(argv[1], "getpw") == 0)
		bench_getpw(atol(argv[2]));
	else if (argc == 4 && strcmp(argv[1], "fetch") == 0)
		bench_fetch(argv[2], atol(argv[3]));
	else if (argc == 4 && strcmp(argv[1], "rawread") == 0 &&
		 snprintf(args, sizeof args, "{\"path\":\"%s\"}", argv[3]) > 0)
		bench_raw("rawread", argv[2], "read-file", args);
	else if (argc == 4 && strcmp(argv[1], "rawcat") == 0 &&
		 snprintf(args, sizeof args, "{\"argv\":[\"cat\",\"%s\"]}",
			  argv[3]) > 0)
		bench_raw("rawcat", argv[2], "process", args);
	else if (argc == 4 && strcmp(argv[1], "binread") == 0)
		bench_binread(argv[2], argv[3]);
	else {
		fprintf(stderr, "usage: bench-read-file getpw N | fetch SOCK N | "
				"rawread SOCK PATH | rawcat SOCK PATH | binread SOCK PATH\n");
		return 2;
	}
	return 0;
}
