/* A blocking JSON-lines connection: framing by frame.c, parsing by
 * jsonrpc.c, and a queue of messages held back while another is awaited. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "binary-frame.h"
#include "frame.h"
#include "jsonrpc.h"
#include "line-client.h"

/* Bytes taken off the socket per read: large, and read by hand, since
 * evbuffer_read() takes at most 4 KiB a call (PITFALLS.md). */
#define LINE_CLIENT_READ_SIZE (1024 * 1024)
/* The longest binary frame header looked at with json-c. */
#define LINE_CLIENT_HEADER_MAX 1024
/* A deadline that never comes. */
#define LINE_CLIENT_FOREVER (-1LL)

struct held {
	struct json_object *msg;
	struct held *next;
};

struct line_client {
	int fd;
	struct evbuffer *in;
	struct frame_reader frame;
	struct json_tokener *tok;
	struct held *head, *tail; /* held back by line_client_await() */
	line_client_line_fn on_line;
	void *on_line_arg;
	line_client_bad_fn on_bad;
	void *on_bad_arg;
	line_client_frame_fn on_frame;
	void *on_frame_arg;
	struct output_event frame_ev; /* the frame whose bytes go to on_frame */
	size_t frame_left;            /* its bytes still to come */
};

int
line_client_dial(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

struct line_client *
line_client_open(int fd)
{
	struct line_client *lc = calloc(1, sizeof *lc);

	if (lc == NULL)
		abort();
	lc->fd = fd;
	lc->in = evbuffer_new();
	lc->tok = jsonrpc_tokener_new();
	if (lc->in == NULL || lc->tok == NULL)
		abort();
	frame_init(&lc->frame, LINE_CLIENT_MAX_LINE);
	return lc;
}

struct line_client *
line_client_connect(const char *path)
{
	int fd = line_client_dial(path);

	return fd < 0 ? NULL : line_client_open(fd);
}

void
line_client_free(struct line_client *lc)
{
	struct held *h;

	if (lc == NULL)
		return;
	while ((h = lc->head) != NULL) {
		lc->head = h->next;
		json_object_put(h->msg);
		free(h);
	}
	close(lc->fd);
	evbuffer_free(lc->in);
	json_tokener_free(lc->tok);
	free(lc);
}

int
line_client_fd(struct line_client *lc)
{
	return lc->fd;
}

void
line_client_on_line(struct line_client *lc, line_client_line_fn fn, void *arg)
{
	lc->on_line = fn;
	lc->on_line_arg = arg;
}

void
line_client_on_bad_line(struct line_client *lc, line_client_bad_fn bad,
			void *arg)
{
	lc->on_bad = bad;
	lc->on_bad_arg = arg;
}

void
line_client_on_frame(struct line_client *lc, line_client_frame_fn fn,
		     void *arg)
{
	lc->on_frame = fn;
	lc->on_frame_arg = arg;
}

int
line_client_write(struct line_client *lc, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		/* MSG_NOSIGNAL: a daemon gone away is EPIPE, not SIGPIPE. */
		ssize_t n = send(lc->fd, p, len, MSG_NOSIGNAL);
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
line_client_send_line(struct line_client *lc, const char *line, size_t len)
{
	if (line_client_write(lc, line, len) < 0)
		return -1;
	return line_client_write(lc, "\n", 1);
}

static long long
line_client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The deadline TIMEOUT_MS from now. */
static long long
line_client_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return LINE_CLIENT_FOREVER;
	return line_client_now_ms() + timeout_ms;
}

/* Reads what the socket holds into the buffer, waiting until DEADLINE
 * for it; LINE_CLIENT_OK when there may be more to look at. */
static enum line_client_status
line_client_fill(struct line_client *lc, long long deadline)
{
	struct pollfd pfd = {lc->fd, POLLIN, 0};
	int wait_ms = -1, n;

	if (deadline != LINE_CLIENT_FOREVER) {
		long long left = deadline - line_client_now_ms();
		if (left <= 0)
			return LINE_CLIENT_TIMEOUT;
		wait_ms = (int)left;
	}
	/* A signal ends the wait: asyncctl then looks at its flags. */
	n = poll(&pfd, 1, wait_ms);
	if (n < 0)
		return LINE_CLIENT_INTERRUPTED;
	if (n == 0)
		return LINE_CLIENT_TIMEOUT;
	struct evbuffer_iovec vec;
	if (evbuffer_reserve_space(lc->in, LINE_CLIENT_READ_SIZE, &vec, 1) < 1)
		abort();
	ssize_t got = read(lc->fd, vec.iov_base, vec.iov_len);
	vec.iov_len = got > 0 ? (size_t)got : 0;
	evbuffer_commit_space(lc->in, &vec, 1);
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return LINE_CLIENT_OK;
	return got > 0 ? LINE_CLIENT_OK : LINE_CLIENT_CLOSED;
}

/* The message in LINE, or NULL when the line hook took it or it is not
 * JSON. */
static struct json_object *
line_client_parse(struct line_client *lc, const char *line, size_t len)
{
	struct json_object *msg = NULL;

	if (lc->on_line != NULL && lc->on_line(lc->on_line_arg, line, len))
		return NULL;
	if (jsonrpc_parse(lc->tok, line, len, &msg) == 0 && msg != NULL)
		return msg;
	if (lc->on_bad != NULL)
		lc->on_bad(lc->on_bad_arg, line, len);
	return NULL;
}

/* The raw bytes after LINE when it is a binary frame's header, else -1;
 * *LAYOUT says whether it is in the daemon's layout (EV filled), which
 * the frame hook takes. */
static long
line_client_frame_length(struct line_client *lc, const char *line, size_t len,
			 struct output_event *ev, bool *layout)
{
	static const char mark[] = "\"binary\"";
	struct json_object *msg;
	long n;

	*layout = (n = binframe_parse(line, len, ev)) >= 0;
	/* A header in another layout is still short: it has no data. */
	if (*layout || len > LINE_CLIENT_HEADER_MAX ||
	    memmem(line, len, mark, sizeof mark - 1) == NULL)
		return n;
	if (jsonrpc_parse(lc->tok, line, len, &msg) < 0 || msg == NULL)
		return -1;
	n = binframe_length(msg);
	json_object_put(msg);
	return n;
}

/* A binary frame that is not the frame hook's, once its header and LEN
 * raw bytes are all in the buffer: its message, the bytes as
 * params.data. */
static struct json_object *
line_client_frame_message(struct line_client *lc, size_t len)
{
	size_t head = lc->frame.pending;
	const char *p = (const char *)evbuffer_pullup(lc->in,
						      (ev_ssize_t)(head + len));
	struct json_object *msg = NULL, *params;
	size_t line_len = head - 1;

	if (line_len > 0 && p[line_len - 1] == '\r')
		line_len--;
	if (jsonrpc_parse(lc->tok, p, line_len, &msg) == 0 && msg != NULL &&
	    json_object_object_get_ex(msg, "params", &params))
		json_object_object_add(params, "data",
				       json_object_new_string_len(p + head,
								  (int)len));
	frame_consume(&lc->frame, lc->in);
	evbuffer_drain(lc->in, len);
	return msg;
}

/* Hands the frame hook what the buffer holds of the current frame's
 * bytes, piece by piece as read, without copying them. */
static void
line_client_frame_bytes(struct line_client *lc)
{
	struct evbuffer_iovec vec;

	while (lc->frame_left > 0 && evbuffer_peek(lc->in, -1, NULL, &vec, 1) > 0) {
		size_t n = vec.iov_len < lc->frame_left ? vec.iov_len
							: lc->frame_left;
		lc->frame_left -= n;
		/* A hook taken away mid-frame: the rest has nowhere to go. */
		if (lc->on_frame != NULL)
			lc->on_frame(lc->on_frame_arg, &lc->frame_ev,
				     vec.iov_base, n, lc->frame_left == 0);
		evbuffer_drain(lc->in, n);
	}
}

/* The next message off the socket by DEADLINE; lines over the limit, lines
 * the hook takes and lines that are not JSON are passed over. */
static struct json_object *
line_client_read(struct line_client *lc, long long deadline,
		 enum line_client_status *st)
{
	struct json_object *msg;
	const char *line;
	size_t len;

	for (;;) {
		if (lc->frame_left > 0) {
			line_client_frame_bytes(lc);
			if (lc->frame_left > 0)
				goto fill;
		}
		switch (frame_next(&lc->frame, lc->in, &line, &len)) {
		case FRAME_LINE: {
			struct output_event ev;
			bool layout;
			long n = line_client_frame_length(lc, line, len, &ev,
							  &layout);
			if (n >= 0 && layout && lc->on_frame != NULL) {
				frame_consume(&lc->frame, lc->in);
				lc->frame_ev = ev;
				lc->frame_left = (size_t)n;
				if (n == 0)
					lc->on_frame(lc->on_frame_arg, &ev, NULL,
						     0, true);
				continue;
			}
			if (n >= 0 && evbuffer_get_length(lc->in) <
					      lc->frame.pending + (size_t)n)
				break; /* its raw bytes are still to come */
			if (n >= 0) {
				msg = line_client_frame_message(lc, (size_t)n);
				if (msg != NULL) {
					*st = LINE_CLIENT_OK;
					return msg;
				}
				continue;
			}
			msg = line_client_parse(lc, line, len);
			frame_consume(&lc->frame, lc->in);
			if (msg != NULL) {
				*st = LINE_CLIENT_OK;
				return msg;
			}
			continue;
		}
		case FRAME_TOO_LARGE:
			continue;
		case FRAME_NONE:
			break;
		}
	fill:
		if ((*st = line_client_fill(lc, deadline)) != LINE_CLIENT_OK)
			return NULL;
	}
}

struct json_object *
line_client_recv(struct line_client *lc, int timeout_ms,
		 enum line_client_status *st)
{
	return line_client_read(lc, line_client_deadline(timeout_ms), st);
}

static void
line_client_hold(struct line_client *lc, struct json_object *msg)
{
	struct held *h = malloc(sizeof *h);

	if (h == NULL)
		abort();
	h->msg = msg;
	h->next = NULL;
	if (lc->tail != NULL)
		lc->tail->next = h;
	else
		lc->head = h;
	lc->tail = h;
}

/* Takes the first held-back message MATCH accepts (any when MATCH is
 * NULL) out of the queue; NULL if there is none. */
static struct json_object *
line_client_unhold(struct line_client *lc, line_client_match_fn match,
		   void *arg)
{
	struct held *h, *prev = NULL;
	struct json_object *msg;

	for (h = lc->head; h != NULL; prev = h, h = h->next)
		if (match == NULL || match(arg, h->msg))
			break;
	if (h == NULL)
		return NULL;
	if (prev != NULL)
		prev->next = h->next;
	else
		lc->head = h->next;
	if (lc->tail == h)
		lc->tail = prev;
	msg = h->msg;
	free(h);
	return msg;
}

struct json_object *
line_client_next(struct line_client *lc, int timeout_ms,
		 enum line_client_status *st)
{
	struct json_object *msg = line_client_unhold(lc, NULL, NULL);

	if (msg == NULL)
		return line_client_recv(lc, timeout_ms, st);
	*st = LINE_CLIENT_OK;
	return msg;
}

struct json_object *
line_client_await(struct line_client *lc, line_client_match_fn match,
		  void *arg, int timeout_ms, enum line_client_status *st)
{
	long long deadline = line_client_deadline(timeout_ms);
	struct json_object *msg = line_client_unhold(lc, match, arg);

	*st = LINE_CLIENT_OK;
	while (msg == NULL) {
		if ((msg = line_client_read(lc, deadline, st)) == NULL)
			return NULL;
		if (!match(arg, msg)) {
			line_client_hold(lc, msg);
			msg = NULL;
		}
	}
	return msg;
}

/* Whether MSG is the response to the request whose id *ARG holds. */
static bool
line_client_is_response(void *arg, struct json_object *msg)
{
	struct json_object *id;

	return json_object_object_get_ex(msg, "id", &id) &&
	       json_object_get_int64(id) == *(int64_t *)arg;
}

struct json_object *
line_client_await_response(struct line_client *lc, int64_t id, int timeout_ms,
			   enum line_client_status *st)
{
	return line_client_await(lc, line_client_is_response, &id, timeout_ms,
				 st);
}

bool
line_client_wait_closed(struct line_client *lc, int timeout_ms)
{
	long long deadline = line_client_deadline(timeout_ms);
	enum line_client_status st;

	while ((st = line_client_fill(lc, deadline)) == LINE_CLIENT_OK)
		;
	return st == LINE_CLIENT_CLOSED;
}
