/* fetch-user: one user's passwd entry and groups, looked up on the worker
 * pool (NSS may block). The work fills plain C data; the loop turns it
 * into the result.
 *
 * The look-up is short and cannot be stopped half-way: job.pause lets it
 * finish, and an answer that comes while the job is paused is held until
 * job.resume, which delivers it on the next turn of the loop (ending the
 * job inside the pause hook would pull it from under jobs.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../../kinds.h"
#include "../../log.h"
#include "../../msgids.h"
#include "../../params.h"
#include "../../pool.h"
#include "../../userdb.h"
#include "../../xmalloc.h"
#include "user-cache.h"

#define FETCH_USER_UID_MAX 4294967294LL /* (uid_t)-1 is no uid */
#define FETCH_USER_NAME_MAX 256

struct fetch_user {
	struct job *job; /* NULL once the job ended */
	struct pool_work *work;   /* NULL once the answer came */
	struct event *deliver_ev; /* delivers an answer held by job.pause */
	char *name; /* look up by name, or by uid when NULL */
	uid_t uid;
	/* The answer. */
	int err; /* 0, ENOENT: no such user, or the database's errno */
	struct userdb_user user;
	gid_t *groups;
	size_t ngroups;
	char **group_names; /* NULL entries for groups without a name */
	struct user_cache_stamp stamp; /* the database when the look-up began */
};

/* The args as fetch_user_fields reads them. */
struct fetch_user_args {
	int64_t uid; /* -1: not given */
	const char *name;
};

static const struct param_field fetch_user_fields[] = {
	{PARAM_INT("uid", struct fetch_user_args, uid), .min = 0,
	 .max = FETCH_USER_UID_MAX},
	{PARAM_STRING("name", struct fetch_user_args, name),
	 .max_len = FETCH_USER_NAME_MAX},
	PARAM_END,
};

/* The table, then exactly one of uid and name. */
static int
fetch_user_validate(struct json_object *args, struct param_error *err)
{
	struct fetch_user_args a = {.uid = -1, .name = NULL};

	if (params_read(args, "args.", fetch_user_fields, &a, err) < 0)
		return -1;
	if (a.uid >= 0 && a.name != NULL)
		return param_fail(err, "args.name",
				  "give either uid or name, not both");
	if (a.uid < 0 && a.name == NULL)
		return param_fail(err, "args.uid", "required: uid or name");
	if (a.name != NULL && *a.name == '\0')
		return param_fail(err, "args.name", "must not be empty");
	return 0;
}

static void
fetch_user_free(struct fetch_user *fu)
{
	for (size_t i = 0; fu->group_names != NULL && i < fu->ngroups; i++)
		free(fu->group_names[i]);
	free(fu->group_names);
	free(fu->groups);
	userdb_user_free(&fu->user);
	free(fu->name);
	if (fu->deliver_ev != NULL)
		event_free(fu->deliver_ev);
	free(fu);
}

/* Worker: the passwd entry, the group list, the groups' names. */
static void
fetch_user_work(struct pool_work *w, void *arg)
{
	struct fetch_user *fu = arg;

	fu->err = fu->name != NULL ? userdb_by_name(fu->name, &fu->user)
				   : userdb_by_uid(fu->uid, &fu->user);
	if (fu->err != 0 || pool_cancelled(w))
		return;
	fu->err = userdb_grouplist(fu->user.name, fu->user.gid, &fu->groups,
				   &fu->ngroups);
	if (fu->err != 0)
		return;
	fu->group_names = xcalloc(fu->ngroups, sizeof *fu->group_names);
	for (size_t i = 0; i < fu->ngroups && !pool_cancelled(w); i++)
		fu->group_names[i] = userdb_group_name(fu->groups[i]);
}

/* Adds string member KEY to OBJ. */
static void
fetch_user_add(struct json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, json_object_new_string(value));
}

static struct json_object *
fetch_user_result(const struct fetch_user *fu)
{
	struct json_object *r = json_object_new_object();
	struct json_object *groups = json_object_new_array();

	json_object_object_add(r, "uid", json_object_new_int64(fu->user.uid));
	json_object_object_add(r, "gid", json_object_new_int64(fu->user.gid));
	fetch_user_add(r, "name", fu->user.name);
	fetch_user_add(r, "gecos", fu->user.gecos);
	fetch_user_add(r, "home", fu->user.home);
	fetch_user_add(r, "shell", fu->user.shell);
	for (size_t i = 0; i < fu->ngroups; i++) {
		struct json_object *g = json_object_new_object();
		const char *name = fu->group_names[i];
		json_object_object_add(g, "gid",
				       json_object_new_int64(fu->groups[i]));
		if (name != NULL)
			fetch_user_add(g, "name", name);
		else
			json_object_object_add(g, "name", NULL);
		json_object_array_add(groups, g);
	}
	json_object_object_add(r, "groups", groups);
	return r;
}

/* Fails JOB for FU's error: no such user, or the database failed. */
static void
fetch_user_fail(struct job *job, const struct fetch_user *fu)
{
	char msg[FETCH_USER_NAME_MAX + 64];

	if (fu->err != ENOENT) {
		job_fail_errno(job, fu->err, "user database");
		return;
	}
	if (fu->name != NULL)
		snprintf(msg, sizeof msg, "no user named %s", fu->name);
	else
		snprintf(msg, sizeof msg, "no user with uid %u",
			 (unsigned)fu->uid);
	job_fail(job, JOBERR_NO_SUCH_USER, msg, NULL);
}

/* Ends the job with the answer and frees FU. */
static void
fetch_user_deliver(struct fetch_user *fu)
{
	struct job *job = fu->job;

	job->priv = NULL;
	if (fu->err != 0) {
		fetch_user_fail(job, fu);
	} else {
		struct json_object *result = fetch_user_result(fu);
		user_cache_put(&fu->stamp, result);
		job_complete(job, result);
	}
	fetch_user_free(fu);
}

static void
fetch_user_done(void *arg, bool cancelled)
{
	struct fetch_user *fu = arg;
	struct job *job = fu->job;

	fu->work = NULL;
	if (job == NULL) {
		fetch_user_free(fu);
	} else if (cancelled) {
		job->priv = NULL;
		fetch_user_free(fu);
		job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
	} else if (!job->paused) {
		fetch_user_deliver(fu);
	} else {
		/* fetch_user_pause() delivers it at job.resume. */
		job_log(job, LOG_DEBUG, MSGID_JOB, "paused: answer held");
	}
}

static void
fetch_user_deliver_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct fetch_user *fu = arg;

	if (!fu->job->paused)
		fetch_user_deliver(fu);
}

/* Nothing to stop; a held answer goes out once the job is resumed. */
static void
fetch_user_pause(struct job *job, bool paused)
{
	struct fetch_user *fu = job->priv;

	if (fu == NULL || fu->work != NULL)
		return;
	if (fu->deliver_ev == NULL)
		fu->deliver_ev = evtimer_new(daemon_base, fetch_user_deliver_cb,
					     fu);
	if (paused)
		event_del(fu->deliver_ev);
	else
		event_active(fu->deliver_ev, EV_TIMEOUT, 1);
}

static void
fetch_user_start(struct job *job, struct json_object *args)
{
	struct fetch_user *fu = xcalloc(1, sizeof *fu);
	struct json_object *v, *cached;

	if (json_object_object_get_ex(args, "name", &v))
		fu->name = xstrdup(json_object_get_string(v));
	else if (json_object_object_get_ex(args, "uid", &v))
		fu->uid = (uid_t)json_object_get_int64(v);
	if ((cached = user_cache_get(fu->name, fu->uid)) != NULL) {
		fetch_user_free(fu);
		job_complete(job, cached);
		return;
	}
	user_cache_stamp(&fu->stamp);
	fu->job = job;
	job->priv = fu;
	fu->work = pool_submit(fetch_user_work, fetch_user_done, fu);
}

/* Lets go of JOB; the look-up, if running, finishes on its own and its
 * done function only frees. A held answer goes now. */
static void
fetch_user_release(struct job *job)
{
	struct fetch_user *fu = job->priv;

	fu->job = NULL;
	job->priv = NULL;
	if (fu->work != NULL)
		pool_cancel(fu->work);
	else
		fetch_user_free(fu);
}

/* Ends the job at once. */
static void
fetch_user_cancel(struct job *job)
{
	fetch_user_release(job);
	job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
}

const struct job_kind kind_fetch_user = {
	.name = "fetch-user",
	.validate = fetch_user_validate,
	.start = fetch_user_start,
	.cancel = fetch_user_cancel,
	.free = fetch_user_release,
	.pause = fetch_user_pause,
	.requeue_by_default = kinds_requeue_always,
	/* Look-ups are short and mostly wait: let many queue on the pool. */
	.default_max_running = 64,
};
