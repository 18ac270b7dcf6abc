/* The daemon's side of asyncd-net, the network process (net/main.c):
 * started on the first download (as an unprivileged user when the daemon
 * is root), its messages checked and handed to the download they are
 * for, started again after it dies. A download registers with
 * netproc_start() and hears back through its struct netproc_events
 * until done() or lost(), after which its id is forgotten. */
#ifndef ASYNCD_DOWNLOAD_NETPROC_H
#define ASYNCD_DOWNLOAD_NETPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../../../net/wire.h"

/* How a transfer ended, checked: strings are printable ASCII, CODE is
 * one of the job error codes a transfer may end with (NULL: it
 * succeeded), SHA256 64 hex digits when it succeeded. */
struct netproc_result {
	uint64_t have;
	int64_t total;
	long status;
	const char *code;
	const char *message;
	long fail_status;
	int fail_errno;
	const char *sha256;
	const char *content_type; /* NULL: none */
	const char *url;
};

struct netproc_events {
	/* A response was accepted: the size when known (-1), and the
	 * validator of the body ("" none), for a later attempt. */
	void (*response)(void *arg, int64_t total, const char *validator);
	void (*progress)(void *arg, uint64_t have, int64_t total);
	/* A stream's bytes: they count against its window until
	 * netproc_credit() gives them back. */
	void (*data)(void *arg, const void *data, size_t len);
	void (*log)(void *arg, enum net_log_kind kind, const char *text);
	void (*done)(void *arg, const struct netproc_result *r);
	/* The network process died (WHY says how): nothing more comes. */
	void (*lost)(void *arg, const char *why);
};

/* Finds asyncd-net's program; the user it runs as is looked up when the
 * first download starts. */
void netproc_init(void);
/* Stops the network process (its transfers were stopped or lost). */
void netproc_free(void);

/* Sends START (LEN bytes; its h.id names the transfer) with FD (-1 for a
 * stream; a copy is sent), starting the process first if need be. When
 * none can be started, lost() follows. */
void netproc_start(const struct net_start *start, size_t len, int fd,
		   const struct netproc_events *events, void *arg);
void netproc_hold(uint64_t id, bool held);
void netproc_credit(uint64_t id, uint64_t bytes);
/* Asks the transfer to stop; done() follows once the file has the bytes
 * received (KEEP), or at once without them. */
void netproc_stop(uint64_t id, bool keep);
/* Forgets ID without waiting for anything: its owner is gone. */
void netproc_forget(uint64_t id);
/* The network process's pid, or 0 when none runs. */
pid_t netproc_pid(void);

#endif
