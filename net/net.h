/* What asyncd-net's parts share: its event loop (main.c) and the way
 * back to asyncd (channel.c). */
#ifndef ASYNCD_NET_NET_H
#define ASYNCD_NET_NET_H

#include <stddef.h>

#include <event2/event.h>

extern struct event_base *net_base;

#include "wire.h"

/* Opens the channel to asyncd on FD. */
void channel_open(struct event_base *base, int fd, wire_msg_fn on_msg,
		  wire_closed_fn on_closed);
/* Sends a message (wire.h) to asyncd. */
void net_send(const void *msg, size_t len);
void channel_close(void);

#endif
