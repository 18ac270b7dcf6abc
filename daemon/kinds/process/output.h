/* A running process job's output: stdout and stderr read on the loop into
 * job_output(), no longer read while a watcher is past its high-water
 * mark (the program then blocks in write) until resumed; and the progress
 * channel, whose lines become rate-limited job progress. */
#ifndef ASYNCD_PROCESS_OUTPUT_H
#define ASYNCD_PROCESS_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../job-kind.h"
#include "progress.h"

struct event;
struct process_output;

struct process_pipe {
	struct process_output *o;
	enum job_stream stream;
	int fd; /* -1 once at EOF or closed */
	struct event *ev;
};

struct process_output {
	struct job *job;
	struct process_pipe out, err;
	bool paused; /* the pipes are not read until resumed */
	int progress_fd;
	struct event *progress_ev;
	struct proc_progress progress;
	struct event *progress_timer; /* sends a rate-limited line later */
	bool progress_unsent;
	uint64_t progress_done;
	int64_t progress_total;
	struct event *linger_timer;
	bool lingering;           /* the program exited; the pipes did not */
	long long linger_left_ms; /* of the linger, not counting pauses */
	long long linger_since_ms; /* when the timer was last armed */
	void (*closed)(void *arg); /* stdout or stderr reached EOF, or closed */
	void *arg;
};

/* Sets O up for JOB, with nothing open yet; CLOSED(ARG) is called when
 * stdout or stderr reaches EOF (it may free O). */
void process_output_init(struct process_output *o, struct job *job,
			 void (*closed)(void *), void *arg);
/* Starts reading the child's pipes. */
void process_output_start(struct process_output *o, int out_fd, int err_fd,
			  int progress_fd);
/* True while stdout or stderr is open. */
bool process_output_open(const struct process_output *o);
/* The program exited: if stdout or stderr is still open (something it
 * left behind holds it), it is closed after MS ms in which output was not
 * paused for a slow client, and CLOSED called. */
void process_output_linger(struct process_output *o, long long ms);
/* Closes stdout and stderr: what comes after is lost. */
void process_output_close(struct process_output *o);
/* The watchers drained: read the pipes again. */
void process_output_resume(struct process_output *o);
/* At the end: the progress lines still in the pipe, and the last one
 * held back. */
void process_output_finish(struct process_output *o);
/* Closes everything and frees what O holds (not O). Streams still open
 * are not ended: nothing more reaches the job (at the end they are
 * closed already; at a forced shutdown the job is torn down). */
void process_output_free(struct process_output *o);

#endif
