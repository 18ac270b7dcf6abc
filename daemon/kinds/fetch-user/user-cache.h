/* A short cache of fetch-user results, used on the loop thread only. An
 * entry serves for at most a second, and only while /etc/passwd and
 * /etc/group (nss_wrapper's files when it is preloaded) have not changed
 * since its look-up began (passwd-watch.h); NSS sources beyond the files
 * (LDAP, sssd) are covered by the second alone, which is shorter than
 * nscd's or sssd's own caches. */
#ifndef ASYNCD_USER_CACHE_H
#define ASYNCD_USER_CACHE_H

#include <stdbool.h>
#include <sys/types.h>

struct json_object;

/* When a look-up began: the files' generation (passwd-watch.h) and the
 * time. */
struct user_cache_stamp {
	unsigned long generation;
	long long taken_ms; /* on the monotonic clock */
};

/* The stamp to give user_cache_put() for a look-up starting now. */
void user_cache_stamp(struct user_cache_stamp *stamp);
/* The cached result for NAME (or UID when NAME is NULL): a new reference,
 * or NULL. */
struct json_object *user_cache_get(const char *name, uid_t uid);
/* Remembers RESULT (a fetch-user result; a reference is taken) under its
 * uid and name, as of STAMP. */
void user_cache_put(const struct user_cache_stamp *stamp,
		    struct json_object *result);
void user_cache_free(void);

#endif
