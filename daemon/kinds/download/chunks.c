/* Chunks of downloads' bytes and their spare list (see chunks.h). */
#include <stdlib.h>
#include <string.h>

#include "../../xmalloc.h"
#include "chunks.h"

/* Chunks kept for reuse while downloads run: up to the budget's worth, so
 * that a busy daemon allocates (and faults in) its buffers only once. */
#define CHUNKS_SPARE (DOWNLOAD_FILE_BUDGET / CHUNK_SIZE)

static struct chunk *spare_chunks;
static unsigned nspare_chunks;

/* A chunk from the spare list, or a new one. */
static struct chunk *
chunk_get(void)
{
	struct chunk *ch = spare_chunks;

	if (ch == NULL) {
		ch = xmalloc(sizeof *ch);
	} else {
		spare_chunks = ch->next;
		nspare_chunks--;
	}
	ch->next = NULL;
	ch->len = 0;
	return ch;
}

void
chunks_release(struct chunk_list *l)
{
	struct chunk *ch, *next;

	for (ch = l->head; ch != NULL; ch = next) {
		next = ch->next;
		if (nspare_chunks < CHUNKS_SPARE) {
			ch->next = spare_chunks;
			spare_chunks = ch;
			nspare_chunks++;
		} else {
			free(ch);
		}
	}
	memset(l, 0, sizeof *l);
}

void
chunks_free_spare(void)
{
	struct chunk *ch;

	while ((ch = spare_chunks) != NULL) {
		spare_chunks = ch->next;
		free(ch);
	}
	nspare_chunks = 0;
}

void
chunks_append(struct chunk_list *l, const unsigned char *data, size_t len)
{
	while (len > 0) {
		if (l->tail == NULL || l->tail->len == CHUNK_SIZE) {
			struct chunk *ch = chunk_get();
			if (l->tail != NULL)
				l->tail->next = ch;
			else
				l->head = ch;
			l->tail = ch;
		}
		size_t n = CHUNK_SIZE - l->tail->len;
		if (n > len)
			n = len;
		memcpy(l->tail->data + l->tail->len, data, n);
		l->tail->len += n;
		l->len += n;
		data += n;
		len -= n;
	}
}
