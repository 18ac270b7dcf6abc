/* The network process (asyncd-net) against a real asyncd, the real test
 * HTTP server and a hostile one started by the test: it holds no
 * privilege (/proc/PID/status: uid, capabilities, no_new_privs,
 * seccomp), it is killed without taking its downloads along (they are
 * retried in a new one, or fail with network-error), whatever a server
 * sends the daemon goes on serving, and a TLS handshake (CA store,
 * OpenSSL) runs inside the filter. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../testutil.h"

#define WAIT_MS 30000

static struct tdaemon d;
static struct tconn *c;
static struct thttpd h;
static char work[128];

static void
setup(void)
{
	th_start(&h);
	snprintf(work, sizeof work, "%s/work", h.dir);
	ck_assert_int_eq(mkdir(work, 0755), 0);
	tf_open(&d, &c, NULL);
}

static void
teardown(void)
{
	tc_close(c);
	c = NULL;
	if (d.pid > 0)
		ck_assert_int_eq(td_stop(&d), 0);
	th_stop(&h);
}

/* The daemon's child named asyncd-net, or 0. */
static pid_t
net_pid(void)
{
	DIR *proc = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	ck_assert_ptr_nonnull(proc);
	while (found == 0 && (e = readdir(proc)) != NULL) {
		char path[300], comm[64];
		int pid, ppid;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fscanf(f, "%d (%63[^)]) %*c %d", &pid, comm, &ppid) == 3 &&
		    ppid == d.pid && strcmp(comm, "asyncd-net") == 0)
			found = pid;
		fclose(f);
	}
	closedir(proc);
	return found;
}

/* The value of FIELD (e.g. "CapEff") in PID's /proc status. */
static char *
status_field(pid_t pid, const char *field)
{
	char path[64], key[64], *text, *p, *v;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	snprintf(key, sizeof key, "\n%s:", field);
	text = read_file(path, NULL);
	ck_assert_ptr_nonnull(text);
	p = strstr(text, key);
	ck_assert_msg(p != NULL, "no %s in %s", field, path);
	p += strlen(key);
	p += strspn(p, " \t");
	v = strndup(p, strcspn(p, "\n"));
	free(text);
	return v;
}

static void
assert_field(pid_t pid, const char *field, const char *want)
{
	char *v = status_field(pid, field);

	ck_assert_msg(strcmp(v, want) == 0, "%s of asyncd-net is %s, not %s",
		      field, v, want);
	free(v);
}

static void
pattern_sha(size_t n, char out[65])
{
	unsigned char *b = malloc(n), md[32];
	unsigned int len = 0;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 131 + 7) % 251);
	EVP_Digest(b, n, md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	free(b);
}

/* Downloads URL_PATH of the test server to work/NAME; returns the end. */
static struct json_object *
download(const char *url_path, const char *name, const char *extra)
{
	int64_t id = tc_submit(c,
			       "{\"kind\":\"download\",\"args\":{\"url\":\"%s%s\","
			       "\"dest\":\"%s/%s\"%s}}",
			       h.base, url_path, work, name, extra);

	return tc_wait_end(c, id, WAIT_MS);
}

static void
assert_serving(void)
{
	struct json_object *r = tc_call(c, "daemon.info", NULL);

	ck_assert_int_eq(jint(r, "result.pid"), d.pid);
	json_object_put(r);
}

/* ---- Privilege ---------------------------------------------------------- */

START_TEST(network_process_holds_no_privilege)
{
	struct json_object *end = download("/bytes/1000", "small", "");
	pid_t np;
	char *uid, want[64];

	ck_assert_str_eq(jstr(end, "method"), "job.completed");
	json_object_put(end);
	np = net_pid();
	ck_assert_msg(np > 0, "no asyncd-net under the daemon");
	assert_field(np, "CapEff", "0000000000000000");
	assert_field(np, "CapPrm", "0000000000000000");
	assert_field(np, "CapInh", "0000000000000000");
	assert_field(np, "CapAmb", "0000000000000000");
	assert_field(np, "NoNewPrivs", "1");
	assert_field(np, "Seccomp", "2");
	/* As root: the system user made for it, else nobody; else the
	 * daemon's own user. */
	uid_t expect = geteuid();
	if (expect == 0) {
		struct passwd *pw = getpwnam("asyncd-net");
		if (pw == NULL)
			pw = getpwnam("nobody");
		ck_assert_ptr_nonnull(pw);
		expect = pw->pw_uid;
		ck_assert_uint_ne(expect, 0);
	}
	snprintf(want, sizeof want, "%u\t%u\t%u\t%u", (unsigned)expect,
		 (unsigned)expect, (unsigned)expect, (unsigned)expect);
	uid = status_field(np, "Uid");
	ck_assert_msg(strcmp(uid, want) == 0, "asyncd-net runs as %s", uid);
	free(uid);
}
END_TEST

/* ---- A process that dies ------------------------------------------------ */

START_TEST(a_killed_network_process_takes_no_download_along)
{
	size_t n = 3000000;
	char sha[65], path[300];
	int64_t again, once;
	pid_t first;

	/* About 3 s each: the kill comes in the middle. */
	again = tc_submit(c, "{\"kind\":\"download\",\"args\":{\"url\":"
			     "\"%s/slow/%zu?rate=1000000\",\"dest\":\"%s/again\"}}",
			  h.base, n, work);
	once = tc_submit(c, "{\"kind\":\"download\",\"args\":{\"url\":"
			    "\"%s/slow/%zu?rate=1000000\",\"dest\":\"%s/once\","
			    "\"retries\":0}}",
			 h.base, n, work);
	for (int i = 0; i < 200 && (first = net_pid()) == 0; i++)
		usleep(10000);
	ck_assert_int_gt(first, 0);
	usleep(700000);
	ck_assert_int_eq(kill(first, SIGKILL), 0);

	/* With retries left it goes on in a new process... */
	struct json_object *end = tc_wait_end(c, again, WAIT_MS);
	ck_assert_msg(strcmp(jstr(end, "method"), "job.completed") == 0, "%s",
		      json_object_to_json_string(end));
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(end, "params.result.sha256"), sha);
	json_object_put(end);
	snprintf(path, sizeof path, "%s/again", work);
	size_t len = 0;
	free(read_file(path, &len));
	ck_assert_uint_eq(len, n);
	ck_assert_int_ne(net_pid(), first);

	/* ... without, it fails and says why. */
	end = tc_wait_end(c, once, WAIT_MS);
	ck_assert_str_eq(jstr(end, "params.error.code"), "network-error");
	ck_assert_ptr_nonnull(strstr(jstr(end, "params.error.message"),
				     "killed by signal 9"));
	json_object_put(end);
	snprintf(path, sizeof path, "%s/once.part", work);
	ck_assert_int_ne(access(path, F_OK), 0);
	assert_serving();
}
END_TEST

/* ---- Hostile servers ---------------------------------------------------- */

/* A server that answers every request with the raw reply its path names
 * (/NAME), then closes: what no well-behaved server sends. */
struct hostile {
	int fd;
	int port;
	pthread_t thread;
};

#define REPLY(text) text, sizeof text - 1
static const struct {
	const char *name;
	const char *reply;
	size_t len;
	size_t pad; /* bytes of 'x' in a header line after the reply */
} hostile_replies[] = {
	{"chunks", REPLY("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			 "\r\nzz\r\nnot a chunk\r\n"), 0},
	{"binary", REPLY("\x00\xff\xfe garbage \x01\x02\r\n\r\n"), 0},
	{"status", REPLY("HTTP/1.1 99999999999999999999 ?\r\n\r\n"), 0},
	{"header", REPLY("HTTP/1.1 200 OK\r\nX-Long: "), 400000},
	{"lengths", REPLY("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
			  "Content-Length: 7000000000\r\n\r\nhello"), 0},
	{"short", REPLY("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
			"\r\nabc"), 0},
};

static void
hostile_serve(int conn)
{
	char req[4096], name[64] = "";
	ssize_t n = recv(conn, req, sizeof req - 1, 0);

	if (n <= 0)
		return;
	req[n] = '\0';
	sscanf(req, "GET /%63s", name);
	for (size_t i = 0; i < sizeof hostile_replies / sizeof *hostile_replies;
	     i++) {
		if (strcmp(name, hostile_replies[i].name) != 0)
			continue;
		if (send(conn, hostile_replies[i].reply, hostile_replies[i].len,
			 MSG_NOSIGNAL) < 0)
			return;
		char pad[4096];
		memset(pad, 'x', sizeof pad);
		for (size_t k = 0; k < hostile_replies[i].pad; k += sizeof pad)
			if (send(conn, pad, sizeof pad, MSG_NOSIGNAL) < 0)
				return;
	}
}

static void *
hostile_main(void *arg)
{
	struct hostile *s = arg;
	int conn;

	while ((conn = accept(s->fd, NULL, NULL)) >= 0) {
		hostile_serve(conn);
		close(conn);
	}
	return NULL;
}

static void
hostile_start(struct hostile *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof a;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->fd, 0);
	ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(s->fd, 16), 0);
	ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, hostile_main, s), 0);
}

static void
hostile_stop(struct hostile *s)
{
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

START_TEST(hostile_responses_fail_their_jobs_only)
{
	struct hostile s;

	hostile_start(&s);
	for (size_t i = 0; i < sizeof hostile_replies / sizeof *hostile_replies;
	     i++) {
		const char *name = hostile_replies[i].name;
		int64_t id = tc_submit(
			c, "{\"kind\":\"download\",\"args\":{\"url\":"
			   "\"http://127.0.0.1:%d/%s\",\"dest\":\"%s/%s\","
			   "\"retries\":0}}",
			s.port, name, work, name);
		struct json_object *end = tc_wait_end(c, id, WAIT_MS);
		ck_assert_msg(strcmp(jstr(end, "method"), "job.failed") == 0,
			      "%s: %s", name, json_object_to_json_string(end));
		const char *code = jstr(end, "params.error.code");
		ck_assert_msg(strcmp(code, "network-error") == 0 ||
				      strcmp(code, "http-error") == 0,
			      "%s: %s", name, code);
		json_object_put(end);
		char part[300];
		snprintf(part, sizeof part, "%s/%s.part", work, name);
		ck_assert_msg(access(part, F_OK) != 0, "%s left its part", name);
		assert_serving();
	}
	hostile_stop(&s);
	/* The daemon and its network process still do their work. */
	struct json_object *end = download("/bytes/54321", "after", "");
	ck_assert_str_eq(jstr(end, "method"), "job.completed");
	json_object_put(end);
}
END_TEST

/* ---- TLS ------------------------------------------------------------------ */

/* openssl s_server with a self-signed certificate, serving DIR's files on
 * PORT; its pid. */
static pid_t
tls_server_start(const char *dir, int port)
{
	char accept[32], cmd[512];
	pid_t pid;

	snprintf(cmd, sizeof cmd,
		 "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -keyout key.pem -out "
		 "cert.pem -subj /CN=127.0.0.1 -days 1 2>/dev/null",
		 dir);
	ck_assert_msg(system(cmd) == 0, "openssl could not make a certificate");
	snprintf(accept, sizeof accept, "127.0.0.1:%d", port);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (chdir(dir) == 0)
			execlp("openssl", "openssl", "s_server", "-accept", accept,
			       "-cert", "cert.pem", "-key", "key.pem", "-WWW",
			       "-quiet", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port)};
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bool up = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
		close(fd);
		if (up)
			return pid;
		usleep(10000);
	}
	ck_abort_msg("openssl s_server did not start");
	return -1;
}

START_TEST(a_tls_handshake_runs_inside_the_filter)
{
	char dir[300], file[320];
	int port = td_free_port();
	pid_t server, before;
	struct json_object *end;

	/* The process is there before the handshake... */
	end = download("/bytes/10", "first", "");
	json_object_put(end);
	before = net_pid();
	ck_assert_int_gt(before, 0);
	snprintf(dir, sizeof dir, "%s/tls", h.dir);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(file, sizeof file, "%s/hello", dir);
	write_file(file, "hello over TLS\n", 15, 0644);
	server = tls_server_start(dir, port);
	int64_t id = tc_submit(c, "{\"kind\":\"download\",\"args\":{\"url\":"
				  "\"https://127.0.0.1:%d/hello\",\"dest\":"
				  "\"%s/hello\",\"retries\":0}}",
			       port, work);
	end = tc_wait_end(c, id, WAIT_MS);
	kill(server, SIGTERM);
	waitpid(server, NULL, 0);
	/* ... a certificate no CA signed is refused by the verification,
	 * not by the filter: the same process is still there. */
	ck_assert_str_eq(jstr(end, "params.error.code"), "network-error");
	ck_assert_msg(strstr(jstr(end, "params.error.message"), "certificate"),
		      "%s", jstr(end, "params.error.message"));
	json_object_put(end);
	ck_assert_int_eq(net_pid(), before);
	assert_serving();
}
END_TEST

static Suite *
netproc_suite(void)
{
	Suite *s = suite_create("network process");
	TCase *tc = tcase_create("netproc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, network_process_holds_no_privilege);
	tcase_add_test(tc, a_killed_network_process_takes_no_download_along);
	tcase_add_test(tc, hostile_responses_fail_their_jobs_only);
	tcase_add_test(tc, a_tls_handshake_runs_inside_the_filter);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite(netproc_suite());
}
