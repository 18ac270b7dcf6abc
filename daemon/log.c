/* The daemon's one logging API. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <event2/event.h>

#include "runtime.h"
#include "log.h"
#ifdef ENABLE_JOURNAL
#include "journal.h"
#endif

static int log_level = LOG_INFO;
static bool to_journal; /* else stderr with "<N>" prefixes */

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void
log_set_level(int priority)
{
	log_level = priority;
}

bool
log_wants(int priority)
{
	return priority <= log_level;
}

int
log_level_parse(const char *name)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
		if (level_names[i] != NULL && strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

int
log_set_target(const char *target)
{
	bool journal;

	if (strcmp(target, "stderr") == 0)
		journal = false;
	else if (strcmp(target, "journal") == 0)
		journal = true;
	else if (strcmp(target, "auto") == 0)
		journal = log_stderr_is_journal();
	else
		return -1;
#ifdef ENABLE_JOURNAL
	const char *why;
	if (journal && journal_open(&why) < 0) {
		log_warnx("%s; logging to standard error", why);
		journal = false;
	}
#else
	if (journal)
		return -2;
#endif
	to_journal = journal;
	return 0;
}

bool
log_stderr_is_journal(void)
{
#ifdef ENABLE_JOURNAL
	/* systemd sets $JOURNAL_STREAM to the device and inode of the
	 * stream it connected stderr to (systemd.exec(5)). */
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return env != NULL && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 && st.st_dev == dev &&
	       st.st_ino == ino;
#else
	return false;
#endif
}

/* A line's text: FMT's, then ": strerror(ERR)" if ERR. */
static void __attribute__((format(printf, 4, 0)))
log_format(char *line, size_t size, int err, const char *fmt, va_list ap)
{
	int n = vsnprintf(line, size, fmt, ap);

	if (n >= (int)size)
		n = (int)size - 1;
	if (err != 0)
		snprintf(line + n, size - (size_t)n, ": %s", strerror(err));
}

/* Writes one line of PRIORITY with TEXT and, about a job, its fields;
 * the whole line goes out in one write so that lines from worker
 * threads do not interleave. */
static void
log_emit(int priority, const struct log_job *job, const char *msgid,
	 const char *text)
{
	char line[1280];
	int n;

#ifdef ENABLE_JOURNAL
	if (to_journal) {
		journal_send(priority, job, msgid, text);
		return;
	}
#else
	(void)job; /* the fields are in TEXT already */
	(void)msgid;
#endif
	n = snprintf(line, sizeof line, "<%d>%s\n", priority, text);
	if (n >= (int)sizeof line) {
		n = (int)sizeof line;
		line[n - 1] = '\n';
	}
	fwrite(line, 1, (size_t)n, stderr);
}

void
log_vwrite(int priority, int err, const char *fmt, va_list ap)
{
	char text[1024];

	if (priority > log_level)
		return;
	log_format(text, sizeof text, err, fmt, ap);
	log_emit(priority, NULL, NULL, text);
}

void
log_job(int priority, const struct log_job *job, const char *msgid,
	const char *fmt, ...)
{
	char text[1024], fields[200];
	va_list ap;
	int n;

	if (priority > log_level)
		return;
	/* The fields first, in one order, so that grep and log shippers
	 * find them: job=42 kind=process uid=1000 error=not-found: ... */
	n = snprintf(fields, sizeof fields, "job=%llu kind=%s uid=%u", job->id,
		     job->kind, job->uid);
	if (job->error != NULL && n < (int)sizeof fields)
		snprintf(fields + n, sizeof fields - (size_t)n, " error=%s",
			 job->error);
	n = snprintf(text, sizeof text, "%s: ", fields);
	if (n >= (int)sizeof text)
		n = (int)sizeof text - 1;
	va_start(ap, fmt);
	log_format(text + n, sizeof text - (size_t)n, 0, fmt, ap);
	va_end(ap);
	log_emit(priority, job, msgid, text);
}

static void __attribute__((format(printf, 2, 3)))
log_vwrite_str(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(priority, 0, fmt, ap);
	va_end(ap);
}

/* Warnings about clients: a few lines a second, then a count. Only the
 * loop's thread logs them. */
#define LOG_CLIENT_BURST 5

static struct {
	long long window_ms; /* start of the current second */
	unsigned lines;      /* written in it */
	unsigned suppressed; /* dropped since the last count was written */
	struct event *flush_ev;
} log_client_state;

static void
log_client_flush_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg UNUSED)
{
	if (log_client_state.suppressed == 0)
		return;
	log_vwrite_str(LOG_WARNING, "%u more warnings about clients suppressed",
		       log_client_state.suppressed);
	log_client_state.suppressed = 0;
}

void
log_client(const char *fmt, ...)
{
	static const struct timeval second = {1, 0};
	long long now = now_mono_ms();
	va_list ap;

	if (now - log_client_state.window_ms >= 1000) {
		log_client_flush_cb(-1, 0, NULL);
		log_client_state.window_ms = now;
		log_client_state.lines = 0;
	}
	if (log_client_state.lines >= LOG_CLIENT_BURST) {
		if (log_client_state.suppressed++ == 0 && daemon_base != NULL) {
			if (log_client_state.flush_ev == NULL)
				log_client_state.flush_ev = evtimer_new(
					daemon_base, log_client_flush_cb, NULL);
			evtimer_add(log_client_state.flush_ev, &second);
		}
		return;
	}
	log_client_state.lines++;
	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, 0, fmt, ap);
	va_end(ap);
}

void
log_client_free(void)
{
	log_client_flush_cb(-1, 0, NULL);
	if (log_client_state.flush_ev != NULL)
		event_free(log_client_state.flush_ev);
	log_client_state.flush_ev = NULL;
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
