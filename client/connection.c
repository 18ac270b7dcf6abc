/* Requests and the job.output fast path over a line_client, and the
 * program a connection may go through. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../proto/line-client.h"
#include "../proto/output-line.h"
#include "connection.h"

/* How long a child that should end gets before SIGKILL, in ms. */
#define CLIENT_CHILD_GRACE 2000

struct client {
	struct line_client *lc;
	pid_t child;      /* the program carrying the connection, or 0 */
	int child_status; /* its exit status once reaped, else -1 */
	bool answered;    /* a message came */
	long long next_id;
	client_output_fn on_output;
	void *on_output_arg;
	unsigned char *scratch; /* decoded output data */
	size_t scratch_size;
	bool binary_asked; /* conn.configure {"binary": true} was sent */
};

static struct client *
client_new(struct line_client *lc, pid_t child)
{
	struct client *c = calloc(1, sizeof *c);

	if (c == NULL)
		abort();
	c->lc = lc;
	c->child = child;
	c->child_status = -1;
	return c;
}

struct client *
client_connect(const char *path)
{
	struct line_client *lc = line_client_connect(path);

	return lc != NULL ? client_new(lc, 0) : NULL;
}

struct client *
client_open_child(int fd, pid_t child)
{
	return client_new(line_client_open(fd), child);
}

/* Reaps the child if it has exited, waiting up to WAIT_MS for it (-1:
 * as long as it takes); true once it is reaped. */
static bool
client_reap(struct client *c, int wait_ms)
{
	struct timespec pause = {0, 5 * 1000 * 1000};
	int status, waited = 0;
	pid_t pid;

	for (;;) {
		pid = waitpid(c->child, &status, wait_ms < 0 ? 0 : WNOHANG);
		if (pid == c->child)
			break;
		if (pid < 0 && errno != EINTR) {
			c->child = 0; /* not ours to wait for: gone */
			return true;
		}
		if (wait_ms >= 0 && pid == 0) {
			if (waited >= wait_ms)
				return false;
			nanosleep(&pause, NULL);
			waited += 5;
		}
	}
	c->child_status = WIFEXITED(status) ? WEXITSTATUS(status)
					    : 128 + WTERMSIG(status);
	c->child = 0;
	return true;
}

/* Gives the child WAIT_MS to exit, then SIGTERM, then SIGKILL; reaps it. */
static void
client_end_child(struct client *c, int wait_ms)
{
	if (c->child == 0 || client_reap(c, wait_ms))
		return;
	kill(c->child, SIGTERM);
	if (client_reap(c, CLIENT_CHILD_GRACE))
		return;
	kill(c->child, SIGKILL);
	client_reap(c, -1);
}

int
client_child_status(struct client *c)
{
	if (c->child == 0 && c->child_status < 0)
		return -1;
	/* Its end of the socket is closed: it is exiting. */
	client_end_child(c, CLIENT_CHILD_GRACE);
	return c->child_status;
}

bool
client_answered(struct client *c)
{
	return c->answered;
}

void
client_close(struct client *c)
{
	if (c == NULL)
		return;
	line_client_free(c->lc);
	client_end_child(c, 0);
	free(c->scratch);
	free(c);
}

long long
client_send(struct client *c, const char *method, struct json_object *params)
{
	struct json_object *msg = json_object_new_object();
	long long id = ++c->next_id;
	const char *line;
	int rc;

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_new_int64(id));
	json_object_object_add(msg, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(msg, "params", params);
	line = json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = line_client_send_line(c->lc, line, strlen(line));
	json_object_put(msg);
	return rc < 0 ? -1 : id;
}

/* The line hook: hands LINE to the output hook if it is a job.output
 * event it can decode; false otherwise, and json-c reads it. */
static bool
client_fast_output(void *arg, const char *line, size_t len)
{
	struct client *c = arg;
	struct output_event ev;
	long n;

	if ((n = outline_read(line, len, &ev, &c->scratch, &c->scratch_size)) < 0)
		return false;
	c->answered = true;
	c->on_output(c->on_output_arg, &ev, c->scratch, (size_t)n, true);
	return true;
}

/* The frame hook: a binary job.output, its bytes as they came. */
static void
client_frame_output(void *arg, const struct output_event *ev,
		    const unsigned char *data, size_t len, bool end)
{
	struct client *c = arg;

	c->answered = true;
	c->on_output(c->on_output_arg, ev, data, len, end);
}

void
client_on_output(struct client *c, client_output_fn fn, void *arg)
{
	c->on_output = fn;
	c->on_output_arg = arg;
	line_client_on_line(c->lc, fn != NULL ? client_fast_output : NULL, c);
	line_client_on_frame(c->lc, fn != NULL ? client_frame_output : NULL, c);
}

void
client_binary_output(struct client *c)
{
	struct json_object *params;

	if (c->binary_asked)
		return;
	c->binary_asked = true;
	params = json_object_new_object();
	json_object_object_add(params, "binary", json_object_new_boolean(1));
	client_send(c, "conn.configure", params);
}

struct json_object *
client_next(struct client *c, int timeout_ms, bool *closed)
{
	enum line_client_status st;
	struct json_object *msg = line_client_next(c->lc, timeout_ms, &st);

	*closed = st == LINE_CLIENT_CLOSED;
	if (msg != NULL)
		c->answered = true;
	return msg;
}

struct json_object *
client_call(struct client *c, const char *method, struct json_object *params)
{
	long long id = client_send(c, method, params);
	enum line_client_status st = LINE_CLIENT_OK;
	struct json_object *msg = NULL;

	if (id < 0)
		return NULL;
	/* A signal does not end the wait: the response is still due. */
	while (msg == NULL && st != LINE_CLIENT_CLOSED)
		msg = line_client_await_response(c->lc, id, -1, &st);
	if (msg != NULL)
		c->answered = true;
	return msg;
}

int
client_error_code(struct json_object *response)
{
	struct json_object *err, *code;

	if (!json_object_object_get_ex(response, "error", &err) ||
	    !json_object_object_get_ex(err, "code", &code))
		return 0;
	return json_object_get_int(code);
}
