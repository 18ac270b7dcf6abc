/* Following jobs' events until they end: output written out, ends shown,
 * and, when the daemon goes away, a reconnect that resumes each job from
 * its last event seen. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../proto/base64.h"
#include "../proto/output-line.h"
#include "asyncctl.h"
#include "connection.h"
#include "progress.h"
#include "render.h"

static void
on_sigint(int sig UNUSED)
{
	if (ctl_interrupted)
		_exit(EXIT_INTERRUPTED); /* a second Ctrl-C: leave at once */
	ctl_interrupted = 1;
}

void
ctl_catch_interrupt(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll() returns */
	sigaction(SIGTERM, &sa, NULL);
}

static int
index_of(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return (int)i;
	return -1;
}

/* Writes LEN bytes to FD with write(2), after what stdio holds for it;
 * a reader gone away (EPIPE) loses the rest, as with stdio. */
static void
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	fflush(fd == STDERR_FILENO ? stderr : stdout);
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
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
	} else if (enc != NULL && strcmp(enc, "binary") == 0) {
		write_all(fileno(out), text, len); /* raw bytes, NULs too */
	} else if (text != NULL) {
		fwrite(text, 1, len, out);
	}
	if (out == stderr)
		fflush(stderr);
}

/* The last event seen of a job, to watch it again from there. */
struct seen {
	uint64_t id;
	uint32_t seq;
	bool ended;
	long long request; /* the job.watch that resumed it, or 0 */
};

/* What following a set of jobs keeps track of. */
struct follow {
	struct ctl *ctl;
	const uint64_t *ids;
	size_t n;
	const struct kind_ui *ui;
	struct seen *seen; /* the N jobs, or, when N is 0, every job seen
			    * and not ended */
	size_t nseen, seen_cap;
	bool *done;
	struct progress *progress;
	long long lost_at; /* when the connection broke, while reconnecting;
			    * else 0 */
};

/* How long a lost connection is tried again, in ms. */
#define FOLLOW_RECONNECT_MS 30000

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct seen *
seen_of(struct follow *f, uint64_t id)
{
	/* The newest first: with "watch all", events are mostly of them. */
	for (size_t i = f->nseen; i > 0; i--)
		if (f->seen[i - 1].id == id)
			return &f->seen[i - 1];
	if (f->n > 0)
		return NULL;
	if (f->nseen == f->seen_cap) {
		f->seen_cap = f->seen_cap ? f->seen_cap * 2 : 64;
		f->seen = realloc(f->seen, f->seen_cap * sizeof *f->seen);
		if (f->seen == NULL)
			abort();
	}
	f->seen[f->nseen] = (struct seen){.id = id};
	return &f->seen[f->nseen++];
}

/* Notes event SEQ of job ID. */
static void
note_seq(struct follow *f, uint64_t id, uint64_t seq, bool ended)
{
	struct seen *s = seen_of(f, id);

	if (s == NULL)
		return;
	if (seq > s->seq)
		s->seq = (uint32_t)seq;
	if (ended && f->n == 0)
		*s = f->seen[--f->nseen]; /* watching all: only the unended */
	else if (ended)
		s->ended = true;
}

/* The output hook of the connection: output written out at once, already
 * decoded, without json-c. */
static void
write_output_fast(void *arg, const struct output_event *ev,
		  const unsigned char *data, size_t len, bool end)
{
	write_all(strcmp(ev->stream, "stderr") == 0 ? STDERR_FILENO
						   : STDOUT_FILENO,
		  data, len);
	if (end) /* a reconnect resumes after whole events only */
		note_seq(arg, ev->id, ev->seq, false);
}

/* The daemon went away, as in a restart: connects again for up to 30 s
 * and watches each unfinished job again from the last event seen, so
 * that nothing is lost or shown twice. False when it did not come back.
 * Through ssh (-H) a connection is made at once, and its first message
 * says it works: until then the same 30 s hold, counted from the first
 * loss, and each attempt runs ssh again, a second apart. */
static bool
follow_resume(struct follow *f)
{
	struct ctl *ctl = f->ctl;
	useconds_t pause = ctl->remote != NULL ? 1000000 : 200000;

	if (f->lost_at == 0) {
		fprintf(stderr, "asyncctl: lost the connection to asyncd; "
				"reconnecting\n");
		f->lost_at = now_ms();
	}
	client_close(ctl->conn);
	ctl->conn = NULL;
	while (ctl->conn == NULL && !ctl_interrupted &&
	       now_ms() - f->lost_at < FOLLOW_RECONNECT_MS) {
		usleep(pause);
		ctl->conn = ctl_open(ctl);
	}
	if (ctl->conn == NULL)
		return false;
	if (!ctl->json && f->ui != NULL) {
		client_on_output(ctl->conn, write_output_fast, f);
		client_binary_output(ctl->conn);
	}
	if (f->n == 0) {
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "all", json_object_new_boolean(1));
		client_send(ctl->conn, "job.watch", p);
	}
	for (size_t i = 0; i < f->nseen; i++) {
		struct seen *s = &f->seen[i];
		if (s->ended)
			continue;
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "id", json_object_new_int64((int64_t)s->id));
		json_object_object_add(p, "since", json_object_new_int64(s->seq));
		s->request = client_send(ctl->conn, "job.watch", p);
	}
	return true;
}

/* A resumed job.watch that failed: the job is gone (a daemon without a
 * state directory forgets its jobs). Returns its index, or -1. */
static int
resume_refused(struct follow *f, struct json_object *response)
{
	long long id = json_object_get_int64(render_get(response, "id"));

	if (client_error_code(response) == 0)
		return -1;
	for (size_t i = 0; i < f->nseen; i++) {
		if (f->seen[i].request == id && !f->seen[i].ended) {
			f->seen[i].ended = true;
			fprintf(stderr, "asyncctl: job %llu is gone after the "
					"daemon restarted\n",
				(unsigned long long)f->seen[i].id);
			return f->n > 0 ? (int)i : -1;
		}
	}
	return -1;
}

static void
cancel_all(struct follow *f)
{
	for (size_t i = 0; i < f->n; i++) {
		if (f->done[i])
			continue;
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "id", json_object_new_int64((int64_t)f->ids[i]));
		client_send(f->ctl->conn, "job.cancel", p);
	}
}

/* Shows how job ID, the Ith followed (-1: not one), ended. */
static void
show_end(struct follow *f, int i, uint64_t id, struct json_object *msg, bool ok)
{
	struct json_object *p = render_get(msg, "params");

	if (progress_end(f->progress, i, id, p, ok))
		return;
	if (!ok)
		render_job_error(stderr, (unsigned long long)id, render_get(p, "error"));
	else if (f->ui != NULL && f->ui->completed != NULL)
		f->ui->completed(f->ctl, id, render_get(p, "result"));
	else if (f->ui == NULL)
		render_event(stdout, msg);
}

/* Whether METHOD is an event of job control, which a job command notes
 * on stderr: its job goes on. */
static bool
is_control_event(const char *method)
{
	return strcmp(method, "job.retrying") == 0 ||
	       strcmp(method, "job.paused") == 0 ||
	       strcmp(method, "job.resumed") == 0;
}

/* Shows one event; returns 1 when it ended a job, with *ok. */
static int
handle_event(struct follow *f, struct json_object *msg, int i, bool *ok)
{
	const char *method = json_object_get_string(render_get(msg, "method"));
	struct json_object *p = render_get(msg, "params");
	uint64_t id = (uint64_t)json_object_get_int64(render_get(p, "id"));
	bool end = false;

	if (method == NULL)
		return 0;
	if (strcmp(method, "job.completed") == 0)
		end = *ok = true;
	else if (strcmp(method, "job.failed") == 0)
		end = true, *ok = false;
	note_seq(f, id, (uint64_t)json_object_get_int64(render_get(p, "seq")), end);
	if (f->ctl->json)
		render_json_line(stdout, msg);
	else if (end)
		show_end(f, i, id, msg, *ok);
	else if (strcmp(method, "job.output") == 0)
		write_output(p);
	else if (strcmp(method, "job.progress") == 0)
		progress_update(f->progress, i, id, p);
	else if (f->ui != NULL && is_control_event(method))
		progress_note(f->progress, i, msg);
	else if (f->ui == NULL)
		render_event(stdout, msg);
	return end;
}

int
ctl_follow(struct ctl *ctl, const uint64_t *ids, size_t n,
	   const struct kind_ui *ui, bool cancel_on_int)
{
	return ctl_follow_since(ctl, ids, n, NULL, ui, cancel_on_int);
}

int
ctl_follow_since(struct ctl *ctl, const uint64_t *ids, size_t n,
		 const uint32_t *since, const struct kind_ui *ui,
		 bool cancel_on_int)
{
	return ctl_follow_pending(ctl, ids, n, since, ui, cancel_on_int, NULL,
				  0);
}

int
ctl_follow_pending(struct ctl *ctl, const uint64_t *ids, size_t n,
		   const uint32_t *since, const struct kind_ui *ui,
		   bool cancel_on_int, struct json_object **pending,
		   size_t npending)
{
	struct follow f = {.ctl = ctl, .ids = ids, .n = n, .ui = ui};
	size_t next_pending = 0;
	bool cancelled = false, all_ok = true;
	size_t remaining = n;
	int status = EXIT_OK;

	f.done = calloc(n ? n : 1, sizeof *f.done);
	f.seen = calloc(n ? n : 1, sizeof *f.seen);
	f.nseen = f.seen_cap = n;
	for (size_t i = 0; i < n; i++) {
		f.seen[i].id = ids[i];
		f.seen[i].seq = since != NULL ? since[i] : 0;
	}
	f.progress = progress_new(ctl, ids, n, ui);
	ctl_catch_interrupt();
	/* Output is only written out here, so it may skip json-c. */
	if (!ctl->json && ui != NULL) {
		client_on_output(ctl->conn, write_output_fast, &f);
		client_binary_output(ctl->conn);
	}
	while (remaining > 0 || n == 0) {
		bool closed, ok;
		if (ctl_interrupted && !cancelled) {
			if (!cancel_on_int) {
				status = EXIT_INTERRUPTED;
				break;
			}
			cancel_all(&f);
			cancelled = true;
		}
		/* While reconnecting, the new connection has until the end
		 * of the 30 s to answer. */
		int wait_ms = -1;
		if (f.lost_at != 0) {
			long long left = f.lost_at + FOLLOW_RECONNECT_MS - now_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		struct json_object *msg =
			next_pending < npending
				? (closed = false, pending[next_pending++])
				: client_next(ctl->conn, wait_ms, &closed);
		if (msg == NULL) {
			if ((closed && !follow_resume(&f)) ||
			    (!closed && wait_ms == 0)) {
				fprintf(stderr, "asyncctl: lost the connection to asyncd\n");
				status = EXIT_UNREACHABLE;
				break;
			}
			continue;
		}
		f.lost_at = 0;
		if (render_get(msg, "method") == NULL) { /* a response */
			int gone = resume_refused(&f, msg);
			if (ctl->json)
				render_json_line(stdout, msg);
			json_object_put(msg);
			if (gone >= 0 && !f.done[gone]) {
				f.done[gone] = true;
				remaining--;
				all_ok = false;
			}
			continue;
		}
		uint64_t id = (uint64_t)json_object_get_int64(
			render_get(render_get(msg, "params"), "id"));
		int i = index_of(ids, n, id);
		if (handle_event(&f, msg, i, &ok) && i >= 0 && !f.done[i]) {
			f.done[i] = true;
			remaining--;
			all_ok = all_ok && ok;
		}
		json_object_put(msg);
	}
	while (next_pending < npending) /* left when it stopped early */
		json_object_put(pending[next_pending++]);
	if (ctl->conn != NULL) /* NULL: the daemon did not come back */
		client_on_output(ctl->conn, NULL, NULL);
	progress_free(f.progress);
	fflush(stdout);
	free(f.done);
	free(f.seen);
	if (status != EXIT_OK)
		return status;
	return all_ok ? EXIT_OK : EXIT_JOB_FAILED;
}
