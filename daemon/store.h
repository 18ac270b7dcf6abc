/* The job table: every job the daemon knows, by id, by idempotency key,
 * and in id order. In memory today; a persistent store fills the same
 * interface later. */
#ifndef ASYNCD_STORE_H
#define ASYNCD_STORE_H

#include <stdint.h>

struct job;

void store_init(void);
void store_free(void);
/* The id for the next job: increasing, never reused. */
uint64_t store_next_id(void);
void store_add(struct job *job);
void store_remove(struct job *job);
struct job *store_get(uint64_t id);
/* The job holding KEY ("uid/key"), or NULL. */
struct job *store_find_key(const char *key);
/* Iteration newest first: store_newest(), then store_older(job). */
struct job *store_newest(void);
struct job *store_older(struct job *job);
/* The newest job whose id is below ID. */
struct job *store_newest_below(uint64_t id);

#endif
