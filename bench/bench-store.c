/* Benchmarks of the durable store (the state database), each beside its
 * baseline:
 *   bench-store fill SOCK N
 *       N sleep ms:0 jobs submitted pipelined from one client (watch
 *       false), then waits until none is queued or running
 *   bench-store queue SOCK N
 *       one day-long sleep job, then N sleep jobs "after" it: N jobs that
 *       stay queued
 *   bench-store get SOCK N LO HI
 *       job.get round trips of ids drawn at random from LO … HI (each id
 *       once while the range lasts: a finished job outside the memory
 *       cache is read from the database every time)
 *   bench-store list SOCK N PARAMS
 *       N job.list round trips with PARAMS (a JSON object), one at a time
 *   bench-store call SOCK N METHOD PARAMS
 *       the same for any METHOD (each on a new connection: a job.watch
 *       registers the connection)
 *   bench-store contend SOCK N PARAMS
 *       N daemon.info round trips alone (the baseline), then N more
 *       while another client pages job.list with PARAMS from the newest
 *       job to the oldest (next_before_id, or the last id of a full
 *       page), over and over; the p50 and p99 of both, and the pager's
 *       pages, whole passes and slowest page
 *   bench-store pingpong N REQ RESP
 *       the raw baseline: a REQ-byte line answered by a RESP-byte line
 *       over a Unix socketpair, between two processes
 *   bench-store restart SOCK CMD...
 *       runs CMD (a daemon listening on SOCK) and times the exec to the
 *       first answer to daemon.info on SOCK; then its RSS, and the time
 *       it takes to stop on SIGTERM
 *   bench-store rss PID
 *       VmRSS and VmHWM of PID
 *   bench-store evict FILE...
 *       drops FILEs from the page cache (fdatasync, POSIX_FADV_DONTNEED),
 *       for a cold start
 * Each prints lines "name value unit" for bench-store.sh to collect. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
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

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sends N job.submit requests with PARAMS, at most WINDOW unanswered at
 * a time; returns the job id of the last one. */
static long long
submit_many(struct bench_reader *r, long n, const char *params)
{
	enum { WINDOW = 1024, BATCH = 64, LINE = 256 };
	char *buf = malloc(BATCH * LINE);
	long sent = 0, answered = 0;
	long long last = -1;

	while (answered < n) {
		size_t len = 0;
		while (sent < n && sent - answered < WINDOW &&
		       len < (BATCH - 1) * LINE)
			len += (size_t)snprintf(buf + len, LINE,
						"{\"jsonrpc\":\"2.0\",\"id\":%ld,"
						"\"method\":\"job.submit\","
						"\"params\":%s}\n",
						++sent, params);
		if (len > 0)
			bench_write_all(r->fd, buf, len);
		do {
			last = bench_field(bench_response(r), "job\":{\"id");
			answered++;
		} while (r->start < r->end && answered < n);
	}
	free(buf);
	return last;
}

/* daemon.info's answer. */
static char *
info(struct bench_reader *r)
{
	static const char req[] =
		"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"daemon.info\"}\n";

	bench_write_all(r->fd, req, sizeof req - 1);
	return bench_response(r);
}

static int
bench_fill(const char *sock, long n)
{
	static struct bench_reader r;
	double t0, t1;
	char *l;

	r.fd = bench_connect(sock);
	t0 = bench_now_s();
	submit_many(&r, n,
		    "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"watch\":false}");
	t1 = bench_now_s();
	for (;;) {
		l = info(&r);
		if (bench_field(l, "queued") == 0 && bench_field(l, "running") == 0)
			break;
		usleep(10000);
	}
	printf("fill_jobs %ld jobs\nfill_submit_per_s %.0f jobs/s\n"
	       "fill_finished_per_s %.0f jobs/s\n",
	       n, (double)n / (t1 - t0), (double)n / (bench_now_s() - t0));
	printf("daemon_pid %lld\n", bench_field(l, "pid"));
	close(r.fd);
	return 0;
}

static int
bench_queue(const char *sock, long n)
{
	static struct bench_reader r;
	char params[160];
	long long first;
	double t0;

	r.fd = bench_connect(sock);
	first = submit_many(&r, 1,
			    "{\"kind\":\"sleep\",\"args\":{\"ms\":86400000},"
			    "\"watch\":false}");
	snprintf(params, sizeof params,
		 "{\"kind\":\"sleep\",\"args\":{\"ms\":0},\"after\":[%lld],"
		 "\"watch\":false}",
		 first);
	t0 = bench_now_s();
	submit_many(&r, n, params);
	printf("queued_jobs %ld jobs\nqueue_submit_per_s %.0f jobs/s\n", n,
	       (double)n / (bench_now_s() - t0));
	printf("queued_now %lld jobs\n", bench_field(info(&r), "queued"));
	close(r.fd);
	return 0;
}

static void
report_latency(const char *name, double *samples, long n)
{
	qsort(samples, (size_t)n, sizeof *samples, cmp_double);
	printf("%s_p50 %.1f us\n%s_p99 %.1f us\n", name, samples[n / 2], name,
	       samples[n * 99 / 100]);
}

/* N round trips of METHOD with PARAMS; FRESH: each on a new connection.
 * Reports NAME's latency. */
static int
bench_call(const char *sock, long n, const char *method, const char *params,
	   bool fresh, const char *name)
{
	static struct bench_reader r;
	double *t = malloc(sizeof *t * (size_t)n);
	char req[300];

	r.fd = -1;
	for (long i = 0; i < n; i++) {
		if (r.fd < 0 || fresh) {
			if (r.fd >= 0)
				close(r.fd);
			r.fd = bench_connect(sock);
			r.start = r.end = 0;
		}
		int len = snprintf(req, sizeof req,
				   "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
				   "\"%s\",\"params\":%s}\n", i + 1, method, params);
		double t0 = bench_now_s();
		bench_write_all(r.fd, req, (size_t)len);
		bench_response(&r);
		t[i] = (bench_now_s() - t0) * 1e6;
	}
	report_latency(name, t, n);
	free(t);
	close(r.fd);
	return 0;
}

static int
bench_get(const char *sock, long n, long long lo, long long hi)
{
	static struct bench_reader r;
	long long span = hi - lo + 1, *ids;
	double *t = malloc(sizeof *t * (size_t)n);
	size_t req_bytes = 0, resp_bytes = 0;
	char req[200];

	if (span <= 0)
		return 2;
	/* A shuffled range: no id twice until every one was asked. */
	ids = malloc(sizeof *ids * (size_t)span);
	for (long long i = 0; i < span; i++)
		ids[i] = lo + i;
	srandom(1);
	for (long long i = span - 1; i > 0; i--) {
		long long j = random() % (i + 1), x = ids[i];
		ids[i] = ids[j];
		ids[j] = x;
	}
	r.fd = bench_connect(sock);
	for (long i = 0; i < n; i++) {
		int len = snprintf(req, sizeof req,
				   "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
				   "\"job.get\",\"params\":{\"id\":%lld}}\n",
				   i + 1, ids[i % span]);
		double t0 = bench_now_s();
		bench_write_all(r.fd, req, (size_t)len);
		char *l = bench_response(&r);
		t[i] = (bench_now_s() - t0) * 1e6;
		req_bytes += (size_t)len;
		resp_bytes += strlen(l) + 1;
	}
	report_latency("job_get", t, n);
	printf("request_bytes %zu bytes\nresponse_bytes %zu bytes\n",
	       req_bytes / (size_t)n, resp_bytes / (size_t)n);
	free(ids);
	free(t);
	close(r.fd);
	return 0;
}

/* What the paging client of bench_contend counts, in shared memory. */
struct pager_stats {
	long pages, passes;
	double slowest_us;
};

/* job.list's PARAMS with before_id BEFORE (0: none) into REQ. */
static int
list_request(char *req, size_t size, long id, const char *params,
	     long long before)
{
	const char *rest = params + 1; /* past the '{' */

	if (before <= 0)
		return snprintf(req, size,
				"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
				"\"job.list\",\"params\":%s}\n", id, params);
	return snprintf(req, size,
			"{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
			"\"job.list\",\"params\":{\"before_id\":%lld%s%s}\n",
			id, before, *rest == '}' ? "" : ",", rest);
}

/* Where the next page of a job.list answer LINE starts: next_before_id,
 * or the last job's id when the page is full (LIMIT jobs), else 0. */
static long long
next_page(const char *line, long limit)
{
	long long next = bench_field(line, "next_before_id"), last = 0;
	long n = 0;

	if (next > 0)
		return next;
	for (const char *p = line; (p = strstr(p, "{\"id\":")) != NULL; p++) {
		last = atoll(p + 6);
		n++;
	}
	return n >= limit ? last : 0;
}

/* Pages job.list with PARAMS, newest to oldest, until killed. */
static void
pager(const char *sock, const char *params, struct pager_stats *st)
{
	static struct bench_reader r;
	long long lim = bench_field(params, "limit"), before = 0;
	long limit = lim > 0 ? (long)lim : 100;
	char req[512];

	r.fd = bench_connect(sock);
	for (long i = 1;; i++) {
		int len = list_request(req, sizeof req, i, params, before);
		double t0 = bench_now_s();
		bench_write_all(r.fd, req, (size_t)len);
		char *l = bench_response(&r);
		double us = (bench_now_s() - t0) * 1e6;
		if (us > st->slowest_us)
			st->slowest_us = us;
		st->pages++;
		if ((before = next_page(l, limit)) == 0)
			st->passes++;
	}
}

/* N daemon.info round trips on R into T (microseconds). */
static void
info_times(struct bench_reader *r, double *t, long n)
{
	for (long i = 0; i < n; i++) {
		double t0 = bench_now_s();
		info(r);
		t[i] = (bench_now_s() - t0) * 1e6;
	}
}

static int
bench_contend(const char *sock, long n, const char *params)
{
	static struct bench_reader r;
	double *t = malloc(sizeof *t * (size_t)n);
	struct pager_stats *st;
	pid_t pid;

	if (params[0] != '{')
		return 2;
	st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st == MAP_FAILED)
		die("mmap");
	r.fd = bench_connect(sock);
	info_times(&r, t, n);
	report_latency("info_alone", t, n);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		pager(sock, params, st);
		_exit(0);
	}
	while (st->pages == 0)
		usleep(1000);
	info_times(&r, t, n);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	report_latency("info_paging", t, n);
	printf("pager_pages %ld pages\npager_passes %ld passes\n"
	       "pager_slowest_page %.1f us\n",
	       st->pages, st->passes, st->slowest_us);
	free(t);
	close(r.fd);
	return 0;
}

static int
bench_pingpong(long n, size_t req_len, size_t resp_len)
{
	static struct bench_reader r;
	double *t = malloc(sizeof *t * (size_t)n);
	char *req = malloc(req_len), *resp = malloc(resp_len);
	int sv[2];

	memset(req, 'x', req_len);
	req[req_len - 1] = '\n';
	memset(resp, 'y', resp_len);
	resp[resp_len - 1] = '\n';
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	if (fork() == 0) { /* the answering side */
		static struct bench_reader er;
		close(sv[0]);
		er.fd = sv[1];
		while (bench_read_line(&er) != NULL)
			bench_write_all(sv[1], resp, resp_len);
		_exit(0);
	}
	close(sv[1]);
	r.fd = sv[0];
	for (long i = 0; i < n; i++) {
		double t0 = bench_now_s();
		bench_write_all(sv[0], req, req_len);
		bench_read_line(&r);
		t[i] = (bench_now_s() - t0) * 1e6;
	}
	close(sv[0]);
	wait(NULL);
	report_latency("raw_pingpong", t, n);
	free(t);
	free(req);
	free(resp);
	return 0;
}

/* VmRSS and VmHWM of PID, in KiB. */
static void
print_rss(const char *prefix, long pid)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		die(path);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			printf("%s_rss %ld KiB\n", prefix, atol(line + 6));
		else if (strncmp(line, "VmHWM:", 6) == 0)
			printf("%s_hwm %ld KiB\n", prefix, atol(line + 6));
	fclose(f);
}

/* A connection to SOCK, or -1 while nothing listens there. */
static int
try_connect(const char *sock)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
		return fd;
	close(fd);
	return -1;
}

static int
bench_restart(const char *sock, char **argv)
{
	static struct bench_reader r;
	struct timespec pause = {0, 500000};
	double t0, t1, t2;
	int status;
	pid_t pid;

	t0 = bench_now_s();
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		execv(argv[0], argv);
		die(argv[0]);
	}
	/* Polls every 0.5 ms: connect, then the first answer. */
	for (;;) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr, "%s exited at start\n", argv[0]);
			return 1;
		}
		if ((r.fd = try_connect(sock)) >= 0)
			break;
		nanosleep(&pause, NULL);
	}
	info(&r);
	t1 = bench_now_s();
	printf("restart_ms %.1f ms\n", (t1 - t0) * 1e3);
	print_rss("started", pid);
	close(r.fd);
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	t2 = bench_now_s();
	printf("stop_ms %.1f ms\n", (t2 - t1) * 1e3);
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static int
bench_evict(int n, char **files)
{
	for (int i = 0; i < n; i++) {
		int fd = open(files[i], O_RDWR);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			die(files[i]);
		}
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "fill") == 0)
		return bench_fill(argv[2], atol(argv[3]));
	if (argc == 4 && strcmp(argv[1], "queue") == 0)
		return bench_queue(argv[2], atol(argv[3]));
	if (argc == 6 && strcmp(argv[1], "get") == 0)
		return bench_get(argv[2], atol(argv[3]), atoll(argv[4]),
				 atoll(argv[5]));
	if (argc == 5 && strcmp(argv[1], "list") == 0)
		return bench_call(argv[2], atol(argv[3]), "job.list", argv[4],
				  false, "job_list");
	if (argc == 6 && strcmp(argv[1], "call") == 0)
		return bench_call(argv[2], atol(argv[3]), argv[4], argv[5], true,
				  "call");
	if (argc == 5 && strcmp(argv[1], "contend") == 0)
		return bench_contend(argv[2], atol(argv[3]), argv[4]);
	if (argc == 5 && strcmp(argv[1], "pingpong") == 0)
		return bench_pingpong(atol(argv[2]), (size_t)atol(argv[3]),
				      (size_t)atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "rss") == 0) {
		print_rss("daemon", atol(argv[2]));
		return 0;
	}
	if (argc >= 4 && strcmp(argv[1], "restart") == 0)
		return bench_restart(argv[2], argv + 3);
	if (argc >= 3 && strcmp(argv[1], "evict") == 0)
		return bench_evict(argc - 2, argv + 2);
	fprintf(stderr, "usage: see the comment at the top of bench-store.c\n");
	return 2;
}
