/* asyncctl's connection to asyncd: requests built with json-c and given
 * ids, over the JSON-lines client of proto/line-client.h, on the daemon's
 * socket or through a program that carries the lines to it (ssh). */
#ifndef ASYNCCTL_CONNECTION_H
#define ASYNCCTL_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct json_object;
struct client;

/* Connects to PATH; NULL (errno set) when the daemon cannot be reached. */
struct client *client_connect(const char *path);
/* A connection over FD, one end of a socketpair whose other end the
 * program CHILD (ssh) speaks on; the client takes both. */
struct client *client_open_child(int fd, pid_t child);
/* Closes the connection; a child is ended (SIGTERM unless it has exited:
 * whatever this invocation needed has been answered) and reaped. */
void client_close(struct client *c);
/* Whether any message has come on the connection. */
bool client_answered(struct client *c);
/* After the connection broke: the child's exit status (128 + signal
 * when a signal ended it), once it has exited, ended after 2 s if need
 * be; -1 without a child. */
int client_child_status(struct client *c);

/* Sends a request and waits for its response, queueing events that come
 * first. Returns the response (caller frees), or NULL if the connection
 * broke. PARAMS is taken. */
struct json_object *client_call(struct client *c, const char *method,
				struct json_object *params);
/* Sends a request whose response is not awaited now (it arrives through
 * client_next()). Returns its id, or -1. */
long long client_send(struct client *c, const char *method,
		      struct json_object *params);
/* The next message: a queued event first, then whatever arrives. Waits at
 * most TIMEOUT_MS (-1: forever). Returns NULL on timeout (*closed false),
 * or when the connection broke (*closed true) or a signal interrupted the
 * wait (*closed false, errno EINTR). */
struct json_object *client_next(struct client *c, int timeout_ms,
				bool *closed);

/* Hands job.output events to FN (decoded, without going through json-c)
 * instead of returning them from client_next(); NULL: return them. A
 * binary frame's bytes come in pieces as they are read, END with the
 * last; a JSON event's come whole (END true). */
struct output_event;
typedef void (*client_output_fn)(void *arg, const struct output_event *ev,
				 const unsigned char *data, size_t len,
				 bool end);
void client_on_output(struct client *c, client_output_fn fn, void *arg);

/* Asks, once per connection and without waiting for the answer, for
 * job.output as binary frames (conn.configure): raw bytes, no decoding.
 * Its response comes through client_next() like any other (an error from
 * a daemon of protocol 1, which keeps sending JSON lines); frames reach
 * the output hook, or client_next() with the bytes as params.data. */
void client_binary_output(struct client *c);

/* Whether the line last received was a response with an error, and its
 * code. */
int client_error_code(struct json_object *response);

#endif
