/* asyncctl top: a full-screen live view of the jobs, for a terminal. Job
 * state comes from events (job.watch with all); daemon.info and
 * queue.list once a second give the uptime and the counts. One poll()
 * waits on the terminal, the connection, the output pane's connection
 * and the signals (a self-pipe), so the view never blocks on the daemon
 * and never spins. */
#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <term.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "render.h"
#include "top.h"

/* Finished jobs shown unless --limit says otherwise, and at most. */
#define TOP_KEEP_DEFAULT 10
#define TOP_KEEP_MAX 1000
/* The tick of daemon.info, queue.list and reconnects; the fastest
 * redraw that events cause; how long news stays on the bottom line. */
#define TOP_TICK_MS 1000
#define TOP_DRAW_MS 100
#define TOP_STATUS_MS 5000

/* The self-pipe of the signals, and the last one of each kind. */
static int top_sigpipe[2] = {-1, -1};
static volatile sig_atomic_t top_winch, top_quit_signal;

static void
top_on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGWINCH)
		top_winch = 1;
	else
		top_quit_signal = sig;
	(void)!write(top_sigpipe[1], "", 1);
	errno = saved;
}

/* Catches the signals that end the view or resize it, before curses
 * starts (it leaves handlers it did not set alone). No SA_RESTART: poll()
 * returns at once. */
static const int top_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};

static void
top_set_signals(void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof top_signals / sizeof top_signals[0]; i++)
		sigaction(top_signals[i], &sa, NULL);
}

static int
top_catch_signals(void)
{
	if (pipe2(top_sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	top_set_signals(top_on_signal);
	return 0;
}

/* The signals back to their defaults, then the self-pipe closed. */
static void
top_release_signals(void)
{
	if (top_sigpipe[0] < 0)
		return;
	top_set_signals(SIG_DFL);
	close(top_sigpipe[0]);
	close(top_sigpipe[1]);
	top_sigpipe[0] = top_sigpipe[1] = -1;
}

static long long
top_clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* News on the bottom line for a few seconds. */
static void __attribute__((format(printf, 2, 3)))
top_status(struct top *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->status, sizeof t->status, fmt, ap);
	va_end(ap);
	t->status_until = top_clock_ms(CLOCK_REALTIME) + TOP_STATUS_MS;
}

/* The error of RESPONSE as news about job ID; false when there is none. */
static bool
top_refused(struct top *t, uint64_t id, struct json_object *response)
{
	struct json_object *err = render_get(response, "error");

	if (err == NULL)
		return false;
	top_status(t, "job %llu: %s", (unsigned long long)id,
		   json_object_get_string(render_get(err, "message")));
	return true;
}

/* The member KEY of RESPONSE's result, or NULL. */
static struct json_object *
top_result(struct json_object *response, const char *key)
{
	return render_get(render_get(response, "result"), key);
}

static void
top_got_job(void *arg, uint64_t id UNUSED, struct json_object *response)
{
	struct top *t = arg;
	struct json_object *job = top_result(response, "job");

	if (job != NULL)
		top_jobs_merge(&t->jobs, job, top_clock_ms(CLOCK_REALTIME));
}

static void
top_event(void *arg, struct json_object *event)
{
	struct top *t = arg;
	uint64_t ask;

	ask = top_jobs_event(&t->jobs, event, top_clock_ms(CLOCK_REALTIME));
	if (ask != 0 && t->conn != NULL)
		top_conn_send(t->conn, "job.get", ctl_id_params(ask),
			      top_got_job, t, ask);
}

/* Output is the pane's business: the main view lets it go unparsed. */
static void
top_output(void *arg UNUSED, const struct output_event *ev UNUSED,
	   const unsigned char *data UNUSED, size_t len UNUSED)
{
}

static void
top_watching(void *arg, uint64_t tag UNUSED, struct json_object *response)
{
	struct top *t = arg;
	struct json_object *jobs = top_result(response, "jobs");

	t->snapshot_asked = false;
	if (render_get(response, "error") != NULL) {
		top_status(t, "asyncctl: %s", json_object_get_string(render_get(
			render_get(response, "error"), "message")));
		return;
	}
	top_jobs_snapshot(&t->jobs, jobs, top_clock_ms(CLOCK_REALTIME));
	t->watching = true;
}

/* Asks for every unfinished job, and their events from now on. */
static void
top_watch_all(struct top *t)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "all", json_object_new_boolean(1));
	if (top_conn_send(t->conn, "job.watch", p, top_watching, t, 0) == 0)
		t->snapshot_asked = true;
}

static void
top_got_info(void *arg, uint64_t tag UNUSED, struct json_object *response)
{
	struct top *t = arg;
	struct json_object *result = render_get(response, "result");
	struct json_object *kinds = render_get(result, "kinds");

	if (result == NULL)
		return;
	json_object_put(t->info);
	t->info = json_object_get(result);
	for (size_t i = 0; kinds != NULL && i < json_object_array_length(kinds);
	     i++) {
		struct json_object *k = json_object_array_get_idx(kinds, i);
		top_jobs_note_kind(&t->jobs, json_object_get_string(k));
	}
}

/* The queues, and a check of the jobs known: the protocol has no event
 * for a job submitted by another connection until it starts, so when
 * the queues count unfinished jobs that the view does not have, it asks
 * for them all again (job.watch with all answers every unfinished job). */
static void
top_got_queues(void *arg, uint64_t tag UNUSED, struct json_object *response)
{
	struct top *t = arg;
	struct json_object *queues = top_result(response, "queues");
	int64_t unfinished = 0;

	t->figures_asked = false; /* queue.list goes after daemon.info */
	if (queues == NULL)
		return;
	json_object_put(t->queues);
	t->queues = json_object_get(queues);
	for (size_t i = 0; i < json_object_array_length(queues); i++) {
		struct json_object *q = json_object_array_get_idx(queues, i);
		unfinished += json_object_get_int64(render_get(q, "queued")) +
			      json_object_get_int64(render_get(q, "running"));
	}
	if (t->watching && !t->snapshot_asked && t->conn != NULL &&
	    unfinished != (int64_t)t->jobs.nlive)
		top_watch_all(t);
}

/* The first three figures of /proc/loadavg: this machine's load (the
 * daemon does not report one; the socket is local). */
static void
top_read_load(struct top *t)
{
	FILE *f = fopen("/proc/loadavg", "re");
	double a, b, c;

	snprintf(t->load, sizeof t->load, "?");
	if (f == NULL)
		return;
	if (fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3)
		snprintf(t->load, sizeof t->load, "%.2f %.2f %.2f", a, b, c);
	fclose(f);
}

/* The connection is gone: the view stays, marked, until it is back. */
static void
top_lost(struct top *t)
{
	top_conn_free(t->conn);
	t->conn = NULL;
	t->watching = t->snapshot_asked = t->figures_asked = false;
	t->lost_ms = top_clock_ms(CLOCK_REALTIME);
}

static const char *const finished_states[] = {"completed", "failed"};

static void top_got_finished(void *arg, uint64_t tag,
			     struct json_object *response);

/* Asks for up to LIMIT jobs in finished_states[STATE] below BEFORE (0:
 * from the newest); the tag carries both to the answer. */
static void
top_ask_page(struct top *t, unsigned state, int64_t limit, uint64_t before)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "state",
			       json_object_new_string(finished_states[state]));
	json_object_object_add(p, "limit", json_object_new_int64(limit));
	if (before != 0)
		json_object_object_add(p, "before_id",
				       json_object_new_int64((int64_t)before));
	top_conn_send(t->conn, "job.list", p, top_got_finished, t,
		      (uint64_t)limit << 1 | state);
}

static void
top_got_finished(void *arg, uint64_t tag, struct json_object *response)
{
	struct top *t = arg;
	struct json_object *jobs = top_result(response, "jobs");
	struct json_object *next = top_result(response, "next_before_id");
	int64_t left = (int64_t)(tag >> 1);

	top_jobs_seed(&t->jobs, jobs, top_clock_ms(CLOCK_REALTIME));
	left -= jobs != NULL ? (int64_t)json_object_array_length(jobs) : 0;
	/* Cut short by the daemon's bound of work: the rest is below. */
	if (next != NULL && left > 0 && t->conn != NULL)
		top_ask_page(t, (unsigned)(tag & 1), left,
			     (uint64_t)json_object_get_int64(next));
}

/* Asks once for the last jobs that ended before the view started (or
 * came back): those that end later arrive as events. */
static void
top_ask_finished(struct top *t)
{
	int64_t limit = (int64_t)t->jobs.keep;

	if (limit == 0)
		return;
	for (unsigned i = 0; i < 2; i++)
		top_ask_page(t, i, limit, 0);
}

/* Connects; false when the daemon cannot be reached (errno set). */
static bool
top_connect(struct top *t)
{
	t->conn = top_conn_open(t->ctl->socket_path, top_event, top_output, t);
	if (t->conn == NULL)
		return false;
	top_jobs_forget_live(&t->jobs);
	top_watch_all(t);
	top_ask_finished(t);
	return true;
}

/* Once a second: the daemon's figures, the load, or a reconnect. */
static void
top_tick(struct top *t)
{
	top_read_load(t);
	if (t->conn == NULL) {
		if (!top_connect(t))
			return;
		t->lost_ms = 0;
		top_status(t, "connected again to asyncd at %s",
			   t->ctl->socket_path);
	}
	if (t->figures_asked)
		return; /* a slow daemon does not get a pile of them */
	if (top_conn_send(t->conn, "daemon.info", NULL, top_got_info, t,
			  0) < 0 ||
	    top_conn_send(t->conn, "queue.list", NULL, top_got_queues, t,
			  0) < 0) {
		top_lost(t);
		return;
	}
	t->figures_asked = true;
}

/* Puts the selection back on its job after the order changed, or on the
 * job now in its place when it went. */
static void
top_select_sync(struct top *t)
{
	struct top_jobs *jobs = &t->jobs;

	top_jobs_order(jobs);
	if (jobs->norder == 0) {
		t->selected = 0;
		t->sel_index = 0;
		return;
	}
	if (t->sel_index < jobs->norder &&
	    jobs->order[t->sel_index]->id == t->selected)
		return;
	for (size_t i = 0; i < jobs->norder; i++) {
		if (jobs->order[i]->id == t->selected) {
			t->sel_index = i;
			return;
		}
	}
	if (t->sel_index >= jobs->norder)
		t->sel_index = jobs->norder - 1;
	t->selected = jobs->order[t->sel_index]->id;
}

/* Moves the selection by DELTA rows, within the list. */
static void
top_select_move(struct top *t, long delta)
{
	long i = (long)t->sel_index + delta, n = (long)t->jobs.norder;

	if (n == 0)
		return;
	i = i < 0 ? 0 : i >= n ? n - 1 : i;
	t->sel_index = (size_t)i;
	t->selected = t->jobs.order[i]->id;
}

static void
top_cancelled(void *arg, uint64_t id, struct json_object *response)
{
	struct top *t = arg;

	if (!top_refused(t, id, response))
		top_status(t, "job %llu: cancelled", (unsigned long long)id);
}

static void
top_paused(void *arg, uint64_t id, struct json_object *response)
{
	struct top *t = arg;
	bool changed = json_object_get_boolean(
		render_get(render_get(response, "result"), "changed"));

	if (!top_refused(t, id, response))
		top_status(t, "job %llu: %s", (unsigned long long)id,
			   changed ? "paused" : "was paused already");
}

static void
top_resumed(void *arg, uint64_t id, struct json_object *response)
{
	struct top *t = arg;
	bool changed = json_object_get_boolean(
		render_get(render_get(response, "result"), "changed"));

	if (!top_refused(t, id, response))
		top_status(t, "job %llu: %s", (unsigned long long)id,
			   changed ? "resumed" : "was not paused");
}

/* Sends METHOD about the selected job; FN shows the answer. */
static void
top_control(struct top *t, const char *method, top_reply_fn fn)
{
	if (t->selected == 0) {
		top_status(t, "no job selected");
		return;
	}
	if (t->conn == NULL) {
		top_status(t, "not connected to asyncd");
		return;
	}
	if (top_conn_send(t->conn, method, ctl_id_params(t->selected), fn, t,
			  t->selected) < 0)
		top_lost(t);
}

/* Opens the output pane of the selected job. */
static void
top_open_log(struct top *t)
{
	struct top_job *job = top_jobs_find(&t->jobs, t->selected);
	char err[256];

	if (job == NULL) {
		top_status(t, "no job selected");
		return;
	}
	t->log = top_log_open(t->ctl->socket_path, job->id, job->kind, err,
			      sizeof err);
	if (t->log == NULL)
		top_status(t, "asyncctl: %s", err);
}

/* A key on the main screen; false for the one that quits. */
static bool
top_key(struct top *t, int key)
{
	long page = top_draw_job_rows() - 1;

	top_select_sync(t);
	switch (key) {
	case 'q':
	case 'Q':
		return false;
	case KEY_UP:
	case 'k':
		top_select_move(t, -1);
		break;
	case KEY_DOWN:
	case 'j':
		top_select_move(t, 1);
		break;
	case KEY_PPAGE:
		top_select_move(t, -(page > 0 ? page : 1));
		break;
	case KEY_NPAGE:
		top_select_move(t, page > 0 ? page : 1);
		break;
	case KEY_HOME:
	case 'g':
		top_select_move(t, -(long)t->jobs.norder);
		break;
	case KEY_END:
	case 'G':
		top_select_move(t, (long)t->jobs.norder);
		break;
	case 'c':
		top_control(t, "job.cancel", top_cancelled);
		break;
	case 'p':
		top_control(t, "job.pause", top_paused);
		break;
	case 'r':
		top_control(t, "job.resume", top_resumed);
		break;
	case 'l':
	case '\r':
	case '\n':
		top_open_log(t);
		break;
	case 12: /* Ctrl-L: draw everything again */
		clearok(curscr, TRUE);
		break;
	}
	return true;
}

/* The terminal changed size: curses learns it from the terminal, and
 * paints everything again, as terminals keep different parts of what
 * they showed. */
static void
top_resize(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resize_term(ws.ws_row, ws.ws_col);
	clearok(curscr, TRUE);
}

static void
top_draw_all(struct top *t)
{
	if (t->log != NULL) {
		top_log_draw(t->log);
	} else {
		top_select_sync(t);
		top_draw(t, top_clock_ms(CLOCK_REALTIME));
	}
	refresh();
}

/* Takes every key waiting; false when one quits. */
static bool
top_keys(struct top *t)
{
	int key;

	while ((key = getch()) != ERR) {
		if (key == KEY_RESIZE)
			continue;
		if (t->log != NULL) {
			if (!top_log_key(t->log, key)) {
				top_log_free(t->log);
				t->log = NULL;
			}
		} else if (!top_key(t, key)) {
			return false;
		}
	}
	return true;
}

/* The loop: returns the exit status. */
static int
top_loop(struct top *t)
{
	long long next_tick = 0, next_draw = 0;
	bool dirty = true;

	for (;;) {
		struct pollfd pfd[4];
		long long now = top_clock_ms(CLOCK_MONOTONIC), wait;
		nfds_t n = 0;
		int conn = -1, logfd = -1;

		if (now >= next_tick) {
			top_tick(t);
			next_tick = now + TOP_TICK_MS;
			dirty = true;
		}
		if (dirty && now >= next_draw) {
			top_draw_all(t);
			dirty = false;
			next_draw = now + TOP_DRAW_MS;
		}
		wait = next_tick - now;
		if (dirty && next_draw - now < wait)
			wait = next_draw - now;
		pfd[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		pfd[n++] = (struct pollfd){.fd = top_sigpipe[0], .events = POLLIN};
		if (t->conn != NULL) {
			conn = (int)n;
			pfd[n++] = (struct pollfd){.fd = top_conn_fd(t->conn),
						   .events = POLLIN};
		}
		if (t->log != NULL && top_log_fd(t->log) >= 0) {
			logfd = (int)n;
			pfd[n++] = (struct pollfd){.fd = top_log_fd(t->log),
						   .events = POLLIN};
		}
		if (wait < 0)
			wait = 0;
		if (poll(pfd, n, (int)wait) < 0 && errno != EINTR)
			return EXIT_UNREACHABLE;
		if (pfd[1].revents != 0) {
			char buf[64];
			while (read(top_sigpipe[0], buf, sizeof buf) > 0)
				;
		}
		if (top_quit_signal != 0)
			return EXIT_INTERRUPTED;
		if (top_winch) {
			top_winch = 0;
			top_resize();
			t->scroll = 0; /* scrolled as little as may be */
			dirty = true;
			next_draw = 0;
		}
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return EXIT_INTERRUPTED; /* the terminal went away */
		if (pfd[0].revents & POLLIN) {
			if (!top_keys(t))
				return EXIT_OK;
			dirty = true;
			next_draw = 0; /* a key shows at once */
		}
		/* A key may have closed the pane or found the connection
		 * gone since the poll. */
		if (conn >= 0 && pfd[conn].revents != 0 && t->conn != NULL) {
			if (!top_conn_read(t->conn))
				top_lost(t);
			dirty = true;
		}
		if (logfd >= 0 && pfd[logfd].revents != 0 && t->log != NULL &&
		    top_log_read(t->log))
			dirty = true;
	}
}

/* Whether the terminal curses found moves its cursor to any place (a
 * "dumb" one does not: the view would be a scroll of garbage). */
static bool
top_can_draw(void)
{
	char *cup = tigetstr("cup");

	return cup != NULL && cup != (char *)-1;
}

int
cmd_top(struct ctl *ctl, int argc, char **argv)
{
	struct top t = {.ctl = ctl};
	SCREEN *screen;
	int status;

	if (argc != 0)
		return ctl_usage("top", "unexpected argument: %s", argv[0]);
	if (ctl->json)
		return ctl_usage("top", "--json does not apply");
	/* Its connections are this host's socket; over ssh the whole view
	 * runs there instead. */
	if (ctl->host != NULL)
		return ctl_usage("top", "runs against this host's daemon; for "
					"another host: ssh -t HOST asyncctl top");
	if (ctl->limit > TOP_KEEP_MAX)
		return ctl_usage("top", "--limit is at most %d", TOP_KEEP_MAX);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
		fprintf(stderr, "asyncctl top: needs a terminal (standard "
				"input and output); try asyncctl watch\n");
		return EXIT_USAGE;
	}
	top_jobs_init(&t.jobs, ctl->limit >= 0 ? (size_t)ctl->limit
					       : TOP_KEEP_DEFAULT);
	if (!top_connect(&t)) {
		fprintf(stderr, "asyncctl: cannot reach asyncd at %s: %s\n",
			ctl->socket_path, strerror(errno));
		top_jobs_free(&t.jobs);
		return EXIT_UNREACHABLE;
	}
	status = EXIT_USAGE;
	setlocale(LC_ALL, "");
	if (top_catch_signals() < 0 ||
	    (screen = newterm(NULL, stdout, stdin)) == NULL) {
		fprintf(stderr, "asyncctl top: cannot drive the terminal "
				"(TERM=%s)\n",
			getenv("TERM") ? getenv("TERM") : "");
		goto out;
	}
	set_term(screen);
	if (!top_can_draw()) {
		endwin();
		delscreen(screen);
		fprintf(stderr, "asyncctl top: the terminal (TERM=%s) cannot "
				"move its cursor\n",
			getenv("TERM") ? getenv("TERM") : "");
		goto out;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	top_draw_init();
	status = top_loop(&t);
	endwin();
	delscreen(screen);
out:
	top_release_signals();
	top_log_free(t.log);
	top_conn_free(t.conn);
	top_jobs_free(&t.jobs);
	json_object_put(t.info);
	json_object_put(t.queues);
	return status;
}
