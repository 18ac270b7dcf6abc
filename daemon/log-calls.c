/* The calls of log.h that only pick a priority and whether errno goes
 * with the line: shared by asyncd and asyncd-net, each of which writes
 * lines its own way (log_vwrite() in daemon/log.c and net/log.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>

#include "log.h"

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
