/* The scheduler under named queues:
 *   bench-queues SOCK USERS QUEUES N
 * USERS users (uids 60001 ..., root needed for more than one; with one,
 * the caller itself) each queue N/USERS sleep-0 jobs spread over QUEUES
 * queues of their own ("q0" ...), all held behind one day-long sleep of
 * theirs (after_any). Then the holds are cancelled at once and the time
 * until no job is queued or running gives the jobs run per second.
 * Prints lines "name value unit" for bench-queues.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"

#define FIRST_UID 60001

static struct bench_reader readers[64];

static char *
call(struct bench_reader *r, const char *method, const char *params)
{
	char line[512];
	int n = snprintf(line, sizeof line,
			 "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"%s\","
			 "\"params\":%s}\n", method, params);

	bench_write_all(r->fd, line, (size_t)n);
	return bench_response(r);
}

/* Queues N jobs on R behind job HOLD, over QUEUES queues, pipelined. */
static void
queue_jobs(struct bench_reader *r, long n, int queues, long long hold)
{
	enum { WINDOW = 1024, LINE = 256, BATCH = 64 };
	char *buf = malloc((size_t)BATCH * LINE);
	long sent = 0, answered = 0;

	while (answered < n) {
		size_t len = 0;
		while (sent < n && sent - answered < WINDOW &&
		       len < (BATCH - 1) * LINE) {
			len += (size_t)snprintf(
				buf + len, LINE,
				"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
				"\"job.submit\",\"params\":{\"kind\":\"sleep\","
				"\"args\":{\"ms\":0},\"watch\":false,"
				"\"queue\":\"q%ld\",\"after_any\":[%lld]}}\n",
				sent % queues, hold);
			sent++;
		}
		if (len > 0)
			bench_write_all(r->fd, buf, len);
		do {
			bench_response(r);
			answered++;
		} while (r->start < r->end && answered < n);
	}
	free(buf);
}

int
main(int argc, char **argv)
{
	long long holds[64];
	int users, queues;
	long n;
	double t0, t1;
	char params[64], *l;

	if (argc != 5) {
		fprintf(stderr, "usage: bench-queues SOCK USERS QUEUES N\n");
		return 2;
	}
	users = atoi(argv[2]);
	queues = atoi(argv[3]);
	n = atol(argv[4]);
	if (users < 1 || users > 64 || queues < 1) {
		fprintf(stderr, "bench-queues: 1 to 64 users, 1 queue or more\n");
		return 2;
	}
	if (users > 1 && geteuid() != 0) {
		fprintf(stderr, "bench-queues: more than one user needs root\n");
		return 77;
	}
	for (int u = 0; u < users; u++) {
		if (users > 1 && seteuid(FIRST_UID + u) < 0) {
			perror("seteuid");
			return 1;
		}
		readers[u].fd = bench_connect(argv[1]);
		if (users > 1 && seteuid(0) < 0) {
			perror("seteuid");
			return 1;
		}
		l = call(&readers[u], "job.submit",
			 "{\"kind\":\"sleep\",\"args\":{\"ms\":86400000},"
			 "\"watch\":false}");
		holds[u] = bench_field(l, "job\":{\"id");
		queue_jobs(&readers[u], n / users, queues, holds[u]);
	}
	t0 = bench_now_s();
	for (int u = 0; u < users; u++) {
		snprintf(params, sizeof params, "{\"id\":%lld}", holds[u]);
		call(&readers[u], "job.cancel", params);
	}
	for (;;) {
		l = call(&readers[0], "daemon.info", "{}");
		if (bench_field(l, "queued") == 0 && bench_field(l, "running") == 0)
			break;
		usleep(2000);
	}
	t1 = bench_now_s();
	printf("jobs %ld jobs\nrun_per_s %.0f jobs/s\n", n / users * users,
	       (double)(n / users * users) / (t1 - t0));
	return 0;
}
