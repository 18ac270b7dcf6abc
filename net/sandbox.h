/* What asyncd-net may do once it is set up: no privilege, no new
 * privilege, and a seccomp filter that allows what libcurl, OpenSSL and
 * the resolver need and kills the process on anything else. */
#ifndef ASYNCD_NET_SANDBOX_H
#define ASYNCD_NET_SANDBOX_H

/* Refuses to go on as root or with any capability, sets no_new_privs and
 * loads the filter on every thread. Fatal when any of it fails. */
void sandbox_enter(void);

#endif
