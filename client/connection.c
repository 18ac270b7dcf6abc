/* Blocking JSON-lines I/O over the Unix socket. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "../proto/frame.h"
#include "../proto/jsonrpc.h"
#include "../proto/output-line.h"
#include "connection.h"

/* Events carry up to 64 KiB of data, escaped: allow generously. */
#define CLIENT_MAX_LINE (64 * 1024 * 1024)

struct queued {
	struct json_object *msg;
	struct queued *next;
};

struct client {
	int fd;
	struct evbuffer *in;
	struct frame_reader frame;
	struct json_tokener *tok;
	long long next_id;
	struct queued *head, *tail;
	client_output_fn on_output;
	void *on_output_arg;
	unsigned char *scratch; /* decoded output data */
	size_t scratch_size;
};

struct client *
client_connect(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct client *c;
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	c = calloc(1, sizeof *c);
	if (c == NULL)
		abort();
	c->fd = fd;
	c->in = evbuffer_new();
	c->tok = jsonrpc_tokener_new();
	frame_init(&c->frame, CLIENT_MAX_LINE);
	return c;
}

void
client_close(struct client *c)
{
	struct queued *q;

	if (c == NULL)
		return;
	while ((q = c->head) != NULL) {
		c->head = q->next;
		json_object_put(q->msg);
		free(q);
	}
	close(c->fd);
	free(c->scratch);
	evbuffer_free(c->in);
	json_tokener_free(c->tok);
	free(c);
}

static int
write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
client_send_line(struct client *c, const char *line)
{
	size_t len = strlen(line);

	if (write_all(c->fd, line, len) < 0)
		return -1;
	if (len == 0 || line[len - 1] != '\n')
		return write_all(c->fd, "\n", 1);
	return 0;
}

long long
client_send(struct client *c, const char *method, struct json_object *params)
{
	struct json_object *msg = json_object_new_object();
	long long id = ++c->next_id;
	int rc;

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_new_int64(id));
	json_object_object_add(msg, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(msg, "params", params);
	rc = client_send_line(
		c, json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(msg);
	return rc < 0 ? -1 : id;
}

void
client_on_output(struct client *c, client_output_fn fn, void *arg)
{
	c->on_output = fn;
	c->on_output_arg = arg;
}

/* Hands LINE to the output hook if it is a job.output event it can
 * decode; false otherwise. */
static bool
client_fast_output(struct client *c, const char *line, size_t len)
{
	struct output_event ev;
	long n;

	if (c->on_output == NULL || !outline_parse(line, len, &ev))
		return false;
	if (c->scratch_size < ev.data_len + 4) {
		free(c->scratch);
		c->scratch_size = ev.data_len + 4;
		c->scratch = malloc(c->scratch_size);
		if (c->scratch == NULL)
			abort();
	}
	if ((n = outline_decode(&ev, c->scratch)) < 0)
		return false;
	c->on_output(c->on_output_arg, &ev, c->scratch, (size_t)n);
	return true;
}

/* Reads one message off the socket, waiting at most TIMEOUT_MS. */
static struct json_object *
client_read(struct client *c, int timeout_ms, bool *closed)
{
	const char *line;
	size_t len;

	*closed = false;
	for (;;) {
		switch (frame_next(&c->frame, c->in, &line, &len)) {
		case FRAME_LINE: {
			if (client_fast_output(c, line, len)) {
				frame_consume(&c->frame, c->in);
				continue;
			}
			struct json_object *msg;
			int rc = jsonrpc_parse(c->tok, line, len, &msg);
			frame_consume(&c->frame, c->in);
			if (rc == 0 && msg != NULL)
				return msg;
			continue; /* not JSON: ignore it */
		}
		case FRAME_TOO_LARGE:
			continue;
		case FRAME_NONE:
			break;
		}
		struct pollfd pfd = {c->fd, POLLIN, 0};
		int n = poll(&pfd, 1, timeout_ms);
		if (n < 0)
			return NULL; /* EINTR: the caller looks at its flags */
		if (n == 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
		n = evbuffer_read(c->in, c->fd, 256 * 1024);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*closed = true;
			return NULL;
		}
	}
}

static void
enqueue(struct client *c, struct json_object *msg)
{
	struct queued *q = malloc(sizeof *q);

	if (q == NULL)
		abort();
	q->msg = msg;
	q->next = NULL;
	if (c->tail != NULL)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
}

struct json_object *
client_next(struct client *c, int timeout_ms, bool *closed)
{
	struct queued *q = c->head;
	struct json_object *msg;

	*closed = false;
	if (q == NULL)
		return client_read(c, timeout_ms, closed);
	c->head = q->next;
	if (c->head == NULL)
		c->tail = NULL;
	msg = q->msg;
	free(q);
	return msg;
}

struct json_object *
client_call(struct client *c, const char *method, struct json_object *params)
{
	long long id = client_send(c, method, params);
	struct json_object *msg, *v;
	bool closed;

	if (id < 0)
		return NULL;
	for (;;) {
		msg = client_read(c, -1, &closed);
		if (msg == NULL) {
			if (closed)
				return NULL;
			continue; /* a signal: the response is still due */
		}
		if (json_object_object_get_ex(msg, "id", &v) &&
		    json_object_get_int64(v) == id)
			return msg;
		enqueue(c, msg);
	}
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
