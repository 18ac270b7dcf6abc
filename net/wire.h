/* The messages between asyncd and asyncd-net, its network process: one
 * message per datagram of a SOCK_SEQPACKET socketpair, a fixed layout per
 * type (both ends are built together), the URL last where there is one.
 * A download's file descriptor rides with its NET_START (SCM_RIGHTS).
 *
 * asyncd trusts nothing that comes back: every message is checked for
 * its size, its strings are cut at their array's end, its codes are
 * looked up in a fixed list (see daemon/kinds/download/netproc.c).
 */
#ifndef ASYNCD_NET_WIRE_H
#define ASYNCD_NET_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

/* The largest message: a NET_DATA of a stream, or a NET_START with the
 * longest URL a download accepts. */
#define NET_MSG_MAX (64 * 1024 + 64)
#define NET_DATA_MAX (64 * 1024)
#define NET_URL_MAX 8192
#define NET_VALIDATOR_MAX 200
/* Bytes of a stream sent and not yet taken by asyncd (NET_CREDIT): the
 * network process pauses the transfer there. */
#define NET_STREAM_WINDOW (1024 * 1024)

enum net_msg_type {
	/* asyncd -> asyncd-net */
	NET_START = 1, /* struct net_start, then the URL */
	NET_HOLD,      /* struct net_hold: job.pause, job.resume */
	NET_CREDIT,    /* struct net_credit: stream bytes taken */
	NET_STOP,      /* struct net_stop */
	/* asyncd-net -> asyncd */
	NET_RESPONSE, /* struct net_response: a response was accepted */
	NET_PROGRESS, /* struct net_progress */
	NET_DATA,     /* struct net_head, then a stream's bytes */
	NET_LOG,      /* struct net_log: a line about the job */
	NET_DONE,     /* struct net_done, then the URL it ended at */
};

struct net_head {
	uint32_t type;
	uint32_t pad;
	uint64_t id; /* the job */
};

/* NET_START flags. */
#define NET_START_FILE 0x1     /* a descriptor is attached: write there */
#define NET_START_HELD 0x2     /* paused (job.pause) until NET_HOLD 0 */
#define NET_START_TRUNCATE 0x4 /* empty the file first (have is 0) */

struct net_start {
	struct net_head h;
	uint64_t have;     /* bytes we have: the file's first, to hash */
	int64_t max_bytes; /* -1: no limit */
	uint32_t flags;
	uint32_t retries; /* attempts after a failure that may pass */
	uint32_t stall_timeout_s;
	uint32_t pad;
	char validator[NET_VALIDATOR_MAX + 1]; /* of what we have, or "" */
	char protocols[256]; /* --allow-scheme's list */
	char url[];
};

struct net_hold {
	struct net_head h;
	uint32_t held;
	uint32_t pad;
};

struct net_credit {
	struct net_head h;
	uint64_t bytes;
};

struct net_stop {
	struct net_head h;
	uint32_t keep; /* every byte received must reach the file */
	uint32_t pad;
};

struct net_response {
	struct net_head h;
	int64_t total; /* the file's size, -1: not known */
	char validator[NET_VALIDATOR_MAX + 1]; /* of the body, or "" */
};

struct net_progress {
	struct net_head h;
	uint64_t have;
	int64_t total;
};

/* What a NET_LOG line says, for its journal MESSAGE_ID. */
enum net_log_kind {
	NET_LOG_DEBUG,
	NET_LOG_RESTARTED, /* the file changed: from byte 0 again */
	NET_LOG_RETRY,     /* an attempt failed; another follows */
};

struct net_log {
	struct net_head h;
	uint32_t kind;
	uint32_t pad;
	char text[300];
};

struct net_done {
	struct net_head h;
	uint64_t have;
	int64_t total;
	int64_t status;      /* the last response's, 0: none */
	int64_t fail_status; /* http-error */
	int32_t fail_errno;  /* io-error */
	uint32_t pad;
	char code[32];     /* "" when it succeeded, else a job error code */
	char message[300];
	char sha256[65];   /* of all the bytes, in hex, when it succeeded */
	char content_type[256];
	char url[]; /* where it ended, after redirects */
};

struct wire;

/* A message arrived: MSG of LEN bytes (at least a struct net_head; the
 * callee may change them, not keep them), and FD, the descriptor that
 * came with it (-1: none; the callee owns it). */
typedef void (*wire_msg_fn)(void *arg, void *msg, size_t len, int fd);
/* ON_MSG must not free the wire; ON_CLOSED may. */
/* The other end is gone (or sent something that is not a message). */
typedef void (*wire_closed_fn)(void *arg);

/* Takes FD (a SOCK_SEQPACKET socket, made non-blocking) onto BASE. */
struct wire *wire_new(struct event_base *base, int fd, wire_msg_fn on_msg,
		      wire_closed_fn on_closed, void *arg);
/* Closes the socket; queued messages are dropped, their descriptors
 * closed. */
void wire_free(struct wire *w);
/* Sends MSG (LEN bytes) with a copy of FD (-1: none); what the socket
 * cannot take now is queued, in order. */
void wire_send(struct wire *w, const void *msg, size_t len, int fd);
/* Bytes queued and not yet sent. */
size_t wire_queued(const struct wire *w);

/* Copies S into DST of SIZE bytes, cut to fit, NUL-terminated. */
void wire_strcpy(char *dst, size_t size, const char *s);

#endif
