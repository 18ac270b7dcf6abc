/* asyncctl: the command table, options shared by commands, and the calls
 * commands make. */
#ifndef ASYNCCTL_H
#define ASYNCCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct json_object;
struct client;
struct remote;

/* Exit statuses (DESIGN.md, "asyncctl"). */
enum {
	EXIT_OK = 0,
	EXIT_JOB_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,
	EXIT_REFUSED = 4,
	EXIT_INTERRUPTED = 130,
};

enum ctl_option {
	OPT_SOCKET, OPT_JSON, OPT_DETACH, OPT_LABEL, OPT_AFTER, OPT_TIMEOUT,
	OPT_OUTPUT, OPT_SHA256, OPT_RESUME, OPT_OVERWRITE, OPT_MAX_BYTES,
	OPT_OFFSET, OPT_LENGTH, OPT_STATE, OPT_KIND, OPT_LIMIT, OPT_CWD,
	OPT_ENV, OPT_STDIN, OPT_FOLLOW, OPT_QUEUE, OPT_PRIORITY, OPT_IN,
	OPT_AT, OPT_RETRY, OPT_RETRY_DELAY, OPT_AFTER_ANY, OPT_MAX_RUNNING,
	OPT_FAILED, OPT_TEXTFILE, OPT_HOST, OPT_SSH,
};
#define OPTBIT(o) (1ull << (o))
/* Options every job-submitting command takes. */
#define OPTS_SUBMIT (OPTBIT(OPT_DETACH) | OPTBIT(OPT_LABEL) | \
		     OPTBIT(OPT_AFTER) | OPTBIT(OPT_TIMEOUT) | \
		     OPTBIT(OPT_QUEUE) | OPTBIT(OPT_PRIORITY) | OPTBIT(OPT_IN) | \
		     OPTBIT(OPT_AT) | OPTBIT(OPT_RETRY) | \
		     OPTBIT(OPT_RETRY_DELAY) | OPTBIT(OPT_AFTER_ANY))

struct ctl {
	const char *socket_path;
	bool json;
	bool detach;
	const char *label;
	struct json_object *after; /* array of ids, or NULL */
	long long timeout_ms;
	const char *output, *sha256, *state, *kind, *cwd, *stdin_path;
	bool resume, overwrite, follow;
	long long max_bytes, offset, length, limit;
	struct json_object *env; /* object, or NULL */
	/* Job control (asyncctl(1), "Job control options"). */
	const char *queue;
	long long priority;
	long long delay_ms;          /* --in, -1: not given */
	char *not_before;            /* --at, as RFC 3339 (malloc'd), or NULL */
	long long retry_max;         /* --retry, -1: not given */
	long long retry_delay_ms;    /* --retry-delay, -1: not given */
	struct json_object *after_any; /* array of ids, or NULL */
	long long max_running;       /* queue --max-running: -1 not given,
				      * 0 "none" */
	bool failed;                 /* restart --failed */
	const char *textfile;        /* metrics --textfile */
	/* -H: another host's daemon, through --ssh (remote.h); NULL: this
	 * host's, at socket_path. */
	const char *host, *ssh;
	struct remote *remote;
	unsigned long long given; /* OPTBIT()s of the options on the line */
	struct client *conn;
};

/* How a job command shows its jobs' results. */
struct kind_ui {
	/* Prints a completed job's result for a person; NULL: generic. */
	void (*completed)(struct ctl *ctl, uint64_t id,
			  struct json_object *result);
	bool progress_bar; /* draw progress on stderr when it is a TTY */
};

struct ctl_command {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
	/* OPTBIT()s it accepts besides --socket, --json, -H and --ssh */
	unsigned long long options;
	const char *usage;
};

extern const struct ctl_command ctl_commands[];
extern volatile sig_atomic_t ctl_interrupted;

/* Connects (once); exits with EXIT_UNREACHABLE when it cannot. */
struct client *ctl_connect(struct ctl *ctl);
/* A new connection to the daemon (over ssh with -H), or NULL (errno
 * set); for reconnects. */
struct client *ctl_open(struct ctl *ctl);
/* Says on stderr that the connection broke, and, with -H, how ssh
 * ended. */
void ctl_lost(struct ctl *ctl);
/* Calls METHOD; on an error response prints it and returns NULL with
 * *status = EXIT_REFUSED (or EXIT_UNREACHABLE if the link broke). */
struct json_object *ctl_call(struct ctl *ctl, const char *method,
			     struct json_object *params, int *status);
/* Prints a usage error for COMMAND; returns EXIT_USAGE. */
int ctl_usage(const char *command, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Parses a job id; 0 if it is not one. */
uint64_t ctl_parse_id(const char *s);
/* {"id": ID}, the params of the methods about one job. */
struct json_object *ctl_id_params(uint64_t id);
/* Whether option O was on the command line. */
#define ctl_given(ctl, o) (((ctl)->given & OPTBIT(o)) != 0)

/* submit.c: submits a job of KIND with ARGS (taken) under the common
 * options and returns its id, or 0 after printing why (*status set). */
uint64_t ctl_submit(struct ctl *ctl, const char *kind, struct json_object *args,
		    int *status);
/* Submits (as ctl_submit) each of N jobs, then follows them, or with
 * --detach prints their ids. */
int ctl_run_jobs(struct ctl *ctl, const char *kind, struct json_object **args,
		 size_t n, const struct kind_ui *ui);
/* Follows the N jobs IDS this invocation made (submitted, restarted), or
 * with --detach prints their ids; STATUS is what making them gave, kept
 * when it is not EXIT_OK. */
int ctl_follow_made(struct ctl *ctl, const uint64_t *ids, size_t n,
		    const struct kind_ui *ui, int status);

/* cmd-kinds.c: how a job of KIND is shown when followed (what its job
 * command shows), or a generic one for an unknown kind. */
const struct kind_ui *ctl_kind_ui(const char *kind);

/* follow.c: from now on a Ctrl-C (or SIGTERM) sets ctl_interrupted, and
 * a second one exits at once. */
void ctl_catch_interrupt(void);
/* Follows jobs IDS until each has ended; CANCEL_ON_INT: Ctrl-C cancels
 * them. Returns EXIT_OK when every one completed. */
int ctl_follow(struct ctl *ctl, const uint64_t *ids, size_t n,
	       const struct kind_ui *ui, bool cancel_on_int);
/* The same for jobs whose events up to SINCE[i] the caller has seen: a
 * reconnect resumes each from there. */
int ctl_follow_since(struct ctl *ctl, const uint64_t *ids, size_t n,
		     const uint32_t *since, const struct kind_ui *ui,
		     bool cancel_on_int);

/* The same, with PENDING (NPENDING messages, taken), which were read off
 * the connection already, handled first. */
int ctl_follow_pending(struct ctl *ctl, const uint64_t *ids, size_t n,
		       const uint32_t *since, const struct kind_ui *ui,
		       bool cancel_on_int, struct json_object **pending,
		       size_t npending);

/* The commands (cmd-*.c), each run with the arguments after its name. */
int cmd_sleep(struct ctl *ctl, int argc, char **argv);
int cmd_download(struct ctl *ctl, int argc, char **argv);
int cmd_read_file(struct ctl *ctl, int argc, char **argv);
int cmd_fetch_user(struct ctl *ctl, int argc, char **argv);
int cmd_process(struct ctl *ctl, int argc, char **argv);
int cmd_get(struct ctl *ctl, int argc, char **argv);
int cmd_list(struct ctl *ctl, int argc, char **argv);
int cmd_cancel(struct ctl *ctl, int argc, char **argv);
int cmd_wait(struct ctl *ctl, int argc, char **argv);
int cmd_watch(struct ctl *ctl, int argc, char **argv);
int cmd_info(struct ctl *ctl, int argc, char **argv);
int cmd_metrics(struct ctl *ctl, int argc, char **argv);
int cmd_batch(struct ctl *ctl, int argc, char **argv);
int cmd_log(struct ctl *ctl, int argc, char **argv);
int cmd_call(struct ctl *ctl, int argc, char **argv);
int cmd_queue(struct ctl *ctl, int argc, char **argv);
int cmd_pause(struct ctl *ctl, int argc, char **argv);
int cmd_resume(struct ctl *ctl, int argc, char **argv);
int cmd_restart(struct ctl *ctl, int argc, char **argv);
int cmd_rm(struct ctl *ctl, int argc, char **argv);
int cmd_clean(struct ctl *ctl, int argc, char **argv);
int cmd_bridge(struct ctl *ctl, int argc, char **argv);
/* top.c: the full-screen live view. */
int cmd_top(struct ctl *ctl, int argc, char **argv);

#endif
