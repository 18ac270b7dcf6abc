/* One command per job kind: each turns its arguments into the kind's args
 * and submits through ctl_run_jobs(); and how each kind's jobs are shown
 * when followed (ctl_kind_ui). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "remote.h"
#include "render.h"

static void
sleep_completed(struct ctl *ctl UNUSED, uint64_t id, struct json_object *result)
{
	printf("job %" PRIu64 " completed: slept %" PRId64 " ms\n", id,
	       json_object_get_int64(render_get(result, "slept_ms")));
}

static const struct kind_ui sleep_ui = {sleep_completed, false};

int
cmd_sleep(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *args;
	char *end;
	long long ms;

	if (argc != 1)
		return ctl_usage("sleep", "expected MS");
	errno = 0;
	ms = strtoll(argv[0], &end, 10);
	if (errno != 0 || *end != '\0' || end == argv[0] || ms < 0)
		return ctl_usage("sleep", "not a number of milliseconds: %s", argv[0]);
	args = json_object_new_object();
	json_object_object_add(args, "ms", json_object_new_int64(ms));
	return ctl_run_jobs(ctl, "sleep", &args, 1, &sleep_ui);
}

/* ARG as an absolute path, in *PATH (malloc'd): a relative one is taken
 * from the working directory (the daemon has its own), and NULL is the
 * working directory itself. With -H the daemon is on another host, of
 * whose files this one's working directory says nothing: a relative ARG
 * is a usage error there, and NULL stays NULL (the daemon's default).
 * EXIT_USAGE after a message when it cannot be made. */
static int
absolute_path(struct ctl *ctl, const char *cmd, const char *arg, char **path)
{
	char *cwd;

	*path = NULL;
	if (arg != NULL && arg[0] == '/') {
		*path = strdup(arg);
		return EXIT_OK;
	}
	if (ctl->remote != NULL && arg == NULL)
		return EXIT_OK;
	if (ctl->remote != NULL)
		return ctl_usage(cmd, "%s: a path on %s must be absolute", arg,
				 ctl->remote->dest);
	if ((cwd = getcwd(NULL, 0)) == NULL)
		goto fail;
	if (arg == NULL) {
		*path = cwd;
		return EXIT_OK;
	}
	if (asprintf(path, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
		     arg) < 0)
		*path = NULL;
	free(cwd);
	if (*path != NULL)
		return EXIT_OK;
fail:
	fprintf(stderr, "asyncctl %s: %s: %s\n", cmd,
		arg != NULL ? arg : "the working directory", strerror(errno));
	return EXIT_USAGE;
}

/* Only the bytes go to stdout; a progress bar (stderr) only when they do
 * not go to the terminal. */
static const struct kind_ui *
read_file_ui(void)
{
	static const struct kind_ui quiet = {NULL, false};
	static const struct kind_ui bar = {NULL, true};

	return isatty(STDOUT_FILENO) ? &quiet : &bar;
}

int
cmd_read_file(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *args;
	char *path;
	int status;

	if (argc != 1)
		return ctl_usage("read-file", "expected PATH");
	if ((status = absolute_path(ctl, "read-file", argv[0], &path)) != EXIT_OK)
		return status;
	args = json_object_new_object();
	json_object_object_add(args, "path", json_object_new_string(path));
	free(path);
	if (ctl->offset >= 0)
		json_object_object_add(args, "offset",
				       json_object_new_int64(ctl->offset));
	if (ctl->length >= 0)
		json_object_object_add(args, "length",
				       json_object_new_int64(ctl->length));
	return ctl_run_jobs(ctl, "read-file", &args, 1, read_file_ui());
}

/* Member KEY of a fetch-user result, as text. */
static const char *
fetch_user_text(struct json_object *result, const char *key)
{
	return json_object_get_string(render_get(result, key));
}

static void
fetch_user_completed(struct ctl *ctl UNUSED, uint64_t id UNUSED, struct json_object *result)
{
	struct json_object *groups = render_get(result, "groups");
	size_t n = groups != NULL ? json_object_array_length(groups) : 0;

	printf("name:   %s\n", fetch_user_text(result, "name"));
	printf("uid:    %s\n", fetch_user_text(result, "uid"));
	printf("gid:    %s\n", fetch_user_text(result, "gid"));
	printf("gecos:  %s\n", fetch_user_text(result, "gecos"));
	printf("home:   %s\n", fetch_user_text(result, "home"));
	printf("shell:  %s\n", fetch_user_text(result, "shell"));
	printf("groups:");
	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(groups, i);
		printf(" %s", fetch_user_text(g, "gid"));
		if (render_get(g, "name") != NULL)
			printf("(%s)", fetch_user_text(g, "name"));
	}
	printf("\n");
}

static const struct kind_ui fetch_user_ui = {fetch_user_completed, false};

int
cmd_fetch_user(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *args;
	const char *arg;
	char *end;
	long long uid;

	if (argc != 1 || *argv[0] == '\0')
		return ctl_usage("fetch-user", "expected UID or NAME");
	arg = argv[0];
	args = json_object_new_object();
	if (strspn(arg, "0123456789") == strlen(arg)) {
		/* All digits: a uid (the daemon checks the range). */
		errno = 0;
		uid = strtoll(arg, &end, 10);
		if (errno != 0) {
			json_object_put(args);
			return ctl_usage("fetch-user", "not a uid: %s", arg);
		}
		json_object_object_add(args, "uid", json_object_new_int64(uid));
	} else {
		json_object_object_add(args, "name", json_object_new_string(arg));
	}
	return ctl_run_jobs(ctl, "fetch-user", &args, 1, &fetch_user_ui);
}

/* The program's output is all a completed job shows. */
static const struct kind_ui process_ui = {NULL, false};

int
cmd_process(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *args, *array;
	char *cwd, *in = NULL;
	int status;

	if (argc < 1 || *argv[0] == '\0')
		return ctl_usage("process", "expected -- PROGRAM [ARG...]");
	if ((status = absolute_path(ctl, "process", ctl->cwd, &cwd)) != EXIT_OK)
		return status;
	if (ctl->stdin_path != NULL &&
	    (status = absolute_path(ctl, "process", ctl->stdin_path, &in)) !=
		    EXIT_OK) {
		free(cwd);
		return status;
	}
	args = json_object_new_object();
	array = json_object_new_array();
	for (int i = 0; i < argc; i++)
		json_object_array_add(array, json_object_new_string(argv[i]));
	json_object_object_add(args, "argv", array);
	if (cwd != NULL)
		json_object_object_add(args, "cwd", json_object_new_string(cwd));
	if (ctl->env != NULL)
		json_object_object_add(args, "env", json_object_get(ctl->env));
	if (in != NULL)
		json_object_object_add(args, "stdin", json_object_new_string(in));
	free(cwd);
	free(in);
	return ctl_run_jobs(ctl, "process", &args, 1, &process_ui);
}

/* Prints where a download was saved (nothing for one sent to stdout). */
static void
download_completed(struct ctl *ctl UNUSED, uint64_t id UNUSED, struct json_object *result)
{
	struct json_object *path = render_get(result, "path");

	if (path != NULL)
		printf("%s\n", json_object_get_string(path));
}

/* The args of one download of URL to DEST (NULL: the daemon's default). */
static struct json_object *
download_args(struct ctl *ctl, const char *url, const char *dest, bool stream)
{
	struct json_object *args = json_object_new_object();

	json_object_object_add(args, "url", json_object_new_string(url));
	if (dest != NULL)
		json_object_object_add(args, "dest", json_object_new_string(dest));
	if (stream)
		json_object_object_add(args, "stream", json_object_new_boolean(true));
	if (ctl->sha256 != NULL)
		json_object_object_add(args, "sha256",
				       json_object_new_string(ctl->sha256));
	if (ctl->resume)
		json_object_object_add(args, "resume", json_object_new_boolean(true));
	if (ctl->overwrite)
		json_object_object_add(args, "overwrite",
				       json_object_new_boolean(true));
	if (ctl->max_bytes >= 0)
		json_object_object_add(args, "max_bytes",
				       json_object_new_int64(ctl->max_bytes));
	return args;
}

static const struct kind_ui download_ui = {download_completed, true};

int
cmd_download(struct ctl *ctl, int argc, char **argv)
{
	bool stream = ctl->output != NULL && strcmp(ctl->output, "-") == 0;
	struct json_object **args;
	char *dest = NULL;
	int status;

	if (argc < 1)
		return ctl_usage("download", "expected URL...");
	if (argc > 1 && (stream || ctl->sha256 != NULL))
		return ctl_usage("download", "%s takes a single URL",
				 stream ? "-o -" : "--sha256");
	if (ctl->output != NULL && !stream &&
	    (status = absolute_path(ctl, "download", ctl->output, &dest)) !=
		    EXIT_OK)
		return status;
	args = calloc((size_t)argc, sizeof *args);
	if (args == NULL) {
		free(dest);
		return ctl_usage("download", "out of memory");
	}
	for (int i = 0; i < argc; i++)
		args[i] = download_args(ctl, argv[i], dest, stream);
	status = ctl_run_jobs(ctl, "download", args, (size_t)argc, &download_ui);
	free(args);
	free(dest);
	return status;
}

/* A completed job of a kind this client does not know: its result. */
static void
generic_completed(struct ctl *ctl UNUSED, uint64_t id, struct json_object *result)
{
	printf("job %" PRIu64 " completed: %s\n", id,
	       json_object_to_json_string_ext(result, JSON_C_TO_STRING_PLAIN));
}

const struct kind_ui *
ctl_kind_ui(const char *kind)
{
	static const struct kind_ui generic = {generic_completed, false};
	static const struct {
		const char *kind;
		const struct kind_ui *ui;
	} uis[] = {
		{"sleep", &sleep_ui},
		{"download", &download_ui},
		{"fetch-user", &fetch_user_ui},
		{"process", &process_ui},
	};

	if (kind != NULL && strcmp(kind, "read-file") == 0)
		return read_file_ui();
	for (size_t i = 0; kind != NULL && i < sizeof uis / sizeof uis[0]; i++)
		if (strcmp(kind, uis[i].kind) == 0)
			return uis[i].ui;
	return &generic;
}
