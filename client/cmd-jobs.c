/* Commands about jobs that exist: get, list, cancel, wait, watch, info,
 * and the raw call. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/jsonrpc.h"
#include "../proto/proto.h"
#include "asyncctl.h"
#include "connection.h"
#include "render.h"

static struct json_object *
result_of(struct json_object *response, const char *key)
{
	return render_get(render_get(response, "result"), key);
}

int
cmd_get(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *r;
	uint64_t id;
	int status;

	if (argc != 1 || (id = ctl_parse_id(argv[0])) == 0)
		return ctl_usage("get", "expected one job id");
	if ((r = ctl_call(ctl, "job.get", ctl_id_params(id), &status)) == NULL)
		return status;
	if (!ctl->json)
		render_job(stdout, result_of(r, "job"));
	json_object_put(r);
	return EXIT_OK;
}

/* One job.list request of asyncctl list: LIMIT jobs below BEFORE (0:
 * from the newest). */
static struct json_object *
list_params(struct ctl *ctl, int64_t limit, uint64_t before)
{
	struct json_object *p = json_object_new_object();

	if (ctl->state != NULL)
		json_object_object_add(p, "state", json_object_new_string(ctl->state));
	if (ctl->kind != NULL)
		json_object_object_add(p, "kind", json_object_new_string(ctl->kind));
	if (ctl->queue != NULL)
		json_object_object_add(p, "queue", json_object_new_string(ctl->queue));
	json_object_object_add(p, "limit", json_object_new_int64(limit));
	if (before != 0)
		json_object_object_add(p, "before_id",
				       json_object_new_int64((int64_t)before));
	return p;
}

int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	int64_t want = ctl->limit >= 0 ? ctl->limit : PROTO_LIST_LIMIT_DEFAULT;
	struct json_object *all, *r, *jobs, *next;
	uint64_t before = 0;
	int status = EXIT_OK;

	if (argc != 0)
		return ctl_usage("list", "unexpected argument: %s", argv[0]);
	all = json_object_new_array();
	/* An answer cut short by the daemon's bound of work says where the
	 * rest is (next_before_id): go on until LIMIT jobs or the oldest. */
	do {
		int64_t have = (int64_t)json_object_array_length(all);
		r = ctl_call(ctl, "job.list", list_params(ctl, want - have, before),
			     &status);
		if (r == NULL)
			break;
		jobs = result_of(r, "jobs");
		for (size_t i = 0; jobs != NULL && i < json_object_array_length(jobs); i++)
			json_object_array_add(all, json_object_get(
						      json_object_array_get_idx(jobs, i)));
		next = result_of(r, "next_before_id");
		before = next != NULL ? (uint64_t)json_object_get_int64(next) : 0;
		json_object_put(r);
	} while (before != 0 && (int64_t)json_object_array_length(all) < want);
	if (r != NULL && !ctl->json)
		render_job_table(stdout, all);
	json_object_put(all);
	return status;
}

int
cmd_cancel(struct ctl *ctl, int argc, char **argv)
{
	int worst = EXIT_OK;

	if (argc == 0)
		return ctl_usage("cancel", "expected job ids");
	for (int i = 0; i < argc; i++)
		if (ctl_parse_id(argv[i]) == 0)
			return ctl_usage("cancel", "not a job id: %s", argv[i]);
	for (int i = 0; i < argc; i++) {
		int status;
		struct json_object *r = ctl_call(ctl, "job.cancel",
						 ctl_id_params(ctl_parse_id(argv[i])), &status);
		if (r == NULL) {
			worst = status;
			continue;
		}
		if (!ctl->json)
			printf("job %s: cancelling\n", argv[i]);
		json_object_put(r);
	}
	return worst;
}

/* Watches IDS; those already ended are settled from the response. */
static int
wait_or_watch(struct ctl *ctl, int argc, char **argv, const struct kind_ui *ui)
{
	uint64_t *ids = calloc((size_t)argc, sizeof *ids);
	size_t pending = 0;
	bool all_ok = true;
	int status = EXIT_OK;

	for (int i = 0; i < argc; i++) {
		if (ctl_parse_id(argv[i]) == 0) {
			free(ids);
			return ctl_usage(ui ? "wait" : "watch", "not a job id: %s", argv[i]);
		}
	}
	for (int i = 0; i < argc && status == EXIT_OK; i++) {
		uint64_t id = ctl_parse_id(argv[i]);
		struct json_object *r = ctl_call(ctl, "job.watch", ctl_id_params(id), &status);
		if (r == NULL)
			break;
		struct json_object *job = result_of(r, "job");
		const char *state = json_object_get_string(render_get(job, "state"));
		if (strcmp(state, "completed") == 0) {
			if (!ctl->json)
				printf("job %" PRIu64 " completed: %s\n", id,
				       json_object_to_json_string_ext(render_get(job, "result"),
								      JSON_C_TO_STRING_PLAIN));
		} else if (strcmp(state, "failed") == 0) {
			all_ok = false;
			if (!ctl->json)
				render_job_error(stderr, id, render_get(job, "error"));
		} else {
			ids[pending++] = id;
		}
		json_object_put(r);
	}
	if (status == EXIT_OK && pending > 0)
		status = ctl_follow(ctl, ids, pending, ui, false);
	free(ids);
	if (status == EXIT_OK && !all_ok)
		status = EXIT_JOB_FAILED;
	return status;
}

int
cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	static const struct kind_ui quiet = {NULL, false};

	if (argc == 0)
		return ctl_usage("wait", "expected job ids");
	return wait_or_watch(ctl, argc, argv, &quiet);
}

int
cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *p, *r;
	int status;

	if (argc > 0)
		return wait_or_watch(ctl, argc, argv, NULL);
	p = json_object_new_object();
	json_object_object_add(p, "all", json_object_new_boolean(1));
	if ((r = ctl_call(ctl, "job.watch", p, &status)) == NULL)
		return status;
	json_object_put(r);
	/* Every job, until interrupted. */
	return ctl_follow(ctl, NULL, 0, NULL, false) == EXIT_INTERRUPTED
		       ? EXIT_OK
		       : EXIT_UNREACHABLE;
}

int
cmd_info(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *r;
	int status;

	if (argc != 0)
		return ctl_usage("info", "unexpected argument: %s", argv[0]);
	if ((r = ctl_call(ctl, "daemon.info", NULL, &status)) == NULL)
		return status;
	if (!ctl->json)
		render_info(stdout, render_get(r, "result"));
	json_object_put(r);
	return EXIT_OK;
}

int
cmd_call(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *params = NULL, *r;
	struct json_tokener *tok;
	bool closed;

	if (argc < 1 || argc > 2)
		return ctl_usage("call", "expected METHOD [PARAMS_JSON]");
	if (argc == 2) {
		tok = jsonrpc_tokener_new();
		int rc = jsonrpc_parse(tok, argv[1], strlen(argv[1]), &params);
		json_tokener_free(tok);
		if (rc < 0 || !json_object_is_type(params, json_type_object)) {
			json_object_put(params);
			return ctl_usage("call", "PARAMS_JSON is not a JSON object");
		}
	}
	client_send(ctl_connect(ctl), argv[0], params);
	/* Print the response line itself, whatever it holds. */
	while ((r = client_next(ctl->conn, -1, &closed)) != NULL) {
		if (render_get(r, "method") == NULL)
			break;
		json_object_put(r);
	}
	if (r == NULL) {
		ctl_lost(ctl);
		return EXIT_UNREACHABLE;
	}
	render_json_line(stdout, r);
	int status = client_error_code(r) != 0 ? EXIT_REFUSED : EXIT_OK;
	json_object_put(r);
	return status;
}
