/* asyncd-net's channel to asyncd (see net.h): the one wire, so that
 * whoever reports back (transfer.c) needs no more than net_send(). */
#include "net.h"

static struct wire *channel;

void
channel_open(struct event_base *base, int fd, wire_msg_fn on_msg,
	     wire_closed_fn on_closed)
{
	channel = wire_new(base, fd, on_msg, on_closed, NULL);
}

void
net_send(const void *msg, size_t len)
{
	wire_send(channel, msg, len, -1);
}

void
channel_close(void)
{
	wire_free(channel);
	channel = NULL;
}
