/* asyncd-net's log: the few calls of daemon/log.h that code shared with
 * asyncd (xmalloc.c, wire.c) and asyncd-net make, written to stderr,
 * which asyncd hands down (the journal under systemd) with the priority
 * prefixes journald reads. asyncd-net has no journal connection and no
 * client to rate-limit: a line about a job goes to asyncd (NET_LOG). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/log.h"

static void net_vlog(int priority, const char *fmt, va_list ap, int err)
	__attribute__((format(printf, 2, 0)));

static void
net_vlog(int priority, const char *fmt, va_list ap, int err)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "<%d>asyncd-net[%d]: ", priority,
			 (int)getpid());

	if (n < 0 || (size_t)n >= sizeof line)
		return;
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (err != 0) {
		size_t len = strlen(line);
		snprintf(line + len, sizeof line - len, ": %s", strerror(err));
	}
	fprintf(stderr, "%s\n", line);
}

void
log_warn(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	net_vlog(LOG_WARNING, fmt, ap, err);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_vlog(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	net_vlog(LOG_CRIT, fmt, ap, err);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	net_vlog(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
