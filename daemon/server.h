/* The listener and the client connections: framing, peer credentials,
 * output buffering with a high-water mark. */
#ifndef ASYNCD_SERVER_H
#define ASYNCD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "job-kind.h"

struct conn;
struct evbuffer;
struct json_object;

/* What the server calls for its connections: it knows connections, not
 * methods or watches; main() hands it the request and watch layers. */
struct server_handlers {
	/* One complete request line, without its '\n'. */
	void (*line)(struct conn *conn, const char *line, size_t len);
	/* A line longer than --max-request was dropped. */
	void (*too_large)(struct conn *conn);
	/* CONN is closing: whatever refers to it lets go. */
	void (*closed)(struct conn *conn);
	/* CONN's output has drained below the high-water mark. */
	void (*drained)(struct conn *conn);
};

/* Sets the handlers; before the first listen. */
void server_init(const struct server_handlers *handlers);

/* Binds PATH (refusing a path a live daemon serves, replacing a stale
 * socket file) with MODE. Returns 0, or -1 after logging why. */
int server_listen_path(const char *path, int mode);
/* Serves an inherited listening socket (socket activation). */
int server_listen_fd(int fd);
/* Stops accepting; removes the socket file unless it was inherited. */
void server_stop_listening(void);
void server_free(void);
/* Connections open, and whether every one's output has been written. */
unsigned server_connections(void);
bool server_flushed(void);

const struct peer *conn_peer(const struct conn *conn);
struct watch_head *conn_watches(struct conn *conn);
/* The output buffer, to write complete lines into; NULL once closing. */
struct evbuffer *conn_output(struct conn *conn);
/* Appends one complete line (with its '\n'). */
void conn_send(struct conn *conn, const void *data, size_t len);
/* Moves a buffer of complete lines to the connection's output. */
void conn_send_buffer(struct conn *conn, struct evbuffer *buf);
void conn_send_json(struct conn *conn, struct json_object *msg);
/* Whether CONN asked for job.output as binary frames (conn.configure);
 * events framed from then on take that form. */
bool conn_binary(const struct conn *conn);
void conn_set_binary(struct conn *conn, bool binary);
/* True when its output is past the high-water mark; the connection then
 * tells the jobs it streams for once it has drained. */
bool conn_blocked(struct conn *conn);

#endif
