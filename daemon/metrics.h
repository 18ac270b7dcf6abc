/* The daemon's figures in the Prometheus text format (version 0.0.4), for
 * daemon.metrics and --metrics-listen. The modules count here as things
 * happen (a leaf: it calls nobody); what is a state rather than an event
 * (connections open, bytes kept) is handed in when the text is made. */
#ifndef ASYNCD_METRICS_H
#define ASYNCD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "job-kind.h"

struct evbuffer;

/* The daemon's start; before any count. */
void metrics_init(void);
void metrics_free(void);

void metrics_job_submitted(const struct job_kind *kind);
/* A job went from state FROM to TO (queued, running and ended jobs per
 * kind); FROM is JOB_NSTATES for a new or restored job. */
void metrics_job_state(const struct job_kind *kind, enum job_state from,
		       enum job_state to);
/* A job ended: completed, or failed with ERROR_CODE; RUN_MS is how long
 * its last attempt ran, or -1 when it never started. */
void metrics_job_ended(const struct job_kind *kind, const char *error_code,
		       long long run_ms);
void metrics_job_retried(const struct job_kind *kind);

void metrics_download_bytes(size_t n);
void metrics_output_bytes(size_t n);
void metrics_connection_refused(void);
void metrics_store_commit(double seconds);

/* What is not counted here but read when the text is made. */
struct metrics_state {
	unsigned connections;
	long long retained_bytes;
	long long store_bytes; /* -1: memory only */
};

/* Appends the whole text to OUT. */
void metrics_render(struct evbuffer *out, const struct metrics_state *st);

#endif
