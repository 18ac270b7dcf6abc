/* The client side of the wire: a blocking JSON-lines connection to
 * asyncd's Unix socket, or to a program that carries the lines to it
 * (asyncctl -H: ssh), shared by asyncctl and the tests. */
#ifndef ASYNCD_LINE_CLIENT_H
#define ASYNCD_LINE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct line_client;
struct output_event;

/* The longest line read; longer ones are skipped. Events carry up to
 * 64 KiB of data, escaped: this allows generously. */
#define LINE_CLIENT_MAX_LINE (64 * 1024 * 1024)

/* Why a read returned no message. */
enum line_client_status {
	LINE_CLIENT_OK,          /* a message */
	LINE_CLIENT_TIMEOUT,     /* none came in time */
	LINE_CLIENT_CLOSED,      /* the peer closed, or the link broke */
	LINE_CLIENT_INTERRUPTED, /* a signal interrupted the wait (EINTR) */
};

/* Sees each line before it is parsed; returns true when it took the
 * line, which is then neither parsed nor returned. */
typedef bool (*line_client_line_fn)(void *arg, const char *line, size_t len);
/* Sees each line that is not JSON, before it is dropped. */
typedef void (*line_client_bad_fn)(void *arg, const char *line, size_t len);
/* Takes the raw bytes of a binary job.output frame (binary-frame.h) as
 * they arrive, straight from the read buffer: EV is its header, DATA and
 * LEN the next piece, END true with the last (a frame of 0 bytes comes
 * as one empty last piece). */
typedef void (*line_client_frame_fn)(void *arg, const struct output_event *ev,
				     const unsigned char *data, size_t len,
				     bool end);
/* Picks the message a line_client_await() waits for. */
typedef bool (*line_client_match_fn)(void *arg, struct json_object *msg);

/* Connects to the socket at PATH; NULL (errno set) when that fails. */
struct line_client *line_client_connect(const char *path);
/* A stream socket connected to the Unix socket at PATH (close-on-exec),
 * or -1 (errno set): what line_client_connect() wraps, for callers that
 * copy bytes rather than lines (asyncctl bridge). */
int line_client_dial(const char *path);
/* Wraps FD, an already connected stream socket, and takes it: the socket
 * line_client_dial() gives, or one end of a socketpair whose other end a
 * program such as ssh reads and writes. */
struct line_client *line_client_open(int fd);
/* Closes the connection and frees what it holds back. */
void line_client_free(struct line_client *lc);
/* Its socket, for callers that read or write around it. */
int line_client_fd(struct line_client *lc);

/* Hooks, NULL for none: FN takes lines before they are parsed (a fast
 * path for job.output), BAD sees lines that are not JSON (else they are
 * dropped without a word). */
void line_client_on_line(struct line_client *lc, line_client_line_fn fn,
			 void *arg);
void line_client_on_bad_line(struct line_client *lc, line_client_bad_fn bad,
			     void *arg);
/* FN takes binary frames in the daemon's layout; without it (NULL) a
 * binary frame is returned as its header message with the raw bytes as
 * params.data (a JSON string of params.length bytes, NULs included). */
void line_client_on_frame(struct line_client *lc, line_client_frame_fn fn,
			  void *arg);

/* Sends LEN bytes as they are: half lines, oversized or malformed ones
 * too. Returns 0, or -1 (errno set) when the connection broke. */
int line_client_write(struct line_client *lc, const void *data, size_t len);
/* Sends LEN bytes of LINE and a '\n' after them. */
int line_client_send_line(struct line_client *lc, const char *line,
			  size_t len);

/* Timeouts are in milliseconds: a negative one waits for ever, 0 takes
 * only what has been received already. */

/* The next message read off the socket, parsed; messages held back by
 * line_client_await() are not looked at. NULL with *ST saying why. */
struct json_object *line_client_recv(struct line_client *lc, int timeout_ms,
				     enum line_client_status *st);
/* The next message: the oldest held back first, then line_client_recv(). */
struct json_object *line_client_next(struct line_client *lc, int timeout_ms,
				     enum line_client_status *st);
/* The first message MATCH accepts, among those held back, then those
 * that arrive within TIMEOUT_MS; the others are held back, in order, for
 * line_client_next(). NULL with *ST saying why. */
struct json_object *line_client_await(struct line_client *lc,
				      line_client_match_fn match, void *arg,
				      int timeout_ms,
				      enum line_client_status *st);
/* The same for the response to the request with integer ID. */
struct json_object *line_client_await_response(struct line_client *lc,
					       int64_t id, int timeout_ms,
					       enum line_client_status *st);
/* True when the peer closes the connection within TIMEOUT_MS; what
 * arrives meanwhile stays for the reads above. */
bool line_client_wait_closed(struct line_client *lc, int timeout_ms);

#endif
