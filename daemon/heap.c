/* A binary heap with back-indexes (see heap.h). */
#include <stdlib.h>

#include "heap.h"
#include "xmalloc.h"

void
heap_init(struct heap *h, bool (*before)(const void *, const void *),
	  size_t *(*index_of)(void *))
{
	h->items = NULL;
	h->n = h->cap = 0;
	h->before = before;
	h->index_of = index_of;
}

void
heap_free(struct heap *h)
{
	free(h->items);
	h->items = NULL;
	h->n = h->cap = 0;
}

static void
heap_place(struct heap *h, size_t i, void *item)
{
	h->items[i] = item;
	*h->index_of(item) = i;
}

/* Moves the item at I up while it goes before its parent. */
static void
heap_up(struct heap *h, size_t i)
{
	void *item = h->items[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!h->before(item, h->items[parent]))
			break;
		heap_place(h, i, h->items[parent]);
		i = parent;
	}
	heap_place(h, i, item);
}

/* Moves the item at I down while a child goes before it. */
static void
heap_down(struct heap *h, size_t i)
{
	void *item = h->items[i];

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
		    h->before(h->items[child + 1], h->items[child]))
			child++;
		if (!h->before(h->items[child], item))
			break;
		heap_place(h, i, h->items[child]);
		i = child;
	}
	heap_place(h, i, item);
}

void
heap_push(struct heap *h, void *item)
{
	if (h->n == h->cap) {
		h->cap = h->cap ? h->cap * 2 : 8;
		h->items = xreallocarray(h->items, h->cap, sizeof *h->items);
	}
	h->items[h->n] = item;
	heap_up(h, h->n++);
}

void *
heap_top(const struct heap *h)
{
	return h->n > 0 ? h->items[0] : NULL;
}

void
heap_remove(struct heap *h, void *item)
{
	size_t i = *h->index_of(item);
	void *last = h->items[--h->n];

	if (i == h->n)
		return;
	heap_place(h, i, last);
	heap_fix(h, last);
}

void
heap_fix(struct heap *h, void *item)
{
	size_t i = *h->index_of(item);

	if (i > 0 && h->before(item, h->items[(i - 1) / 2]))
		heap_up(h, i);
	else
		heap_down(h, i);
}
