/* Logging to stderr with syslog priority prefixes ("<6>..."), which
 * journald turns into levels. */
#ifndef ASYNCD_LOG_H
#define ASYNCD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <syslog.h>

/* Sets the most verbose priority written (LOG_ERR ... LOG_DEBUG). */
void log_set_level(int priority);
/* Whether a line of PRIORITY would be written: callers skip building
 * one that would not (a line per job start is on a hot path). */
bool log_wants(int priority);
/* Parses "error", "warning", "notice", "info" or "debug"; -1 if none. */
int log_level_parse(const char *name);
/* Where lines go: "stderr" (with "<N>" priority prefixes, which journald
 * also reads), "journal" (with fields, through libsystemd loaded now:
 * journal.h) or "auto" (journal when stderr is connected to it). 0, -1
 * for an unknown target, -2 for journal in a build --without-systemd.
 * When libsystemd cannot be loaded, lines go to stderr, and one warning
 * there says why. Before any thread starts. */
int log_set_target(const char *target);
/* Whether stderr is a journal stream ($JOURNAL_STREAM names it). */
bool log_stderr_is_journal(void);
/* Routes libevent's own messages through this log. */
void log_route_libevent(void);

/* Writes one line of PRIORITY, with strerror(ERR) unless ERR is 0: the
 * one writer each program has (daemon/log.c, net/log.c); the calls
 * below (log-calls.c) go through it. */
void log_vwrite(int priority, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends strerror(errno); log_warnx does not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning about one client (a refused connection, one closed for a
 * limit): at most a few a second are written, then one line says how
 * many were left out. For the loop's thread only. */
void log_client(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes the count still owed and frees the timer, before the loop goes. */
void log_client_free(void);
/* A line about one job: its fields lead the text on stderr
 * ("job=42 kind=process uid=1000 error=not-found: ...") and are
 * JOB_ID=, JOB_KIND=, JOB_UID=, JOB_ERROR= with MESSAGE_ID=MSGID in the
 * journal. */
struct log_job {
	unsigned long long id;
	const char *kind;
	unsigned uid;
	const char *error; /* an error code, or NULL */
};
void log_job(int priority, const struct log_job *job, const char *msgid,
	     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
