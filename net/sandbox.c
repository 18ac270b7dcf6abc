/* asyncd-net's sandbox (see sandbox.h).
 *
 * asyncd starts this process as an unprivileged user (asyncd-net, or
 * nobody where that user is missing) when it runs as root, as itself
 * otherwise; either way it holds no capability. The filter is an allow
 * list: the calls of an event loop, its worker threads, libcurl (with
 * its threaded resolver and OpenSSL) and glibc, by name. What matters is
 * what is not there: no execve, no ptrace, no fork (clone only for a
 * thread), no file opened for writing or created (openat only without
 * write flags; the download's files arrive open from asyncd), no
 * socket of another family than IPv4, IPv6, Unix and netlink (the
 * resolver's). Anything else kills the process, and asyncd fails or
 * retries its downloads and starts another.
 *
 * A sanitizer build's leak check runs at exit with ptrace and a
 * non-thread clone; that build lets them through (and only it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <seccomp.h>

#include "../daemon/log.h"
#include "sandbox.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

/* Allowed whatever their arguments. */
static const int sandbox_allowed[] = {
	/* memory */
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect),
	SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* threads, time, randomness */
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq),
	SCMP_SYS(sched_yield), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres),
	SCMP_SYS(gettimeofday), SCMP_SYS(time), SCMP_SYS(nanosleep),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(getrandom),
	/* signals and the process itself */
	SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack), SCMP_SYS(tgkill),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(restart_syscall),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid),
	SCMP_SYS(getegid), SCMP_SYS(getresuid), SCMP_SYS(getresgid),
	SCMP_SYS(uname), SCMP_SYS(prlimit64), SCMP_SYS(getrlimit),
	SCMP_SYS(alarm),
	SCMP_SYS(sysinfo),
	/* descriptors it has */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwritev), SCMP_SYS(pwrite64),
	SCMP_SYS(close), SCMP_SYS(lseek), SCMP_SYS(fcntl),
	SCMP_SYS(dup), SCMP_SYS(dup3), SCMP_SYS(ftruncate), SCMP_SYS(fstat),
	SCMP_SYS(pipe2), SCMP_SYS(eventfd2),
	/* the loop */
	SCMP_SYS(epoll_create1), SCMP_SYS(epoll_ctl), SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(select), SCMP_SYS(pselect6),
	/* files it reads: CA store, resolv.conf, hosts, NSS modules */
	SCMP_SYS(stat), SCMP_SYS(lstat), SCMP_SYS(newfstatat),
	SCMP_SYS(statx), SCMP_SYS(access), SCMP_SYS(faccessat),
	SCMP_SYS(faccessat2), SCMP_SYS(getdents64), SCMP_SYS(getdents),
	SCMP_SYS(getcwd),
	SCMP_SYS(readlink),
	/* sockets */
	SCMP_SYS(connect), SCMP_SYS(bind), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(sendto), SCMP_SYS(recvfrom), SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg), SCMP_SYS(sendmmsg), SCMP_SYS(recvmmsg),
	SCMP_SYS(shutdown), SCMP_SYS(socketpair),
#ifdef SANDBOX_SANITIZER
	SCMP_SYS(ptrace), SCMP_SYS(wait4), SCMP_SYS(prctl),
	SCMP_SYS(process_vm_readv), SCMP_SYS(clone),
#endif
};

static const int sandbox_families[] = {AF_UNIX, AF_INET, AF_INET6,
				       AF_NETLINK};
static const unsigned long sandbox_ioctls[] = {FIONREAD, FIONBIO, TCGETS};
/* Flags that would open a file for writing, or make one. O_TMPFILE
 * holds O_DIRECTORY's bit too: only its own bit goes in, or opening a
 * directory to read it would be refused. */
#define SANDBOX_WRITE_FLAGS \
	(O_ACCMODE | O_CREAT | O_TRUNC | (O_TMPFILE & ~O_DIRECTORY))

static void
sandbox_rule(scmp_filter_ctx ctx, uint32_t action, int sys, unsigned n,
	     const struct scmp_arg_cmp *cmp)
{
	int rc = seccomp_rule_add_array(ctx, action, sys, n, cmp);

	if (rc < 0)
		fatalx("seccomp rule for %d: %s", sys, strerror(-rc));
}

/* Argument ARG compared with OP to A (and B, OP's second operand). */
static struct scmp_arg_cmp
sandbox_arg(unsigned arg, enum scmp_compare op, scmp_datum_t a,
	    scmp_datum_t b)
{
	return (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = a,
				     .datum_b = b};
}

static void
sandbox_rules(scmp_filter_ctx ctx)
{
	struct scmp_arg_cmp c;

	for (size_t i = 0; i < sizeof sandbox_allowed / sizeof *sandbox_allowed;
	     i++)
		sandbox_rule(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0, NULL);
	c = sandbox_arg(2, SCMP_CMP_MASKED_EQ, SANDBOX_WRITE_FLAGS, 0);
	sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1, &c);
	c = sandbox_arg(1, SCMP_CMP_MASKED_EQ, SANDBOX_WRITE_FLAGS, 0);
	sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1, &c);
	for (size_t i = 0; i < sizeof sandbox_families / sizeof *sandbox_families;
	     i++) {
		c = sandbox_arg(0, SCMP_CMP_EQ,
				 (scmp_datum_t)sandbox_families[i], 0);
		sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, &c);
	}
	for (size_t i = 0; i < sizeof sandbox_ioctls / sizeof *sandbox_ioctls;
	     i++) {
		c = sandbox_arg(1, SCMP_CMP_EQ, sandbox_ioctls[i], 0);
		sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &c);
	}
#ifndef SANDBOX_SANITIZER
	/* A thread, never a process. */
	c = sandbox_arg(0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
	sandbox_rule(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, &c);
#endif
	/* clone3's flags are out of the filter's reach: glibc falls back to
	 * clone. */
	sandbox_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
}

/* True when the process holds a capability in any set. */
static bool
sandbox_capable(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		fatal("capget");
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return true;
	return false;
}

void
sandbox_enter(void)
{
	scmp_filter_ctx ctx;
	int rc;

	if (getuid() == 0 || geteuid() == 0 || sandbox_capable())
		fatalx("will not run as root or with capabilities");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fatal("no_new_privs");
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL)
		fatalx("seccomp_init failed");
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
		fatalx("seccomp TSYNC: %s", strerror(-rc));
	sandbox_rules(ctx);
	if ((rc = seccomp_load(ctx)) < 0)
		fatalx("cannot load the seccomp filter: %s", strerror(-rc));
	seccomp_release(ctx);
}
