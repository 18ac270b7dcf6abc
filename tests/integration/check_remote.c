/* asyncctl -H through a real sshd, and asyncctl bridge.
 *
 * Each test starts its own sshd (package openssh-server) on a free port
 * of 127.0.0.1, with its own host key, configuration, client key and
 * known_hosts, and its own user database through nss_wrapper, so that
 * nothing on the machine changes: "asyncd-self" is our own uid (a name
 * of its own, so that no real shadow entry can lock it) and, in the
 * _root program, "asyncd-other" is uid 65534, a second user that can log
 * in although nobody's shell is nologin. Both have /bin/sh as their
 * shell, which reads no start-up file. The remote shell finds asyncctl
 * through sshd_config's `SetEnv PATH=DIR/bin:...`, DIR/bin holding a
 * link to the asyncctl just built; sshd gives a session no other
 * variable of its own environment (the sanitizers' options are passed
 * on the same way), and sshd's LD_PRELOAD never reaches it. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../testutil.h"

#define SSHD_PROGRAM "/usr/sbin/sshd"
/* The login names of the test's user database. */
#define SELF "asyncd-self"
#define OTHER "asyncd-other"

/* The test's sshd and what ssh needs to reach it. */
struct tsshd {
	pid_t pid;
	int port;
	char dir[64];       /* a private temporary directory, mode 0755 */
	char key[128];      /* the client key, in authorized_keys */
	char badkey[128];   /* a client key that is not */
	char log[128];      /* sshd's stderr */
	char ssh[1024];     /* the --ssh command, with KEY */
	char ssh_bad[1024]; /* the same with BADKEY */
};

static struct tdaemon d;
static struct tsshd s;

/* Whether something accepts connections on 127.0.0.1:PORT. */
static bool
port_open(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool open;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	open = connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
	close(fd);
	return open;
}

/* DIR/NAME in BUF. */
static char *
in_dir(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

static void
keygen(const char *path)
{
	char *argv[10] = {"ssh-keygen", "-q", "-t", "ed25519", "-N", ""};
	struct run_result r;

	argv[6] = "-f";
	argv[7] = (char *)path;
	run_program(argv, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == 0, "ssh-keygen: %s", r.err);
	run_result_free(&r);
}

/* The user database sshd sees: the machine's (its privilege separation
 * user among them), and our users with /bin/sh and DIR as home. */
static void
write_users(const char *dir, const char *passwd, const char *group)
{
	char *etc = read_file("/etc/passwd", NULL), *text;
	char *groups = read_file("/etc/group", NULL);

	ck_assert_ptr_nonnull(etc);
	ck_assert_ptr_nonnull(groups);
	/* Our uid as SELF, and OTHER as the second user. */
	ck_assert_int_ge(
	    asprintf(&text,
	             "%s%s%s:*:%u:%u::%s:/bin/sh\n"
	             "%s:*:%u:%u::%s:/bin/sh\n",
	             etc, *etc && etc[strlen(etc) - 1] != '\n' ? "\n" : "",
	             SELF, (unsigned)geteuid(), (unsigned)getegid(), dir, OTHER,
	             TEST_NOBODY, TEST_NOBODY, dir),
	    0);
	write_file(passwd, text, strlen(text), 0644);
	write_file(group, groups, strlen(groups), 0644);
	free(text);
	free(etc);
	free(groups);
}

/* sshd_config: this port, these keys, our sessions' PATH. */
static void
write_config(const char *path, const char *dir, int port)
{
	const char *pass[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
	char *text, *env = strdup("");

	for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
		const char *v = getenv(pass[i]);
		char *more;
		if (v == NULL || *v == '\0' || strpbrk(v, " \"") != NULL)
			continue;
		ck_assert_int_ge(asprintf(&more, "%s %s=%s", env, pass[i], v),
		                 0);
		free(env);
		env = more;
	}
	ck_assert_int_ge(asprintf(&text,
	                          "ListenAddress 127.0.0.1\n"
	                          "Port %d\n"
	                          "HostKey %s/hostkey\n"
	                          "AuthorizedKeysFile %s/authorized_keys\n"
	                          "PubkeyAuthentication yes\n"
	                          "PasswordAuthentication no\n"
	                          "KbdInteractiveAuthentication no\n"
	                          "UsePAM no\n"
	                          "StrictModes no\n"
	                          "PermitRootLogin prohibit-password\n"
	                          "X11Forwarding no\n"
	                          "PidFile %s/sshd.pid\n"
	                          "SetEnv PATH=%s/bin:/usr/bin:/bin%s\n",
	                          port, dir, dir, dir, dir, env),
	                 0);
	write_file(path, text, strlen(text), 0600);
	free(text);
	free(env);
}

/* Starts sshd on a free port; false when it could not listen there. */
static bool
sshd_try_start(struct tsshd *t, const char *config, const char *passwd,
               const char *group)
{
	t->pid = fork();
	ck_assert_int_ge(t->pid, 0);
	if (t->pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDWR);
		char env_passwd[200], env_group[200];
		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		snprintf(env_passwd, sizeof env_passwd, "NSS_WRAPPER_PASSWD=%s",
		         passwd);
		snprintf(env_group, sizeof env_group, "NSS_WRAPPER_GROUP=%s",
		         group);
		putenv("LD_PRELOAD=libnss_wrapper.so");
		putenv(env_passwd);
		putenv(env_group);
		/* sshd re-executes itself: an absolute path. */
		execl(SSHD_PROGRAM, SSHD_PROGRAM, "-D", "-e", "-f", config,
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int status;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			return false;
		}
		if (port_open(t->port))
			return true;
		usleep(10000);
	}
	ck_abort_msg("sshd did not listen on port %d, see %s", t->port, t->log);
	return false;
}

/* A private sshd (see the top of this file). */
static void
sshd_start(struct tsshd *t)
{
	char path[128], config[128], passwd[128], group[128], pub[160];
	char *text;
	bool up = false;

	memset(t, 0, sizeof *t);
	snprintf(t->dir, sizeof t->dir, "/tmp/asyncd-sshd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	/* The second user reads its authorized_keys here, and runs DIR/bin. */
	chmod(t->dir, 0755);
	in_dir(t->key, sizeof t->key, t->dir, "key");
	in_dir(t->badkey, sizeof t->badkey, t->dir, "badkey");
	in_dir(t->log, sizeof t->log, t->dir, "sshd.log");
	keygen(in_dir(path, sizeof path, t->dir, "hostkey"));
	keygen(t->key);
	keygen(t->badkey);
	snprintf(pub, sizeof pub, "%s.pub", t->key);
	text = read_file(pub, NULL);
	ck_assert_ptr_nonnull(text);
	write_file(in_dir(path, sizeof path, t->dir, "authorized_keys"), text,
	           strlen(text), 0644);
	free(text);
	in_dir(path, sizeof path, t->dir, "bin");
	ck_assert_int_eq(mkdir(path, 0755), 0);
	in_dir(path, sizeof path, t->dir, "bin/asyncctl");
	ck_assert_int_eq(symlink(td_path("ASYNCCTL", "client/asyncctl"), path),
	                 0);
	in_dir(passwd, sizeof passwd, t->dir, "passwd");
	in_dir(group, sizeof group, t->dir, "group");
	write_users(t->dir, passwd, group);
	in_dir(config, sizeof config, t->dir, "sshd_config");
	/* sshd as root wants its privilege separation directory. */
	if (geteuid() == 0)
		mkdir("/run/sshd", 0755);
	for (int i = 0; i < 5 && !up; i++) {
		t->port = td_free_port();
		write_config(config, t->dir, t->port);
		up = sshd_try_start(t, config, passwd, group);
	}
	ck_assert_msg(up, "sshd did not start, see %s", t->log);
	/* Its host key, known for exactly this address and port. */
	text = read_file(in_dir(pub, sizeof pub, t->dir, "hostkey.pub"), NULL);
	ck_assert_ptr_nonnull(text);
	char *known;
	ck_assert_int_ge(asprintf(&known, "[127.0.0.1]:%d %s", t->port, text),
	                 0);
	write_file(in_dir(path, sizeof path, t->dir, "known_hosts"), known,
	           strlen(known), 0644);
	free(known);
	free(text);
	/* -F /dev/null: no ssh_config of this machine's applies. */
	snprintf(t->ssh, sizeof t->ssh,
	         "ssh -F /dev/null -p %d -i %s -o IdentitiesOnly=yes "
	         "-o BatchMode=yes -o StrictHostKeyChecking=yes "
	         "-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "
	         "-o LogLevel=ERROR",
	         t->port, t->key, path);
	snprintf(t->ssh_bad, sizeof t->ssh_bad,
	         "ssh -F /dev/null -p %d -i %s -o IdentitiesOnly=yes "
	         "-o BatchMode=yes -o StrictHostKeyChecking=yes "
	         "-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "
	         "-o LogLevel=ERROR",
	         t->port, t->badkey, path);
}

static void
sshd_stop(struct tsshd *t)
{
	char cmd[128];

	if (t->pid > 0) {
		kill(t->pid, SIGTERM);
		waitpid(t->pid, NULL, 0);
		t->pid = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", t->dir);
}

static void
setup(void)
{
	td_start(&d, NULL);
	sshd_start(&s);
}

static void
teardown(void)
{
	sshd_stop(&s);
	ck_assert_int_eq(td_stop(&d), 0);
}

/* USER@127.0.0.1:SOCKET of the test's daemon, in a static buffer. */
static const char *
dest(const char *user)
{
	static char buf[200];

	snprintf(buf, sizeof buf, "%s@127.0.0.1:%s", user, d.sock);
	return buf;
}

/* Runs asyncctl -H DEST --ssh SSH with the arguments up to a NULL. */
static void
rctl_v(struct run_result *r, const char *to, const char *ssh, va_list ap)
{
	char *argv[32] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "-H",
	                  (char *)to, "--ssh", (char *)ssh};
	int n = 5;

	while (n < 31 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	argv[n] = NULL;
	run_program(argv, NULL, NULL, -1, r);
}

static void
rctl_as(struct run_result *r, const char *user, ...)
{
	va_list ap;

	va_start(ap, user);
	rctl_v(r, dest(user), s.ssh, ap);
	va_end(ap);
}

#define RCTL(r, ...) rctl_as(r, SELF, __VA_ARGS__, (char *)NULL)

/* The job id printed by --detach, as text. */
static void
id_of(struct run_result *r, char *buf, size_t size)
{
	ck_assert_msg(r->status == 0 && atoll(r->out) > 0, "status %d: %s%s",
	              r->status, r->out, r->err);
	snprintf(buf, size, "%lld", atoll(r->out));
}

START_TEST(jobs_run_and_are_followed_on_the_remote_host)
{
	char big[128], *data;
	struct run_result r;
	size_t len = 3 * 1024 * 1024;

	RCTL(&r, "process", "--", "sh", "-c", "echo out; echo err >&2; exit 3");
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.out, "out\n");
	ck_assert_msg(strstr(r.err, "err\n") && strstr(r.err, "exit-status"),
	              "%s", r.err);
	run_result_free(&r);
	/* A process runs in / there unless --cwd: this host's working
	 * directory means nothing on the other. */
	RCTL(&r, "process", "--", "pwd");
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "/\n");
	run_result_free(&r);
	RCTL(&r, "process", "--cwd", d.dir, "--", "pwd");
	ck_assert_int_eq(r.status, 0);
	ck_assert_int_eq(strncmp(r.out, d.dir, strlen(d.dir)), 0);
	run_result_free(&r);
	RCTL(&r, "read-file", "relative/path");
	ck_assert_int_eq(r.status, 2);
	ck_assert_msg(strstr(r.err, "must be absolute"), "%s", r.err);
	run_result_free(&r);
	RCTL(&r, "sleep", "10");
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "slept 10 ms"), "%s", r.out);
	run_result_free(&r);
	RCTL(&r, "--json", "sleep", "0");
	ck_assert_int_eq(r.status, 0);
	ck_assert(strncmp(r.out, "{\"jsonrpc\":\"2.0\",\"id\":1,", 24) == 0);
	ck_assert(strstr(r.out, "\"method\":\"job.completed\"") != NULL);
	run_result_free(&r);
	/* Megabytes both ways through ssh and the bridge, exactly. */
	data = malloc(len);
	for (size_t i = 0; i < len; i++)
		data[i] = (char)(i * 7919 % 251);
	write_file(in_dir(big, sizeof big, d.dir, "big"), data, len, 0644);
	RCTL(&r, "read-file", big);
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.out_len, len);
	ck_assert(memcmp(r.out, data, len) == 0);
	run_result_free(&r);
	free(data);
	/* The daemon's refusals are 4, as here. */
	RCTL(&r, "get", "999999");
	ck_assert_int_eq(r.status, 4);
	ck_assert_msg(strstr(r.err, "no such job"), "%s", r.err);
	run_result_free(&r);
}
END_TEST

START_TEST(detach_log_and_cancel)
{
	struct run_result r;
	char id[32];
	int i;

	RCTL(&r, "--detach", "process", "--", "sh", "-c",
	     "echo kept; exec sleep 60");
	id_of(&r, id, sizeof id);
	run_result_free(&r);
	/* Its kept output, once written. */
	for (i = 0; i < 200; i++) {
		RCTL(&r, "log", id);
		ck_assert_int_eq(r.status, 0);
		if (strcmp(r.out, "kept\n") == 0)
			break;
		run_result_free(&r);
		usleep(20000);
	}
	ck_assert_msg(i < 200, "log never showed the kept output");
	run_result_free(&r);
	RCTL(&r, "cancel", id);
	ck_assert_int_eq(r.status, 0);
	run_result_free(&r);
	RCTL(&r, "wait", id);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "cancelled"), "%s", r.err);
	run_result_free(&r);
	/* log -f: the kept output, then the live one, until it ends. */
	RCTL(&r, "--detach", "process", "--", "sh", "-c",
	     "echo early; sleep 0.5; echo late");
	id_of(&r, id, sizeof id);
	run_result_free(&r);
	RCTL(&r, "log", "-f", id);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "early\nlate\n");
	run_result_free(&r);
}
END_TEST

START_TEST(host_and_ssh_from_the_environment)
{
	char host[256], ssh[1100], sock[200];
	char *argv[] = {"env",  host,
	                ssh,    (char *)td_path("ASYNCCTL", "client/asyncctl"),
	                "info", NULL};
	char *local[] = {
	    "env",      host,
	    ssh,        (char *)td_path("ASYNCCTL", "client/asyncctl"),
	    "-H",       "",
	    "--socket", d.sock,
	    "info",     NULL};
	char *apart[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                 "-H",
	                 SELF "@127.0.0.1",
	                 "--socket",
	                 sock,
	                 "--ssh",
	                 s.ssh,
	                 "info",
	                 NULL};
	struct run_result r;

	snprintf(host, sizeof host, "ASYNCD_HOST=%s", dest(SELF));
	snprintf(ssh, sizeof ssh, "ASYNCCTL_SSH=%s", s.ssh);
	run_program(argv, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == 0 && strstr(r.out, "protocol 2"), "%d %s%s",
	              r.status, r.out, r.err);
	run_result_free(&r);
	/* -H '' is this host, whatever $ASYNCD_HOST says. */
	run_program(local, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == 0 && strstr(r.out, "protocol 2"), "%d %s%s",
	              r.status, r.out, r.err);
	run_result_free(&r);
	/* --socket with -H is the socket there. */
	snprintf(sock, sizeof sock, "%s", d.sock);
	run_program(apart, NULL, NULL, -1, &r);
	ck_assert_msg(r.status == 0 && strstr(r.out, "protocol 2"), "%d %s%s",
	              r.status, r.out, r.err);
	run_result_free(&r);
}
END_TEST

/* Waits until the daemon runs a job; returns its id. */
static int64_t
running_job(struct tconn *c)
{
	int64_t id = 0;

	for (int i = 0; i < 500 && id == 0; i++) {
		struct json_object *r =
		    tc_call(c, "job.list", "{\"state\":\"running\"}");
		if (json_object_array_length(jget(r, "result.jobs")) > 0)
			id = jint(r, "result.jobs.0.id");
		json_object_put(r);
		if (id == 0)
			usleep(10000);
	}
	ck_assert_int_gt(id, 0);
	return id;
}

/* Starts asyncctl -H ... ARGS in a process group of its own, as a
 * terminal's foreground job, stderr to ERR. */
static pid_t
start_in_group(const char *err, char *const args[])
{
	char *argv[32] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "-H",
	                  (char *)dest(SELF), "--ssh", s.ssh};
	int n = 5;
	pid_t pid;

	for (int i = 0; args[i] != NULL && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		setpgid(0, 0);
		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

/* Ctrl-C reaches the whole foreground group, ssh too: ssh lives on, so
 * that asyncctl cancels its job over it, and goes with asyncctl. */
START_TEST(ctrl_c_cancels_the_remote_job)
{
	char *args[] = {"sleep", "60000", NULL};
	char err[128];
	struct tconn *c = tc_open(d.sock);
	int status;

	in_dir(err, sizeof err, d.dir, "ctl.err");
	pid_t pid = start_in_group(err, args);
	int64_t id = running_job(c);
	ck_assert_int_eq(kill(-pid, SIGINT), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
	              "status %#x", status);
	struct json_object *r =
	    tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);
	ck_assert_str_eq(jstr(r, "result.job.state"), "failed");
	ck_assert_str_eq(jstr(r, "result.job.error.code"), "cancelled");
	json_object_put(r);
	/* Nothing of the group is left: ssh was reaped. */
	ck_assert_int_eq(kill(-pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	tc_close(c);
}
END_TEST

START_TEST(a_failing_ssh_exits_3_with_its_message)
{
	char closed[1100], missing[200];
	struct run_result r;

	/* Nothing listens there. */
	snprintf(closed, sizeof closed,
	         "ssh -F /dev/null -p %d -o BatchMode=yes -o LogLevel=ERROR",
	         td_free_port());
	char *refused[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                   "-H",
	                   (char *)dest(SELF),
	                   "--ssh",
	                   closed,
	                   "info",
	                   NULL};
	run_program(refused, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "Connection refused") &&
	                  strstr(r.err, "asyncctl: cannot reach asyncd on"),
	              "%s", r.err);
	run_result_free(&r);
	/* A key sshd does not take. */
	char *badkey[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                  "-H",
	                  (char *)dest(SELF),
	                  "--ssh",
	                  s.ssh_bad,
	                  "sleep",
	                  "0",
	                  NULL};
	run_program(badkey, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "Permission denied"), "%s", r.err);
	run_result_free(&r);
	/* No daemon on that socket there: the bridge says so through ssh. */
	char to[200];
	snprintf(to, sizeof to, SELF "@127.0.0.1:%s/none.sock", d.dir);
	char *nodaemon[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                    "-H",
	                    to,
	                    "--ssh",
	                    s.ssh,
	                    "info",
	                    NULL};
	run_program(nodaemon, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	snprintf(missing, sizeof missing, "cannot reach asyncd at %s/none.sock",
	         d.dir);
	ck_assert_msg(strstr(r.err, missing), "%s", r.err);
	run_result_free(&r);
	/* No such ssh program. */
	char *noprog[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                  "-H",
	                  (char *)dest(SELF),
	                  "--ssh",
	                  "/nonexistent/ssh -v",
	                  "info",
	                  NULL};
	run_program(noprog, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(strstr(r.err, "cannot run /nonexistent/ssh"), "%s",
	              r.err);
	run_result_free(&r);
	/* Usage errors, before any ssh. */
	char *dash[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "-H",
	                "-oProxyCommand=false", "info", NULL};
	run_program(dash, NULL, NULL, -1, &r);
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
}
END_TEST

START_TEST(bridge_copies_both_ways_and_half_closes)
{
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                "--socket", d.sock, "bridge", NULL};
	char *nowhere[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
	                   "--socket", "/nonexistent/asyncd.sock", "bridge",
	                   NULL};
	char *remote[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"), "-H",
	                  "somewhere", "bridge", NULL};
	struct run_result r;

	/* The request, then EOF: the daemon still answers, and the
	 * connection lives on, half closed, until the job it watches has
	 * ended and the daemon closes it. */
	run_program(argv,
	            "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"job.submit\","
	            "\"params\":{\"kind\":\"sleep\",\"args\":{\"ms\":50}}}\n",
	            NULL, -1, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(
	    strncmp(r.out, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":", 33) ==
	        0,
	    "%s", r.out);
	ck_assert_msg(strstr(r.out, "\"method\":\"job.started\"") &&
	                  strstr(r.out, "\"method\":\"job.completed\""),
	              "%s", r.out);
	ck_assert_str_eq(r.err, "");
	run_result_free(&r);
	/* A last line without its newline is answered too. */
	run_program(argv,
	            "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"daemon.info\"}",
	            NULL, -1, &r);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(strstr(r.out, "\"id\":8,\"result\":{\"version\""), "%s",
	              r.out);
	run_result_free(&r);
	run_program(nowhere, "", NULL, -1, &r);
	ck_assert_int_eq(r.status, 3);
	ck_assert_msg(
	    strstr(r.err, "cannot reach asyncd at /nonexistent/asyncd.sock"),
	    "%s", r.err);
	run_result_free(&r);
	run_program(remote, "", NULL, -1, &r);
	ck_assert_int_eq(r.status, 2);
	run_result_free(&r);
}
END_TEST

/* Starts asyncctl --socket SOCK bridge on one end of a socketpair, as
 * its stdin and stdout; returns the other end. */
static int
start_bridge(pid_t *pid)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	*pid = fork();
	ck_assert_int_ge(*pid, 0);
	if (*pid == 0) {
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		close(sv[0]);
		close(sv[1]);
		execl(td_path("ASYNCCTL", "client/asyncctl"), "asyncctl",
		      "--socket", d.sock, "bridge", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	return sv[0];
}

/* Waits up to 10 s for PID; its exit status, or -1. */
static int
wait_exit(pid_t pid)
{
	int status;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

/* On sockets (no splice: a buffer each way), and gone with its reader:
 * the daemon keeps a half-closed connection while it watches a running
 * job, so over ssh the bridge ends when ssh's connection does. */
START_TEST(bridge_on_a_socket_ends_with_its_reader)
{
	const char submit[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
	                      "\"job.submit\",\"params\":{\"kind\":\"sleep\","
	                      "\"args\":{\"ms\":60000}}}\n";
	const char info[] = "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
	                    "\"daemon.info\"}";
	const char answer[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":";
	char buf[4096];
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int fd = start_bridge(&pid);

	/* The daemon keeps a connection that watches a running job. */
	ck_assert_int_eq(write(fd, submit, strlen(submit)),
	                 (ssize_t)strlen(submit));
	while (memchr(buf, '\n', len) == NULL &&
	       (n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	ck_assert_msg(len > strlen(answer) &&
	                  memcmp(buf, answer, strlen(answer)) == 0,
	              "%.*s", (int)len, buf);
	close(fd);
	ck_assert_int_eq(wait_exit(pid), 0);
	/* A last line without its newline, then EOF: the answer, then the
	 * daemon's end. */
	fd = start_bridge(&pid);
	ck_assert_int_eq(write(fd, info, strlen(info)), (ssize_t)strlen(info));
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	len = 0;
	while ((n = read(fd, buf + len, sizeof buf - len)) > 0)
		len += (size_t)n;
	ck_assert_msg(len > 20 && buf[len - 1] == '\n' &&
	                  strncmp(buf, "{\"jsonrpc\":\"2.0\",\"id\":2,", 20) ==
	                      0,
	              "%.*s", (int)len, buf);
	close(fd);
	ck_assert_int_eq(wait_exit(pid), 0);
}
END_TEST

/* The children of PID: how many, the first one, and whether one is a
 * zombie. */
static int
children(pid_t pid, pid_t *first, bool *zombie)
{
	DIR *dir = opendir("/proc");
	struct dirent *e;
	int n = 0;

	*first = 0;
	*zombie = false;
	ck_assert_ptr_nonnull(dir);
	while ((e = readdir(dir)) != NULL) {
		char path[300], *text, *p, state;
		int ppid;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((text = read_file(path, NULL)) == NULL)
			continue;
		if ((p = strrchr(text, ')')) != NULL &&
		    sscanf(p + 1, " %c %d", &state, &ppid) == 2 &&
		    ppid == pid) {
			n++;
			*first = atoi(e->d_name);
			*zombie = *zombie || state == 'Z';
		}
		free(text);
	}
	closedir(dir);
	return n;
}

/* The daemon restarts under a follower: it runs ssh again, reaps the
 * old one, and follows the job to its end. */
START_TEST(a_follower_reconnects_through_a_new_ssh)
{
	char *args[] = {"sleep", "2500", NULL};
	char err[128], *text = NULL;
	struct tconn *c = tc_open(d.sock);
	pid_t ssh1 = 0, ssh2 = 0;
	bool zombie;
	int status, n = 0;

	in_dir(err, sizeof err, d.dir, "ctl.err");
	pid_t pid = start_in_group(err, args);
	running_job(c);
	tc_close(c);
	ck_assert_int_eq(children(pid, &ssh1, &zombie), 1);
	td_halt(&d, SIGKILL);
	for (int i = 0; i < 500; i++) {
		free(text);
		text = read_file(err, NULL);
		if (text != NULL && strstr(text, "reconnecting") != NULL)
			break;
		usleep(10000);
	}
	ck_assert_msg(text && strstr(text, "reconnecting"), "%s",
	              text ? text : "");
	free(text);
	td_restart(&d, NULL);
	/* One ssh at a time, never a zombie left behind. */
	for (int i = 0; i < 500; i++) {
		n = children(pid, &ssh2, &zombie);
		if (n == 1 && ssh2 != ssh1 && !zombie)
			break;
		usleep(10000);
	}
	ck_assert_msg(n == 1 && ssh2 != ssh1 && !zombie,
	              "%d children, first %d (was %d)", n, (int)ssh2,
	              (int)ssh1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	text = read_file(err, NULL);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%#x: %s",
	              status, text);
	free(text);
}
END_TEST

/* The daemon sees the bridge's uid: a second user logged in over ssh is
 * that user there, and sees only its own jobs. */
START_TEST(a_remote_user_acts_as_itself)
{
	struct tconn *c = tc_open(d.sock);
	int64_t mine =
	    tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":60000},"
	                 "\"watch\":false}");
	char id[32], line[64];
	struct run_result r;

	snprintf(id, sizeof id, "%lld", (long long)mine);
	rctl_as(&r, OTHER, "list", (char *)NULL);
	ck_assert_int_eq(r.status, 0);
	snprintf(line, sizeof line, "\n%8s  ", id);
	ck_assert_msg(strstr(r.out, line) == NULL, "root's job listed: %s",
	              r.out);
	run_result_free(&r);
	rctl_as(&r, OTHER, "get", id, (char *)NULL);
	ck_assert_int_eq(r.status, 4);
	run_result_free(&r);
	rctl_as(&r, OTHER, "cancel", id, (char *)NULL);
	ck_assert_int_eq(r.status, 4);
	run_result_free(&r);
	/* Its own job is its own. */
	rctl_as(&r, OTHER, "--detach", "sleep", "60000", (char *)NULL);
	id_of(&r, id, sizeof id);
	run_result_free(&r);
	struct json_object *j = tc_call(c, "job.get", "{\"id\":%s}", id);
	ck_assert_int_eq(jint(j, "result.job.owner"), TEST_NOBODY);
	json_object_put(j);
	rctl_as(&r, OTHER, "process", "--", "id", "-u", (char *)NULL);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out, "65534\n");
	run_result_free(&r);
	rctl_as(&r, OTHER, "cancel", id, (char *)NULL);
	ck_assert_int_eq(r.status, 0);
	run_result_free(&r);
	j = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)mine);
	json_object_put(j);
	tc_close(c);
}
END_TEST

static Suite *
remote_suite(void)
{
	Suite *su = suite_create("remote");
	TCase *tc = tcase_create("ssh");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, jobs_run_and_are_followed_on_the_remote_host);
	tcase_add_test(tc, detach_log_and_cancel);
	tcase_add_test(tc, host_and_ssh_from_the_environment);
	tcase_add_test(tc, ctrl_c_cancels_the_remote_job);
	tcase_add_test(tc, a_failing_ssh_exits_3_with_its_message);
	tcase_add_test(tc, bridge_copies_both_ways_and_half_closes);
	tcase_add_test(tc, bridge_on_a_socket_ends_with_its_reader);
	tcase_add_test(tc, a_follower_reconnects_through_a_new_ssh);
	suite_add_tcase(su, tc);
	return su;
}

static Suite *
remote_root_suite(void)
{
	Suite *su = suite_create("remote_root");
	TCase *tc = tcase_create("ssh as another user");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_remote_user_acts_as_itself);
	suite_add_tcase(su, tc);
	return su;
}

int
main(void)
{
	/* Only what running sshd needs can make this suite skip. */
	if (access(SSHD_PROGRAM, X_OK) != 0 ||
	    system("command -v ssh >/dev/null && command -v ssh-keygen "
	           ">/dev/null") != 0) {
		printf("SKIP: no %s, ssh or ssh-keygen (Debian packages "
		       "openssh-server, openssh-client)\n",
		       SSHD_PROGRAM);
		return 77;
	}
	return run_suite_split(remote_suite, remote_root_suite,
	                       "to run the daemon for a second user that logs "
	                       "in over ssh (uid 65534)");
}
