/* Whether the user database files may have changed: /etc/passwd and
 * /etc/group, or nss_wrapper's files when it is preloaded (the tests).
 * inotify watches their directories from the event loop; without inotify
 * the files are stat()ed, at most every 100 ms. Loop thread only; the
 * watch starts at the first call. */
#ifndef ASYNCD_PASSWD_WATCH_H
#define ASYNCD_PASSWD_WATCH_H

/* A number that moves on whenever the files may have changed since it
 * was last returned. */
unsigned long passwd_watch_generation(void);
void passwd_watch_free(void);

#endif
