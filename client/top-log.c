/* The output pane of asyncctl top: one job's stdout and stderr, kept
 * output first (job.watch with since 0, on a connection of its own, so
 * that the replay never mixes with the main view's events), then live,
 * as lines that scroll. */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/base64.h"
#include "../proto/output-line.h"
#include "render.h"
#include "top.h"

/* Lines kept; the oldest go first. */
#define TOP_LOG_LINES 10000
/* A line longer than this is cut into several. */
#define TOP_LOG_LINE_MAX 4096

enum { TOP_LOG_STDOUT, TOP_LOG_STDERR };

struct top_log_line {
	char *text;
	size_t len;
	bool err; /* from stderr */
};

/* The line a stream is writing, not ended yet. */
struct top_log_part {
	char *text;
	size_t len;
	bool cr; /* a '\r' came last: the next byte but '\n' starts over */
};

struct top_log {
	struct top_conn *conn; /* NULL once the connection went */
	uint64_t id;
	char kind[16];
	char state[96];   /* of the job: running, completed, failed: why */
	char note[160];   /* what the pane says about itself */
	struct top_log_line *lines; /* a ring of TOP_LOG_LINES */
	size_t head, nlines;
	unsigned long long dropped; /* lines that went from the ring */
	struct top_log_part part[2];
	size_t top;  /* the first line on screen */
	bool follow; /* the screen keeps to the last lines */
	bool changed;
};

/* Line I (0: the oldest kept) of the ring. */
static struct top_log_line *
top_log_line(struct top_log *log, size_t i)
{
	return &log->lines[(log->head + i) % TOP_LOG_LINES];
}

/* Ends the line stream S was writing. */
static void
top_log_push(struct top_log *log, int s)
{
	struct top_log_part *p = &log->part[s];
	struct top_log_line *l;

	if (log->nlines == TOP_LOG_LINES) {
		l = top_log_line(log, 0);
		free(l->text);
		log->head = (log->head + 1) % TOP_LOG_LINES;
		log->nlines--;
		log->dropped++;
		if (log->top > 0)
			log->top--;
	}
	l = top_log_line(log, log->nlines++);
	l->text = p->text;
	l->len = p->len;
	l->err = s == TOP_LOG_STDERR;
	p->text = NULL;
	p->len = 0;
	log->changed = true;
}

/* Appends LEN bytes of stream S. */
static void
top_log_append(struct top_log *log, int s, const unsigned char *data,
	       size_t len)
{
	struct top_log_part *p = &log->part[s];

	for (size_t i = 0; i < len; i++) {
		unsigned char c = data[i];
		if (c == '\n') {
			p->cr = false;
			top_log_push(log, s);
			continue;
		}
		if (c == '\r') {
			p->cr = true;
			continue;
		}
		if (p->cr) /* a line redrawn in place: the last one shows */
			p->len = 0;
		p->cr = false;
		if (p->text == NULL &&
		    (p->text = malloc(TOP_LOG_LINE_MAX)) == NULL)
			abort();
		p->text[p->len++] = (char)c;
		if (p->len == TOP_LOG_LINE_MAX)
			top_log_push(log, s);
	}
	log->changed = true;
}

/* The stream of a job.output chunk, -1 for one that is not shown. */
static int
top_log_stream(const char *name)
{
	if (strcmp(name, "stderr") == 0)
		return TOP_LOG_STDERR;
	return TOP_LOG_STDOUT; /* stdout, and the data of other kinds */
}

static void
top_log_output(void *arg, const struct output_event *ev,
	       const unsigned char *data, size_t len)
{
	struct top_log *log = arg;

	if (ev->id == log->id)
		top_log_append(log, top_log_stream(ev->stream), data, len);
}

/* A job.output event that json-c read (the fast path passed it over). */
static void
top_log_output_json(struct top_log *log, struct json_object *p)
{
	struct json_object *data = render_get(p, "data");
	const char *enc = json_object_get_string(render_get(p, "encoding"));
	const char *stream = json_object_get_string(render_get(p, "stream"));
	const char *text = json_object_get_string(data);
	size_t len = (size_t)json_object_get_string_len(data);
	int s = top_log_stream(stream != NULL ? stream : "stdout");

	if (text == NULL)
		return;
	if (enc != NULL && strcmp(enc, "base64") == 0) {
		unsigned char *raw = malloc(len / 4 * 3 + 3);
		long n;
		if (raw == NULL)
			abort();
		if ((n = base64_decode(text, len, raw)) > 0)
			top_log_append(log, s, raw, (size_t)n);
		free(raw);
		return;
	}
	top_log_append(log, s, (const unsigned char *)text, len);
}

/* The state line of the job from its end. */
static void
top_log_end(struct top_log *log, bool ok, struct json_object *error)
{
	struct json_object *v;

	if (ok) {
		snprintf(log->state, sizeof log->state, "completed");
		return;
	}
	v = render_get(error, "code");
	snprintf(log->state, sizeof log->state, "failed: %s",
		 v != NULL ? json_object_get_string(v) : "?");
}

static void
top_log_event(void *arg, struct json_object *event)
{
	struct top_log *log = arg;
	struct json_object *p = render_get(event, "params");
	const char *method;

	method = json_object_get_string(render_get(event, "method"));

	if ((uint64_t)json_object_get_int64(render_get(p, "id")) != log->id ||
	    method == NULL)
		return;
	if (strcmp(method, "job.output") == 0)
		top_log_output_json(log, p);
	else if (strcmp(method, "job.started") == 0 ||
		 strcmp(method, "job.resumed") == 0)
		snprintf(log->state, sizeof log->state, "running");
	else if (strcmp(method, "job.paused") == 0)
		snprintf(log->state, sizeof log->state, "paused");
	else if (strcmp(method, "job.completed") == 0)
		top_log_end(log, true, NULL);
	else if (strcmp(method, "job.failed") == 0)
		top_log_end(log, false, render_get(p, "error"));
	log->changed = true;
}

/* The answer to the job.watch: the job as it is, or why not. */
static void
top_log_watching(void *arg, uint64_t tag UNUSED, struct json_object *response)
{
	struct top_log *log = arg;
	struct json_object *err = render_get(response, "error");
	struct json_object *result = render_get(response, "result");
	struct json_object *job = render_get(result, "job");
	const char *state = json_object_get_string(render_get(job, "state"));

	log->changed = true;
	if (err != NULL) {
		snprintf(log->note, sizeof log->note, "%s",
			 json_object_get_string(render_get(err, "message")));
		return;
	}
	if (state != NULL && strcmp(state, "completed") == 0)
		top_log_end(log, true, NULL);
	else if (state != NULL && strcmp(state, "failed") == 0)
		top_log_end(log, false, render_get(job, "error"));
	else if (state != NULL)
		snprintf(log->state, sizeof log->state, "%s%s", state,
			 json_object_get_boolean(render_get(job, "paused"))
				 ? ", paused"
				 : "");
	if (strcmp(log->kind, "process") != 0)
		snprintf(log->note, sizeof log->note,
			 "only process jobs keep their output; a %s job's "
			 "shows here only while it comes",
			 log->kind);
}

struct top_log *
top_log_open(const char *path, uint64_t id, const char *kind, char *err,
	     size_t errlen)
{
	struct top_log *log = calloc(1, sizeof *log);
	struct json_object *p;

	if (log == NULL)
		abort();
	log->id = id;
	snprintf(log->kind, sizeof log->kind, "%s", kind);
	snprintf(log->state, sizeof log->state, "?");
	log->follow = true;
	log->changed = true;
	if ((log->lines = calloc(TOP_LOG_LINES, sizeof *log->lines)) == NULL)
		abort();
	log->conn = top_conn_open(path, top_log_event, top_log_output, log);
	if (log->conn == NULL) {
		snprintf(err, errlen, "cannot reach asyncd at %s", path);
		top_log_free(log);
		return NULL;
	}
	p = json_object_new_object();
	json_object_object_add(p, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(p, "since", json_object_new_int64(0));
	if (top_conn_send(log->conn, "job.watch", p, top_log_watching, log,
			  0) < 0) {
		snprintf(err, errlen, "lost the connection to asyncd");
		top_log_free(log);
		return NULL;
	}
	return log;
}

void
top_log_free(struct top_log *log)
{
	if (log == NULL)
		return;
	top_conn_free(log->conn);
	for (size_t i = 0; i < log->nlines; i++)
		free(top_log_line(log, i)->text);
	free(log->lines);
	free(log->part[0].text);
	free(log->part[1].text);
	free(log);
}

int
top_log_fd(struct top_log *log)
{
	return log->conn != NULL ? top_conn_fd(log->conn) : -1;
}

bool
top_log_read(struct top_log *log)
{
	bool changed;

	if (log->conn != NULL && !top_conn_read(log->conn)) {
		top_conn_free(log->conn);
		log->conn = NULL;
		snprintf(log->note, sizeof log->note,
			 "lost the connection to asyncd");
		log->changed = true;
	}
	changed = log->changed;
	log->changed = false;
	return changed;
}

/* Rows of text the pane has room for. */
static size_t
top_log_rows(void)
{
	return LINES > 2 ? (size_t)LINES - 2 : 1;
}

/* Lines to show: those kept, and the ones still being written. */
static size_t
top_log_total(const struct top_log *log)
{
	return log->nlines + (log->part[0].len > 0) + (log->part[1].len > 0);
}

bool
top_log_key(struct top_log *log, int key)
{
	size_t rows = top_log_rows(), total = top_log_total(log);
	size_t last = total > rows ? total - rows : 0;

	switch (key) {
	case 27: /* Esc */
	case 'q':
		return false;
	case KEY_UP:
	case 'k':
		log->follow = false;
		log->top = log->top > 0 ? log->top - 1 : 0;
		break;
	case KEY_DOWN:
	case 'j':
		log->top++;
		break;
	case KEY_PPAGE:
	case 'b':
		log->follow = false;
		log->top = log->top > rows ? log->top - rows : 0;
		break;
	case KEY_NPAGE:
	case ' ':
		log->top += rows;
		break;
	case KEY_HOME:
	case 'g':
		log->follow = false;
		log->top = 0;
		break;
	case KEY_END:
	case 'G':
		log->follow = true;
		break;
	}
	if (log->top >= last) {
		log->top = last;
		log->follow = true;
	}
	return true;
}

void
top_log_draw(struct top_log *log)
{
	size_t rows = top_log_rows(), total = top_log_total(log);
	size_t last = total > rows ? total - rows : 0;

	if (log->follow || log->top > last)
		log->top = last;
	erase();
	attron(A_BOLD | A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	char head[256];
	snprintf(head, sizeof head, " job %llu (%s): %s, %zu lines%s",
		 (unsigned long long)log->id, log->kind, log->state,
		 log->nlines,
		 log->dropped ? " (the oldest dropped)" : "");
	top_draw_text(0, 0, COLS, head, strlen(head));
	attroff(A_BOLD | A_REVERSE);
	for (size_t r = 0; r < rows && log->top + r < total; r++) {
		size_t i = log->top + r;
		const char *text;
		size_t len;
		bool err;
		if (i < log->nlines) {
			text = top_log_line(log, i)->text;
			len = top_log_line(log, i)->len;
			err = top_log_line(log, i)->err;
		} else { /* the lines being written, stdout's first */
			int s = i == log->nlines && log->part[0].len > 0
					? TOP_LOG_STDOUT
					: TOP_LOG_STDERR;
			text = log->part[s].text;
			len = log->part[s].len;
			err = s == TOP_LOG_STDERR;
		}
		if (err)
			attron(A_BOLD);
		if (text != NULL)
			top_draw_text(1 + (int)r, 0, COLS, text, len);
		if (err)
			attroff(A_BOLD);
	}
	attron(A_DIM);
	if (log->note[0] != '\0')
		top_draw_text(LINES - 1, 0, COLS, log->note, strlen(log->note));
	else
		mvaddnstr(LINES - 1, 0,
			  "up/down j/k PgUp/PgDn g/G scroll  Esc/q back",
			  COLS);
	attroff(A_DIM);
}
