/* What asyncd-net's parts share: its event loop and the way back to
 * asyncd (main.c). */
#ifndef ASYNCD_NET_NET_H
#define ASYNCD_NET_NET_H

#include <stddef.h>

#include <event2/event.h>

extern struct event_base *net_base;

/* Sends a message (wire.h) to asyncd. */
void net_send(const void *msg, size_t len);

#endif
