/* The table of job kinds: adding a kind is one file in kinds/ filling a
 * struct job_kind, and one row in kinds.c. */
#ifndef ASYNCD_KINDS_H
#define ASYNCD_KINDS_H

#include <stdbool.h>
#include <stddef.h>

#include "job-kind.h"

/* The kinds this daemon runs, in the order daemon.info lists them. */
size_t kinds_count(void);
const struct job_kind *kinds_at(size_t i);
/* Runs the core with the N kinds of TABLE instead of the built-in ones:
 * tests of the job table use kinds of their own. Before jobs_init(). */
void kinds_use(const struct job_kind *const *table, size_t n);
/* The kind named NAME, or NULL. */
const struct job_kind *kinds_find(const char *name);
/* A requeue_by_default for kinds whose jobs can always run again. */
bool kinds_requeue_always(struct json_object *args);

extern const struct job_kind kind_sleep;
extern const struct job_kind kind_read_file;
extern const struct job_kind kind_fetch_user;
extern const struct job_kind kind_process;
extern const struct job_kind kind_download;

#endif
