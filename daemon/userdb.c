/* NSS look-ups with buffers that grow on ERANGE, up to a cap. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "userdb.h"
#include "xmalloc.h"

/* A passwd entry is small; a group entry lists its members and can be
 * large in a directory service. */
#define USERDB_PW_MAX (1024 * 1024)
#define USERDB_GR_MAX (32 * 1024 * 1024)
#define USERDB_GROUPS_MAX 65536

/* The first buffer size for the look-up sysconf NAME sizes. */
static size_t
userdb_initial(int name)
{
	long n = sysconf(name);

	return n > 0 && n < 65536 ? (size_t)n : 1024;
}

static void
userdb_copy(const struct passwd *pw, struct userdb_user *u)
{
	u->uid = pw->pw_uid;
	u->gid = pw->pw_gid;
	u->name = xstrdup(pw->pw_name ? pw->pw_name : "");
	u->gecos = xstrdup(pw->pw_gecos ? pw->pw_gecos : "");
	u->home = xstrdup(pw->pw_dir ? pw->pw_dir : "");
	u->shell = xstrdup(pw->pw_shell ? pw->pw_shell : "");
}

/* getpwnam_r (NAME set) or getpwuid_r, growing the buffer on ERANGE. */
static int
userdb_getpw(const char *name, uid_t uid, struct userdb_user *u)
{
	size_t size = userdb_initial(_SC_GETPW_R_SIZE_MAX);
	struct passwd pw, *res = NULL;
	char *buf = NULL;
	int rc;

	memset(u, 0, sizeof *u);
	for (;;) {
		buf = xrealloc(buf, size);
		res = NULL;
		rc = name != NULL ? getpwnam_r(name, &pw, buf, size, &res)
				  : getpwuid_r(uid, &pw, buf, size, &res);
		if (rc == EINTR)
			continue;
		if (rc != ERANGE || size >= USERDB_PW_MAX)
			break;
		size *= 2;
	}
	if (rc == 0 && res != NULL)
		userdb_copy(res, u);
	else if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF ||
		 rc == EPERM)
		rc = ENOENT; /* what getpwnam(3) lists for "not found" */
	free(buf);
	return rc;
}

int
userdb_by_uid(uid_t uid, struct userdb_user *u)
{
	return userdb_getpw(NULL, uid, u);
}

int
userdb_by_name(const char *name, struct userdb_user *u)
{
	return userdb_getpw(name, 0, u);
}

void
userdb_user_free(struct userdb_user *u)
{
	free(u->name);
	free(u->gecos);
	free(u->home);
	free(u->shell);
	memset(u, 0, sizeof *u);
}

int
userdb_grouplist(const char *name, gid_t gid, gid_t **groups, size_t *n)
{
	int count = 32, want;
	gid_t *list = NULL;

	for (;;) {
		list = xreallocarray(list, (size_t)count, sizeof *list);
		want = count;
		if (getgrouplist(name, gid, list, &want) >= 0)
			break;
		/* Too small: WANT says how many there are (some versions
		 * leave it alone, so at least double). */
		if (count >= USERDB_GROUPS_MAX) {
			free(list);
			return ERANGE;
		}
		count = want > count ? want : count * 2;
		if (count > USERDB_GROUPS_MAX)
			count = USERDB_GROUPS_MAX;
	}
	*groups = list;
	*n = (size_t)want;
	return 0;
}

char *
userdb_group_name(gid_t gid)
{
	size_t size = userdb_initial(_SC_GETGR_R_SIZE_MAX);
	struct group gr, *res = NULL;
	char *buf = NULL, *name = NULL;
	int rc;

	for (;;) {
		buf = xrealloc(buf, size);
		res = NULL;
		rc = getgrgid_r(gid, &gr, buf, size, &res);
		if (rc == EINTR)
			continue;
		if (rc != ERANGE || size >= USERDB_GR_MAX)
			break;
		size *= 2;
	}
	if (rc == 0 && res != NULL && res->gr_name != NULL)
		name = xstrdup(res->gr_name);
	free(buf);
	return name;
}
