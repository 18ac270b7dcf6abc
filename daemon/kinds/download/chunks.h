/* The buffers of downloads' bytes on their way to the file: fixed-size
 * chunks in lists, recycled through one spare list, so that a busy daemon
 * allocates (and faults in) its buffers once and a download whose bytes
 * are all written holds none. The spare list is the loop's: chunks are
 * taken and given back on the loop thread only; a worker only reads the
 * list it was handed. */
#ifndef ASYNCD_DOWNLOAD_CHUNKS_H
#define ASYNCD_DOWNLOAD_CHUNKS_H

#include <stddef.h>

#define CHUNK_SIZE (64 * 1024)
/* The bytes not yet written that all downloads together may hold before
 * their producers wait (file.c); the spare list keeps as many. */
#define DOWNLOAD_FILE_BUDGET (8 * 1024 * 1024)

struct chunk {
	struct chunk *next;
	size_t len;
	unsigned char data[CHUNK_SIZE];
};

/* Bytes in a queue of chunks. */
struct chunk_list {
	struct chunk *head, *tail;
	size_t len;
};

/* Appends LEN bytes to L, filling its last chunk before taking another. */
void chunks_append(struct chunk_list *l, const unsigned char *data,
		   size_t len);
/* Empties L, keeping its chunks for reuse up to the budget's worth. */
void chunks_release(struct chunk_list *l);
/* Gives the spare chunks back to the system: no download is left. */
void chunks_free_spare(void);

#endif
