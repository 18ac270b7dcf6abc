/* The systemd journal as a log target, through sd_journal_sendv(3) of
 * libsystemd loaded with dlopen when the journal is chosen: the daemon
 * does not link libsystemd, whose six dependencies (libgcrypt's
 * initialisation above all) were most of its start-up. */
#ifndef ASYNCD_JOURNAL_H
#define ASYNCD_JOURNAL_H

#include "log.h"

/* Loads libsystemd and sd_journal_sendv, once; 0, or -1 with the reason
 * in *WHY (static text). A failure is remembered, not retried. Before
 * any thread starts. */
int journal_open(const char **why);

/* Sends one entry: MESSAGE=TEXT, PRIORITY=, SYSLOG_IDENTIFIER=asyncd
 * and, about a job (JOB not NULL), MESSAGE_ID=MSGID, JOB_ID=, JOB_KIND=,
 * JOB_UID=, JOB_ERROR=. Only after journal_open succeeded; any thread. */
void journal_send(int priority, const struct log_job *job, const char *msgid,
		  const char *text);

#endif
