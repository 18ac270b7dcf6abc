/* Option parsing for asyncd. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../proto/proto.h"
#include "runtime.h"
#include "kinds.h"
#include "log.h"
#include "options.h"
#include "xmalloc.h"

struct option_state option_state = {.log_level = LOG_INFO,
				    .log_target = "auto"};

enum arg_type {
	ARG_NONE,
	ARG_STRING,
	ARG_SIZE,
	ARG_INT_SIZE, /* a size json-c is handed as an int */
	ARG_COUNT,
	ARG_BYTES, /* a byte count, 0 included */
	ARG_MODE,
	ARG_SPECIAL
};

struct option_def {
	const char *name;
	enum arg_type type;
	void *target; /* for plain types */
	const char *help;
	const char *metavar;
};

static const struct option_def option_defs[] = {
	{"socket", ARG_STRING, &daemon_opts.socket_path,
	 "listen on PATH (default: /run/asyncd/asyncd.sock as root, else "
	 "$XDG_RUNTIME_DIR/asyncd/asyncd.sock)", "PATH"},
	{"socket-mode", ARG_MODE, &daemon_opts.socket_mode,
	 "socket file mode (default: 0666 as root, else 0600)", "MODE"},
	{"max-request", ARG_INT_SIZE, &daemon_opts.max_request,
	 "longest request line in bytes (default: 1048576)", "BYTES"},
	{"output-hwm", ARG_SIZE, &daemon_opts.output_hwm,
	 "output buffered per connection before streaming jobs pause "
	 "(default: 8388608)", "BYTES"},
	{"max-queued", ARG_COUNT, &daemon_opts.max_queued,
	 "queued jobs in all (default: 1000000)", "N"},
	{"max-queued-per-user", ARG_COUNT, &daemon_opts.max_queued_per_user,
	 "queued jobs of one user (default: 100000)", "N"},
	{"keep-finished", ARG_COUNT, &daemon_opts.keep_finished,
	 "finished jobs kept queryable, oldest dropped first (default: 10000)",
	 "N"},
	{"max-connections", ARG_COUNT, &daemon_opts.max_connections,
	 "client connections at once, the last 8 kept for root (default: "
	 "1024)", "N"},
	{"max-connections-per-user", ARG_COUNT,
	 &daemon_opts.max_connections_per_user,
	 "connections of one user at once; root has no such cap (default: 64; "
	 "0: none)", "N"},
	{"request-timeout", ARG_COUNT, &daemon_opts.request_timeout,
	 "close a connection whose request line is unfinished after SECONDS "
	 "(default: 30; 0: never)", "SECONDS"},
	{"output-limit", ARG_BYTES, &daemon_opts.output_limit,
	 "close a connection with more output than BYTES buffered "
	 "(default: 67108864; 0: no limit)", "BYTES"},
	{"output-hwm-timeout", ARG_COUNT, &daemon_opts.output_hwm_timeout,
	 "close a connection whose output stays past --output-hwm for "
	 "SECONDS (default: 30; 0: never)", "SECONDS"},
	{"max-running", ARG_SPECIAL, NULL,
	 "jobs of KIND running at once; the rest queue", "KIND=N"},
	{"max-running-per-user", ARG_SPECIAL, NULL,
	 "jobs of KIND one user runs at once (default: KIND's max-running "
	 "less a tenth, rounded up, if 10 or more; else all)", "KIND=N"},
	{"max-downloads", ARG_SPECIAL, NULL,
	 "the same as --max-running download=N (default: 16)", "N"},
	{"max-processes", ARG_SPECIAL, NULL,
	 "the same as --max-running process=N (default: CPUs)", "N"},
	{"workers", ARG_COUNT, &daemon_opts.workers,
	 "worker threads for blocking work (default: CPUs, at least 2)", "N"},
	{"metrics-listen", ARG_STRING, &daemon_opts.metrics_listen,
	 "also serve GET /metrics (Prometheus) over HTTP on ADDR:PORT "
	 "(default: off)", "ADDR:PORT"},
	{"download-dir", ARG_STRING, &daemon_opts.download_dir,
	 "where downloads without a dest go", "DIR"},
	{"allow-scheme", ARG_SPECIAL, NULL,
	 "also allow downloads with URL scheme SCHEME (repeatable)", "SCHEME"},
	{"download-stall-timeout", ARG_COUNT, &daemon_opts.download_stall_timeout,
	 "fail (or retry) a download that received nothing for SECONDS "
	 "(default: 60; 0: never)", "SECONDS"},
	{"idle-exit", ARG_COUNT, &daemon_opts.idle_exit,
	 "exit after SECONDS with no connection and no unfinished job "
	 "(default: 0, never)", "SECONDS"},
	{"state-dir", ARG_STRING, &daemon_opts.state_dir,
	 "keep jobs, results and output in DIR across restarts, or none "
	 "(default: /var/lib/asyncd as root, else "
	 "$XDG_STATE_HOME/asyncd)", "DIR"},
	{"stop-timeout", ARG_COUNT, &daemon_opts.stop_timeout,
	 "at a stop, seconds between SIGTERM and SIGKILL for the processes "
	 "of running jobs (default: 10); the daemon exits within 2 s more",
	 "SECONDS"},
	{"keep-output", ARG_BYTES, &daemon_opts.keep_output,
	 "bytes of each process job's stdout and of its stderr kept for "
	 "job.watch since and asyncctl log, the oldest dropped first "
	 "(default: 16777216; 0: none)", "BYTES"},
	{"keep-output-total", ARG_BYTES, &daemon_opts.keep_output_total,
	 "bytes of output kept for all jobs together, the oldest finished "
	 "jobs' dropped first (default: 1073741824)", "BYTES"},
	{"sync", ARG_SPECIAL, NULL,
	 "normal: commits survive a crash of asyncd (default); full: also "
	 "a power loss", "MODE"},
	{"log-level", ARG_SPECIAL, NULL,
	 "error, warning, notice, info (default) or debug", "LEVEL"},
	{"log-target", ARG_SPECIAL, NULL,
	 "stderr, journal (with fields per job) or auto: the journal when "
	 "stderr is connected to it (default)", "TARGET"},
	{"config", ARG_SPECIAL, NULL, "read options from FILE", "FILE"},
	{"help", ARG_NONE, NULL, "show this help and exit", NULL},
	{"version", ARG_NONE, NULL, "show the version and exit", NULL},
};

#define NOPTIONS (sizeof option_defs / sizeof option_defs[0])

void
options_defaults(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	daemon_opts.socket_mode = -1;
	daemon_opts.max_request = PROTO_MAX_REQUEST_DEFAULT;
	daemon_opts.output_hwm = PROTO_OUTPUT_HWM_DEFAULT;
	daemon_opts.max_queued = 1000000;
	daemon_opts.max_queued_per_user = 100000;
	daemon_opts.keep_finished = 10000;
	daemon_opts.max_connections = 1024;
	daemon_opts.max_connections_per_user = 64;
	daemon_opts.request_timeout = 30;
	daemon_opts.output_limit = 64 * 1024 * 1024;
	daemon_opts.output_hwm_timeout = 30;
	daemon_opts.workers = cpus > 2 ? (unsigned)cpus : 2;
	daemon_opts.allowed_schemes = xstrdup("http,https");
	daemon_opts.download_stall_timeout = 60;
	daemon_opts.keep_output = 16 * 1024 * 1024;
	daemon_opts.stop_timeout = 10;
	daemon_opts.keep_output_total = 1024 * 1024 * 1024;
	daemon_opts.version = PACKAGE_VERSION;
}

static int
parse_unsigned(const char *value, unsigned long long max,
	       unsigned long long *out)
{
	char *end;

	errno = 0;
	if (value == NULL || *value < '0' || *value > '9')
		return -1;
	*out = strtoull(value, &end, 10);
	if (errno != 0 || *end != '\0' || *out > max)
		return -1;
	return 0;
}

/* Checks option OPT's KIND (KIND_LEN bytes) and COUNT, and once APPLY
 * sets the kind's limit, or its per-user cap if PER_USER, to COUNT. */
static int
add_kind_limit(const char *opt, const char *kind, size_t kind_len,
	       const char *count, bool per_user, bool apply, char *err,
	       size_t size)
{
	unsigned long long n;
	struct kind_limit *kl;
	char name[sizeof kl->kind];

	if (parse_unsigned(count, UINT_MAX, &n) < 0 || n == 0) {
		snprintf(err, size, "%s: not a positive count: %s", opt,
			 count);
		return -1;
	}
	if (kind_len == 0 || kind_len >= sizeof name) {
		snprintf(err, size, "%s: bad job kind", opt);
		return -1;
	}
	memcpy(name, kind, kind_len);
	name[kind_len] = '\0';
	if (kinds_find(name) == NULL) {
		snprintf(err, size, "%s: no job kind %s", opt, name);
		return -1;
	}
	if (!apply)
		return 0;
	for (kl = option_state.kind_limits;
	     kl < option_state.kind_limits + option_state.nkind_limits; kl++)
		if (strcmp(kl->kind, name) == 0)
			break;
	if (kl == option_state.kind_limits + option_state.nkind_limits) {
		if (option_state.nkind_limits == OPTIONS_MAX_KIND_LIMITS) {
			snprintf(err, size, "too many --max-running options");
			return -1;
		}
		option_state.nkind_limits++;
		memset(kl, 0, sizeof *kl);
		memcpy(kl->kind, name, sizeof name);
	}
	if (per_user)
		kl->per_user = (unsigned)n;
	else
		kl->n = (unsigned)n;
	return 0;
}

/* Checks NAME=VALUE of an ARG_SPECIAL option, and applies it if APPLY. */
static int
set_special(const char *name, const char *value, bool apply, char *err,
	    size_t size)
{
	if (strcmp(name, "max-running") == 0 ||
	    strcmp(name, "max-running-per-user") == 0) {
		const char *eq = strchr(value, '=');
		if (eq == NULL) {
			snprintf(err, size, "%s: expected KIND=N: %s", name,
				 value);
			return -1;
		}
		return add_kind_limit(name, value, (size_t)(eq - value), eq + 1,
				      strcmp(name, "max-running-per-user") == 0,
				      apply, err, size);
	}
	if (strcmp(name, "max-downloads") == 0)
		return add_kind_limit(name, "download", 8, value, false, apply,
				      err, size);
	if (strcmp(name, "max-processes") == 0)
		return add_kind_limit(name, "process", 7, value, false, apply,
				      err, size);
	if (strcmp(name, "allow-scheme") == 0) {
		char *s;
		if (strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789+-.") !=
			    strlen(value) ||
		    *value == '\0') {
			snprintf(err, size, "bad URL scheme: %s", value);
			return -1;
		}
		if (!apply)
			return 0;
		if (asprintf(&s, "%s,%s", daemon_opts.allowed_schemes, value) < 0)
			fatal("asprintf");
		free(daemon_opts.allowed_schemes);
		daemon_opts.allowed_schemes = s;
		return 0;
	}
	if (strcmp(name, "sync") == 0) {
		if (strcmp(value, "normal") != 0 && strcmp(value, "full") != 0) {
			snprintf(err, size, "sync: normal or full, not %s", value);
			return -1;
		}
		if (apply)
			daemon_opts.sync_full = strcmp(value, "full") == 0;
		return 0;
	}
	if (strcmp(name, "log-level") == 0) {
		int level = log_level_parse(value);
		if (level < 0) {
			snprintf(err, size, "unknown log level: %s", value);
			return -1;
		}
		if (!apply)
			return 0;
		option_state.log_level = level;
		option_state.log_level_set = true;
		return 0;
	}
	if (strcmp(name, "log-target") == 0) {
		if (strcmp(value, "stderr") != 0 && strcmp(value, "journal") != 0 &&
		    strcmp(value, "auto") != 0) {
			snprintf(err, size, "unknown log target: %s", value);
			return -1;
		}
#ifndef ENABLE_JOURNAL
		if (strcmp(value, "journal") == 0) {
			snprintf(err, size, "journal: asyncd was built "
					    "--without-systemd");
			return -1;
		}
#endif
		if (apply)
			snprintf(option_state.log_target,
				 sizeof option_state.log_target, "%s", value);
		return 0;
	}
	if (strcmp(name, "config") == 0) {
		if (!apply)
			return 0;
		free(option_state.config_file);
		option_state.config_file = xstrdup(value);
		return 0;
	}
	snprintf(err, size, "unknown option: %s", name);
	return -1;
}

/* Parses VALUE as a size from 1024 to MAX for option NAME. */
static int
parse_size(const char *name, const char *value, unsigned long long max,
	   unsigned long long *n, char *err, size_t size)
{
	if (parse_unsigned(value, max, n) < 0 || *n < 1024) {
		if (max == INT_MAX)
			snprintf(err, size,
				 "%s: not a size from 1024 to %d: %s", name,
				 INT_MAX, value);
		else
			snprintf(err, size, "%s: not a size of at least 1024: %s",
				 name, value);
		return -1;
	}
	return 0;
}

/* Checks VALUE for option DEF, and stores it if APPLY. */
static int
option_apply(const struct option_def *def, const char *value, bool apply,
	     char *err, size_t size)
{
	const char *name = def->name;
	unsigned long long n;

	switch (def->type) {
	case ARG_STRING:
		if (apply) {
			free(*(char **)def->target);
			*(char **)def->target = xstrdup(value);
		}
		return 0;
	case ARG_SIZE:
	case ARG_INT_SIZE:
		if (parse_size(name, value,
			       def->type == ARG_INT_SIZE ? INT_MAX : SIZE_MAX / 2,
			       &n, err, size) < 0)
			return -1;
		if (apply)
			*(size_t *)def->target = (size_t)n;
		return 0;
	case ARG_COUNT:
		if (parse_unsigned(value, UINT_MAX, &n) < 0) {
			snprintf(err, size, "%s: not a count: %s", name, value);
			return -1;
		}
		if (apply)
			*(unsigned *)def->target = (unsigned)n;
		return 0;
	case ARG_BYTES:
		if (parse_unsigned(value, SIZE_MAX / 2, &n) < 0) {
			snprintf(err, size, "%s: not a byte count: %s", name,
				 value);
			return -1;
		}
		if (apply)
			*(size_t *)def->target = (size_t)n;
		return 0;
	case ARG_MODE: {
		char *end;
		long mode = strtol(value, &end, 8);
		if (*value == '\0' || *end != '\0' || mode < 0 || mode > 0777) {
			snprintf(err, size, "%s: not an octal mode: %s", name,
				 value);
			return -1;
		}
		if (apply)
			*(int *)def->target = (int)mode;
		return 0;
	}
	default:
		return set_special(name, value, apply, err, size);
	}
}

/* The option named NAME that takes a value, or NULL after filling ERR. */
static const struct option_def *
option_find(const char *name, char *err, size_t size)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (strcmp(option_defs[i].name, name) == 0 &&
		    option_defs[i].type != ARG_NONE)
			return &option_defs[i];
	snprintf(err, size, "unknown option: %s", name);
	return NULL;
}

int
options_set(const char *name, const char *value, char *err, size_t size)
{
	const struct option_def *def = option_find(name, err, size);

	return def != NULL ? option_apply(def, value, true, err, size) : -1;
}

int
options_check(const char *name, const char *value, char *err, size_t size)
{
	const struct option_def *def = option_find(name, err, size);

	return def != NULL ? option_apply(def, value, false, err, size) : -1;
}

static void
usage(FILE *out)
{
	fprintf(out, "Usage: asyncd [OPTION]...\n"
		     "Run jobs for local users, asked for over a Unix socket.\n\n");
	for (size_t i = 0; i < NOPTIONS; i++) {
		char left[64];
		snprintf(left, sizeof left, "--%s%s%s", option_defs[i].name,
			 option_defs[i].metavar ? " " : "",
			 option_defs[i].metavar ? option_defs[i].metavar : "");
		fprintf(out, "  %-29s %s\n", left, option_defs[i].help);
	}
	fprintf(out, "\nSignals: TERM or INT stop the daemon; running jobs fail "
		     "with \"interrupted\".\n");
}

void
options_parse_argv(int argc, char **argv)
{
	struct option longopts[NOPTIONS + 1];
	char err[256];
	int c, index;

	memset(longopts, 0, sizeof longopts);
	for (size_t i = 0; i < NOPTIONS; i++) {
		longopts[i].name = option_defs[i].name;
		longopts[i].has_arg = option_defs[i].type == ARG_NONE
					      ? no_argument
					      : required_argument;
		longopts[i].val = 0;
	}
	while ((c = getopt_long(argc, argv, "hV", longopts, &index)) != -1) {
		const char *name;
		if (c == 'h')
			name = "help";
		else if (c == 'V')
			name = "version";
		else if (c == 0)
			name = longopts[index].name;
		else {
			usage(stderr);
			exit(2);
		}
		if (strcmp(name, "help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(name, "version") == 0) {
			printf("asyncd %s (protocol %d)\n", PACKAGE_VERSION,
			       PROTO_VERSION);
			exit(0);
		}
		if (options_set(name, optarg, err, sizeof err) < 0) {
			fprintf(stderr, "asyncd: %s\n", err);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "asyncd: unexpected argument: %s\n", argv[optind]);
		exit(2);
	}
}
