/* asyncd-net: asyncd's network process. Everything that parses bytes
 * from the network (libcurl: HTTP, TLS, redirects, decompression) runs
 * here, in a process with no privilege and a seccomp filter
 * (sandbox.c), not in the daemon that acts for every user.
 *
 * asyncd starts it (daemon/kinds/download/netproc.c) with the socket of
 * their message channel (wire.h) on descriptor 3, stdin on /dev/null and
 * asyncd's own stdout and stderr. It runs until that socket closes, or
 * until something goes wrong: asyncd then fails or retries the
 * downloads it had here and starts another. It is not for people to run.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "../daemon/log.h"
#include "curl-loop.h"
#include "net.h"
#include "sandbox.h"
#include "sink.h"
#include "transfer.h"
#include "wire.h"

/* The channel's descriptor, as asyncd hands it over. */
#define NET_CHANNEL_FD 3
/* How long the exit may take (asyncd kills it after 2 s anyway, unless
 * asyncd itself is gone). */
#define NET_EXIT_LIMIT_S 20

struct event_base *net_base;

/* The size a message of TYPE must have at least (the URL's may follow). */
static size_t
net_msg_size(uint32_t type)
{
	switch (type) {
	case NET_START:
		return sizeof(struct net_start);
	case NET_HOLD:
		return sizeof(struct net_hold);
	case NET_CREDIT:
		return sizeof(struct net_credit);
	case NET_STOP:
		return sizeof(struct net_stop);
	default:
		return 0;
	}
}

static void
net_msg(void *arg UNUSED, void *msg, size_t len, int fd)
{
	const struct net_head *h = msg;
	size_t need = net_msg_size(h->type);

	if (need == 0 || len < need || (h->type != NET_START && len != need) ||
	    (fd >= 0 && h->type != NET_START))
		fatalx("a malformed message from asyncd (type %u, %zu bytes)",
		       h->type, len);
	switch (h->type) {
	case NET_START:
		transfer_start(msg, len, fd);
		break;
	case NET_HOLD:
		transfer_hold(h->id, ((const struct net_hold *)msg)->held != 0);
		break;
	case NET_CREDIT:
		transfer_credit(h->id, ((const struct net_credit *)msg)->bytes);
		break;
	case NET_STOP:
		transfer_stop(h->id, ((const struct net_stop *)msg)->keep != 0);
		break;
	}
}

static void
net_closed(void *arg UNUSED)
{
	event_base_loopbreak(net_base);
}

int
main(int argc, char **argv UNUSED)
{
	int type = 0;
	socklen_t len = sizeof type;

	if (argc != 1 ||
	    getsockopt(NET_CHANNEL_FD, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "asyncd-net is started by asyncd, not by hand\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	net_base = event_base_new();
	if (net_base == NULL)
		fatalx("event_base_new failed");
	if (evutil_make_socket_nonblocking(NET_CHANNEL_FD) < 0)
		fatal("the channel");
	channel_open(net_base, NET_CHANNEL_FD, net_msg, net_closed);
	sink_init(net_base);
	curl_loop_init(net_base);
	sandbox_enter();
	event_base_dispatch(net_base);

	/* Asyncd is gone or told it to go: whatever holds up the exit (a
	 * worker stuck in a write, a sanitizer's exit check) ends in
	 * SIGALRM, never in a process that lingers on its own. */
	alarm(NET_EXIT_LIMIT_S);
	transfer_free_all();
	curl_loop_free();
	sink_shutdown();
	channel_close();
	event_base_free(net_base);
	curl_global_cleanup();
	return 0;
}
