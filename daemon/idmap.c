/* Job id -> pointer map. Id 0 marks an empty slot. */
#include <stdlib.h>

#include "idmap.h"
#include "xmalloc.h"

struct idmap_slot {
	uint64_t id;
	void *value;
};

#define IDMAP_MIN_CAPACITY 64

/* Fibonacci hashing spreads consecutive ids across the table. */
static size_t
idmap_home(const struct idmap *m, uint64_t id)
{
	return (size_t)((id * 0x9e3779b97f4a7c15ULL) >> 17) & m->mask;
}

void
idmap_init(struct idmap *m)
{
	m->slots = xcalloc(IDMAP_MIN_CAPACITY, sizeof *m->slots);
	m->mask = IDMAP_MIN_CAPACITY - 1;
	m->count = 0;
}

void
idmap_free(struct idmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->count = 0;
}

static void
idmap_insert_slot(struct idmap *m, uint64_t id, void *value)
{
	size_t i = idmap_home(m, id);

	while (m->slots[i].id != 0)
		i = (i + 1) & m->mask;
	m->slots[i].id = id;
	m->slots[i].value = value;
}

static void
idmap_resize(struct idmap *m, size_t capacity)
{
	struct idmap_slot *old = m->slots;
	size_t old_capacity = m->mask + 1;

	m->slots = xcalloc(capacity, sizeof *m->slots);
	m->mask = capacity - 1;
	for (size_t i = 0; i < old_capacity; i++)
		if (old[i].id != 0)
			idmap_insert_slot(m, old[i].id, old[i].value);
	free(old);
}

void
idmap_put(struct idmap *m, uint64_t id, void *value)
{
	/* Keep the load at or under one half: probes stay short. */
	if ((m->count + 1) * 2 > m->mask + 1)
		idmap_resize(m, (m->mask + 1) * 2);
	idmap_insert_slot(m, id, value);
	m->count++;
}

void *
idmap_get(const struct idmap *m, uint64_t id)
{
	size_t i = idmap_home(m, id);

	if (id == 0)
		return NULL;
	while (m->slots[i].id != 0) {
		if (m->slots[i].id == id)
			return m->slots[i].value;
		i = (i + 1) & m->mask;
	}
	return NULL;
}

void
idmap_del(struct idmap *m, uint64_t id)
{
	size_t i = idmap_home(m, id);

	while (m->slots[i].id != id) {
		if (m->slots[i].id == 0)
			return;
		i = (i + 1) & m->mask;
	}
	/* Shift back later members of the cluster that may live at i. */
	size_t j = i;
	for (;;) {
		m->slots[i].id = 0;
		for (;;) {
			j = (j + 1) & m->mask;
			if (m->slots[j].id == 0)
				goto done;
			size_t home = idmap_home(m, m->slots[j].id);
			/* Move j to i unless its home lies cyclically in (i, j]. */
			if (i <= j ? (home <= i || home > j)
				   : (home <= i && home > j))
				break;
		}
		m->slots[i] = m->slots[j];
		i = j;
	}
done:
	m->count--;
	if (m->mask + 1 > IDMAP_MIN_CAPACITY && m->count * 8 < m->mask + 1)
		idmap_resize(m, (m->mask + 1) / 2);
}
