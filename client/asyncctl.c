/* asyncctl: parse the command line, run one command from the table. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/proto.h"
#include "asyncctl.h"
#include "connection.h"
#include "render.h"

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
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void
usage(FILE *out)
{
	fprintf(out,
		"Usage: asyncctl [--socket PATH] [--json] [--detach] [--label TEXT]\n"
		"                [--after ID,...] [--timeout SECONDS] COMMAND ...\n\n"
		"Commands:\n");
	for (const struct ctl_command *c = ctl_commands; c->name != NULL; c++)
		fprintf(out, "  %s\n", c->usage);
	fprintf(out,
		"\nThe socket is $ASYNCD_SOCKET, else the daemon's default.\n"
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

static int
parse_after(struct ctl *ctl, const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (ctl->after == NULL)
		ctl->after = json_object_new_array();
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint64_t id = ctl_parse_id(t);
		if (id == 0) {
			free(copy);
			return -1;
		}
		json_object_array_add(ctl->after, json_object_new_int64((int64_t)id));
	}
	free(copy);
	return 0;
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

/* Applies option OPT; -1 when its value is bad. */
static int
set_option(struct ctl *ctl, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SOCKET: ctl->socket_path = arg; return 0;
	case OPT_JSON: ctl->json = true; return 0;
	case OPT_DETACH: ctl->detach = true; return 0;
	case OPT_LABEL: ctl->label = arg; return 0;
	case OPT_AFTER: return parse_after(ctl, arg);
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
	default: return -1;
	}
}

struct client *
ctl_connect(struct ctl *ctl)
{
	if (ctl->conn != NULL)
		return ctl->conn;
	ctl->conn = client_connect(ctl->socket_path);
	if (ctl->conn == NULL) {
		fprintf(stderr, "asyncctl: cannot reach asyncd at %s: %s\n",
			ctl->socket_path, strerror(errno));
		exit(EXIT_UNREACHABLE);
	}
	return ctl->conn;
}

struct json_object *
ctl_call(struct ctl *ctl, const char *method, struct json_object *params,
	 int *status)
{
	struct json_object *response =
		client_call(ctl_connect(ctl), method, params);

	if (response == NULL) {
		fprintf(stderr, "asyncctl: lost the connection to asyncd\n");
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
	json_object_put(ctl->after);
	json_object_put(ctl->env);
}

int
main(int argc, char **argv)
{
	struct ctl ctl = {.limit = -1, .offset = -1, .length = -1, .max_bytes = -1};
	const struct ctl_command *cmd;
	char *default_socket = NULL;
	int opt, status;

	/* Options may stand before or after the command; "--" ends them, so
	 * that `process -- ls -l` keeps -l for ls. */
	while ((opt = getopt_long(argc, argv, "fho:V", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return EXIT_OK;
		}
		if (opt == 'V') {
			printf("asyncctl %s (protocol %d)\n", PACKAGE_VERSION, PROTO_VERSION);
			return EXIT_OK;
		}
		if (opt == 'o')
			opt = OPT_OUTPUT;
		if (opt == 'f')
			opt = OPT_FOLLOW;
		if (opt == '?')
			return ctl_usage(NULL, "bad option");
		if (set_option(&ctl, opt, optarg) < 0)
			return ctl_usage(NULL, "bad value for --%s: %s",
					 longopts[opt].name, optarg ? optarg : "");
		ctl.given |= OPTBIT(opt);
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (cmd = ctl_commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[optind]) == 0)
			break;
	if (cmd->name == NULL)
		return ctl_usage(NULL, "unknown command: %s", argv[optind]);
	unsigned stray = ctl.given & ~(cmd->options | OPTBIT(OPT_SOCKET) | OPTBIT(OPT_JSON));
	for (int o = 0; stray != 0; o++, stray >>= 1)
		if (stray & 1)
			return ctl_usage(cmd->name, "--%s does not apply", longopts[o].name);

	if (ctl.socket_path == NULL)
		ctl.socket_path = getenv("ASYNCD_SOCKET");
	if (ctl.socket_path == NULL || *ctl.socket_path == '\0')
		ctl.socket_path = default_socket = proto_default_socket();
	status = cmd->run(&ctl, argc - optind - 1, argv + optind + 1);
	ctl_free(&ctl);
	free(default_socket);
	return status;
}
