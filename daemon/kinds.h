/* The table of job kinds: adding a kind is one kind-NAME.c file filling a
 * struct job_kind, and one row in kinds.c. */
#ifndef ASYNCD_KINDS_H
#define ASYNCD_KINDS_H

#include <stddef.h>

#include "job.h"

extern const struct job_kind *const job_kinds[];
extern const size_t job_kinds_count;

extern const struct job_kind kind_sleep;
extern const struct job_kind kind_read_file;
extern const struct job_kind kind_fetch_user;
extern const struct job_kind kind_process;
extern const struct job_kind kind_download;

#endif
