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
#include "../../spawn.h"
#include "../../xmalloc.h"
#include "args.h"

#define PROCESS_PROGRESS_VAR "ASYNCD_PROGRESS_FD"
#define PROCESS_PATH_USER "/usr/local/bin:/usr/bin:/bin"
#define PROCESS_PATH_ROOT \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PROCESS_LANG "C.UTF-8"

/* ---- Validation --------------------------------------------------------- */

/* argv: a non-empty array of strings, the first not empty. */
static int
process_args_check_argv(struct json_object *argv, const char *field,
			struct param_error *err)
{
	struct json_object *v;
	char item[64];
	size_t n;

	if (!json_object_is_type(argv, json_type_array) ||
	    (n = json_object_array_length(argv)) == 0)
		return param_fail(err, field,
				  "must be a non-empty array of strings");
	for (size_t i = 0; i < n; i++) {
		v = json_object_array_get_idx(argv, i);
		snprintf(item, sizeof item, "%s.%zu", field, i);
		if (!json_object_is_type(v, json_type_string))
			return param_fail(err, item, "must be a string");
		if (strlen(json_object_get_string(v)) !=
		    (size_t)json_object_get_string_len(v))
			return param_fail(err, item, "contains a NUL character");
		if (i == 0 && json_object_get_string_len(v) == 0)
			return param_fail(err, item, "must not be empty");
	}
	return 0;
}

/* "FIELD.NAME", NAME shortened to a printable piece. */
static void
process_args_env_field(char *buf, size_t size, const char *field,
		       const char *name)
{
	char shown[40];
	size_t n = 0;

	for (const char *k = name; *k != '\0' && n < sizeof shown - 1; k++)
		shown[n++] = (*k >= 0x20 && *k < 0x7f) ? *k : '?';
	shown[n] = '\0';
	snprintf(buf, size, "%s.%s", field, shown);
}

/* env: variables the program may get, each a string; never the progress
 * channel's. */
static int
process_args_check_env(struct json_object *env, const char *field,
		       struct param_error *err)
{
	char var[64];

	json_object_object_foreach(env, key, val) {
		process_args_env_field(var, sizeof var, field, key);
		if (*key == '\0' || strchr(key, '=') != NULL)
			return param_fail(err, var, "not a variable name");
		if (strcmp(key, PROCESS_PROGRESS_VAR) == 0)
			return param_fail(err, var,
					  "reserved for the progress channel");
		if (!json_object_is_type(val, json_type_string))
			return param_fail(err, var, "must be a string");
		if (strlen(json_object_get_string(val)) !=
		    (size_t)json_object_get_string_len(val))
			return param_fail(err, var, "contains a NUL character");
	}
	return 0;
}

/* The args as process_args_fields reads them (argv is only checked). */
struct process_args {
	const char *cwd, *stdin_path;
	struct json_object *env;
};

static const struct param_field process_args_fields[] = {
	{PARAM_ANY("argv"), .required = true,
	 .check = process_args_check_argv},
	{PARAM_PATH("cwd", struct process_args, cwd)},
	{PARAM_OBJECT("env", struct process_args, env),
	 .check = process_args_check_env},
	{PARAM_PATH("stdin", struct process_args, stdin_path)},
	PARAM_END,
};

int
process_args_validate(struct json_object *args, struct param_error *err)
{
	struct process_args a;

	return params_read(args, "args.", process_args_fields, &a, err);
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
