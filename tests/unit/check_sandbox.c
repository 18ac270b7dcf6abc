/* asyncd-net's sandbox (net/sandbox.c), in children of the test: once
 * entered, what libcurl's process needs still works, and each thing the
 * filter is there to stop kills the child with SIGSYS: a file opened for
 * writing or created, execve, a new process, ptrace, a raw socket. Root
 * is refused outright; as root the children first become nobody. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <check.h>

#include "../../net/sandbox.h"
#include "../testutil.h"

/* The sanitizers' leak check needs a process and ptrace at exit: their
 * build lets those through (sandbox.c). */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

typedef void (*probe_fn)(void);

/* Runs PROBE in a child inside the sandbox (as nobody when we are root);
 * returns its wait status. */
static int
sandboxed(probe_fn probe)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		     setresuid(65534, 65534, 65534) < 0))
			_exit(90);
		sandbox_enter();
		probe();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

static void
assert_killed(probe_fn probe, const char *what)
{
	int status = sandboxed(probe);

	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
		      "%s was not stopped (status %#x)", what, status);
}

static void *
thread_main(void *arg)
{
	return arg;
}

/* What the network process does all day. */
static void
probe_allowed(void)
{
	pthread_t t;
	void *ret = NULL;
	char buf[16];
	int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC), s, sv[2];

	if (fd < 0 || read(fd, buf, sizeof buf) < 0 || close(fd) < 0)
		_exit(10);
	/* A directory read, as opendir() and the sanitizers' leak check
	 * (its /proc/PID/task) do. */
	DIR *dir = opendir("/etc");
	if (dir == NULL || readdir(dir) == NULL || closedir(dir) < 0)
		_exit(15);
	if (pthread_create(&t, NULL, thread_main, buf) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != buf)
		_exit(11);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 || close(s) < 0)
		_exit(12);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
		_exit(13);
	if (write(sv[0], "x", 1) != 1 || read(sv[1], buf, 1) != 1)
		_exit(14);
}

static void
probe_open_for_writing(void)
{
	open("/tmp/asyncd-sandbox-test", O_WRONLY | O_CREAT, 0600);
}

static void
probe_open_existing_for_writing(void)
{
	open("/dev/null", O_RDWR);
}

static void
probe_tmpfile(void)
{
	open("/tmp", O_TMPFILE, 0600); /* its own bit, no write mode */
}

static void
probe_exec(void)
{
	char *argv[] = {"true", NULL};

	execve("/bin/true", argv, NULL);
}

#ifndef SANITIZER_BUILD
static void
probe_fork(void)
{
	if (fork() == 0)
		_exit(0);
}

static void
probe_ptrace(void)
{
	ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}
#endif

static void
probe_raw_socket(void)
{
	socket(AF_PACKET, SOCK_RAW, 0);
}

START_TEST(what_the_network_needs_still_works)
{
	int status = sandboxed(probe_allowed);

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "status %#x", status);
}
END_TEST

START_TEST(the_filter_kills_what_it_is_there_to_stop)
{
	assert_killed(probe_open_for_writing, "creating a file");
	assert_killed(probe_open_existing_for_writing,
		      "opening a file for writing");
	assert_killed(probe_tmpfile, "an O_TMPFILE file");
	assert_killed(probe_exec, "execve");
	assert_killed(probe_raw_socket, "a packet socket");
#ifndef SANITIZER_BUILD
	assert_killed(probe_fork, "fork");
	assert_killed(probe_ptrace, "ptrace");
#endif
}
END_TEST

START_TEST(root_is_refused)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2); /* its complaint */
		sandbox_enter();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "status %#x", status);
}
END_TEST

static Suite *
sandbox_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("sandbox");

	tcase_add_test(tc, what_the_network_needs_still_works);
	tcase_add_test(tc, the_filter_kills_what_it_is_there_to_stop);
	if (geteuid() == 0)
		tcase_add_test(tc, root_is_refused);
	else
		fprintf(stderr, "SKIP root_is_refused: needs root\n");
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(sandbox_suite());
}
