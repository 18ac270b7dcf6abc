/* process: runs a program as the submitting user, streams its stdout and
 * stderr, forwards its progress lines, and stops it cleanly. This file
 * watches the child's exit, stops it, and ends the job; the args and the
 * environment are in args.c, the spawn in launch.c, the
 * output and the progress channel in output.c.
 *
 * A job's life:
 * - start: the args become a self-contained work item; a worker looks the
 *   user up (NSS), builds the environment and the PATH search list, and
 *   spawns (spawn.c). The loop never waits for NSS or for an exec.
 * - running: the pidfd and the three pipes are events on the loop. Output
 *   goes to job_output(); when a watcher is past its high-water mark the
 *   pipes are no longer read (the program then blocks in write) until
 *   resume().
 * - end: once the child is reaped AND stdout and stderr are at EOF, in
 *   process_end(), exactly once. A leftover process (a grandchild) may
 *   hold the pipes open after the child has exited: PROCESS_LINGER_MS
 *   after the reap, not counting time while output waits for a slow
 *   client, they are closed and the job ends anyway; what it writes
 *   after that is lost, and it is not killed.
 * - stop (cancel, timeout, shutdown): SIGTERM to the process group, then
 *   SIGKILL PROCESS_KILL_MS later. When the child exits during a stop the
 *   group gets SIGKILL before the reap (the unreaped child still holds the
 *   group id, so it cannot name a recycled group): nothing of it survives.
 *   jobs.c reports the stop reason whatever the exit status was.
 * - pause (job.pause): SIGSTOP to the process group, SIGCONT at job.resume;
 *   the pipes are read as usual, so what it wrote before still arrives.
 *   A stopped process acts on no SIGTERM until it is continued: a stop
 *   sends SIGCONT right after it. job->paused stays what the user asked
 *   (a paused job queued again by a restart waits paused); p->stopped is
 *   what the group was sent. A pause that comes while the spawn is on the
 *   pool is applied once the child is there; one after the reap, or
 *   during a stop, leaves the process alone (the group may be gone, or
 *   must end).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../../identity.h"
#include "../../kinds.h"
#include "../../log.h"
#include "../../msgids.h"
#include "../../pool.h"
#include "../../xmalloc.h"
#include "args.h"
#include "launch.h"
#include "output.h"

#define PROCESS_KILL_MS 5000   /* SIGTERM to SIGKILL */
#define PROCESS_LINGER_MS 1000 /* pipes kept open after the reap */

struct process_job {
	struct job *job;
	struct pool_work *work; /* while the worker has the spawn */
	pid_t pid;
	int pidfd;
	struct event *exit_ev;
	struct process_output output;
	struct event *kill_timer;   /* SIGKILL after SIGTERM */
	bool stopping, reaped;
	bool stopped; /* SIGSTOP sent for job.pause, no SIGCONT since */
	int wait_code, wait_status; /* siginfo of the reap */
	long long elapsed_ms;
};

static void process_try_end(struct process_job *p);

/* ---- Exit and end ------------------------------------------------------- */

static void
process_signal(struct process_job *p, int sig)
{
	if (kill(-p->pid, sig) < 0 && errno != ESRCH)
		job_log(p->job, LOG_WARNING, MSGID_JOB, "kill(-%d, %d): %s",
			(int)p->pid, sig, strerror(errno));
}

/* stdout or stderr reached EOF. */
static void
process_pipes_closed(void *arg)
{
	process_try_end(arg);
}

static void
process_exit_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct process_job *p = arg;
	siginfo_t si;

	if (p->stopping)
		process_signal(p, SIGKILL); /* the rest of the group */
	memset(&si, 0, sizeof si);
	if (waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG) < 0) {
		if (errno == EINTR) {
			event_add(p->exit_ev, NULL);
			return;
		}
		job_log(p->job, LOG_WARNING, MSGID_JOB, "waitid: %s",
			strerror(errno));
		si.si_code = 0; /* the status is lost */
	} else if (si.si_pid == 0) {
		event_add(p->exit_ev, NULL); /* not yet */
		return;
	}
	p->reaped = true;
	p->wait_code = si.si_code;
	p->wait_status = si.si_status;
	p->elapsed_ms = now_mono_ms() - p->job->started_mono_ms;
	event_free(p->exit_ev);
	p->exit_ev = NULL;
	close(p->pidfd);
	p->pidfd = -1;
	evtimer_del(p->kill_timer);
	process_output_linger(&p->output, PROCESS_LINGER_MS);
	process_try_end(p);
}

static void
process_kill_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct process_job *p = arg;

	job_log(p->job, LOG_INFO, MSGID_JOB_KILLED,
		"process %d still there after SIGTERM; SIGKILL", (int)p->pid);
	process_signal(p, SIGKILL);
}

static void
process_free(struct process_job *p)
{
	if (p->exit_ev != NULL)
		event_free(p->exit_ev);
	if (p->pidfd >= 0)
		close(p->pidfd);
	process_output_free(&p->output);
	event_free(p->kill_timer);
	if (p->job != NULL)
		p->job->priv = NULL;
	free(p);
}

/* Ends JOB with the exit status the reap gave. */
static void
process_report(struct job *job, pid_t pid, int code, int status,
	       long long elapsed_ms)
{
	struct json_object *obj = json_object_new_object();
	char msg[96];

	if (code == CLD_EXITED && status == 0) {
		json_object_object_add(obj, "exit_code", json_object_new_int(0));
		json_object_object_add(obj, "pid", json_object_new_int(pid));
		json_object_object_add(obj, "elapsed_ms",
				       json_object_new_int64(elapsed_ms));
		job_complete(job, obj);
	} else if (code == CLD_EXITED) {
		snprintf(msg, sizeof msg, "exited with status %d", status);
		json_object_object_add(obj, "exit_code", json_object_new_int(status));
		job_fail(job, JOBERR_EXIT_STATUS, msg, obj);
	} else if (code == CLD_KILLED || code == CLD_DUMPED) {
		const char *name = sigabbrev_np(status);
		snprintf(msg, sizeof msg, "killed by signal %d (SIG%s)%s", status,
			 name != NULL ? name : "?",
			 code == CLD_DUMPED ? ", core dumped" : "");
		json_object_object_add(obj, "signal", json_object_new_int(status));
		job_fail(job, JOBERR_SIGNAL, msg, obj);
	} else {
		json_object_put(obj);
		job_fail(job, JOBERR_INTERNAL, "the exit status was lost", NULL);
	}
}

static void
process_end(struct process_job *p)
{
	struct job *job = p->job;
	pid_t pid = p->pid;
	int code = p->wait_code, status = p->wait_status;
	long long elapsed_ms = p->elapsed_ms;

	process_output_finish(&p->output);
	job_log(job, LOG_DEBUG, MSGID_JOB, "process %d ended", (int)pid);
	process_free(p);
	process_report(job, pid, code, status, elapsed_ms);
}

static void
process_try_end(struct process_job *p)
{
	if (p->reaped && !process_output_open(&p->output))
		process_end(p);
}

/* SIGTERM now, SIGKILL later: after --stop-timeout when the daemon
 * stops, else after PROCESS_KILL_MS. */
static void
process_stop_running(struct process_job *p)
{
	const char *reason = job_stop_reason(p->job);
	long long ms = reason != NULL && strcmp(reason, JOBERR_INTERRUPTED) == 0
			       ? (long long)daemon_opts.stop_timeout * 1000
			       : PROCESS_KILL_MS;
	struct timeval grace = {ms / 1000, ms % 1000 * 1000};

	process_signal(p, SIGTERM);
	if (p->stopped) {
		/* The SIGTERM waits until the group runs again. */
		process_signal(p, SIGCONT);
		p->stopped = false;
	}
	evtimer_add(p->kill_timer, &grace);
}

/* Stops or continues the group for job.pause and job.resume. */
static void
process_set_stopped(struct process_job *p, bool stop)
{
	if (p->stopped == stop)
		return;
	job_log(p->job, LOG_DEBUG, MSGID_JOB, "%s process group %d",
		stop ? "stopping" : "continuing", (int)p->pid);
	process_signal(p, stop ? SIGSTOP : SIGCONT);
	p->stopped = stop;
}

/* Watches the child S started. */
static void
process_run(struct process_job *p, const struct spawn_proc *proc)
{
	p->pid = proc->pid;
	p->pidfd = proc->pidfd;
	job_log(p->job, LOG_DEBUG, MSGID_JOB, "process %d started",
		(int)p->pid);
	p->exit_ev = event_new(daemon_base, p->pidfd, EV_READ, process_exit_cb,
			       p);
	event_add(p->exit_ev, NULL);
	process_output_start(&p->output, proc->out_fd, proc->err_fd,
			     proc->progress_fd);
	if (p->stopping)
		process_stop_running(p);
	else if (p->job->paused)
		process_set_stopped(p, true); /* paused while it was spawned */
}

/* The spawn came back after the job was torn down (process_release):
 * a child it started is killed, its descriptors closed. */
static void
process_spawned_orphan(struct process_spawn *s, bool started)
{
	const struct spawn_proc *proc = &s->proc;
	const int fds[] = {proc->pidfd, proc->out_fd, proc->err_fd,
			   proc->progress_fd};

	if (!started)
		return;
	if (kill(-proc->pid, SIGKILL) < 0 && errno != ESRCH)
		log_warn("kill(-%d, SIGKILL)", (int)proc->pid);
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Back on the loop from the worker (or handed back by pool_free()). */
static void
process_spawned(void *arg, bool cancelled)
{
	struct process_spawn *s = arg;
	struct process_job *p = s->p;
	struct job *job = p->job;
	bool started = !cancelled && !s->skipped && s->user_err == 0 &&
		       s->rc == 0;

	p->work = NULL;
	if (job == NULL) {
		process_spawned_orphan(s, started);
		process_free(p);
	} else if (started) {
		process_run(p, &s->proc);
	} else {
		process_free(p);
		if (cancelled || s->skipped)
			job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
		else
			process_spawn_fail(job, s);
	}
	process_spawn_free(s);
}

/* ---- The kind ----------------------------------------------------------- */

static void
process_start(struct job *job, struct json_object *args)
{
	struct process_spawn *s;
	struct process_job *p;
	char msg[128];

	if (!identity_may_act_as(job->owner.uid)) {
		snprintf(msg, sizeof msg,
			 "asyncd runs as uid %u and cannot run programs as uid %u",
			 (unsigned)geteuid(), (unsigned)job->owner.uid);
		job_fail(job, JOBERR_PERMISSION_DENIED, msg, NULL);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->job = job;
	p->pidfd = -1;
	process_output_init(&p->output, job, process_pipes_closed, p);
	p->kill_timer = evtimer_new(daemon_base, process_kill_cb, p);
	s = process_spawn_new(job, args);
	s->p = p;
	job->priv = p;
	p->work = pool_submit(process_spawn_work, process_spawned, s);
}

/* The watchers drained: the pipes are read again. */
static void
process_resume(struct job *job)
{
	struct process_job *p = job->priv;

	if (p != NULL)
		process_output_resume(&p->output);
}

/* The group runs only while the job is not paused; the spawn on the pool
 * (process_run) and a stop under way (process_stop_running) take care of
 * themselves. */
static void
process_pause(struct job *job, bool paused)
{
	struct process_job *p = job->priv;

	if (p == NULL || p->work != NULL || p->reaped || p->stopping)
		return;
	process_set_stopped(p, paused);
}

static void
process_cancel(struct job *job)
{
	struct process_job *p = job->priv;

	if (p == NULL || p->stopping)
		return;
	p->stopping = true;
	if (p->work != NULL) {
		pool_cancel(p->work); /* process_spawned() follows */
	} else if (!p->reaped) {
		process_stop_running(p);
	} else {
		/* Only a leftover holds the pipes: stop waiting for it. */
		process_output_close(&p->output);
		process_try_end(p);
	}
}

/* Tears the job down at a forced shutdown: the process is not waited
 * for; a SIGKILL still due goes now. A spawn still on the pool is left
 * to process_spawned(), which frees P when the pool hands it back. */
static void
process_release(struct job *job)
{
	struct process_job *p = job->priv;

	job->priv = NULL;
	if (p->work != NULL) {
		pool_cancel(p->work);
		p->job = NULL;
		p->output.job = NULL;
		return;
	}
	if (evtimer_pending(p->kill_timer, NULL))
		process_signal(p, SIGKILL);
	process_free(p);
}

const struct job_kind kind_process = {
	.name = "process",
	.validate = process_args_validate,
	.start = process_start,
	.cancel = process_cancel,
	.free = process_release,
	.resume = process_resume,
	.pause = process_pause,
	.retain_output = true,
	.default_max_running = 0, /* the number of CPUs */
};
