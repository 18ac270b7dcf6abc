/* Submitting jobs and following their events until they end. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../proto/chunk.h"
#include "asyncctl.h"
#include "connection.h"
#include "render.h"

static void
on_sigint(int sig)
{
	(void)sig;
	if (ctl_interrupted)
		_exit(EXIT_INTERRUPTED); /* a second Ctrl-C: leave at once */
	ctl_interrupted = 1;
}

static void
catch_sigint(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
}

uint64_t
ctl_submit(struct ctl *ctl, const char *kind, struct json_object *args,
	   int *status)
{
	struct json_object *params = json_object_new_object();
	struct json_object *response, *job;
	uint64_t id;

	json_object_object_add(params, "kind", json_object_new_string(kind));
	json_object_object_add(params, "args", args);
	if (ctl->label != NULL)
		json_object_object_add(params, "label", json_object_new_string(ctl->label));
	if (ctl->after != NULL)
		json_object_object_add(params, "after", json_object_get(ctl->after));
	if (ctl->timeout_ms > 0)
		json_object_object_add(params, "timeout_ms",
				       json_object_new_int64(ctl->timeout_ms));
	json_object_object_add(params, "watch", json_object_new_boolean(!ctl->detach));
	response = ctl_call(ctl, "job.submit", params, status);
	if (response == NULL)
		return 0;
	job = render_get(render_get(response, "result"), "job");
	id = (uint64_t)json_object_get_int64(render_get(job, "id"));
	json_object_put(response);
	return id;
}

static int
index_of(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return (int)i;
	return -1;
}

/* Writes the decoded data of a job.output event to stdout or stderr. */
static void
write_output(struct json_object *params)
{
	const char *stream = json_object_get_string(render_get(params, "stream"));
	struct json_object *data = render_get(params, "data");
	const char *enc = json_object_get_string(render_get(params, "encoding"));
	const char *text = json_object_get_string(data);
	size_t len = (size_t)json_object_get_string_len(data);
	FILE *out = stream != NULL && strcmp(stream, "stderr") == 0 ? stderr : stdout;

	if (enc != NULL && strcmp(enc, "base64") == 0) {
		unsigned char *raw = malloc(len / 4 * 3 + 3);
		long n = raw ? base64_decode(text, len, raw) : -1;
		if (n > 0)
			fwrite(raw, 1, (size_t)n, out);
		free(raw);
	} else if (text != NULL) {
		fwrite(text, 1, len, out);
	}
	if (out == stderr)
		fflush(stderr);
}

static double
seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) +
	       (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void
cancel_all(struct ctl *ctl, const uint64_t *ids, const bool *done, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (done[i])
			continue;
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "id", json_object_new_int64((int64_t)ids[i]));
		client_send(ctl->conn, "job.cancel", p);
	}
}

/* Shows one event; returns 1 when it ended a followed job, with *ok. */
static int
handle_event(struct ctl *ctl, struct json_object *msg, const struct kind_ui *ui,
	     bool tty, const struct timespec *start, bool *ok)
{
	const char *method = json_object_get_string(render_get(msg, "method"));
	struct json_object *p = render_get(msg, "params");
	uint64_t id = (uint64_t)json_object_get_int64(render_get(p, "id"));

	if (method == NULL)
		return 0;
	if (ctl->json) {
		render_json_line(stdout, msg);
	} else if (strcmp(method, "job.output") == 0) {
		write_output(p);
	} else if (strcmp(method, "job.progress") == 0) {
		if (ui != NULL && ui->progress_bar && tty)
			render_progress(stderr, (unsigned long long)id, p,
					seconds_since(start));
	} else if (strcmp(method, "job.completed") == 0) {
		if (ui != NULL && ui->progress_bar && tty)
			fprintf(stderr, "\n");
		if (ui != NULL && ui->completed != NULL)
			ui->completed(ctl, id, render_get(p, "result"));
		else if (ui == NULL)
			render_event(stdout, msg);
	} else if (strcmp(method, "job.failed") == 0) {
		if (ui != NULL && ui->progress_bar && tty)
			fprintf(stderr, "\n");
		render_job_error(stderr, (unsigned long long)id, render_get(p, "error"));
	} else if (ui == NULL) {
		render_event(stdout, msg);
	}
	if (strcmp(method, "job.completed") == 0) {
		*ok = true;
		return 1;
	}
	if (strcmp(method, "job.failed") == 0) {
		*ok = false;
		return 1;
	}
	return 0;
}

int
ctl_follow(struct ctl *ctl, const uint64_t *ids, size_t n,
	   const struct kind_ui *ui, bool cancel_on_int)
{
	bool *done = calloc(n ? n : 1, sizeof *done);
	bool tty = isatty(STDERR_FILENO), cancelled = false, all_ok = true;
	size_t remaining = n;
	struct timespec start;
	int status = EXIT_OK;

	clock_gettime(CLOCK_MONOTONIC, &start);
	catch_sigint();
	while (remaining > 0 || n == 0) {
		bool closed, ok;
		if (ctl_interrupted && !cancelled) {
			if (!cancel_on_int) {
				status = EXIT_INTERRUPTED;
				break;
			}
			cancel_all(ctl, ids, done, n);
			cancelled = true;
		}
		struct json_object *msg = client_next(ctl->conn, -1, &closed);
		if (msg == NULL) {
			if (closed) {
				fprintf(stderr, "asyncctl: lost the connection to asyncd\n");
				status = EXIT_UNREACHABLE;
				break;
			}
			continue;
		}
		if (render_get(msg, "method") == NULL) { /* a response */
			if (ctl->json)
				render_json_line(stdout, msg);
			json_object_put(msg);
			continue;
		}
		struct json_object *p = render_get(msg, "params");
		uint64_t id = (uint64_t)json_object_get_int64(render_get(p, "id"));
		int i = index_of(ids, n, id);
		if (handle_event(ctl, msg, ui, tty, &start, &ok) && i >= 0 && !done[i]) {
			done[i] = true;
			remaining--;
			all_ok = all_ok && ok;
		}
		json_object_put(msg);
	}
	fflush(stdout);
	free(done);
	if (status != EXIT_OK)
		return status;
	return all_ok ? EXIT_OK : EXIT_JOB_FAILED;
}

int
ctl_run_jobs(struct ctl *ctl, const char *kind, struct json_object **args,
	     size_t n, const struct kind_ui *ui)
{
	uint64_t *ids = calloc(n, sizeof *ids);
	int status = EXIT_OK;
	size_t submitted = 0;

	for (size_t i = 0; i < n; i++) {
		if (status != EXIT_OK) {
			json_object_put(args[i]);
			continue;
		}
		ids[i] = ctl_submit(ctl, kind, args[i], &status);
		if (ids[i] != 0)
			submitted++;
	}
	if (ctl->detach) {
		for (size_t i = 0; i < submitted && !ctl->json; i++)
			printf("%" PRIu64 "\n", ids[i]);
	} else if (submitted > 0) {
		int s = ctl_follow(ctl, ids, submitted, ui, true);
		if (status == EXIT_OK)
			status = s;
	}
	free(ids);
	return status;
}
