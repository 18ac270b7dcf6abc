/* The progress channel of process jobs: the program writes lines
 * {"done":N,"total":M} ("total" optional) or N/M on ASYNCD_PROGRESS_FD.
 * This splits the byte stream into lines, in a bounded buffer, and parses
 * them; a malformed or overlong line is skipped. */
#ifndef ASYNCD_PROCESS_PROGRESS_H
#define ASYNCD_PROCESS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line kept; the rest of a longer one is dropped with it. */
#define PROC_PROGRESS_LINE_MAX 256

struct proc_progress {
	char line[PROC_PROGRESS_LINE_MAX];
	size_t len;
	bool overlong; /* skipping to the end of a line too long */
};

/* Called for each valid line; TOTAL < 0 is "no total". */
typedef void (*proc_progress_fn)(void *arg, uint64_t done, int64_t total);

void proc_progress_init(struct proc_progress *pp);
/* Takes LEN more bytes of the stream. */
void proc_progress_feed(struct proc_progress *pp, const void *data,
			size_t len, proc_progress_fn fn, void *arg);
/* Parses one line (no '\n'): 0 with *done and *total, or -1. */
int proc_progress_parse(const char *line, size_t len, uint64_t *done,
			int64_t *total);

#endif
