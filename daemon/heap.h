/* A binary heap of pointers that knows where each item sits, so that an
 * item can be taken out or moved when its key changes, in O(log n). The
 * scheduler keeps runnable jobs and lanes in them. */
#ifndef ASYNCD_HEAP_H
#define ASYNCD_HEAP_H

#include <stdbool.h>
#include <stddef.h>

struct heap {
	void **items;
	size_t n, cap;
	/* True when A goes before B. */
	bool (*before)(const void *a, const void *b);
	/* Where ITEM keeps its index in the heap (for removal). */
	size_t *(*index_of)(void *item);
};

void heap_init(struct heap *h, bool (*before)(const void *, const void *),
	       size_t *(*index_of)(void *));
void heap_free(struct heap *h);
void heap_push(struct heap *h, void *item);
/* The first item, or NULL. */
void *heap_top(const struct heap *h);
/* Takes ITEM, which is in H, out. */
void heap_remove(struct heap *h, void *item);
/* Puts ITEM, which is in H, back in order after its key changed. */
void heap_fix(struct heap *h, void *item);

static inline bool
heap_empty(const struct heap *h)
{
	return h->n == 0;
}

#endif
