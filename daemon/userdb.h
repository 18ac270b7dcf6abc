/* The system user database (NSS: files, systemd, sss, ldap ...). NSS
 * modules may block for seconds: call these on the worker pool only. */
#ifndef ASYNCD_USERDB_H
#define ASYNCD_USERDB_H

#include <stddef.h>
#include <sys/types.h>

/* One passwd entry, its strings malloc'd. */
struct userdb_user {
	uid_t uid;
	gid_t gid;
	char *name;
	char *gecos;
	char *home;
	char *shell;
};

/* Looks user UID up. Returns 0, ENOENT when there is no such user, or
 * another errno value when the database failed. */
int userdb_by_uid(uid_t uid, struct userdb_user *u);
/* The same by login NAME. */
int userdb_by_name(const char *name, struct userdb_user *u);
void userdb_user_free(struct userdb_user *u);

/* The groups of user NAME whose primary group is GID, GID included
 * (getgrouplist). Returns 0 with *groups (malloc'd) and *n set, or an
 * errno value. */
int userdb_grouplist(const char *name, gid_t gid, gid_t **groups, size_t *n);

/* The name of group GID (malloc'd), or NULL when it has none. */
char *userdb_group_name(gid_t gid);

#endif
