/* What the benchmark programs share. */
#ifndef ASYNCD_BENCH_UTIL_H
#define ASYNCD_BENCH_UTIL_H

/* Seconds on the monotonic clock. */
double bench_now_s(void);
/* A connection to the Unix socket PATH; exits when there is none. */
int bench_connect(const char *path);

#endif
