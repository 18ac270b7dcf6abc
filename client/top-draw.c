/* The main screen of asyncctl top: the daemon and the counts at the top,
 * then one list of the running, the queued and the last finished jobs,
 * scrolled so that the selected one shows, and a line of keys or news at
 * the bottom. */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include <json-c/json.h>

#include "render.h"
#include "top.h"

/* Rows above the list (the daemon, kinds, queues, column names) and
 * below it (keys or news). */
#define TOP_HEAD_ROWS 4
#define TOP_FOOT_ROWS 1
/* Columns of the id, kind and queue that every row of a job starts with. */
#define TOP_LEAD_COLS 30

enum { TOP_PAIR_OK = 1, TOP_PAIR_FAIL, TOP_PAIR_PAUSED };

void
top_draw_text(int y, int x, int width, const char *s, size_t len)
{
	mbstate_t mbs;
	wchar_t buf[512];
	int n = 0, used = 0;

	memset(&mbs, 0, sizeof mbs);
	while (len > 0 && n < (int)(sizeof buf / sizeof buf[0])) {
		wchar_t wc;
		size_t k = mbrtowc(&wc, s, len, &mbs);
		int w;
		if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
			/* A byte that is not a character shows as '?'. */
			memset(&mbs, 0, sizeof mbs);
			wc = L'?';
			k = 1;
		}
		s += k;
		len -= k;
		if (wc == L'\t')
			wc = L' ';
		if ((w = wcwidth(wc)) < 0)
			wc = L'?', w = 1; /* control characters never reach
					   * the terminal */
		if (used + w > width)
			break;
		buf[n++] = wc;
		used += w;
	}
	if (n > 0)
		mvaddnwstr(y, x, buf, n);
}

/* Prints the format at (Y, X), cut at WIDTH columns. */
static void __attribute__((format(printf, 4, 5)))
top_put(int y, int x, int width, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	if (width <= 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	top_draw_text(y, x, width, buf, strlen(buf));
}

int
top_draw_job_rows(void)
{
	int rows = LINES - TOP_HEAD_ROWS - TOP_FOOT_ROWS;

	return rows > 1 ? rows : 1;
}

/* A duration as [Dd ]H:MM:SS or M:SS. */
static void
top_duration(char *buf, size_t size, long long ms)
{
	long long s = ms > 0 ? ms / 1000 : 0;

	if (s >= 86400)
		snprintf(buf, size, "%lldd %02lld:%02lld:%02lld", s / 86400,
			 s / 3600 % 24, s / 60 % 60, s % 60);
	else if (s >= 3600)
		snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, size, "%lld:%02lld", s / 60, s % 60);
}

/* A moment (ms since the epoch) as HH:MM:SS on the local clock. */
static void
top_clock(char *buf, size_t size, long long ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

/* An amount of UNITs: bytes with a binary unit, items as they are. */
static void
top_amount(char *buf, size_t size, double n, bool bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	if (!bytes) {
		bool whole = n >= 100 || n == (long long)n;
		snprintf(buf, size, whole ? "%.0f" : "%.1f", n);
		return;
	}
	while (n >= 1024 && u < 4) {
		n /= 1024;
		u++;
	}
	snprintf(buf, size, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
}

static int64_t
top_int(struct json_object *obj, const char *key)
{
	return json_object_get_int64(render_get(obj, key));
}

/* The first row: the daemon, its uptime and counts, the load, the clock. */
static void
top_draw_daemon(struct top *t, long long now_ms)
{
	struct json_object *jobs = render_get(t->info, "jobs");
	char up[32], clock[16];
	int x = 0;

	top_clock(clock, sizeof clock, now_ms);
	if (t->lost_ms != 0) {
		attron(A_BOLD | A_REVERSE);
		top_put(0, 0, COLS, " CONNECTION LOST %llds ago: reconnecting "
				    "(q quits) ",
			(now_ms - t->lost_ms) / 1000);
		attroff(A_BOLD | A_REVERSE);
		top_put(0, COLS - 9, 9, " %s", clock);
		return;
	}
	if (t->info == NULL) {
		top_put(0, 0, COLS - 9, "asyncd: connecting...");
		top_put(0, COLS - 9, 9, " %s", clock);
		return;
	}
	top_duration(up, sizeof up, top_int(t->info, "uptime_ms"));
	attron(A_BOLD);
	top_put(0, 0, COLS, "asyncd %s",
		json_object_get_string(render_get(t->info, "version")));
	attroff(A_BOLD);
	x = getcurx(stdscr);
	top_put(0, x, COLS - 9 - x,
		"  up %s  load %s  daemon: %lld running, %lld queued, "
		"%lld completed, %lld failed",
		up, t->load, (long long)top_int(jobs, "running"),
		(long long)top_int(jobs, "queued"),
		(long long)top_int(jobs, "completed"),
		(long long)top_int(jobs, "failed"));
	top_put(0, COLS - 9, 9, " %s", clock);
}

/* The second row: each kind's jobs, unfinished now and ended since top
 * started. */
static void
top_draw_kinds(struct top *t)
{
	char buf[1024];
	size_t len = 0;

	top_jobs_count(&t->jobs);
	len += (size_t)snprintf(buf, sizeof buf,
				"kinds (running/queued/done/failed):");
	for (size_t i = 0; i < t->jobs.nkinds && len < sizeof buf; i++) {
		const struct top_kind *k = &t->jobs.kinds[i];
		if (k->running + k->queued + k->completed + k->failed == 0)
			continue;
		len += (size_t)snprintf(buf + len, sizeof buf - len,
					"  %s %u/%u/%u/%u", k->name, k->running,
					k->queued, k->completed, k->failed);
	}
	top_put(1, 0, COLS, "%s", buf);
}

/* Whether the queue OWNER/NAME is paused, as queue.list said. */
static bool
top_queue_paused(struct top *t, int64_t owner, const char *name)
{
	size_t n = t->queues != NULL ? json_object_array_length(t->queues) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(t->queues, i);
		const char *qname;

		qname = json_object_get_string(render_get(q, "name"));
		if (qname != NULL && strcmp(qname, name) == 0 &&
		    (owner < 0 || top_int(q, "owner") == owner))
			return json_object_get_boolean(render_get(q, "paused"));
	}
	return false;
}

/* The third row: the queues, from queue.list. */
static void
top_draw_queues(struct top *t)
{
	size_t n = t->queues != NULL ? json_object_array_length(t->queues) : 0;
	char buf[1024];
	size_t len = 0;

	len += (size_t)snprintf(buf, sizeof buf, "queues (running/queued):");
	for (size_t i = 0; i < n && len < sizeof buf; i++) {
		struct json_object *q = json_object_array_get_idx(t->queues, i);
		struct json_object *max = render_get(q, "max_running");
		char owner[32] = "";
		if (top_int(q, "owner") != (int64_t)getuid())
			snprintf(owner, sizeof owner, "@%lld",
				 (long long)top_int(q, "owner"));
		len += (size_t)snprintf(
			buf + len, sizeof buf - len, "  %s%s %lld/%lld",
			json_object_get_string(render_get(q, "name")), owner,
			(long long)top_int(q, "running"),
			(long long)top_int(q, "queued"));
		if (len < sizeof buf && max != NULL &&
		    json_object_is_type(max, json_type_int))
			len += (size_t)snprintf(
				buf + len, sizeof buf - len, " max %lld",
				(long long)json_object_get_int64(max));
		if (len < sizeof buf &&
		    json_object_get_boolean(render_get(q, "paused")))
			len += (size_t)snprintf(buf + len, sizeof buf - len,
						" PAUSED");
	}
	top_put(2, 0, COLS, "%s", buf);
}

/* The width of the bar's inside on this screen. */
static int
top_bar_width(void)
{
	int w = 10 + (COLS - 80) / 3;

	return w < 10 ? 10 : w > 40 ? 40 : w;
}

/* The id, kind and queue that start the row of JOB. */
static void
top_draw_lead(int y, const struct top_job *job)
{
	top_put(y, 0, TOP_LEAD_COLS, "%6llu %-10.10s %-10s",
		(unsigned long long)job->id, job->kind[0] ? job->kind : "?",
		job->queue[0] ? job->queue : "-");
}

/* The label at column X of row Y, to the end of the row. */
static void
top_draw_label(int y, int x, const struct top_job *job)
{
	if (job->label != NULL && x < COLS)
		top_draw_text(y, x, COLS - x, job->label, strlen(job->label));
}

static void
top_draw_running(int y, const struct top_job *job, long long now_ms)
{
	int bw = top_bar_width(), x = TOP_LEAD_COLS, fill = 0;
	char bar[64], pct[8] = "    -", done[32] = "-", rate[32] = "",
						elapsed[32];

	if (job->progress && job->total > 0) {
		double f = (double)job->done / (double)job->total;
		fill = f > 1 ? bw : (int)(f * bw);
		snprintf(pct, sizeof pct, "%4.0f%%", f > 1 ? 100 : 100 * f);
	}
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '-', (size_t)(bw - fill));
	bar[bw] = '\0';
	if (job->progress) {
		char d[16], tot[16];
		top_amount(d, sizeof d, (double)job->done, job->bytes);
		if (job->total >= 0 && !job->bytes) {
			top_amount(tot, sizeof tot, (double)job->total, false);
			snprintf(done, sizeof done, "%s/%s", d, tot);
		} else {
			snprintf(done, sizeof done, "%s", d);
		}
		double r = top_job_rate(job, now_ms);
		top_amount(d, sizeof d, r > 0 ? r : 0, job->bytes);
		snprintf(rate, sizeof rate, r < 0 ? "-" : "%s/s", d);
	}
	top_duration(elapsed, sizeof elapsed,
		     job->started_ms ? now_ms - job->started_ms : 0);
	top_draw_lead(y, job);
	top_put(y, x, COLS - x, "[%s]%s %11s", bar, pct, done);
	x += bw + 2 + 5 + 12;
	if (job->paused) {
		attron(A_BOLD | COLOR_PAIR(TOP_PAIR_PAUSED));
		top_put(y, x, COLS - x, " %11s", "PAUSED");
		attroff(A_BOLD | COLOR_PAIR(TOP_PAIR_PAUSED));
	} else {
		top_put(y, x, COLS - x, " %11s", rate);
	}
	top_put(y, x + 12, COLS - x - 12, " %8s", elapsed);
	top_draw_label(y, x + 22, job);
}

static void
top_draw_queued(struct top *t, int y, const struct top_job *job)
{
	char what[48] = "", at[16];
	int x = TOP_LEAD_COLS;

	if (job->retry_at_ms != 0) {
		top_clock(at, sizeof at, job->retry_at_ms);
		snprintf(what, sizeof what, "retry at %s", at);
	} else if (job->not_before_ms != 0) {
		top_clock(at, sizeof at, job->not_before_ms);
		snprintf(what, sizeof what, "not before %s", at);
	} else if (job->waiting) {
		snprintf(what, sizeof what, "after other jobs");
	} else if (top_queue_paused(t, job->owner, job->queue)) {
		snprintf(what, sizeof what, "queue paused");
	}
	top_draw_lead(y, job);
	top_put(y, x, COLS - x, "%5lld ", (long long)job->priority);
	x += 6;
	if (job->paused) {
		attron(A_BOLD | COLOR_PAIR(TOP_PAIR_PAUSED));
		top_put(y, x, COLS - x, "PAUSED");
		attroff(A_BOLD | COLOR_PAIR(TOP_PAIR_PAUSED));
	}
	top_put(y, x + 7, COLS - x - 7, "%-20s", what);
	top_draw_label(y, x + 28, job);
}

static void
top_draw_finished(int y, const struct top_job *job)
{
	char elapsed[32] = "-", at[16];
	int x = TOP_LEAD_COLS;
	int pair = job->state == TOP_COMPLETED ? TOP_PAIR_OK : TOP_PAIR_FAIL;

	if (job->started_ms != 0 && job->finished_ms >= job->started_ms)
		top_duration(elapsed, sizeof elapsed,
			     job->finished_ms - job->started_ms);
	top_clock(at, sizeof at, job->finished_ms);
	top_draw_lead(y, job);
	attron(COLOR_PAIR(pair));
	top_put(y, x, COLS - x, "%-17.17s", job->end);
	attroff(COLOR_PAIR(pair));
	top_put(y, x + 18, COLS - x - 18, "%-16.16s %8s %8s", job->detail,
		elapsed, at);
	top_draw_label(y, x + 53, job);
}

/* The row that opens a section: its name and count, its columns. */
static void
top_draw_section(int y, const char *name, size_t n, const char *columns)
{
	attron(A_BOLD);
	top_put(y, 0, TOP_LEAD_COLS, "%s (%zu)", name, n);
	attroff(A_BOLD);
	attron(A_DIM);
	top_put(y, TOP_LEAD_COLS, COLS - TOP_LEAD_COLS, "%s", columns);
	attroff(A_DIM);
}

/* The columns of the running section on this screen. */
static void
top_running_columns(char *buf, size_t size)
{
	int bw = top_bar_width();

	snprintf(buf, size, "%-*s %4s %11s %11s %8s LABEL", bw + 2, "PROGRESS",
		 "%", "DONE", "RATE", "ELAPSED");
}

/* Virtual rows of the list: a section's title, then its jobs. Returns
 * the virtual row of job I of jobs->order. */
static size_t
top_virtual_row(const struct top_jobs *jobs, size_t i)
{
	if (i < jobs->nrunning)
		return i + 1;
	if (i < jobs->nrunning + jobs->nqueued)
		return i + 2;
	return i + 3;
}

/* The list of jobs from virtual row T->scroll, as many as fit. */
static void
top_draw_list(struct top *t, long long now_ms)
{
	struct top_jobs *jobs = &t->jobs;
	size_t rows = (size_t)top_draw_job_rows(), total = jobs->norder + 3;
	size_t sel = top_virtual_row(jobs, t->sel_index);
	char cols[128];

	top_put(3, 0, COLS, "%6s %-10s %-10s", "ID", "KIND", "QUEUE");
	if (jobs->norder > 0 && sel < t->scroll)
		t->scroll = sel;
	if (jobs->norder > 0 && sel >= t->scroll + rows)
		t->scroll = sel - rows + 1;
	if (t->scroll + rows > total)
		t->scroll = total > rows ? total - rows : 0;
	for (size_t v = t->scroll; v < total && v < t->scroll + rows; v++) {
		int y = TOP_HEAD_ROWS + (int)(v - t->scroll);
		size_t nq = jobs->nrunning + 1, nd = nq + jobs->nqueued + 1;
		if (v == 0) {
			top_running_columns(cols, sizeof cols);
			top_draw_section(y, "RUNNING", jobs->nrunning, cols);
			continue;
		}
		if (v == nq) {
			snprintf(cols, sizeof cols, "%5s %-27s LABEL", "PRI",
				 "STATE");
			top_draw_section(y, "QUEUED", jobs->nqueued, cols);
			continue;
		}
		if (v == nd) {
			snprintf(cols, sizeof cols, "%-17s %-16s %8s %8s LABEL",
				 "END", "DETAIL", "ELAPSED", "ENDED");
			top_draw_section(y, "FINISHED", jobs->ndone, cols);
			continue;
		}
		size_t i = v < nq ? v - 1 : v < nd ? v - 2 : v - 3;
		const struct top_job *job = jobs->order[i];
		bool selected = jobs->norder > 0 && i == t->sel_index;
		if (selected)
			attron(A_REVERSE);
		if (selected) /* the whole row shows the selection */
			mvhline(y, 0, ' ', COLS);
		if (job->state == TOP_RUNNING)
			top_draw_running(y, job, now_ms);
		else if (job->state == TOP_QUEUED)
			top_draw_queued(t, y, job);
		else
			top_draw_finished(y, job);
		if (selected)
			attroff(A_REVERSE);
	}
}

/* The last row: news for a few seconds, else the keys. */
static void
top_draw_footer(struct top *t, long long now_ms)
{
	int y = LINES - 1;

	if (t->status[0] != '\0' && now_ms < t->status_until) {
		attron(A_BOLD);
		top_put(y, 0, COLS, "%s", t->status);
		attroff(A_BOLD);
		return;
	}
	attron(A_DIM);
	top_put(y, 0, COLS,
		"up/down j/k select  c cancel  p pause  r resume  l output  "
		"q quit");
	attroff(A_DIM);
}

void
top_draw_init(void)
{
	if (!has_colors())
		return;
	start_color();
	use_default_colors();
	init_pair(TOP_PAIR_OK, COLOR_GREEN, -1);
	init_pair(TOP_PAIR_FAIL, COLOR_RED, -1);
	init_pair(TOP_PAIR_PAUSED, COLOR_YELLOW, -1);
}

void
top_draw(struct top *t, long long now_ms)
{
	erase();
	top_draw_daemon(t, now_ms);
	top_draw_kinds(t);
	top_draw_queues(t);
	top_draw_list(t, now_ms);
	top_draw_footer(t, now_ms);
}
