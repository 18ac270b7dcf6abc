/* Progress bars of the jobs being followed, on stderr when a terminal. */
#ifndef ASYNCCTL_PROGRESS_H
#define ASYNCCTL_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl;
struct json_object;
struct kind_ui;
struct progress;

/* The bars of the N jobs IDS (borrowed until progress_free()): drawn
 * when UI asks for them, without --json, and stderr is a terminal.
 * Several jobs get a block of lines, one each, redrawn in place. */
struct progress *progress_new(struct ctl *ctl, const uint64_t *ids, size_t n,
			      const struct kind_ui *ui);
/* Shows job.progress PARAMS of job ID, the Ith of IDS (-1: not one). */
void progress_update(struct progress *pg, int i, uint64_t id,
		     struct json_object *params);
/* Job ID ended (OK: it completed; PARAMS of its event). Ends a bar left
 * on its line. True when the block showed the end, holding a result
 * back for progress_free(); false when the caller shows it. */
bool progress_end(struct progress *pg, int i, uint64_t id,
		  struct json_object *params, bool ok);
/* Shows a job.paused, job.resumed or job.retrying EVENT of job I (-1:
 * not one) on stderr: on its line of the block of bars, else on a line
 * of its own, under a bar left on screen. */
void progress_note(struct progress *pg, int i, struct json_object *event);
/* Prints the results the block held back, then frees PG. */
void progress_free(struct progress *pg);

#endif
