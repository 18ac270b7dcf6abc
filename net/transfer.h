/* Downloads in asyncd-net: each a libcurl transfer on the loop
 * (curl-loop.c), attempt after attempt until one succeeds, fails for
 * good or the retries run out; its bytes go to the file asyncd opened
 * (sink.c) or back to asyncd as NET_DATA (a stream). What asyncd asks
 * for arrives here from main.c; what happens goes back as messages. */
#ifndef ASYNCD_NET_TRANSFER_H
#define ASYNCD_NET_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* NET_START of LEN bytes, with FD, the file (-1 for a stream; taken). */
void transfer_start(const struct net_start *m, size_t len, int fd);
void transfer_hold(uint64_t id, bool held);
void transfer_credit(uint64_t id, uint64_t bytes);
void transfer_stop(uint64_t id, bool keep);
/* Drops every transfer: asyncd is gone. */
void transfer_free_all(void);

#endif
