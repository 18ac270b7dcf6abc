/* The daemon's options and the event loop every module runs on. */
#ifndef ASYNCD_RUNTIME_H
#define ASYNCD_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon_options {
	char *socket_path;
	int socket_mode; /* -1: 0666 as root, 0600 otherwise */
	size_t max_request;
	size_t output_hwm;
	unsigned max_queued;          /* queued jobs in all */
	unsigned max_queued_per_user; /* queued jobs of one user */
	unsigned keep_finished;       /* finished jobs kept queryable */
	unsigned max_connections;
	unsigned max_connections_per_user; /* 0: no cap; root has none */
	unsigned request_timeout;     /* seconds a request line may take; 0: any */
	size_t output_limit;          /* output buffered per connection; 0: any */
	unsigned output_hwm_timeout;  /* seconds past output_hwm; 0: any */
	unsigned workers;
	char *download_dir;
	char *metrics_listen;  /* ADDR:PORT of GET /metrics, or NULL */
	char *allowed_schemes; /* comma-separated, "http,https" by default */
	unsigned download_stall_timeout; /* seconds without data; 0: never */
	unsigned idle_exit;    /* seconds; 0: never */
	char *state_dir;       /* NULL: the default; "none": memory only */
	bool sync_full;        /* --sync full: fsync every commit */
	size_t keep_output;       /* bytes of one job's stream kept */
	unsigned stop_timeout;    /* seconds a stop waits before SIGKILL */
	size_t keep_output_total; /* bytes of output kept in all */
	const char *version;
};

extern struct daemon_options daemon_opts;
extern struct event_base *daemon_base;

/* The peer credentials of a connection, read with SO_PEERCRED. */
struct peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
};

/* Milliseconds since the epoch, and on the monotonic clock. */
long long now_wall_ms(void);
long long now_mono_ms(void);
/* Microseconds on the monotonic clock. */
long long now_mono_us(void);

#endif
