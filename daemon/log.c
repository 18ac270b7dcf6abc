/* The daemon's one logging API. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"

static int log_level = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void
log_set_level(int priority)
{
	log_level = priority;
}

int
log_level_parse(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (level_names[i] != NULL && strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

/* Writes one line; the whole line goes out in one write so that lines
 * from worker threads do not interleave. */
static void __attribute__((format(printf, 3, 0)))
log_vwrite(int priority, int err, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (priority > log_level)
		return;
	n = snprintf(line, sizeof line, "<%d>", priority);
	n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	if (err != 0)
		n += snprintf(line + n, sizeof line - (size_t)n, ": %s",
			      strerror(err));
	if (n >= (int)sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

#define LOG_FUNC(name, priority, with_errno)                                   \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int err = with_errno ? errno : 0;                              \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(priority, err, fmt, ap);                            \
		va_end(ap);                                                    \
	}

LOG_FUNC(log_debug, LOG_DEBUG, 0)
LOG_FUNC(log_info, LOG_INFO, 0)
LOG_FUNC(log_notice, LOG_NOTICE, 0)
LOG_FUNC(log_warn, LOG_WARNING, 1)
LOG_FUNC(log_warnx, LOG_WARNING, 0)

void
fatal(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

static void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	default:
		log_warnx("libevent: %s", msg);
		break;
	}
}

void
log_route_libevent(void)
{
	event_set_log_callback(log_libevent);
}
