/* What the benchmark programs share. */
#ifndef ASYNCD_BENCH_UTIL_H
#define ASYNCD_BENCH_UTIL_H

#include <stddef.h>

/* Seconds on the monotonic clock. */
double bench_now_s(void);
/* A connection to the Unix socket PATH; exits when there is none. */
int bench_connect(const char *path);
/* Writes all LEN bytes of P to FD; exits on a failure. */
void bench_write_all(int fd, const char *p, size_t len);

/* A line reader over a socket; its buffer starts at 1 MiB and grows
 * for a longer line (a job.watch all of many jobs). */
struct bench_reader {
	int fd;
	char *buf;
	size_t cap, start, end;
};

/* The next line (NUL-terminated, without '\n'), or NULL at EOF. */
char *bench_read_line(struct bench_reader *r);

/* The next line on R that is not a notification; exits at EOF or on an
 * error response. */
char *bench_response(struct bench_reader *r);
/* The integer after "NAME": in LINE, or -1. */
long long bench_field(const char *line, const char *name);

#endif
