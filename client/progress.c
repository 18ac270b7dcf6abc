/* Progress bars: one bar redrawn on its line, or a block of lines, one
 * per job, each rewritten in place with cursor movements. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "progress.h"
#include "render.h"

struct progress {
	struct ctl *ctl;
	const uint64_t *ids;
	size_t n;
	const struct kind_ui *ui;
	bool bars;  /* progress bars on stderr, a terminal */
	bool block; /* several bars: one line each, redrawn in place */
	bool drawn; /* a single bar is on screen */
	struct json_object **results; /* held back while the block is shown */
	struct timespec start;
};

struct progress *
progress_new(struct ctl *ctl, const uint64_t *ids, size_t n,
	     const struct kind_ui *ui)
{
	struct progress *pg = calloc(1, sizeof *pg);

	if (pg == NULL)
		abort();
	pg->ctl = ctl;
	pg->ids = ids;
	pg->n = n;
	pg->ui = ui;
	pg->bars = ui != NULL && ui->progress_bar && !ctl->json &&
		   isatty(STDERR_FILENO);
	pg->block = pg->bars && n > 1;
	pg->results = calloc(n ? n : 1, sizeof *pg->results);
	if (pg->results == NULL)
		abort();
	if (pg->block)
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "job %llu queued\n", (unsigned long long)ids[i]);
	clock_gettime(CLOCK_MONOTONIC, &pg->start);
	return pg;
}

static double
progress_elapsed(const struct progress *pg)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - pg->start.tv_sec) +
	       (double)(now.tv_nsec - pg->start.tv_nsec) / 1e9;
}

/* Rewrites line I of the block of bars (the cursor rests below it). */
static void
progress_line_begin(struct progress *pg, int i)
{
	fprintf(stderr, "\033[%zuA\r\033[K", pg->n - (size_t)i);
}

static void
progress_line_end(struct progress *pg, int i)
{
	fprintf(stderr, "\033[%zuB\r", pg->n - (size_t)i);
	fflush(stderr);
}

void
progress_update(struct progress *pg, int i, uint64_t id,
		struct json_object *params)
{
	if (!pg->bars)
		return;
	if (pg->block && i >= 0) {
		progress_line_begin(pg, i);
		render_progress(stderr, (unsigned long long)id, params,
				progress_elapsed(pg));
		progress_line_end(pg, i);
	} else {
		fprintf(stderr, "\r\033[K");
		render_progress(stderr, (unsigned long long)id, params,
				progress_elapsed(pg));
		pg->drawn = true;
	}
}

bool
progress_end(struct progress *pg, int i, uint64_t id,
	     struct json_object *params, bool ok)
{
	if (pg->drawn) {
		fprintf(stderr, "\n");
		pg->drawn = false;
	}
	if (!pg->block || i < 0)
		return false;
	progress_line_begin(pg, i);
	if (ok)
		fprintf(stderr, "job %llu done", (unsigned long long)id);
	else
		render_job_error_text(stderr, (unsigned long long)id,
				      render_get(params, "error"));
	progress_line_end(pg, i);
	if (ok) /* printed once the block is finished */
		pg->results[i] = json_object_get(render_get(params, "result"));
	return true;
}

void
progress_note(struct progress *pg, int i, struct json_object *event)
{
	if (pg->block && i >= 0) {
		progress_line_begin(pg, i);
		render_control_text(stderr, event);
		progress_line_end(pg, i);
		return;
	}
	if (pg->drawn) { /* the bar comes back with the next progress */
		fprintf(stderr, "\r\033[K");
		pg->drawn = false;
	}
	if (render_control_text(stderr, event))
		fputc('\n', stderr);
	fflush(stderr);
}

void
progress_free(struct progress *pg)
{
	for (size_t i = 0; i < pg->n; i++) {
		if (pg->results[i] != NULL && pg->ui->completed != NULL)
			pg->ui->completed(pg->ctl, pg->ids[i], pg->results[i]);
		json_object_put(pg->results[i]);
	}
	free(pg->results);
	free(pg);
}
