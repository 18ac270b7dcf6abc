/* asyncctl log [-f] ID: a job's kept stdout and stderr, byte for byte,
 * from job.watch with "since": 0; with -f it goes on with the live output
 * until the job ends, and exits as wait does. */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/output-line.h"
#include "asyncctl.h"
#include "connection.h"
#include "render.h"

/* Counts the replayed events, and the last seq among them. */
struct log_state {
	int64_t seen;
	uint32_t seq;
};

static void
log_output(void *arg, const struct output_event *ev, const unsigned char *data,
	   size_t len, bool end)
{
	struct log_state *st = arg;
	FILE *out = strcmp(ev->stream, "stderr") == 0 ? stderr : stdout;

	fwrite(data, 1, len, out);
	if (out == stderr)
		fflush(stderr);
	if (!end)
		return; /* a piece of a binary frame: the event goes on */
	st->seen++;
	if (ev->seq > st->seq)
		st->seq = (uint32_t)ev->seq;
}

/* EXIT_OK or EXIT_JOB_FAILED for a job in STATE, -1 while it runs. */
static int
end_status(const char *state)
{
	if (strcmp(state, "completed") == 0)
		return EXIT_OK;
	if (strcmp(state, "failed") == 0)
		return EXIT_JOB_FAILED;
	return -1;
}

/* Reads the N replayed events (output ones go through the hook); returns
 * the status their end event gives, -1 if none came, or EXIT_UNREACHABLE.
 * The hook takes every output line of a read, so live events that came
 * in the same read as the last replayed ones are taken too, the job's
 * end among them (ssh delivers them so): the status says so. */
static int
read_replay(struct ctl *ctl, struct log_state *st, int64_t n)
{
	int status = -1;
	bool closed;

	while (st->seen < n) {
		/* Output events never come back from client_next(): wake up
		 * now and then to count what the hook took. */
		struct json_object *msg = client_next(ctl->conn, 100, &closed);
		if (msg == NULL) {
			if (closed)
				return EXIT_UNREACHABLE;
			continue;
		}
		const char *method = json_object_get_string(render_get(msg, "method"));
		if (method != NULL) {
			uint64_t seq = (uint64_t)json_object_get_int64(
				render_get(render_get(msg, "params"), "seq"));
			st->seen++;
			if (seq > st->seq)
				st->seq = (uint32_t)seq;
			if (ctl->json)
				render_json_line(stdout, msg);
			if (strcmp(method, "job.completed") == 0)
				status = EXIT_OK;
			else if (strcmp(method, "job.failed") == 0)
				status = EXIT_JOB_FAILED;
		}
		json_object_put(msg);
	}
	return status;
}

int
cmd_log(struct ctl *ctl, int argc, char **argv)
{
	static const struct kind_ui quiet = {NULL, false};
	struct log_state st = {0};
	struct json_object *params, *r, *result;
	uint64_t id;
	int status;

	if (argc != 1 || (id = ctl_parse_id(argv[0])) == 0)
		return ctl_usage("log", "expected one job id");
	params = json_object_new_object();
	json_object_object_add(params, "id", json_object_new_int64((int64_t)id));
	json_object_object_add(params, "since", json_object_new_int64(0));
	if ((r = ctl_call(ctl, "job.watch", params, &status)) == NULL)
		return status;
	result = render_get(r, "result");
	int64_t replayed = json_object_get_int64(render_get(result, "replayed"));
	int ended = end_status(json_object_get_string(
		render_get(render_get(result, "job"), "state")));
	json_object_put(r);
	if (!ctl->json)
		client_on_output(ctl->conn, log_output, &st);
	status = read_replay(ctl, &st, replayed);
	client_on_output(ctl->conn, NULL, NULL);
	fflush(stdout);
	if (status == EXIT_UNREACHABLE)
		return status;
	if (!ctl->follow)
		return EXIT_OK;
	if (ended >= 0)
		return ended;
	if (status >= 0) /* its live end came with the replay */
		return status;
	/* The job still runs: its live events follow the replay. */
	return ctl_follow_since(ctl, &id, 1, &st.seq, &quiet, false);
}
