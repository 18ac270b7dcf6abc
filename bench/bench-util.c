/* Helpers shared by the benchmark programs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

double
bench_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
bench_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		perror(path);
		exit(1);
	}
	return fd;
}

void
bench_write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n <= 0) {
			perror("write");
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
}

char *
bench_read_line(struct bench_reader *r)
{
	for (;;) {
		char *nl = r->end > r->start
				   ? memchr(r->buf + r->start, '\n', r->end - r->start)
				   : NULL;
		if (nl != NULL) {
			char *line = r->buf + r->start;
			*nl = '\0';
			r->start = (size_t)(nl - r->buf) + 1;
			return line;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1 << 20;
			if ((r->buf = realloc(r->buf, r->cap)) == NULL)
				abort();
		}
		ssize_t n = read(r->fd, r->buf + r->end, r->cap - r->end);
		if (n <= 0)
			return NULL;
		r->end += (size_t)n;
	}
}

/* The next line that is not a notification; exits at EOF or on an error
 * response. */
char *
bench_response(struct bench_reader *r)
{
	char *l;

	while ((l = bench_read_line(r)) != NULL) {
		if (strstr(l, "\"method\"") != NULL)
			continue;
		if (strstr(l, "\"error\":{\"code\"") != NULL) {
			fprintf(stderr, "error response: %.300s\n", l);
			exit(1);
		}
		return l;
	}
	fprintf(stderr, "asyncd closed the connection\n");
	exit(1);
}

/* The integer after "NAME": in LINE, or -1. */
long long
bench_field(const char *line, const char *name)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\":", name);
	p = strstr(line, pat);
	return p != NULL ? atoll(p + strlen(pat)) : -1;
}
