/* The journal through libsystemd, loaded on demand (see journal.h). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/uio.h>

#include "journal.h"

/* The soname of libsystemd's ABI (0 since it was one library, systemd
 * 209); sd_journal_sendv has kept its signature since it came, in 38. */
#define JOURNAL_SONAME "libsystemd.so.0"

/* The longest field written: MESSAGE= and a line of log.c's text. */
#define JOURNAL_MESSAGE_MAX 1100

static char journal_identifier[] = "SYSLOG_IDENTIFIER=asyncd";

static int (*journal_sendv)(const struct iovec *iov, int n);
static bool tried;
static char failure[256]; /* why it could not be loaded */

/* Loads the library and the function, or fills failure[]. */
static void
journal_load(void)
{
	void *lib = dlopen(JOURNAL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *err;
	void *fn;

	if (lib == NULL) {
		snprintf(failure, sizeof failure, "cannot load libsystemd: %s",
			 (err = dlerror()) != NULL ? err : JOURNAL_SONAME);
		return;
	}
	if ((fn = dlsym(lib, "sd_journal_sendv")) == NULL) {
		snprintf(failure, sizeof failure,
			 "cannot load libsystemd: no sd_journal_sendv in %s",
			 JOURNAL_SONAME);
		dlclose(lib);
		return;
	}
	/* ISO C has no cast from void * to a function pointer; POSIX
	 * dlsym(3) gives this form. Kept loaded until the daemon exits. */
	*(void **)&journal_sendv = fn;
}

int
journal_open(const char **why)
{
	if (!tried) {
		tried = true;
		journal_load();
	}
	if (failure[0] != '\0') {
		*why = failure;
		return -1;
	}
	return 0;
}

/* Fills IOV with one field, KEY=VALUE, formatted into BUF of SIZE
 * bytes (cut short if longer). */
static void __attribute__((format(printf, 4, 5)))
journal_field(struct iovec *iov, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	else if ((size_t)n >= size)
		n = (int)size - 1;
	iov->iov_base = buf;
	iov->iov_len = (size_t)n;
}

#define JOURNAL_FIELD(iov, buf, ...) \
	journal_field(iov, buf, sizeof buf, __VA_ARGS__)

void
journal_send(int priority, const struct log_job *job, const char *msgid,
	     const char *text)
{
	char message[JOURNAL_MESSAGE_MAX], prio[16], mid[64], id[32], kind[80],
		uid[24], error[80];
	struct iovec iov[8];
	int n = 0;

	JOURNAL_FIELD(&iov[n++], message, "MESSAGE=%s", text);
	JOURNAL_FIELD(&iov[n++], prio, "PRIORITY=%d", priority);
	iov[n++] = (struct iovec){journal_identifier,
				  sizeof journal_identifier - 1};
	if (job != NULL) {
		JOURNAL_FIELD(&iov[n++], mid, "MESSAGE_ID=%s", msgid);
		JOURNAL_FIELD(&iov[n++], id, "JOB_ID=%llu", job->id);
		JOURNAL_FIELD(&iov[n++], kind, "JOB_KIND=%s", job->kind);
		JOURNAL_FIELD(&iov[n++], uid, "JOB_UID=%u", job->uid);
		JOURNAL_FIELD(&iov[n++], error, "JOB_ERROR=%s",
			      job->error != NULL ? job->error : "");
	}
	/* A line that cannot be sent has nowhere else to go: the journal
	 * was chosen over stderr. */
	journal_sendv(iov, n);
}
