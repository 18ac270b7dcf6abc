/* A hash map from job id to pointer: open addressing with linear probing
 * and backward-shift deletion, so that endless insert/delete churn leaves
 * no tombstones behind. */
#ifndef ASYNCD_IDMAP_H
#define ASYNCD_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot;

struct idmap {
	struct idmap_slot *slots;
	size_t mask; /* capacity - 1; capacity is a power of two */
	size_t count;
};

void idmap_init(struct idmap *m);
void idmap_free(struct idmap *m);
/* ID must be non-zero and not present. */
void idmap_put(struct idmap *m, uint64_t id, void *value);
void *idmap_get(const struct idmap *m, uint64_t id);
void idmap_del(struct idmap *m, uint64_t id);

#endif
