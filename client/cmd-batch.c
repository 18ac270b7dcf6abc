/* asyncctl batch: many jobs from one invocation. Each line of stdin is
 * the params of one job.submit; they are pipelined on one connection and
 * then followed together, as `wait` follows them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "asyncctl.h"
#include "connection.h"
#include "render.h"

/* Submits unanswered at once: enough to keep the daemon busy, few enough
 * that neither side buffers much. */
#define BATCH_WINDOW 256

struct batch {
	struct json_object **params; /* one per job, in input order */
	unsigned *lines;             /* the line of stdin each came from */
	size_t n, cap;
	uint64_t *ids;       /* the job of each line, 0 when refused */
	long long *requests; /* the request id of each line */
	struct json_object **early; /* events that came during the submits */
	size_t nearly, early_cap;
};

/* Reads stdin: one JSON object per non-empty line. Returns EXIT_OK, or
 * EXIT_USAGE naming the first line that is not one. */
static int
batch_read(struct batch *b)
{
	struct json_tokener *tok = jsonrpc_tokener_new();
	char *line = NULL;
	size_t size = 0;
	ssize_t len;
	unsigned lineno = 0;
	int status = EXIT_OK;

	while ((len = getline(&line, &size, stdin)) >= 0) {
		struct json_object *p;
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (jsonrpc_parse(tok, line, (size_t)len, &p) < 0 ||
		    !json_object_is_type(p, json_type_object)) {
			json_object_put(p);
			fprintf(stderr, "asyncctl: batch: line %u is not a JSON "
					"object of job.submit params\n", lineno);
			status = EXIT_USAGE;
			break;
		}
		if (b->n == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 64;
			b->params = realloc(b->params, b->cap * sizeof *b->params);
			b->lines = realloc(b->lines, b->cap * sizeof *b->lines);
		}
		b->lines[b->n] = lineno;
		b->params[b->n++] = p;
	}
	free(line);
	json_tokener_free(tok);
	return status;
}

static void
batch_keep_event(struct batch *b, struct json_object *msg)
{
	if (b->nearly == b->early_cap) {
		b->early_cap = b->early_cap ? b->early_cap * 2 : 64;
		b->early = realloc(b->early, b->early_cap * sizeof *b->early);
	}
	b->early[b->nearly++] = msg;
}

/* The line whose request was REQUEST, or -1. Requests go out in order,
 * so the ids are increasing: a binary search. */
static long
batch_line_of(const struct batch *b, size_t sent, long long request)
{
	size_t lo = 0, hi = sent;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (b->requests[mid] < request)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sent && b->requests[lo] == request ? (long)lo : -1;
}

/* Takes one answer to a submit (or keeps an event for later). */
static int
batch_take(struct ctl *ctl, struct batch *b, size_t sent,
	   struct json_object *msg, size_t *answered)
{
	struct json_object *err;
	long i;

	if (render_get(msg, "method") != NULL) {
		batch_keep_event(b, msg);
		return EXIT_OK;
	}
	(*answered)++;
	i = batch_line_of(b, sent,
			  json_object_get_int64(render_get(msg, "id")));
	if (ctl->json)
		render_json_line(stdout, msg);
	if ((err = render_get(msg, "error")) != NULL || i < 0) {
		struct json_object *data = render_get(err, "data");
		fprintf(stderr, "asyncctl: batch: line %u: %s", i >= 0 ? b->lines[i] : 0,
			json_object_get_string(render_get(err, "message")));
		if (render_get(data, "field") != NULL)
			fprintf(stderr, ": %s: %s",
				json_object_get_string(render_get(data, "field")),
				json_object_get_string(render_get(data, "reason")));
		fputc('\n', stderr);
		json_object_put(msg);
		return EXIT_REFUSED;
	}
	b->ids[i] = (uint64_t)json_object_get_int64(
		render_get(render_get(render_get(msg, "result"), "job"), "id"));
	json_object_put(msg);
	return EXIT_OK;
}

/* Sends every submit, at most BATCH_WINDOW unanswered, and takes the
 * answers. */
static int
batch_submit(struct ctl *ctl, struct batch *b)
{
	size_t sent = 0, answered = 0;
	int status = EXIT_OK;

	while (answered < b->n) {
		while (sent < b->n && sent - answered < BATCH_WINDOW) {
			struct json_object *p = b->params[sent];
			b->params[sent] = NULL;
			json_object_object_add(p, "watch",
					       json_object_new_boolean(!ctl->detach));
			b->requests[sent++] = client_send(ctl->conn, "job.submit", p);
		}
		bool closed;
		struct json_object *msg = client_next(ctl->conn, -1, &closed);
		if (msg == NULL) {
			if (closed) {
				fprintf(stderr, "asyncctl: lost the connection "
						"to asyncd\n");
				return EXIT_UNREACHABLE;
			}
			if (ctl_interrupted)
				return EXIT_INTERRUPTED;
			continue;
		}
		if (batch_take(ctl, b, sent, msg, &answered) != EXIT_OK)
			status = EXIT_REFUSED;
	}
	return status;
}

int
cmd_batch(struct ctl *ctl, int argc, char **argv)
{
	/* As `wait`: output written out, failures said, no result dumped. */
	static const struct kind_ui quiet = {NULL, false};
	struct batch b = {0};
	uint64_t *made;
	size_t nmade = 0;
	int status, follow;

	if (argc != 0)
		return ctl_usage("batch", "unexpected argument: %s (the jobs "
					  "come on stdin)", argv[0]);
	if ((status = batch_read(&b)) != EXIT_OK)
		goto out;
	ctl_connect(ctl);
	b.ids = calloc(b.n ? b.n : 1, sizeof *b.ids);
	b.requests = calloc(b.n ? b.n : 1, sizeof *b.requests);
	if (!ctl->detach)
		ctl_catch_interrupt(); /* a Ctrl-C cancels what was made */
	status = batch_submit(ctl, &b);
	made = calloc(b.n ? b.n : 1, sizeof *made);
	for (size_t i = 0; i < b.n; i++)
		if (b.ids[i] != 0)
			made[nmade++] = b.ids[i];
	if (ctl->detach) {
		for (size_t i = 0; i < nmade && !ctl->json; i++)
			printf("%" PRIu64 "\n", made[i]);
	} else if (nmade > 0 && status != EXIT_UNREACHABLE) {
		follow = ctl_follow_pending(ctl, made, nmade, NULL, &quiet,
					    true, b.early, b.nearly);
		b.nearly = 0; /* taken */
		if (status == EXIT_OK || follow == EXIT_INTERRUPTED)
			status = follow;
	}
	free(made);
out:
	for (size_t i = 0; i < b.n; i++)
		json_object_put(b.params[i]);
	for (size_t i = 0; i < b.nearly; i++)
		json_object_put(b.early[i]);
	free(b.params);
	free(b.lines);
	free(b.early);
	free(b.ids);
	free(b.requests);
	return status;
}
