/* Acting as another user on one thread: access follows that user's ids
 * and groups, files it creates are its own, the daemon's identity comes
 * back after each call, and other threads never change. check_identity
 * checks that a daemon that cannot switch (or need not) switches nothing;
 * check_identity_root, built from this file, the switching, as root. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../daemon/identity.h"
#include "../testutil.h"

#define OTHER_GID 54321 /* a group nobody is not in */

static char dir[64];
static char secret[128], public[128], group_file[128], open_dir[128];
static gid_t own_groups[256];
static int own_ngroups;

static void
setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/asyncd-identity.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(secret, sizeof secret, "%s/secret", dir);
	snprintf(public, sizeof public, "%s/public", dir);
	snprintf(group_file, sizeof group_file, "%s/group", dir);
	snprintf(open_dir, sizeof open_dir, "%s/open", dir);
	write_file(secret, "s", 1, 0600);
	write_file(public, "p", 1, 0644);
	write_file(group_file, "g", 1, 0040);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(group_file, 0, OTHER_GID), 0);
	ck_assert_int_eq(mkdir(open_dir, 0777), 0);
	chmod(open_dir, 0777);
	own_ngroups = (int)syscall(SYS_getgroups, 256, own_groups);
	ck_assert_int_ge(own_ngroups, 0);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The calling thread has the daemon's own identity. */
static void
assert_own_identity(void)
{
	gid_t groups[256];
	int n = (int)syscall(SYS_getgroups, 256, groups);

	ck_assert_int_eq(setfsuid((uid_t)-1), (int)geteuid());
	ck_assert_int_eq(setfsgid((gid_t)-1), (int)getegid());
	ck_assert_int_eq(n, own_ngroups);
	ck_assert_mem_eq(groups, own_groups, (size_t)n * sizeof *groups);
}

static void
nobody(struct identity *id)
{
	ck_assert_int_eq(identity_lookup(id, TEST_NOBODY, TEST_NOBODY), 0);
	ck_assert_int_eq(id->uid, TEST_NOBODY);
	ck_assert_int_eq(id->gid, TEST_NOBODY);
}

START_TEST(another_user_reads_only_what_it_may)
{
	struct identity id;
	int fd;

	nobody(&id);
	ck_assert(id.active);
	ck_assert_int_eq(identity_open(&id, secret, O_RDONLY, 0), -EACCES);
	assert_own_identity();
	fd = identity_open(&id, public, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(fd);
	assert_own_identity();
	/* The daemon itself still reads the secret. */
	fd = open(secret, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	identity_release(&id);
}
END_TEST

START_TEST(files_created_belong_to_the_user)
{
	char made[160], moved[160], refused[160];
	struct identity id;
	struct stat st;
	int fd;

	nobody(&id);
	snprintf(made, sizeof made, "%s/made", open_dir);
	snprintf(moved, sizeof moved, "%s/moved", open_dir);
	snprintf(refused, sizeof refused, "%s/refused", dir);
	fd = identity_open(&id, made, O_WRONLY | O_CREAT | O_EXCL, 0640);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(stat(made, &st), 0);
	ck_assert_int_eq(st.st_uid, TEST_NOBODY);
	ck_assert_int_eq(st.st_gid, TEST_NOBODY);
	ck_assert_int_eq(identity_open(&id, made, O_WRONLY | O_CREAT | O_EXCL, 0640),
			 -EEXIST);
	ck_assert_int_eq(identity_rename(&id, made, moved), 0);
	ck_assert_int_eq(identity_stat(&id, moved, &st), 0);
	ck_assert_int_eq(identity_unlink(&id, moved), 0);
	ck_assert_int_eq(identity_stat(&id, moved, &st), -ENOENT);
	/* Not in a directory it cannot write. */
	ck_assert_int_eq(identity_open(&id, refused, O_WRONLY | O_CREAT, 0644),
			 -EACCES);
	ck_assert_int_eq(identity_unlink(&id, public), -EACCES);
	ck_assert_int_eq(identity_rename(&id, public, refused), -EACCES);
	assert_own_identity();
	identity_release(&id);
}
END_TEST

START_TEST(supplementary_groups_apply)
{
	gid_t with = OTHER_GID;
	struct identity id = {.uid = TEST_NOBODY, .gid = TEST_NOBODY,
			      .groups = &with, .ngroups = 1, .active = true};
	struct identity without = id;
	int fd;

	without.ngroups = 0;
	fd = identity_open(&id, group_file, O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(identity_open(&without, group_file, O_RDONLY, 0),
			 -EACCES);
	assert_own_identity();
}
END_TEST

static pthread_barrier_t barrier;

/* Holds another user's identity while the main thread looks. */
static void *
switched_thread(void *arg)
{
	struct identity *id = arg;

	ck_assert_int_eq(identity_enter(id), 0);
	ck_assert_int_eq(setfsuid((uid_t)-1), TEST_NOBODY);
	pthread_barrier_wait(&barrier); /* switched */
	pthread_barrier_wait(&barrier); /* the main thread has looked */
	identity_leave(id);
	return NULL;
}

START_TEST(switching_is_per_thread)
{
	struct identity id;
	pthread_t t;
	int fd;

	nobody(&id);
	pthread_barrier_init(&barrier, NULL, 2);
	pthread_create(&t, NULL, switched_thread, &id);
	pthread_barrier_wait(&barrier);
	assert_own_identity();
	fd = open(secret, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	close(fd);
	pthread_barrier_wait(&barrier);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&barrier);
	identity_release(&id);
}
END_TEST

/* Acting as oneself switches nothing; a daemon that is not root acts for
 * no one else (root included) rather than lend its own rights. */
START_TEST(acting_as_oneself_switches_nothing)
{
	struct identity id;

	ck_assert(identity_may_act_as(geteuid()));
	ck_assert_int_eq(identity_lookup(&id, geteuid(), getegid()), 0);
	ck_assert(!id.active);
	identity_release(&id);
	ck_assert(identity_may_act_as(TEST_NOBODY) == (geteuid() == 0));
}
END_TEST

/* The same decision in a daemon that is not root, checked from root by
 * becoming uid 65534 in a child first. */
START_TEST(an_unprivileged_daemon_refuses_other_users)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct identity id;
		if (setgroups(0, NULL) < 0 || setgid(TEST_NOBODY) < 0 ||
		    setuid(TEST_NOBODY) < 0)
			_exit(10);
		if (!identity_may_act_as(TEST_NOBODY) || identity_may_act_as(0) ||
		    identity_may_act_as(4242))
			_exit(11);
		if (identity_lookup(&id, 4242, 4242) != -EPERM)
			_exit(12);
		if (identity_lookup(&id, 0, 0) != -EPERM)
			_exit(13);
		if (identity_lookup(&id, TEST_NOBODY, TEST_NOBODY) != 0 || id.active)
			_exit(14);
		identity_release(&id);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %d", status);
}
END_TEST

START_TEST(unknown_users_get_their_own_gid_only)
{
	struct identity id;
	uid_t uid = 4000000000u;

	while (getpwuid(uid) != NULL)
		uid++;
	ck_assert_int_eq(identity_lookup(&id, uid, 4000000001u), 0);
	ck_assert(id.active);
	ck_assert_uint_eq(id.ngroups, 1);
	ck_assert_int_eq(id.groups[0], 4000000001u);
	ck_assert_int_eq(identity_open(&id, secret, O_RDONLY, 0), -EACCES);
	identity_release(&id);
}
END_TEST

static Suite *
identity_suite(void)
{
	Suite *s = suite_create("identity");
	TCase *tc = tcase_create("identity");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, acting_as_oneself_switches_nothing);
	suite_add_tcase(s, tc);
	return s;
}

/* The cases that switch identities, which only root can. */
static Suite *
identity_root_suite(void)
{
	Suite *s = suite_create("identity as root");
	TCase *tc = tcase_create("switching");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, another_user_reads_only_what_it_may);
	tcase_add_test(tc, files_created_belong_to_the_user);
	tcase_add_test(tc, supplementary_groups_apply);
	tcase_add_test(tc, switching_is_per_thread);
	tcase_add_test(tc, unknown_users_get_their_own_gid_only);
	tcase_add_test(tc, an_unprivileged_daemon_refuses_other_users);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(identity_suite, identity_root_suite,
			       "to switch to uid 65534 and back");
}
