/* asyncctl bridge: the local daemon's socket on stdin and stdout, until
 * either side ends; what `asyncctl -H` runs on the other host through
 * ssh (the counterpart of systemd-stdio-bridge). The daemon sees the
 * bridge's own uid, so a remote user acts exactly as that user on this
 * host.
 *
 * Each direction is copied with splice() where one of its ends is a pipe
 * (ssh gives a command pipes), else through a buffer. It never blocks on
 * a write while the other direction could move: the socket is
 * non-blocking, splice() is asked not to block on the pipe, and a socket
 * on stdin or stdout is written with MSG_DONTWAIT (a terminal or a file
 * is written as it is). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../proto/line-client.h"
#include "asyncctl.h"

/* Bytes moved per splice() or read(). */
#define BRIDGE_CHUNK (256 * 1024)

/* How a descriptor is read or written. */
enum bridge_type { BRIDGE_PIPE, BRIDGE_SOCKET, BRIDGE_OTHER };

/* One direction of the copy. */
struct bridge_dir {
	int in, out;
	enum bridge_type in_type, out_type;
	bool splice; /* in or out is a pipe */
	char *buf;   /* without splice: bytes read, not yet written */
	size_t off, len;
	bool out_ready; /* out took the last write whole, or polled
	                 * writable since */
	bool eof;       /* in ended */
};

static enum bridge_type
bridge_type(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return BRIDGE_OTHER;
	if (S_ISFIFO(st.st_mode))
		return BRIDGE_PIPE;
	return S_ISSOCK(st.st_mode) ? BRIDGE_SOCKET : BRIDGE_OTHER;
}

static void
bridge_dir_init(struct bridge_dir *d, int in, int out)
{
	memset(d, 0, sizeof *d);
	d->in = in;
	d->out = out;
	d->in_type = bridge_type(in);
	d->out_type = bridge_type(out);
	d->splice = d->in_type == BRIDGE_PIPE || d->out_type == BRIDGE_PIPE;
	d->out_ready = true;
	if (!d->splice && (d->buf = malloc(BRIDGE_CHUNK)) == NULL)
		abort();
}

/* Whether the direction has nothing left to move. */
static bool
bridge_dir_done(const struct bridge_dir *d)
{
	return d->eof && d->len == 0;
}

/* The event D waits for, on *FD. */
static short
bridge_dir_wait(const struct bridge_dir *d, int *fd)
{
	if (d->len > 0 || (!d->out_ready && !d->eof)) {
		*fd = d->out;
		return POLLOUT;
	}
	*fd = d->in;
	return POLLIN;
}

static ssize_t
bridge_read(struct bridge_dir *d)
{
	if (d->in_type == BRIDGE_SOCKET)
		return recv(d->in, d->buf, BRIDGE_CHUNK, MSG_DONTWAIT);
	return read(d->in, d->buf, BRIDGE_CHUNK);
}

static ssize_t
bridge_write(struct bridge_dir *d)
{
	if (d->out_type == BRIDGE_SOCKET)
		return send(d->out, d->buf + d->off, d->len,
		            MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(d->out, d->buf + d->off, d->len);
}

/* Moves what it can once its descriptor is ready. Returns 0, 1 when out
 * is gone (its reader closed: EPIPE and the like), or -1 with errno on
 * another error. */
static int
bridge_dir_move(struct bridge_dir *d)
{
	ssize_t n;

	if (d->len > 0) { /* buffered bytes first */
		if ((n = bridge_write(d)) < 0)
			goto fail;
		d->off += (size_t)n;
		d->len -= (size_t)n;
		return 0;
	}
	if (!d->out_ready) { /* polled writable */
		d->out_ready = true;
		return 0;
	}
	if (d->splice) {
		n = splice(d->in, NULL, d->out, NULL, BRIDGE_CHUNK,
		           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EAGAIN) {
			/* in was readable: out is full */
			d->out_ready = false;
			return 0;
		}
	} else {
		n = bridge_read(d);
		d->off = 0;
		d->len = n > 0 ? (size_t)n : 0;
	}
	if (n == 0)
		d->eof = true;
	if (n >= 0)
		return 0;
fail:
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	if (errno == EPIPE || errno == ECONNRESET)
		return 1;
	return -1;
}

/* Copies until the daemon's side ends. Returns EXIT_OK, or 1 after a
 * message. */
static int
bridge_run(int sock)
{
	struct bridge_dir up, down; /* stdin to the daemon, and back */
	struct pollfd pfd[3];
	int status = EXIT_OK, rc;
	int n, iup, idown, iout;

	bridge_dir_init(&up, STDIN_FILENO, sock);
	bridge_dir_init(&down, sock, STDOUT_FILENO);
	for (;;) {
		n = 0;
		iup = -1;
		if (!bridge_dir_done(&up)) {
			pfd[n].events = bridge_dir_wait(&up, &pfd[n].fd);
			iup = n++;
		}
		pfd[n].events = bridge_dir_wait(&down, &pfd[n].fd);
		idown = n++;
		/* The reader of stdout gone (ssh's connection closed) ends
		 * the bridge even while the daemon has nothing to say. */
		pfd[n].fd = STDOUT_FILENO;
		pfd[n].events = 0;
		iout = n++;
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "asyncctl bridge: poll: %s\n",
			        strerror(errno));
			status = 1;
			break;
		}
		if (pfd[iout].revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
		if (iup >= 0 && pfd[iup].revents != 0) {
			if ((rc = bridge_dir_move(&up)) < 0)
				goto fail;
			if (rc > 0) { /* the daemon gone, or stdin reset */
				up.eof = true;
				up.len = 0;
			}
			/* The last request is still answered. */
			if (bridge_dir_done(&up))
				shutdown(sock, SHUT_WR);
		}
		if (pfd[idown].revents != 0) {
			/* Its end, or stdout's reader gone: the end. */
			if ((rc = bridge_dir_move(&down)) < 0)
				goto fail;
			if (rc > 0 || bridge_dir_done(&down))
				break;
		}
	}
	free(up.buf);
	free(down.buf);
	return status;
fail:
	fprintf(stderr, "asyncctl bridge: %s\n", strerror(errno));
	free(up.buf);
	free(down.buf);
	return 1;
}

int
cmd_bridge(struct ctl *ctl, int argc, char **argv)
{
	int sock, status;

	if (argc != 0)
		return ctl_usage("bridge", "unexpected argument: %s", argv[0]);
	if (ctl_given(ctl, OPT_HOST) || ctl_given(ctl, OPT_SSH))
		return ctl_usage("bridge", "the daemon bridged is this host's: "
		                           "no -H or --ssh");
	if ((sock = line_client_dial(ctl->socket_path)) < 0) {
		fprintf(stderr, "asyncctl: cannot reach asyncd at %s: %s\n",
		        ctl->socket_path, strerror(errno));
		return EXIT_UNREACHABLE;
	}
	/* A reader gone is EPIPE, on the pipes splice() writes too. */
	signal(SIGPIPE, SIG_IGN);
	if (fcntl(sock, F_SETFL, O_NONBLOCK) < 0) {
		fprintf(stderr, "asyncctl bridge: %s\n", strerror(errno));
		close(sock);
		return 1;
	}
	status = bridge_run(sock);
	close(sock);
	return status;
}
