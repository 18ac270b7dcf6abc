/* asyncctl: parse the command line, run one command from the table. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "../proto/proto.h"
#include "asyncctl.h"
#include "connection.h"
#include "remote.h"
#include "render.h"
#include "when.h"

volatile sig_atomic_t ctl_interrupted;

static const struct option longopts[] = {
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"json", no_argument, NULL, OPT_JSON},
	{"detach", no_argument, NULL, OPT_DETACH},
	{"label", required_argument, NULL, OPT_LABEL},
	{"after", required_argument, NULL, OPT_AFTER},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	{"output", required_argument, NULL, OPT_OUTPUT},
	{"sha256", required_argument, NULL, OPT_SHA256},
	{"resume", no_argument, NULL, OPT_RESUME},
	{"overwrite", no_argument, NULL, OPT_OVERWRITE},
	{"max-bytes", required_argument, NULL, OPT_MAX_BYTES},
	{"offset", required_argument, NULL, OPT_OFFSET},
	{"length", required_argument, NULL, OPT_LENGTH},
	{"state", required_argument, NULL, OPT_STATE},
	{"kind", required_argument, NULL, OPT_KIND},
	{"limit", required_argument, NULL, OPT_LIMIT},
	{"cwd", required_argument, NULL, OPT_CWD},
	{"env", required_argument, NULL, OPT_ENV},
	{"stdin", required_argument, NULL, OPT_STDIN},
	{"follow", no_argument, NULL, OPT_FOLLOW},
	{"queue", required_argument, NULL, OPT_QUEUE},
	{"priority", required_argument, NULL, OPT_PRIORITY},
	{"in", required_argument, NULL, OPT_IN},
	{"at", required_argument, NULL, OPT_AT},
	{"retry", required_argument, NULL, OPT_RETRY},
	{"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
	{"after-any", required_argument, NULL, OPT_AFTER_ANY},
	{"max-running", required_argument, NULL, OPT_MAX_RUNNING},
	{"failed", no_argument, NULL, OPT_FAILED},
	{"textfile", required_argument, NULL, OPT_TEXTFILE},
	{"host", required_argument, NULL, OPT_HOST},
	{"ssh", required_argument, NULL, OPT_SSH},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: asyncctl [-H [USER@]HOST[:SOCKET] [--ssh COMMAND]]\n"
		"                [--socket PATH] [--json] [--detach] [--label TEXT]\n"
		"                [--after ID,...] [--timeout SECONDS] COMMAND ...\n"
		"Job commands also take [--queue NAME] [--priority N]\n"
		"  [--in DURATION | --at TIME] [--retry N [--retry-delay DURATION]]\n"
		"  [--after-any ID,...]\n\n"
		"Commands:\n");
	for (const struct ctl_command *c = ctl_commands; c->name != NULL; c++)
		fprintf(out, "  %s\n", c->usage);
	fprintf(out,
		"\nDURATION: a number and a unit, ms, s, m, h or d; none is seconds\n"
		"(90, 500ms, 30s, 5m, 2h, 1d). TIME: RFC 3339 (2026-11-30T18:00:00Z),\n"
		"or HH:MM on the local clock, the next such time (today or tomorrow).\n"
		"The socket is $ASYNCD_SOCKET, else the daemon's default.\n"
		"-H (or $ASYNCD_HOST): the daemon of HOST, through\n"
		"`ssh -xT [USER@]HOST asyncctl bridge` ($ASYNCCTL_SSH or --ssh: another\n"
		"ssh command, split on spaces); SOCKET or --socket: its socket there.\n"
		"Exit status: 0 every job completed, 1 a job failed, 2 usage error,\n"
		"3 the daemon cannot be reached, 4 the daemon refused the request.\n");
}

int
ctl_usage(const char *command, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "asyncctl%s%s: ", command ? " " : "", command ? command : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'asyncctl --help'.\n");
	return EXIT_USAGE;
}

uint64_t
ctl_parse_id(const char *s)
{
	char *end;
	unsigned long long id;

	if (s == NULL || *s < '1' || *s > '9')
		return 0;
	errno = 0;
	id = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0' && id < INT64_MAX ? id : 0;
}

struct json_object *
ctl_id_params(uint64_t id)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "id", json_object_new_int64((int64_t)id));
	return p;
}

static int
parse_count(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

/* An integer with an optional sign. */
static int
parse_integer(const char *s, long long *out)
{
	char *end;

	if (s == NULL || *s == '\0' || strchr("+-0123456789", *s) == NULL)
		return -1;
	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && end > s ? 0 : -1;
}

/* Adds the ids of LIST (ID,...) to the array *IDS, made if need be. */
static int
parse_ids(struct json_object **ids, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (*ids == NULL)
		*ids = json_object_new_array();
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t id = ctl_parse_id(t);
		if (id == 0) {
			free(copy);
			return -1;
		}
		json_object_array_add(*ids, json_object_new_int64((int64_t)id));
	}
	free(copy);
	return 0;
}

static int
parse_at(struct ctl *ctl, const char *s)
{
	free(ctl->not_before);
	ctl->not_before = when_time(s, time(NULL));
	return ctl->not_before != NULL ? 0 : -1;
}

/* queue --max-running: a count, or "none" (0) for no limit of its own. */
static int
parse_max_running(struct ctl *ctl, const char *s)
{
	if (strcmp(s, "none") == 0) {
		ctl->max_running = 0;
		return 0;
	}
	return parse_count(s, &ctl->max_running);
}

static int
parse_timeout(struct ctl *ctl, const char *s)
{
	char *end;
	double secs;

	errno = 0;
	secs = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(secs > 0) || secs > 9e12)
		return -1;
	ctl->timeout_ms = (long long)(secs * 1000);
	if (ctl->timeout_ms < 1)
		ctl->timeout_ms = 1;
	return 0;
}

static int
parse_env(struct ctl *ctl, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *key;

	if (eq == NULL || eq == kv)
		return -1;
	if (ctl->env == NULL)
		ctl->env = json_object_new_object();
	key = strndup(kv, (size_t)(eq - kv));
	json_object_object_add(ctl->env, key, json_object_new_string(eq + 1));
	free(key);
	return 0;
}

/* What a value of option OPT looks like, for the message on a bad one. */
static const char *
option_hint(int opt)
{
	switch (opt) {
	case OPT_IN:
	case OPT_RETRY_DELAY:
		return " (a DURATION: 90, 500ms, 30s, 5m, 2h, 1d)";
	case OPT_AT:
		return " (a TIME: RFC 3339 such as 2026-11-30T18:00:00Z, or HH:MM)";
	case OPT_AFTER:
	case OPT_AFTER_ANY:
		return " (job ids separated by commas)";
	case OPT_PRIORITY:
		return " (an integer)";
	case OPT_MAX_RUNNING:
		return " (a number, or none)";
	case OPT_RETRY:
	case OPT_MAX_BYTES:
	case OPT_OFFSET:
	case OPT_LENGTH:
	case OPT_LIMIT:
		return " (a number)";
	default:
		return "";
	}
}

/* Applies option OPT; -1 when its value is bad. */
static int
set_option(struct ctl *ctl, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SOCKET: ctl->socket_path = arg; return 0;
	case OPT_JSON: ctl->json = true; return 0;
	case OPT_DETACH: ctl->detach = true; return 0;
	case OPT_LABEL: ctl->label = arg; return 0;
	case OPT_AFTER: return parse_ids(&ctl->after, arg);
	case OPT_TIMEOUT: return parse_timeout(ctl, arg);
	case OPT_OUTPUT: ctl->output = arg; return 0;
	case OPT_SHA256: ctl->sha256 = arg; return 0;
	case OPT_RESUME: ctl->resume = true; return 0;
	case OPT_OVERWRITE: ctl->overwrite = true; return 0;
	case OPT_MAX_BYTES: return parse_count(arg, &ctl->max_bytes);
	case OPT_OFFSET: return parse_count(arg, &ctl->offset);
	case OPT_LENGTH: return parse_count(arg, &ctl->length);
	case OPT_STATE: ctl->state = arg; return 0;
	case OPT_KIND: ctl->kind = arg; return 0;
	case OPT_LIMIT: return parse_count(arg, &ctl->limit);
	case OPT_CWD: ctl->cwd = arg; return 0;
	case OPT_ENV: return parse_env(ctl, arg);
	case OPT_FOLLOW: ctl->follow = true; return 0;
	case OPT_STDIN: ctl->stdin_path = arg; return 0;
	case OPT_QUEUE: ctl->queue = arg; return 0;
	case OPT_PRIORITY: return parse_integer(arg, &ctl->priority);
	case OPT_IN: return when_duration(arg, &ctl->delay_ms);
	case OPT_AT: return parse_at(ctl, arg);
	case OPT_RETRY: return parse_count(arg, &ctl->retry_max);
	case OPT_RETRY_DELAY: return when_duration(arg, &ctl->retry_delay_ms);
	case OPT_AFTER_ANY: return parse_ids(&ctl->after_any, arg);
	case OPT_MAX_RUNNING: return parse_max_running(ctl, arg);
	case OPT_FAILED: ctl->failed = true; return 0;
	case OPT_TEXTFILE: ctl->textfile = arg; return 0;
	case OPT_HOST: ctl->host = arg; return 0;
	case OPT_SSH: ctl->ssh = arg; return 0;
	default: return -1;
	}
}

struct client *
ctl_open(struct ctl *ctl)
{
	pid_t pid;
	int fd;

	if (ctl->remote == NULL)
		return client_connect(ctl->socket_path);
	if ((fd = remote_spawn(ctl->remote, &pid)) < 0)
		return NULL;
	return client_open_child(fd, pid);
}

struct client *
ctl_connect(struct ctl *ctl)
{
	if (ctl->conn != NULL)
		return ctl->conn;
	ctl->conn = ctl_open(ctl);
	if (ctl->conn == NULL && ctl->remote != NULL) {
		fprintf(stderr, "asyncctl: cannot run %s: %s\n",
			ctl->remote->argv[0], strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	if (ctl->conn == NULL) {
		fprintf(stderr, "asyncctl: cannot reach asyncd at %s: %s\n",
			ctl->socket_path, strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	return ctl->conn;
}

void
ctl_lost(struct ctl *ctl)
{
	int st;

	if (ctl->remote == NULL || ctl->conn == NULL) {
		fprintf(stderr, "asyncctl: lost the connection to asyncd\n");
		return;
	}
	/* ssh has said why on stderr: 255 is ssh's own failure, 3 the
	 * daemon unreachable there, 127 no asyncctl there. */
	st = client_child_status(ctl->conn);
	if (!client_answered(ctl->conn))
		fprintf(stderr, "asyncctl: cannot reach asyncd on %s: "
				"%s exited with status %d\n",
			ctl->remote->dest, ctl->remote->argv[0], st);
	else
		fprintf(stderr, "asyncctl: lost the connection to asyncd on %s "
				"(%s exited with status %d)\n",
			ctl->remote->dest, ctl->remote->argv[0], st);
}

struct json_object *
ctl_call(struct ctl *ctl, const char *method, struct json_object *params,
	 int *status)
{
	struct json_object *response =
		client_call(ctl_connect(ctl), method, params);

	if (response == NULL) {
		ctl_lost(ctl);
		*status = EXIT_UNREACHABLE;
		return NULL;
	}
	if (ctl->json)
		render_json_line(stdout, response);
	if (client_error_code(response) != 0) {
		if (!ctl->json)
			render_rpc_error(stderr, response);
		json_object_put(response);
		*status = EXIT_REFUSED;
		return NULL;
	}
	*status = EXIT_OK;
	return response;
}

static void
ctl_free(struct ctl *ctl)
{
	client_close(ctl->conn);
	if (ctl->remote != NULL)
		remote_free(ctl->remote);
	free(ctl->remote);
	json_object_put(ctl->after);
	json_object_put(ctl->after_any);
	json_object_put(ctl->env);
	free(ctl->not_before);
}

/* The command named at OPTIND, in *CMD, when it takes every option
 * given; else a usage error. */
static int
check_command(struct ctl *ctl, int argc, char **argv,
	      const struct ctl_command **cmd)
{
	const struct ctl_command *c;
	unsigned long long stray;

	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (c = ctl_commands; c->name != NULL; c++)
		if (strcmp(c->name, argv[optind]) == 0)
			break;
	if (c->name == NULL)
		return ctl_usage(NULL, "unknown command: %s", argv[optind]);
	stray = ctl->given & ~(c->options | OPTBIT(OPT_SOCKET) | OPTBIT(OPT_JSON) |
			       OPTBIT(OPT_HOST) | OPTBIT(OPT_SSH));
	for (int o = 0; stray != 0; o++, stray >>= 1)
		if (stray & 1)
			return ctl_usage(c->name, "--%s does not apply",
					 longopts[o].name);
	*cmd = c;
	return EXIT_OK;
}

/* -H or $ASYNCD_HOST (empty: this host), and --ssh or $ASYNCCTL_SSH:
 * the ssh command line of another host's daemon; a usage error when
 * they cannot make one. */
static int
resolve_remote(struct ctl *ctl)
{
	const char *why;

	if (!ctl_given(ctl, OPT_HOST))
		ctl->host = getenv("ASYNCD_HOST");
	if (ctl->host == NULL || *ctl->host == '\0') {
		ctl->host = NULL;
		if (ctl_given(ctl, OPT_SSH))
			return ctl_usage(NULL, "--ssh applies to a daemon on "
					 "another host: -H or $ASYNCD_HOST");
		return EXIT_OK;
	}
	if (!ctl_given(ctl, OPT_SSH))
		ctl->ssh = getenv("ASYNCCTL_SSH");
	if (ctl->ssh == NULL || *ctl->ssh == '\0')
		ctl->ssh = "ssh";
	if ((ctl->remote = malloc(sizeof *ctl->remote)) == NULL)
		abort();
	/* --socket names the socket on that host (the local default and
	 * $ASYNCD_SOCKET say nothing of it). */
	why = remote_init(ctl->remote, ctl->host,
			  ctl_given(ctl, OPT_SOCKET) ? ctl->socket_path : NULL,
			  ctl->ssh);
	if (why != NULL) {
		free(ctl->remote);
		ctl->remote = NULL;
		return ctl_usage(NULL, "-H %s: %s", ctl->host, why);
	}
	return EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ctl ctl = {.limit = -1, .offset = -1, .length = -1, .max_bytes = -1,
			  .delay_ms = -1, .retry_max = -1, .retry_delay_ms = -1,
			  .max_running = -1};
	const struct ctl_command *cmd = NULL;
	char *default_socket = NULL;
	int opt, status;

	/* Options may stand before or after the command; "--" ends them, so
	 * that `process -- ls -l` keeps -l for ls. */
	while ((opt = getopt_long(argc, argv, "fhH:o:V", longopts, NULL)) != -1) {
		if (opt == 'h' || opt == 'V') {
			if (opt == 'h')
				usage(stdout);
			else
				printf("asyncctl %s (protocol %d)\n",
				       PACKAGE_VERSION, PROTO_VERSION);
			ctl_free(&ctl);
			return EXIT_OK;
		}
		if (opt == 'o')
			opt = OPT_OUTPUT;
		if (opt == 'f')
			opt = OPT_FOLLOW;
		if (opt == 'H')
			opt = OPT_HOST;
		if (opt == '?') {
			ctl_free(&ctl);
			return ctl_usage(NULL, "bad option");
		}
		if (set_option(&ctl, opt, optarg) < 0) {
			status = ctl_usage(NULL, "bad value for --%s: %s%s",
					   longopts[opt].name,
					   optarg ? optarg : "",
					   option_hint(opt));
			ctl_free(&ctl);
			return status;
		}
		ctl.given |= OPTBIT(opt);
	}
	if ((status = check_command(&ctl, argc, argv, &cmd)) != EXIT_OK) {
		ctl_free(&ctl);
		return status;
	}
	/* The bridge is what -H runs: always this host's daemon. */
	if (cmd->run != cmd_bridge &&
	    (status = resolve_remote(&ctl)) != EXIT_OK) {
		ctl_free(&ctl);
		return status;
	}
	if (ctl.socket_path == NULL)
		ctl.socket_path = getenv("ASYNCD_SOCKET");
	if (ctl.socket_path == NULL || *ctl.socket_path == '\0')
		ctl.socket_path = default_socket = proto_default_socket();
	status = cmd->run(&ctl, argc - optind - 1, argv + optind + 1);
	ctl_free(&ctl);
	free(default_socket);
	return status;
}
