/* The connection of asyncctl top: requests sent without waiting, their
 * responses handed to the callback each was sent with as they arrive,
 * events to one handler. Built on proto's line client, whose socket the
 * view polls beside the terminal. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../proto/line-client.h"
#include "../proto/output-line.h"
#include "top.h"

/* How long a read may wait for the rest of a line whose beginning is
 * already there, in milliseconds. */
#define TOP_CONN_LINE_WAIT 5

/* A request whose response is still due. */
struct top_pending {
	int64_t id;
	top_reply_fn fn;
	void *arg;
	uint64_t tag;
	struct top_pending *next;
};

struct top_conn {
	struct line_client *lc;
	int64_t next_id;
	struct top_pending *pending; /* oldest first */
	top_event_fn on_event;
	top_output_fn on_output;
	void *arg;
	unsigned char *scratch; /* decoded output data */
	size_t scratch_size;
};

/* The line hook: a job.output line in the daemon's layout goes to the
 * output handler decoded, without json-c; false hands it to json-c. */
static bool
top_conn_fast_output(void *arg, const char *line, size_t len)
{
	struct top_conn *tc = arg;
	struct output_event ev;
	long n;

	if ((n = outline_read(line, len, &ev, &tc->scratch, &tc->scratch_size)) < 0)
		return false;
	tc->on_output(tc->arg, &ev, tc->scratch, (size_t)n);
	return true;
}

struct top_conn *
top_conn_open(const char *path, top_event_fn on_event, top_output_fn on_output,
	      void *arg)
{
	struct line_client *lc = line_client_connect(path);
	struct top_conn *tc;

	if (lc == NULL)
		return NULL;
	if ((tc = calloc(1, sizeof *tc)) == NULL)
		abort();
	tc->lc = lc;
	tc->on_event = on_event;
	tc->on_output = on_output;
	tc->arg = arg;
	if (on_output != NULL)
		line_client_on_line(lc, top_conn_fast_output, tc);
	return tc;
}

void
top_conn_free(struct top_conn *tc)
{
	struct top_pending *p;

	if (tc == NULL)
		return;
	while ((p = tc->pending) != NULL) {
		tc->pending = p->next;
		free(p);
	}
	line_client_free(tc->lc);
	free(tc->scratch);
	free(tc);
}

int
top_conn_fd(struct top_conn *tc)
{
	return line_client_fd(tc->lc);
}

int
top_conn_send(struct top_conn *tc, const char *method,
	      struct json_object *params, top_reply_fn fn, void *arg,
	      uint64_t tag)
{
	struct json_object *msg = json_object_new_object();
	struct top_pending *p, **tail;
	int64_t id = ++tc->next_id;
	const char *line;
	int rc;

	json_object_object_add(msg, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(msg, "id", json_object_new_int64(id));
	json_object_object_add(msg, "method", json_object_new_string(method));
	if (params != NULL)
		json_object_object_add(msg, "params", params);
	line = json_object_to_json_string_ext(
		msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = line_client_send_line(tc->lc, line, strlen(line));
	json_object_put(msg);
	if (rc < 0)
		return -1;
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	*p = (struct top_pending){.id = id, .fn = fn, .arg = arg, .tag = tag};
	for (tail = &tc->pending; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = p;
	return 0;
}

/* Hands the response MSG to the request it answers. */
static void
top_conn_reply(struct top_conn *tc, struct json_object *msg)
{
	struct json_object *idv;
	struct top_pending *p, **pp;
	int64_t id;

	if (!json_object_object_get_ex(msg, "id", &idv) ||
	    !json_object_is_type(idv, json_type_int))
		return; /* an error without an id: nothing asked for it */
	id = json_object_get_int64(idv);
	for (pp = &tc->pending; (p = *pp) != NULL; pp = &p->next)
		if (p->id == id)
			break;
	if (p == NULL)
		return;
	*pp = p->next;
	if (p->fn != NULL)
		p->fn(p->arg, p->tag, msg);
	free(p);
}

bool
top_conn_read(struct top_conn *tc)
{
	enum line_client_status st;
	struct json_object *msg, *method;
	int wait = TOP_CONN_LINE_WAIT;

	/* The first read takes what the socket holds; the next ones only
	 * the whole lines already read (a timeout of 0 reads nothing), so
	 * that a flood of events never keeps the keys waiting. */
	for (;;) {
		msg = line_client_recv(tc->lc, wait, &st);
		wait = 0;
		if (msg == NULL)
			return st != LINE_CLIENT_CLOSED;
		if (json_object_object_get_ex(msg, "method", &method))
			tc->on_event(tc->arg, msg);
		else
			top_conn_reply(tc, msg);
		json_object_put(msg);
	}
}
