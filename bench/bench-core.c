/* Benchmarks of the daemon's core, each beside its baseline:
 *   bench-core pingpong N           raw 200-byte line ping-pong, 2 processes
 *   bench-core get SOCK N           job.get round trips through asyncd
 *   bench-core sleep0 SOCK CLIENTS TOTAL
 *                                   sleep ms:0 jobs, pipelined, submit to
 *                                   terminal event, from CLIENTS clients
 *   bench-core pending SOCK N       daemon RSS growth per pending job
 *   bench-core fetchuser SOCK TOTAL fetch-user uid 0 jobs, pipelined from
 *                                   one client: all but the first are
 *                                   answered from the cache
 * Each prints one line "name value unit" for bench-core.sh to collect. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report_latency(const char *name, double *samples, int n)
{
	qsort(samples, (size_t)n, sizeof *samples, cmp_double);
	printf("%s_p50 %.1f us\n%s_p99 %.1f us\n", name, samples[n / 2], name,
	       samples[n * 99 / 100]);
}

static int
bench_pingpong(int n)
{
	int sv[2];
	char line[201];
	double *t = malloc(sizeof *t * (size_t)n);
	static struct bench_reader r;

	memset(line, 'x', 200);
	line[199] = '\n';
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	if (fork() == 0) { /* the echo side */
		static struct bench_reader er;
		close(sv[0]);
		er.fd = sv[1];
		char *l;
		while ((l = bench_read_line(&er)) != NULL) {
			size_t len = strlen(l);
			l[len] = '\n';
			bench_write_all(sv[1], l, len + 1);
		}
		_exit(0);
	}
	close(sv[1]);
	r.fd = sv[0];
	for (int i = 0; i < n; i++) {
		double t0 = (bench_now_s() * 1e6);
		bench_write_all(sv[0], line, 200);
		bench_read_line(&r);
		t[i] = (bench_now_s() * 1e6) - t0;
	}
	close(sv[0]);
	wait(NULL);
	report_latency("raw_pingpong", t, n);
	free(t);
	return 0;
}

static int
bench_get(const char *sock, int n)
{
	static struct bench_reader r;
	double *t = malloc(sizeof *t * (size_t)n);
	char req[200];
	const char *submit = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"job.submit\",\"params\":"
			     "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"watch\":false}}\n";

	r.fd = bench_connect(sock);
	bench_write_all(r.fd, submit, strlen(submit));
	char *l = bench_read_line(&r);
	char *id = l ? strstr(l, "\"job\":{\"id\":") : NULL;
	long long job = id ? atoll(id + 12) : 1;
	for (int i = 0; i < n; i++) {
		int len = snprintf(req, sizeof req,
				   "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.get\","
				   "\"params\":{\"id\":%lld}}\n", i + 1, job);
		double t0 = (bench_now_s() * 1e6);
		bench_write_all(r.fd, req, (size_t)len);
		if (bench_read_line(&r) == NULL)
			return 1;
		t[i] = (bench_now_s() * 1e6) - t0;
	}
	report_latency("job_get", t, n);
	free(t);
	return 0;
}

#define SLEEP0_PARAMS "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}"
#define FETCHUSER_PARAMS "{\"kind\":\"fetch-user\",\"args\":{\"uid\":0}}"

/* One client: TOTAL jobs of PARAMS (job.submit's), at most WINDOW
 * unanswered at a time; returns when every one has sent its terminal
 * event. */
static void
submit_client(const char *sock, int total, const char *params)
{
	static struct bench_reader r;
	enum { WINDOW = 512, BATCH = 64 };
	char *buf = malloc(BATCH * 160);
	int sent = 0, ended = 0;
	char *l;

	r.fd = bench_connect(sock);
	r.start = r.end = 0;
	while (ended < total) {
		/* Batch writes: one write per line is far slower. */
		size_t len = 0;
		while (sent < total && sent - ended < WINDOW && len < (BATCH - 1) * 160) {
			len += (size_t)sprintf(buf + len,
					       "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
					       "\"params\":%s}\n",
					       sent, params);
			sent++;
		}
		if (len > 0)
			bench_write_all(r.fd, buf, len);
		/* Read what is there, then top the window up again. */
		do {
			if ((l = bench_read_line(&r)) == NULL)
				exit(1);
			if (strstr(l, "\"job.completed\"") || strstr(l, "\"job.failed\""))
				ended++;
		} while (r.start < r.end || (sent == total && ended < total));
	}
	free(buf);
	close(r.fd);
}

static int
bench_fetchuser(const char *sock, int total)
{
	double t0;

	submit_client(sock, 1, FETCHUSER_PARAMS); /* fills the cache */
	t0 = bench_now_s();
	submit_client(sock, total, FETCHUSER_PARAMS);
	printf("fetchuser_cached %.0f jobs/s\n", total / (bench_now_s() - t0));
	return 0;
}

static int
bench_sleep0(const char *sock, int clients, int total)
{
	int go[2];
	double t0;

	if (pipe(go) < 0)
		return 1;
	for (int i = 0; i < clients; i++) {
		if (fork() == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(1);
			submit_client(sock, total / clients, SLEEP0_PARAMS);
			_exit(0);
		}
	}
	close(go[0]);
	usleep(200000); /* let every client connect */
	t0 = (bench_now_s() * 1e6);
	close(go[1]); /* go */
	int failed = 0, status;
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	double secs = ((bench_now_s() * 1e6) - t0) / 1e6;
	int done = total / clients * clients;
	printf("sleep0_%d_clients %.0f jobs/s\n", clients, done / secs);
	return failed;
}

static long
daemon_rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kib = atol(line + 6);
	fclose(f);
	return kib;
}

static int
bench_pending(const char *sock, int n)
{
	static struct bench_reader r;
	const char *info = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"daemon.info\"}\n";
	char *buf = malloc(64 * 200);
	int sent = 0, answered = 0;

	r.fd = bench_connect(sock);
	bench_write_all(r.fd, info, strlen(info));
	char *l = bench_read_line(&r), *p = l ? strstr(l, "\"pid\":") : NULL;
	long pid = p ? atol(p + 6) : 0;
	long before = daemon_rss_kib(pid);
	while (answered < n) {
		size_t len = 0;
		while (sent < n && sent - answered < 1024 && len < 63 * 200) {
			len += (size_t)sprintf(buf + len,
					       "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"job.submit\","
					       "\"params\":{\"kind\":\"sleep\",\"args\":{\"ms\":86400000},"
					       "\"watch\":false}}\n", sent + 1);
			sent++;
		}
		if (len > 0)
			bench_write_all(r.fd, buf, len);
		do {
			if ((l = bench_read_line(&r)) == NULL)
				return 1;
			if (strncmp(l, "{\"jsonrpc\":\"2.0\",\"id\":", 22) == 0 && strstr(l, "\"error\":{\"code\"")) {
				fprintf(stderr, "refused: %s\n", l);
				return 1;
			}
			answered++;
		} while (r.start < r.end);
	}
	long after = daemon_rss_kib(pid);
	printf("pending_jobs %d jobs\nrss_before %ld KiB\nrss_after %ld KiB\n"
	       "rss_per_pending_job %.0f bytes\n", n, before, after,
	       (double)(after - before) * 1024 / n);
	free(buf);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "pingpong") == 0)
		return bench_pingpong(atoi(argv[2]));
	if (argc == 4 && strcmp(argv[1], "get") == 0)
		return bench_get(argv[2], atoi(argv[3]));
	if (argc == 5 && strcmp(argv[1], "sleep0") == 0)
		return bench_sleep0(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "fetchuser") == 0)
		return bench_fetchuser(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "pending") == 0)
		return bench_pending(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: see the comment at the top of bench-core.c\n");
	return 2;
}
