/* systemd integration: socket activation and readiness notification, by
 * the documented protocols (sd_listen_fds(3), sd_notify(3)), without
 * libsystemd. */
#ifndef ASYNCD_ACTIVATION_H
#define ASYNCD_ACTIVATION_H

/* The listening socket passed by socket activation (LISTEN_PID is ours,
 * LISTEN_FDS >= 1: fd 3), or -1 when none was passed. The LISTEN_*
 * variables are removed from the environment either way. A passed fd
 * that is not a listening Unix stream socket is fatal. */
int activation_listen_fd(void);

/* Sends one sd_notify message ("READY=1", "STATUS=...", "STOPPING=1",
 * "RELOADING=1") to $NOTIFY_SOCKET; nothing when it is unset. */
void activation_notify(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
