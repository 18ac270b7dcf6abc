/* Requests: one line in, the response (if any) out, through the method
 * table. */
#ifndef ASYNCD_RPC_H
#define ASYNCD_RPC_H

#include <stddef.h>

struct conn;
struct evbuffer;

void rpc_init(void);
void rpc_free(void);
/* Handles one line (without its '\n') received on CONN. */
void rpc_handle_line(struct conn *conn, const char *line, size_t len);
/* Answers a line longer than --max-request. */
void rpc_too_large(struct conn *conn);
/* The daemon.metrics text, appended to OUT (also for --metrics-listen). */
void rpc_metrics_text(struct evbuffer *out);

#endif
