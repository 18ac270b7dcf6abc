/* A process job's args: checked at submit, and the environment the
 * program gets from them. */
#ifndef ASYNCD_PROCESS_ARGS_H
#define ASYNCD_PROCESS_ARGS_H

#include <sys/types.h>

#include "../../job-kind.h"

struct json_object;

/* The kind's validate: argv, cwd, env (never the progress variable) and
 * stdin. */
int process_args_validate(struct json_object *args, struct param_error *err);
/* "KEY=VALUE", allocated. */
char *process_args_var(const char *key, const char *value);
/* The program's environment, NULL-terminated and allocated: PATH (for
 * UID), HOME, USER and LANG, then ENV's "K=V" (replacing those), then the
 * progress channel's variable. */
char **process_args_environment(char *const *env, uid_t uid,
				const char *home, const char *user);

#endif
