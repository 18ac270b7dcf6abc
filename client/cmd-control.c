/* Job control: queues (queue), and jobs that exist: pause, resume,
 * restart, rm, clean. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../proto/proto.h"
#include "asyncctl.h"
#include "render.h"

static struct json_object *
result_of(struct json_object *response, const char *key)
{
	return render_get(render_get(response, "result"), key);
}

/* A usage error unless each of the ARGC arguments is a job id. */
static int
check_ids(const char *command, int argc, char **argv)
{
	if (argc == 0)
		return ctl_usage(command, "expected job ids");
	for (int i = 0; i < argc; i++)
		if (ctl_parse_id(argv[i]) == 0)
			return ctl_usage(command, "not a job id: %s", argv[i]);
	return EXIT_OK;
}

/* ---- Queues ------------------------------------------------------------- */

static struct json_object *
name_params(const char *name)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "name", json_object_new_string(name));
	return p;
}

/* Prints QUEUE as a table of one. */
static void
show_queue(struct json_object *queue)
{
	struct json_object *one = json_object_new_array();

	json_object_array_add(one, json_object_get(queue));
	render_queue_table(stdout, one);
	json_object_put(one);
}

/* queue NAME: the caller's queue NAME (uid 0: every user's of that
 * name). A queue without jobs or settings of its own is shown with the
 * defaults, as a submit to it would find it, and a note says so (a
 * misspelt name shows up). */
static int
queue_show(struct ctl *ctl, const char *name)
{
	struct json_object *r, *queues, *mine;
	size_t n;
	int status;

	if ((r = ctl_call(ctl, "queue.list", NULL, &status)) == NULL)
		return status;
	if (ctl->json) {
		json_object_put(r);
		return EXIT_OK;
	}
	queues = result_of(r, "queues");
	mine = json_object_new_array();
	n = queues != NULL ? json_object_array_length(queues) : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *q = json_object_array_get_idx(queues, i);
		const char *qname = json_object_get_string(render_get(q, "name"));
		if (qname != NULL && strcmp(qname, name) == 0)
			json_object_array_add(mine, json_object_get(q));
	}
	if (json_object_array_length(mine) == 0) {
		struct json_object *q = json_object_new_object();
		json_object_object_add(q, "name", json_object_new_string(name));
		json_object_object_add(q, "owner", json_object_new_int64(geteuid()));
		json_object_object_add(q, "max_running", NULL);
		json_object_object_add(q, "paused", json_object_new_boolean(0));
		json_object_object_add(q, "queued", json_object_new_int64(0));
		json_object_object_add(q, "running", json_object_new_int64(0));
		json_object_array_add(mine, q);
		fprintf(stderr, "asyncctl: queue %s has no jobs or settings "
				"of its own: these are the defaults\n", name);
	}
	render_queue_table(stdout, mine);
	json_object_put(mine);
	json_object_put(r);
	return EXIT_OK;
}

/* queue NAME --max-running N|none. */
static int
queue_set(struct ctl *ctl, const char *name)
{
	struct json_object *p = name_params(name), *r;
	int status;

	json_object_object_add(p, "max_running",
			       ctl->max_running > 0
				       ? json_object_new_int64(ctl->max_running)
				       : NULL);
	if ((r = ctl_call(ctl, "queue.set", p, &status)) == NULL)
		return status;
	if (!ctl->json)
		show_queue(result_of(r, "queue"));
	json_object_put(r);
	return EXIT_OK;
}

/* queue pause NAME, queue resume NAME. */
static int
queue_pause_or_resume(struct ctl *ctl, const char *name, bool pause)
{
	struct json_object *r;
	int status;

	r = ctl_call(ctl, pause ? "queue.pause" : "queue.resume",
		     name_params(name), &status);
	if (r == NULL)
		return status;
	if (!ctl->json) {
		bool changed = json_object_get_boolean(result_of(r, "changed"));
		printf("queue %s: %s\n", name,
		       pause ? (changed ? "paused" : "already paused")
			     : (changed ? "resumed" : "not paused"));
	}
	json_object_put(r);
	return EXIT_OK;
}

int
cmd_queue(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *r;
	int status;

	if (argc >= 1 && (strcmp(argv[0], "pause") == 0 ||
			  strcmp(argv[0], "resume") == 0)) {
		if (argc != 2)
			return ctl_usage("queue", "expected %s NAME", argv[0]);
		if (ctl_given(ctl, OPT_MAX_RUNNING))
			return ctl_usage("queue", "--max-running does not "
					 "apply to %s", argv[0]);
		return queue_pause_or_resume(ctl, argv[1],
					     strcmp(argv[0], "pause") == 0);
	}
	if (argc > 1)
		return ctl_usage("queue", "unexpected argument: %s", argv[1]);
	if (argc == 1)
		return ctl_given(ctl, OPT_MAX_RUNNING) ? queue_set(ctl, argv[0])
						       : queue_show(ctl, argv[0]);
	if (ctl_given(ctl, OPT_MAX_RUNNING))
		return ctl_usage("queue", "--max-running needs a queue NAME");
	if ((r = ctl_call(ctl, "queue.list", NULL, &status)) == NULL)
		return status;
	if (!ctl->json)
		render_queue_table(stdout, result_of(r, "queues"));
	json_object_put(r);
	return EXIT_OK;
}

/* ---- Pause, resume, removal --------------------------------------------- */

/* Calls METHOD on each job id of ARGV, printing "job N: " and what
 * SAID (by "changed" when it has one) for each; an error is printed and
 * the next id tried. Returns the worst status. */
static int
each_job(struct ctl *ctl, const char *command, int argc, char **argv,
	 const char *method, const char *said, const char *unchanged)
{
	int worst, status;

	if ((worst = check_ids(command, argc, argv)) != EXIT_OK)
		return worst;
	for (int i = 0; i < argc; i++) {
		struct json_object *r =
			ctl_call(ctl, method, ctl_id_params(ctl_parse_id(argv[i])),
				 &status);
		if (r == NULL) {
			worst = status;
			continue;
		}
		struct json_object *changed = result_of(r, "changed");
		if (!ctl->json)
			printf("job %s: %s\n", argv[i],
			       changed == NULL || json_object_get_boolean(changed)
				       ? said
				       : unchanged);
		json_object_put(r);
	}
	return worst;
}

int
cmd_pause(struct ctl *ctl, int argc, char **argv)
{
	return each_job(ctl, "pause", argc, argv, "job.pause", "paused",
			"already paused");
}

int
cmd_resume(struct ctl *ctl, int argc, char **argv)
{
	return each_job(ctl, "resume", argc, argv, "job.resume", "resumed",
			"not paused");
}

int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	return each_job(ctl, "rm", argc, argv, "job.remove", "removed", NULL);
}

int
cmd_clean(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *p, *r;
	int64_t n;
	int status;

	if (argc != 0)
		return ctl_usage("clean", "unexpected argument: %s", argv[0]);
	p = json_object_new_object();
	if (ctl->state != NULL)
		json_object_object_add(p, "state", json_object_new_string(ctl->state));
	if (ctl->queue != NULL)
		json_object_object_add(p, "queue", json_object_new_string(ctl->queue));
	if ((r = ctl_call(ctl, "job.clean", p, &status)) == NULL)
		return status;
	n = json_object_get_int64(result_of(r, "removed"));
	if (!ctl->json)
		printf("removed %" PRId64 " job%s\n", n, n == 1 ? "" : "s");
	json_object_put(r);
	return EXIT_OK;
}

/* ---- Restart ------------------------------------------------------------ */

/* A growing list of job ids. */
struct idvec {
	uint64_t *v;
	size_t n, cap;
};

static void
idvec_add(struct idvec *l, uint64_t id)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (l->v == NULL)
			abort();
	}
	l->v[l->n++] = id;
}

static bool
idvec_has(const struct idvec *l, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i] == id)
			return true;
	return false;
}

/* The caller's failed jobs (in --queue if given), oldest first, that no
 * later job was restarted from: running restart --failed again restarts
 * what failed again, not the jobs already restarted. Pages through
 * job.list with before_id (next_before_id when an answer is short). */
static int
failed_jobs(struct ctl *ctl, struct idvec *todo)
{
	struct idvec failed = {0}, restarted = {0};
	uint64_t before = 0;
	struct json_object *next;
	size_t n;
	int status;

	do {
		struct json_object *p = json_object_new_object(), *r, *jobs;
		json_object_object_add(p, "limit",
				       json_object_new_int64(PROTO_LIST_LIMIT_MAX));
		if (ctl->queue != NULL)
			json_object_object_add(p, "queue",
					       json_object_new_string(ctl->queue));
		if (before != 0)
			json_object_object_add(p, "before_id",
					       json_object_new_int64((int64_t)before));
		if ((r = ctl_call(ctl, "job.list", p, &status)) == NULL)
			goto out;
		jobs = result_of(r, "jobs");
		n = jobs != NULL ? json_object_array_length(jobs) : 0;
		for (size_t i = 0; i < n; i++) {
			struct json_object *job = json_object_array_get_idx(jobs, i);
			uint64_t id = (uint64_t)json_object_get_int64(render_get(job, "id"));
			struct json_object *from = render_get(job, "restarted_from");
			const char *state = json_object_get_string(render_get(job, "state"));
			if (from != NULL)
				idvec_add(&restarted, (uint64_t)json_object_get_int64(from));
			if (state != NULL && strcmp(state, "failed") == 0)
				idvec_add(&failed, id);
			before = id;
		}
		/* An answer the daemon cut short says where the rest is. */
		next = result_of(r, "next_before_id");
		if (next != NULL)
			before = (uint64_t)json_object_get_int64(next);
		json_object_put(r);
	} while (n == PROTO_LIST_LIMIT_MAX || next != NULL);
	/* Newest first in the list: restart the oldest first. */
	for (size_t i = failed.n; i > 0; i--)
		if (!idvec_has(&restarted, failed.v[i - 1]))
			idvec_add(todo, failed.v[i - 1]);
	status = EXIT_OK;
out:
	free(failed.v);
	free(restarted.v);
	return status;
}

int
cmd_restart(struct ctl *ctl, int argc, char **argv)
{
	struct idvec old = {0}, made = {0};
	char *kind = NULL;
	bool one_kind = true;
	int status;

	if (ctl->failed && argc > 0)
		return ctl_usage("restart", "--failed takes no job ids");
	if (!ctl->failed && ctl->queue != NULL)
		return ctl_usage("restart", "--queue goes with --failed");
	if (!ctl->failed && (status = check_ids("restart", argc, argv)) != EXIT_OK)
		return status;
	for (int i = 0; i < argc; i++)
		idvec_add(&old, ctl_parse_id(argv[i]));
	if (ctl->failed && (status = failed_jobs(ctl, &old)) != EXIT_OK)
		goto out;
	if (old.n == 0 && !ctl->json)
		fprintf(stderr, "asyncctl: no failed jobs to restart\n");
	/* From now on Ctrl-C cancels what this invocation restarted. */
	if (!ctl->detach)
		ctl_catch_interrupt();
	status = EXIT_OK;
	for (size_t i = 0; i < old.n && status == EXIT_OK; i++) {
		struct json_object *p = ctl_id_params(old.v[i]), *r, *job;
		json_object_object_add(p, "watch", json_object_new_boolean(!ctl->detach));
		if ((r = ctl_call(ctl, "job.restart", p, &status)) == NULL)
			break;
		job = result_of(r, "job");
		uint64_t id = (uint64_t)json_object_get_int64(render_get(job, "id"));
		const char *k = json_object_get_string(render_get(job, "kind"));
		idvec_add(&made, id);
		if (kind == NULL)
			kind = k != NULL ? strdup(k) : NULL;
		else if (k == NULL || strcmp(kind, k) != 0)
			one_kind = false;
		if (!ctl->detach && !ctl->json)
			fprintf(stderr, "job %" PRIu64 " restarted as job %" PRIu64 "\n",
				old.v[i], id);
		json_object_put(r);
	}
	status = ctl_follow_made(ctl, made.v, made.n,
				 ctl_kind_ui(one_kind ? kind : NULL), status);
out:
	free(kind);
	free(old.v);
	free(made.v);
	return status;
}
