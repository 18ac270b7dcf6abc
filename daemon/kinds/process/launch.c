/* A process job's start on the worker pool (see launch.h). The
 * loop never waits for NSS or for an exec.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../../pool.h"
#include "../../userdb.h"
#include "../../xmalloc.h"
#include "args.h"
#include "launch.h"

/* ---- The work item ------------------------------------------------------ */

static char *
process_spawn_arg(struct json_object *args, const char *name,
		  const char *fallback)
{
	struct json_object *v;

	if (json_object_object_get_ex(args, name, &v))
		return xstrdup(json_object_get_string(v));
	return xstrdup(fallback);
}

struct process_spawn *
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
			s->env[k++] = process_args_var(
				key, json_object_get_string(val));
	} else {
		s->env = xcalloc(1, sizeof *s->env);
	}
	s->cwd = process_spawn_arg(args, "cwd", "/");
	s->stdin_path = process_spawn_arg(args, "stdin", "/dev/null");
	return s;
}

void
process_spawn_free(struct process_spawn *s)
{
	spawn_strv_free(s->argv);
	spawn_strv_free(s->env);
	free(s->cwd);
	free(s->stdin_path);
	free(s);
}

static const char *
process_spawn_env_get(char *const *envp, const char *key)
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
	envp = process_args_environment(s->env, s->uid,
					u != NULL ? u->home : "/",
					u != NULL ? u->name : uidbuf);
	paths = spawn_search_list(s->argv[0],
				  process_spawn_env_get(envp, "PATH"));
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

/* The groups are those the user database gives the user (just the peer's
 * gid without an entry), as identity.c does for file access. */
void
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
process_spawn_fail_exec(struct job *job, const char *program, int err)
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

void
process_spawn_fail(struct job *job, const struct process_spawn *s)
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
		process_spawn_fail_exec(job, s->argv[0], err);
		break;
	}
}
