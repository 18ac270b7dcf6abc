/* A running process job's output (see output.h). The pipes are
 * non-blocking: a read callback reads one buffer and goes back to the
 * loop.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "../../log.h"
#include "../../msgids.h"
#include "output.h"

/* A suppressed progress line is sent this much later (the rate limit). */
#define PROCESS_PROGRESS_RETRY_MS (1000 / PROTO_PROGRESS_PER_SEC)
/* Progress bytes read at the end, from a pipe a leftover may still feed. */
#define PROCESS_PROGRESS_DRAIN_MAX (1024 * 1024)

/* ---- stdout and stderr -------------------------------------------------- */

/* Stops reading PP and closes it; true if it was open. */
static bool
process_output_pipe_release(struct process_pipe *pp)
{
	if (pp->fd < 0)
		return false;
	event_free(pp->ev);
	pp->ev = NULL;
	close(pp->fd);
	pp->fd = -1;
	return true;
}

/* Closes PP and ends its stream. */
static void
process_output_pipe_close(struct process_pipe *pp)
{
	if (process_output_pipe_release(pp))
		job_output_end(pp->o->job, pp->stream);
}

/* Stops reading the pipes until resumed; the linger does not run
 * meanwhile. */
static void
process_output_pause(struct process_output *o)
{
	o->paused = true;
	if (o->out.fd >= 0)
		event_del(o->out.ev);
	if (o->err.fd >= 0)
		event_del(o->err.ev);
	if (evtimer_pending(o->linger_timer, NULL)) {
		o->linger_left_ms -= now_mono_ms() - o->linger_since_ms;
		if (o->linger_left_ms < 0)
			o->linger_left_ms = 0;
		evtimer_del(o->linger_timer);
	}
}

static void
process_output_pipe_cb(evutil_socket_t fd, short what UNUSED, void *arg)
{
	static char buf[PROTO_CHUNK_MAX];
	struct process_pipe *pp = arg;
	struct process_output *o = pp->o;
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			job_log(o->job, LOG_WARNING, MSGID_JOB,
				"reading the %s pipe: %s",
				pp->stream == STREAM_STDOUT ? "stdout" : "stderr",
				strerror(errno));
		process_output_pipe_close(pp);
		o->closed(o->arg);
		return;
	}
	job_output(o->job, pp->stream, buf, (size_t)n);
	if (job_output_blocked(o->job))
		process_output_pause(o);
}

/* ---- Linger ------------------------------------------------------------- */

static void
process_output_linger_arm(struct process_output *o)
{
	struct timeval tv = {o->linger_left_ms / 1000,
			     o->linger_left_ms % 1000 * 1000};

	o->linger_since_ms = now_mono_ms();
	evtimer_add(o->linger_timer, &tv);
}

/* The linger ran out: something the program left behind holds the pipes. */
static void
process_output_linger_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct process_output *o = arg;

	job_log(o->job, LOG_INFO, MSGID_JOB_OUTPUT_CLOSED,
		"output still open after the process exited; closing it");
	process_output_close(o);
	o->closed(o->arg);
}

void
process_output_linger(struct process_output *o, long long ms)
{
	if (!process_output_open(o) || o->lingering)
		return;
	o->lingering = true;
	o->linger_left_ms = ms;
	if (!o->paused)
		process_output_linger_arm(o);
}

static void
process_output_pipe_open(struct process_output *o, struct process_pipe *pp,
			 int fd, enum job_stream stream)
{
	pp->o = o;
	pp->stream = stream;
	pp->fd = fd;
	pp->ev = event_new(daemon_base, fd, EV_READ | EV_PERSIST,
			   process_output_pipe_cb, pp);
	event_add(pp->ev, NULL);
}

/* ---- Progress ----------------------------------------------------------- */

/* One valid progress line: forwarded now, or by the timer when the rate
 * limit held it back (so that the latest value always gets out). */
static void
process_output_line(void *arg, uint64_t done, int64_t total)
{
	static const struct timeval retry = {0, PROCESS_PROGRESS_RETRY_MS * 1000};
	struct process_output *o = arg;

	o->progress_done = done;
	o->progress_total = total;
	o->progress_unsent = !job_progress(o->job, done, total, "items", false);
	if (o->progress_unsent && !evtimer_pending(o->progress_timer, NULL))
		evtimer_add(o->progress_timer, &retry);
}

static void
process_output_timer_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct process_output *o = arg;

	if (!o->progress_unsent)
		return;
	o->progress_unsent = false;
	/* At least the rate limit's interval after the last one sent. */
	job_progress(o->job, o->progress_done, o->progress_total, "items",
		     true);
}

static void
process_output_progress_close(struct process_output *o)
{
	if (o->progress_fd < 0)
		return;
	event_free(o->progress_ev);
	o->progress_ev = NULL;
	close(o->progress_fd);
	o->progress_fd = -1;
}

/* Reads the progress pipe once: the bytes read, 0 at EOF, -1 when
 * nothing is there now. */
static ssize_t
process_output_progress_read(struct process_output *o)
{
	char buf[4096];
	ssize_t n = read(o->progress_fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		process_output_progress_close(o);
		return 0;
	}
	proc_progress_feed(&o->progress, buf, (size_t)n, process_output_line,
			   o);
	return n;
}

static void
process_output_progress_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	process_output_progress_read(arg);
}

void
process_output_finish(struct process_output *o)
{
	size_t total = 0;
	ssize_t n;

	while (o->progress_fd >= 0 && total < PROCESS_PROGRESS_DRAIN_MAX &&
	       (n = process_output_progress_read(o)) > 0)
		total += (size_t)n;
	if (o->progress_unsent)
		job_progress(o->job, o->progress_done, o->progress_total,
			     "items", true);
	o->progress_unsent = false;
}

/* ---- Set-up and release ------------------------------------------------- */

void
process_output_init(struct process_output *o, struct job *job,
		    void (*closed)(void *), void *arg)
{
	o->job = job;
	o->closed = closed;
	o->arg = arg;
	o->progress_fd = o->out.fd = o->err.fd = -1;
	proc_progress_init(&o->progress);
	o->progress_timer =
		evtimer_new(daemon_base, process_output_timer_cb, o);
	o->linger_timer =
		evtimer_new(daemon_base, process_output_linger_cb, o);
}

void
process_output_start(struct process_output *o, int out_fd, int err_fd,
		     int progress_fd)
{
	process_output_pipe_open(o, &o->out, out_fd, STREAM_STDOUT);
	process_output_pipe_open(o, &o->err, err_fd, STREAM_STDERR);
	o->progress_fd = progress_fd;
	o->progress_ev = event_new(daemon_base, o->progress_fd,
				   EV_READ | EV_PERSIST,
				   process_output_progress_cb, o);
	event_add(o->progress_ev, NULL);
}

bool
process_output_open(const struct process_output *o)
{
	return o->out.fd >= 0 || o->err.fd >= 0;
}

void
process_output_close(struct process_output *o)
{
	process_output_pipe_close(&o->out);
	process_output_pipe_close(&o->err);
}

void
process_output_resume(struct process_output *o)
{
	if (!o->paused)
		return;
	o->paused = false;
	if (o->out.fd >= 0)
		event_add(o->out.ev, NULL);
	if (o->err.fd >= 0)
		event_add(o->err.ev, NULL);
	if (o->lingering && process_output_open(o))
		process_output_linger_arm(o);
}

void
process_output_free(struct process_output *o)
{
	process_output_pipe_release(&o->out);
	process_output_pipe_release(&o->err);
	process_output_progress_close(o);
	event_free(o->progress_timer);
	event_free(o->linger_timer);
}
