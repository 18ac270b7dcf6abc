/* asyncd-net's log writer (the calls of daemon/log.h are in
 * daemon/log-calls.c, shared with asyncd): lines go to stderr,
 * which asyncd hands down (the journal under systemd) with the priority
 * prefixes journald reads. asyncd-net has no journal connection and no
 * client to rate-limit: a line about a job goes to asyncd (NET_LOG). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/log.h"

void
log_vwrite(int priority, int err, const char *fmt, va_list ap)
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
