/* process: runs a program as the submitting user, streams its stdout and
 * stderr, forwards its progress lines, and stops it cleanly.
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
 *   after the reap they are closed and the job ends anyway; what it
 *   writes after that is lost, and it is not killed.
 * - stop (cancel, timeout, shutdown): SIGTERM to the process group, then
 *   SIGKILL PROCESS_KILL_MS later. When the child exits during a stop the
 *   group gets SIGKILL before the reap (the unreaped child still holds the
 *   group id, so it cannot name a recycled group): nothing of it survives.
 *   jobs.c reports the stop reason whatever the exit status was.
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

#include "kinds.h"
#include "log.h"
#include "params.h"
#include "pool.h"
#include "proc-progress.h"
#include "spawn.h"
#include "userdb.h"
#include "xmalloc.h"

#define PROCESS_KILL_MS 5000   /* SIGTERM to SIGKILL */
#define PROCESS_LINGER_MS 1000 /* pipes kept open after the reap */
/* A suppressed progress line is sent this much later (the rate limit). */
#define PROCESS_PROGRESS_RETRY_MS (1000 / PROTO_PROGRESS_PER_SEC)
/* Progress bytes read at the end, from a pipe a leftover may still feed. */
#define PROCESS_PROGRESS_DRAIN_MAX (1024 * 1024)
#define PROCESS_PROGRESS_VAR "ASYNCD_PROGRESS_FD"
#define PROCESS_PATH_USER "/usr/local/bin:/usr/bin:/bin"
#define PROCESS_PATH_ROOT \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROCESS_LANG "C.UTF-8"

struct process_job;

/* The work item: filled on the loop, used on a worker, read back on the
 * loop. The worker sees plain C data only (never JOB). */
struct process_spawn {
	struct process_job *p; /* for the loop's side only */
	uid_t uid;
	gid_t gid;
	bool switch_user;
	char **argv; /* NULL-terminated */
	char **env;  /* the args' "K=V", NULL-terminated */
	char *cwd, *stdin_path;
	/* results */
	bool skipped; /* cancelled before the spawn */
	int user_err; /* the user database failed with this errno */
	int rc;       /* spawn_start() */
	struct spawn_error error;
	struct spawn_proc proc;
};

struct process_pipe {
	struct process_job *p;
	enum job_stream stream;
	int fd; /* -1 once at EOF or closed */
	struct event *ev;
};

struct process_job {
	struct job *job;
	struct pool_work *work; /* while the worker has the spawn */
	pid_t pid;
	int pidfd;
	struct event *exit_ev;
	struct process_pipe out, err;
	int progress_fd;
	struct event *progress_ev;
	struct proc_progress progress;
	struct event *progress_timer; /* sends a rate-limited line later */
	bool progress_unsent;
	uint64_t progress_done;
	int64_t progress_total;
	struct event *kill_timer;   /* SIGKILL after SIGTERM */
	struct event *linger_timer; /* pipes after the reap */
	bool stopping, reaped, paused;
	int wait_code, wait_status; /* siginfo of the reap */
	long long elapsed_ms;
};

static const struct timeval process_linger = {
	PROCESS_LINGER_MS / 1000, PROCESS_LINGER_MS % 1000 * 1000};

static void process_try_end(struct process_job *p);

/* ---- Validation --------------------------------------------------------- */

static int
process_validate_argv(struct json_object *args, struct param_error *err)
{
	struct json_object *argv, *v;
	char field[48];
	size_t n;

	if (!json_object_object_get_ex(args, "argv", &argv))
		return param_fail(err, "args.argv", "required");
	if (!json_object_is_type(argv, json_type_array) ||
	    (n = json_object_array_length(argv)) == 0)
		return param_fail(err, "args.argv",
				  "must be a non-empty array of strings");
	for (size_t i = 0; i < n; i++) {
		v = json_object_array_get_idx(argv, i);
		snprintf(field, sizeof field, "args.argv.%zu", i);
		if (!json_object_is_type(v, json_type_string))
			return param_fail(err, field, "must be a string");
		if (strlen(json_object_get_string(v)) !=
		    (size_t)json_object_get_string_len(v))
			return param_fail(err, field, "contains a NUL character");
		if (i == 0 && json_object_get_string_len(v) == 0)
			return param_fail(err, field, "must not be empty");
	}
	return 0;
}

/* "args.env.NAME", NAME shortened to a printable piece. */
static void
process_env_field(char *buf, size_t size, const char *name)
{
	char shown[40];
	size_t n = 0;

	for (const char *k = name; *k != '\0' && n < sizeof shown - 1; k++)
		shown[n++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
	shown[n] = '\0';
	snprintf(buf, size, "args.env.%s", shown);
}

static int
process_validate_env(struct json_object *env, struct param_error *err)
{
	char field[64];

	json_object_object_foreach(env, key, val) {
		process_env_field(field, sizeof field, key);
		if (*key == '\0' || strchr(key, '=') != NULL)
			return param_fail(err, field, "not a variable name");
		if (strcmp(key, PROCESS_PROGRESS_VAR) == 0)
			return param_fail(err, field,
					  "reserved for the progress channel");
		if (!json_object_is_type(val, json_type_string))
			return param_fail(err, field, "must be a string");
		if (strlen(json_object_get_string(val)) !=
		    (size_t)json_object_get_string_len(val))
			return param_fail(err, field, "contains a NUL character");
	}
	return 0;
}

static int
process_validate(struct json_object *args, struct param_error *err)
{
	static const char *const allowed[] = {"argv", "cwd", "env", "stdin",
					      NULL};
	struct json_object *env = NULL;
	const char *path;

	if (params_only(args, "args.", allowed, err) < 0 ||
	    process_validate_argv(args, err) < 0 ||
	    params_path(args, "args.", "cwd", false, &path, err) < 0 ||
	    params_object(args, "args.", "env", false, &env, err) < 0 ||
	    (env != NULL && process_validate_env(env, err) < 0) ||
	    params_path(args, "args.", "stdin", false, &path, err) < 0)
		return -1;
	return 0;
}

/* ---- The work item ------------------------------------------------------ */

/* "KEY=VALUE", allocated. */
static char *
process_var(const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);
	char *s = xmalloc(klen + 1 + vlen + 1);

	memcpy(s, key, klen);
	s[klen] = '=';
	memcpy(s + klen + 1, value, vlen + 1);
	return s;
}

static char *
process_arg_string(struct json_object *args, const char *name,
		   const char *fallback)
{
	struct json_object *v;

	if (json_object_object_get_ex(args, name, &v))
		return xstrdup(json_object_get_string(v));
	return xstrdup(fallback);
}

/* Copies the validated ARGS into a work item for JOB's owner. */
static struct process_spawn *
process_spawn_new(const struct job *job, struct json_object *args)
{
	struct process_spawn *s = xcalloc(1, sizeof *s);
	struct json_object *argv, *env;
	size_t n, k = 0;

	s->uid = job->owner.uid;
	s->gid = job->owner.gid;
	s->switch_user = geteuid() == 0;
	json_object_object_get_ex(args, "argv", &argv);
	n = json_object_array_length(argv);
	s->argv = xcalloc(n + 1, sizeof *s->argv);
	for (size_t i = 0; i < n; i++)
		s->argv[i] = xstrdup(
			json_object_get_string(json_object_array_get_idx(argv, i)));
	if (json_object_object_get_ex(args, "env", &env)) {
		s->env = xcalloc((size_t)json_object_object_length(env) + 1,
				 sizeof *s->env);
		json_object_object_foreach(env, key, val)
			s->env[k++] = process_var(key, json_object_get_string(val));
	} else {
		s->env = xcalloc(1, sizeof *s->env);
	}
	s->cwd = process_arg_string(args, "cwd", "/");
	s->stdin_path = process_arg_string(args, "stdin", "/dev/null");
	return s;
}

static void
process_spawn_free(struct process_spawn *s)
{
	spawn_strv_free(s->argv);
	spawn_strv_free(s->env);
	free(s->cwd);
	free(s->stdin_path);
	free(s);
}

/* Sets VAR ("K=V", taken) in ENVP (room for it), replacing a K there. */
static void
process_env_set(char **envp, size_t *n, char *var)
{
	size_t klen = (size_t)(strchr(var, '=') - var) + 1;

	for (size_t i = 0; i < *n; i++) {
		if (strncmp(envp[i], var, klen) == 0) {
			free(envp[i]);
			envp[i] = var;
			return;
		}
	}
	envp[(*n)++] = var;
}

/* The minimal environment, then the args' variables, then the progress
 * channel's. */
static char **
process_environment(const struct process_spawn *s, const char *home,
		    const char *user)
{
	size_t nenv = 0, n = 0;
	char **envp, fd[16];

	while (s->env[nenv] != NULL)
		nenv++;
	envp = xcalloc(nenv + 6, sizeof *envp);
	envp[n++] = process_var("PATH", s->uid == 0 ? PROCESS_PATH_ROOT
						    : PROCESS_PATH_USER);
	envp[n++] = process_var("HOME", home);
	envp[n++] = process_var("USER", user);
	envp[n++] = process_var("LANG", PROCESS_LANG);
	for (size_t i = 0; i < nenv; i++)
		process_env_set(envp, &n, xstrdup(s->env[i]));
	snprintf(fd, sizeof fd, "%d", SPAWN_PROGRESS_FD);
	envp[n++] = process_var(PROCESS_PROGRESS_VAR, fd);
	return envp;
}

static const char *
process_env_get(char *const *envp, const char *key)
{
	size_t klen = strlen(key);

	for (; *envp != NULL; envp++)
		if (strncmp(*envp, key, klen) == 0 && (*envp)[klen] == '=')
			return *envp + klen + 1;
	return NULL;
}

/* Spawns with user U (NULL: not in the user database) and GROUPS. */
static void
process_spawn_as(struct process_spawn *s, const struct userdb_user *u,
		 const gid_t *groups, size_t ngroups)
{
	char uidbuf[16], **envp, **paths;
	struct spawn_spec spec;

	snprintf(uidbuf, sizeof uidbuf, "%u", (unsigned)s->uid);
	envp = process_environment(s, u != NULL ? u->home : "/",
				   u != NULL ? u->name : uidbuf);
	paths = spawn_search_list(s->argv[0], process_env_get(envp, "PATH"));
	spec = (struct spawn_spec){
		.argv = s->argv, .envp = envp, .paths = paths,
		.cwd = s->cwd, .stdin_path = s->stdin_path,
		.switch_user = s->switch_user, .uid = s->uid, .gid = s->gid,
		.groups = groups, .ngroups = ngroups,
	};
	s->rc = spawn_start(&spec, &s->proc, &s->error);
	spawn_strv_free(paths);
	spawn_strv_free(envp);
}

/* On a worker: the user look-up, then the spawn. The groups are those
 * the user database gives the user (just the peer's gid without an
 * entry), as identity.c does for file access. */
static void
process_spawn_work(struct pool_work *w, void *arg)
{
	struct process_spawn *s = arg;
	struct userdb_user u;
	gid_t *groups = NULL;
	size_t ngroups = 0;
	int rc;

	if (pool_cancelled(w)) {
		s->skipped = true;
		return;
	}
	rc = userdb_by_uid(s->uid, &u);
	if (rc != 0 && rc != ENOENT) {
		s->user_err = rc;
		return;
	}
	if (rc == ENOENT || !s->switch_user) {
		groups = xmalloc(sizeof *groups);
		groups[0] = s->gid;
		ngroups = 1;
	} else if ((s->user_err = userdb_grouplist(u.name, u.gid, &groups,
						   &ngroups)) != 0) {
		userdb_user_free(&u);
		return;
	}
	process_spawn_as(s, rc == 0 ? &u : NULL, groups, ngroups);
	free(groups);
	if (rc == 0)
		userdb_user_free(&u);
}

/* ---- Failing to start --------------------------------------------------- */

static void
process_fail_exec(struct job *job, const char *program, int err)
{
	char msg[320];

	if (err == ENOENT && strchr(program, '/') == NULL) {
		snprintf(msg, sizeof msg, "%.256s: command not found", program);
		job_fail(job, JOBERR_NOT_FOUND, msg, NULL);
	} else if (err == ENOEXEC) {
		snprintf(msg, sizeof msg, "%.256s: cannot execute: %s", program,
			 strerror(err));
		job_fail(job, JOBERR_PERMISSION_DENIED, msg, NULL);
	} else {
		snprintf(msg, sizeof msg, "%.256s", program);
		job_fail_errno(job, err, msg);
	}
}

/* Fails JOB with what went wrong in S. */
static void
process_fail_start(struct job *job, const struct process_spawn *s)
{
	char what[320];
	int err = s->error.err;

	if (s->user_err != 0) {
		job_fail_errno(job, s->user_err, "user database");
		return;
	}
	switch (s->error.stage) {
	case SPAWN_STAGE_PARENT:
		job_fail_errno(job, err, "cannot start the process");
		break;
	case SPAWN_STAGE_SETUP:
		snprintf(what, sizeof what, "setting up the process: %s",
			 strerror(err));
		job_fail(job, JOBERR_INTERNAL, what, NULL);
		break;
	case SPAWN_STAGE_USER:
		snprintf(what, sizeof what, "cannot switch to uid %u",
			 (unsigned)s->uid);
		job_fail_errno(job, err, what);
		break;
	case SPAWN_STAGE_REGAIN:
		snprintf(what, sizeof what,
			 "root could be regained after switching to uid %u",
			 (unsigned)s->uid);
		job_fail(job, JOBERR_INTERNAL, what, NULL);
		break;
	case SPAWN_STAGE_STDIN:
		snprintf(what, sizeof what, "stdin %.256s", s->stdin_path);
		job_fail_errno(job, err, what);
		break;
	case SPAWN_STAGE_CWD:
		snprintf(what, sizeof what, "cwd %.256s", s->cwd);
		job_fail_errno(job, err, what);
		break;
	case SPAWN_STAGE_EXEC:
		process_fail_exec(job, s->argv[0], err);
		break;
	}
}

/* ---- Running ------------------------------------------------------------ */

static void
process_signal(struct process_job *p, int sig)
{
	if (kill(-p->pid, sig) < 0 && errno != ESRCH)
		log_warn("job %llu: kill(-%d, %d)", (unsigned long long)p->job->id,
			 (int)p->pid, sig);
}

static void
process_pipe_close(struct process_pipe *pp)
{
	if (pp->fd < 0)
		return;
	event_free(pp->ev);
	pp->ev = NULL;
	close(pp->fd);
	pp->fd = -1;
	job_output_end(pp->p->job, pp->stream);
}

/* Stops reading the pipes until resume(). */
static void
process_pause(struct process_job *p)
{
	p->paused = true;
	if (p->out.fd >= 0)
		event_del(p->out.ev);
	if (p->err.fd >= 0)
		event_del(p->err.ev);
}

static void
process_resume(struct job *job)
{
	struct process_job *p = job->priv;

	if (p == NULL || !p->paused)
		return;
	p->paused = false;
	if (p->out.fd >= 0)
		event_add(p->out.ev, NULL);
	if (p->err.fd >= 0)
		event_add(p->err.ev, NULL);
}

static void
process_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
	static char buf[PROTO_CHUNK_MAX];
	struct process_pipe *pp = arg;
	struct process_job *p = pp->p;
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_warn("job %llu: reading the %s pipe",
				 (unsigned long long)p->job->id,
				 pp->stream == STREAM_STDOUT ? "stdout" : "stderr");
		process_pipe_close(pp);
		process_try_end(p);
		return;
	}
	job_output(p->job, pp->stream, buf, (size_t)n);
	if (job_output_blocked(p->job))
		process_pause(p);
}

static void
process_pipe_open(struct process_job *p, struct process_pipe *pp, int fd,
		  enum job_stream stream)
{
	pp->p = p;
	pp->stream = stream;
	pp->fd = fd;
	pp->ev = event_new(daemon_base, fd, EV_READ | EV_PERSIST,
			   process_pipe_cb, pp);
	event_add(pp->ev, NULL);
}

/* ---- Progress ----------------------------------------------------------- */

/* One valid progress line: forwarded now, or by the timer when the rate
 * limit held it back (so that the latest value always gets out). */
static void
process_progress_line(void *arg, uint64_t done, int64_t total)
{
	static const struct timeval retry = {0, PROCESS_PROGRESS_RETRY_MS * 1000};
	struct process_job *p = arg;
	uint32_t seq = p->job->seq;

	p->progress_done = done;
	p->progress_total = total;
	job_progress(p->job, done, total, "items", false);
	p->progress_unsent = p->job->seq == seq;
	if (p->progress_unsent && !evtimer_pending(p->progress_timer, NULL))
		evtimer_add(p->progress_timer, &retry);
}

static void
process_progress_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct process_job *p = arg;

	if (!p->progress_unsent)
		return;
	p->progress_unsent = false;
	/* At least the rate limit's interval after the last one sent. */
	job_progress(p->job, p->progress_done, p->progress_total, "items",
		     true);
}

static void
process_progress_close(struct process_job *p)
{
	if (p->progress_fd < 0)
		return;
	event_free(p->progress_ev);
	p->progress_ev = NULL;
	close(p->progress_fd);
	p->progress_fd = -1;
}

/* Reads the progress pipe once: the bytes read, 0 at EOF, -1 when
 * nothing is there now. */
static ssize_t
process_progress_read(struct process_job *p)
{
	char buf[4096];
	ssize_t n = read(p->progress_fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -1;
	if (n <= 0) {
		process_progress_close(p);
		return 0;
	}
	proc_progress_feed(&p->progress, buf, (size_t)n, process_progress_line,
			   p);
	return n;
}

static void
process_progress_cb(evutil_socket_t fd, short what, void *arg)
{
	process_progress_read(arg);
}

/* At the end: the lines still in the pipe, and the last one held back. */
static void
process_progress_finish(struct process_job *p)
{
	size_t total = 0;
	ssize_t n;

	while (p->progress_fd >= 0 && total < PROCESS_PROGRESS_DRAIN_MAX &&
	       (n = process_progress_read(p)) > 0)
		total += (size_t)n;
	if (p->progress_unsent)
		job_progress(p->job, p->progress_done, p->progress_total,
			     "items", true);
	p->progress_unsent = false;
}

/* ---- Exit and end ------------------------------------------------------- */

static void
process_exit_cb(evutil_socket_t fd, short what, void *arg)
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
		log_warn("job %llu: waitid", (unsigned long long)p->job->id);
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
	if (p->out.fd >= 0 || p->err.fd >= 0)
		evtimer_add(p->linger_timer, &process_linger);
	process_try_end(p);
}

/* The pipes stayed open PROCESS_LINGER_MS after the reap: something else
 * holds them. Output that waits for a slow client is not cut short. */
static void
process_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct process_job *p = arg;

	if (p->paused) {
		evtimer_add(p->linger_timer, &process_linger);
		return;
	}
	log_info("job %llu: output still open %d ms after process %d exited; "
		 "closing it", (unsigned long long)p->job->id,
		 PROCESS_LINGER_MS, (int)p->pid);
	process_pipe_close(&p->out);
	process_pipe_close(&p->err);
	process_try_end(p);
}

static void
process_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct process_job *p = arg;

	log_info("job %llu: process %d still there %d ms after SIGTERM; "
		 "SIGKILL", (unsigned long long)p->job->id, (int)p->pid,
		 PROCESS_KILL_MS);
	process_signal(p, SIGKILL);
}

static void
process_free(struct process_job *p)
{
	if (p->exit_ev != NULL)
		event_free(p->exit_ev);
	if (p->pidfd >= 0)
		close(p->pidfd);
	process_pipe_close(&p->out);
	process_pipe_close(&p->err);
	process_progress_close(p);
	event_free(p->progress_timer);
	event_free(p->kill_timer);
	event_free(p->linger_timer);
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

	process_progress_finish(p);
	log_debug("job %llu: process %d ended", (unsigned long long)job->id,
		  (int)pid);
	process_free(p);
	process_report(job, pid, code, status, elapsed_ms);
}

static void
process_try_end(struct process_job *p)
{
	if (p->reaped && p->out.fd < 0 && p->err.fd < 0)
		process_end(p);
}

/* SIGTERM now, SIGKILL later. */
static void
process_stop_running(struct process_job *p)
{
	static const struct timeval grace = {PROCESS_KILL_MS / 1000,
					     PROCESS_KILL_MS % 1000 * 1000};

	process_signal(p, SIGTERM);
	evtimer_add(p->kill_timer, &grace);
}

/* Watches the child S started. */
static void
process_run(struct process_job *p, const struct spawn_proc *proc)
{
	p->pid = proc->pid;
	p->pidfd = proc->pidfd;
	log_debug("job %llu: process %d started",
		  (unsigned long long)p->job->id, (int)p->pid);
	p->exit_ev = event_new(daemon_base, p->pidfd, EV_READ, process_exit_cb,
			       p);
	event_add(p->exit_ev, NULL);
	process_pipe_open(p, &p->out, proc->out_fd, STREAM_STDOUT);
	process_pipe_open(p, &p->err, proc->err_fd, STREAM_STDERR);
	p->progress_fd = proc->progress_fd;
	p->progress_ev = event_new(daemon_base, p->progress_fd,
				   EV_READ | EV_PERSIST, process_progress_cb, p);
	event_add(p->progress_ev, NULL);
	if (p->stopping)
		process_stop_running(p);
}

/* Back on the loop from the worker. */
static void
process_spawned(void *arg, bool cancelled)
{
	struct process_spawn *s = arg;
	struct process_job *p = s->p;
	struct job *job = p->job;

	p->work = NULL;
	if (!cancelled && !s->skipped && s->user_err == 0 && s->rc == 0) {
		process_run(p, &s->proc);
	} else {
		process_free(p);
		if (cancelled || s->skipped)
			job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
		else
			process_fail_start(job, s);
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

	if (geteuid() != 0 && job->owner.uid != geteuid()) {
		snprintf(msg, sizeof msg,
			 "asyncd runs as uid %u and cannot run programs as uid %u",
			 (unsigned)geteuid(), (unsigned)job->owner.uid);
		job_fail(job, JOBERR_PERMISSION_DENIED, msg, NULL);
		return;
	}
	p = xcalloc(1, sizeof *p);
	p->job = job;
	p->pidfd = p->progress_fd = p->out.fd = p->err.fd = -1;
	proc_progress_init(&p->progress);
	p->progress_timer = evtimer_new(daemon_base, process_progress_timer_cb, p);
	p->kill_timer = evtimer_new(daemon_base, process_kill_cb, p);
	p->linger_timer = evtimer_new(daemon_base, process_linger_cb, p);
	s = process_spawn_new(job, args);
	s->p = p;
	job->priv = p;
	p->work = pool_submit(process_spawn_work, process_spawned, s);
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
		process_pipe_close(&p->out);
		process_pipe_close(&p->err);
		process_try_end(p);
	}
}

const struct job_kind kind_process = {
	.name = "process",
	.validate = process_validate,
	.start = process_start,
	.cancel = process_cancel,
	.resume = process_resume,
	.default_max_running = 0, /* the number of CPUs */
};
