/* A process job's args: what a client may ask for (argv, cwd, env,
 * stdin), and the environment the program runs with: a minimal one, the
 * args' variables over it, and ASYNCD_PROGRESS_FD naming the progress
 * channel (see spawn.h), which the args may not set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../params.h"
#include "args.h"
#include "../../spawn.h"
#include "../../xmalloc.h"

#define PROCESS_PROGRESS_VAR "ASYNCD_PROGRESS_FD"
#define PROCESS_PATH_USER "/usr/local/bin:/usr/bin:/bin"
#define PROCESS_PATH_ROOT \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROCESS_LANG "C.UTF-8"

/* ---- Validation --------------------------------------------------------- */

static int
process_args_check_argv(struct json_object *args, struct param_error *err)
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
process_args_env_field(char *buf, size_t size, const char *name)
{
	char shown[40];
	size_t n = 0;

	for (const char *k = name; *k != '\0' && n < sizeof shown - 1; k++)
		shown[n++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
	shown[n] = '\0';
	snprintf(buf, size, "args.env.%s", shown);
}

static int
process_args_check_env(struct json_object *env, struct param_error *err)
{
	char field[64];

	json_object_object_foreach(env, key, val) {
		process_args_env_field(field, sizeof field, key);
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

int
process_args_validate(struct json_object *args, struct param_error *err)
{
	static const char *const allowed[] = {"argv", "cwd", "env", "stdin",
					      NULL};
	struct json_object *env = NULL;
	const char *path;

	if (params_only(args, "args.", allowed, err) < 0 ||
	    process_args_check_argv(args, err) < 0 ||
	    params_path(args, "args.", "cwd", false, &path, err) < 0 ||
	    params_object(args, "args.", "env", false, &env, err) < 0 ||
	    (env != NULL && process_args_check_env(env, err) < 0) ||
	    params_path(args, "args.", "stdin", false, &path, err) < 0)
		return -1;
	return 0;
}

/* ---- The environment ---------------------------------------------------- */

char *
process_args_var(const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);
	char *s = xmalloc(klen + 1 + vlen + 1);

	memcpy(s, key, klen);
	s[klen] = '=';
	memcpy(s + klen + 1, value, vlen + 1);
	return s;
}

/* Sets VAR ("K=V", taken) in ENVP (room for it), replacing a K there. */
static void
process_args_env_set(char **envp, size_t *n, char *var)
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

char **
process_args_environment(char *const *env, uid_t uid, const char *home,
			 const char *user)
{
	size_t nenv = 0, n = 0;
	char **envp, fd[16];

	while (env[nenv] != NULL)
		nenv++;
	envp = xcalloc(nenv + 6, sizeof *envp);
	envp[n++] = process_args_var("PATH", uid == 0 ? PROCESS_PATH_ROOT
						       : PROCESS_PATH_USER);
	envp[n++] = process_args_var("HOME", home);
	envp[n++] = process_args_var("USER", user);
	envp[n++] = process_args_var("LANG", PROCESS_LANG);
	for (size_t i = 0; i < nenv; i++)
		process_args_env_set(envp, &n, xstrdup(env[i]));
	snprintf(fd, sizeof fd, "%d", SPAWN_PROGRESS_FD);
	envp[n++] = process_args_var(PROCESS_PROGRESS_VAR, fd);
	return envp;
}
