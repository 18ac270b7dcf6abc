/* The asyncd wire contract: every constant a client and the daemon share.
 * PROTOCOL.md is the prose; this header is the one place it lives in C. */
#ifndef ASYNCD_PROTO_H
#define ASYNCD_PROTO_H

#include <stddef.h>

#define PROTO_VERSION 2
#define PROTO_SOCKET_NAME "asyncd.sock"
#define PROTO_SYSTEM_SOCKET "/run/asyncd/asyncd.sock"

#define PROTO_MAX_REQUEST_DEFAULT (1024 * 1024) /* bytes in one line */
#define PROTO_MAX_DEPTH 64                      /* JSON nesting */
#define PROTO_OUTPUT_HWM_DEFAULT (8 * 1024 * 1024)
#define PROTO_CHUNK_MAX (64 * 1024) /* raw bytes in one job.output */
/* Raw bytes in one binary job.output frame, sent when no watcher needs
 * the JSON form: large, so that a file goes in few sendfile() calls. */
#define PROTO_BINARY_CHUNK_MAX (1024 * 1024)
#define PROTO_PROGRESS_PER_SEC 10
#define PROTO_LABEL_MAX 256
#define PROTO_KEY_MAX 128
#define PROTO_LIST_LIMIT_DEFAULT 100
#define PROTO_LIST_LIMIT_MAX 10000
#define PROTO_IDS_MAX 1024 /* ids in one "after" or "after_any" */
/* Times a job that was running when the daemon stopped is queued again
 * (on_interrupt "requeue") before an interrupt fails it. */
#define PROTO_INTERRUPT_REQUEUES 3
/* Job control (PROTOCOL.md, "Job control"). */
#define PROTO_PRIORITY_MAX 100
#define PROTO_DELAY_MAX_MS 31536000000LL    /* delay_ms: a year */
#define PROTO_RETRY_MAX 100
#define PROTO_RETRY_DELAY_MAX_MS 86400000LL /* a day */
#define PROTO_RETRY_DELAY_DEFAULT_MS 1000
#define PROTO_RETRY_BACKOFF_MAX 10.0
#define PROTO_RETRY_BACKOFF_DEFAULT 2.0

/* JSON-RPC error codes (PROTOCOL.md, "Requests and responses"). */
enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_NO_SUCH_JOB = -32001,
	RPC_JOB_FINISHED = -32002,
	RPC_OVERLOADED = -32003,
	RPC_SHUTTING_DOWN = -32004,
	RPC_STORE_UNAVAILABLE = -32005,
	RPC_JOB_NOT_FINISHED = -32006,
	RPC_JOB_NOT_QUEUED = -32007,
};

/* The standard message for a code. */
const char *proto_rpc_message(int code);

enum job_state {
	JOB_QUEUED,
	JOB_RUNNING,
	JOB_COMPLETED,
	JOB_FAILED,
	JOB_NSTATES
};

const char *proto_state_name(enum job_state state);
/* Returns the state named NAME, or -1. */
int proto_state_parse(const char *name);

/* Job error codes carried in job.failed (PROTOCOL.md, "Job error codes"). */
#define JOBERR_CANCELLED "cancelled"
#define JOBERR_TIMEOUT "timeout"
#define JOBERR_DEPENDENCY_FAILED "dependency-failed"
#define JOBERR_NOT_FOUND "not-found"
#define JOBERR_PERMISSION_DENIED "permission-denied"
#define JOBERR_IS_A_DIRECTORY "is-a-directory"
#define JOBERR_EXISTS "exists"
#define JOBERR_IO_ERROR "io-error"
#define JOBERR_NETWORK_ERROR "network-error"
#define JOBERR_HTTP_ERROR "http-error"
#define JOBERR_CHECKSUM_MISMATCH "checksum-mismatch"
#define JOBERR_TOO_LARGE "too-large"
#define JOBERR_EXIT_STATUS "exit-status"
#define JOBERR_SIGNAL "signal"
#define JOBERR_NO_SUCH_USER "no-such-user"
#define JOBERR_INTERRUPTED "interrupted"
#define JOBERR_INTERNAL "internal"

/* The job error code for a failed open/read/write with ERRNO. */
const char *proto_errno_code(int err);

/* The default socket path for a daemon or client running as this user:
 * PROTO_SYSTEM_SOCKET for root, else $XDG_RUNTIME_DIR/asyncd/asyncd.sock
 * (or /tmp/asyncd-UID/asyncd.sock without XDG_RUNTIME_DIR). Malloc'd. */
char *proto_default_socket(void);

/* Writes NOW_MS (milliseconds since the epoch) as RFC 3339 UTC with
 * milliseconds into BUF (at least 25 bytes). */
void proto_format_time(long long now_ms, char buf[32]);
/* Reads an RFC 3339 time ("2026-11-30T18:00:00Z", fractions and an
 * offset such as "+01:00" allowed) into milliseconds since the epoch:
 * 0, or -1 when TEXT is not one (or is before 1970). */
int proto_parse_time(const char *text, long long *ms);

#endif
