/* Log lines about jobs against a real asyncd: on stderr their fields lead
 * in one order (job= kind= uid= error=); with --log-target journal they
 * are journal fields with a MESSAGE_ID, checked on the journal's own
 * socket (as root, where no journald runs: the test listens there), or
 * stderr's lines after one warning when libsystemd cannot be loaded. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../testutil.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define MSGID_JOB_FAILED "d5855638a9d543ec9b416eb779b47e37"

static struct tdaemon d;
static struct tconn *c;

static void
teardown(void)
{
	tf_close(&d, &c);
}

/* Runs a read-file of a missing file to its end; returns its id. */
static int64_t
failing_job(void)
{
	int64_t id = tc_submit(c, "{\"kind\":\"read-file\",\"args\":"
				  "{\"path\":\"/no/such/file\"}}");

	json_object_put(tc_wait_end(c, id, 10000));
	return id;
}

START_TEST(job_lines_lead_with_their_fields)
{
	static const char *const extra[] = {"--log-level", "debug",
					    "--log-target", "stderr", NULL};
	char want[200], *log;
	int64_t id, ok;
	size_t len;

	tf_open(&d, &c, extra);
	id = failing_job();
	ok = tc_submit(c, "{\"kind\":\"sleep\",\"args\":{\"ms\":0}}");
	json_object_put(tc_wait_end(c, ok, 10000));
	log = read_file(d.log, &len);
	snprintf(want, sizeof want,
		 "<6>job=%lld kind=read-file uid=%u error=not-found: failed: "
		 "open /no/such/file", (long long)id, (unsigned)geteuid());
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in:\n%s", want, log);
	snprintf(want, sizeof want, "<7>job=%lld kind=sleep uid=%u: started",
		 (long long)ok, (unsigned)geteuid());
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in:\n%s", want, log);
	snprintf(want, sizeof want, "<7>job=%lld kind=sleep uid=%u: completed",
		 (long long)ok, (unsigned)geteuid());
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in:\n%s", want, log);
	free(log);
}
END_TEST

START_TEST(a_bad_log_target_is_refused)
{
	char sock[160];
	struct run_result rr;

	snprintf(sock, sizeof sock, "/tmp/asyncd-logs-%d.sock", (int)getpid());
	char *argv[] = {(char *)td_path("ASYNCD", "daemon/asyncd"), "--socket",
			sock, "--state-dir", "none", "--log-target", "syslog", NULL};
	run_program(argv, NULL, NULL, -1, &rr);
	ck_assert_int_eq(rr.status, 2);
	ck_assert_ptr_nonnull(strstr(rr.err, "unknown log target: syslog"));
	run_result_free(&rr);
#ifndef ENABLE_JOURNAL
	char *argv2[] = {(char *)td_path("ASYNCD", "daemon/asyncd"), "--socket",
			 sock, "--state-dir", "none", "--log-target", "journal", NULL};
	run_program(argv2, NULL, NULL, -1, &rr);
	ck_assert_int_eq(rr.status, 2);
	ck_assert_ptr_nonnull(strstr(rr.err, "built --without-systemd"));
	run_result_free(&rr);
#endif
}
END_TEST

#ifdef ENABLE_JOURNAL
/* A libsystemd.so.0 that dlopen refuses (an empty file) comes first in
 * the library path: the journal target says so once and writes stderr's
 * lines, priority prefixes and fields in the text. */
START_TEST(journal_without_libsystemd_falls_back_to_stderr)
{
	static const char *const extra[] = {"--log-target", "journal", NULL};
	char dir[] = "/tmp/asyncd-nolib.XXXXXX", lib[64], env[96], want[200];
	const char *envs[] = {env, NULL};
	char *log, *warning;
	int64_t id;
	size_t len;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(lib, sizeof lib, "%s/libsystemd.so.0", dir);
	ck_assert_ptr_nonnull(f = fopen(lib, "w"));
	fclose(f);
	snprintf(env, sizeof env, "LD_LIBRARY_PATH=%s", dir);
	tf_open_env(&d, &c, extra, envs);
	id = failing_job();
	log = read_file(d.log, &len);
	unlink(lib);
	rmdir(dir);
	warning = strstr(log, "<4>cannot load libsystemd: ");
	ck_assert_msg(warning != NULL, "no warning in:\n%s", log);
	ck_assert_msg(strstr(strchr(warning, '\n'), "libsystemd") == NULL,
		      "more than one warning in:\n%s", log);
	ck_assert_ptr_nonnull(strstr(warning, "; logging to standard error\n"));
	snprintf(want, sizeof want,
		 "<6>job=%lld kind=read-file uid=%u error=not-found: failed: "
		 "open /no/such/file", (long long)id, (unsigned)geteuid());
	ck_assert_msg(strstr(log, want) != NULL, "no \"%s\" in:\n%s", want, log);
	free(log);
}
END_TEST
#endif

/* The value of FIELD in a native journal datagram (KEY=VALUE lines). */
static char *
journal_field(const char *msg, size_t len, const char *field)
{
	size_t flen = strlen(field);
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > flen && strncmp(p, field, flen) == 0 &&
		    p[flen] == '=')
			return strndup(p + flen + 1, (size_t)(nl - p) - flen - 1);
		p = nl + 1;
	}
	return NULL;
}

/* Where a journald runs: the line is found by its fields with
 * journalctl. */
static void
journal_by_journalctl(void)
{
	static const char *const extra[] = {"--log-target", "journal", NULL};
	char filter[64];
	struct run_result rr;
	int64_t id;

	tf_open(&d, &c, extra);
	id = failing_job();
	char *sync[] = {"journalctl", "--sync", NULL};
	run_program(sync, NULL, NULL, -1, &rr);
	run_result_free(&rr);
	snprintf(filter, sizeof filter, "JOB_ID=%lld", (long long)id);
	char *argv[] = {"journalctl", "-q", "-o", "cat", filter,
			"MESSAGE_ID=" MSGID_JOB_FAILED, "JOB_KIND=read-file",
			"JOB_ERROR=not-found", NULL};
	run_program(argv, NULL, NULL, -1, &rr);
	ck_assert_msg(strstr(rr.out, "failed: open /no/such/file") != NULL,
		      "journalctl %s: %s%s", filter, rr.out, rr.err);
	run_result_free(&rr);
}

/* As root, where no journald runs: the test takes the journal's socket
 * and reads what asyncd sends there. */
START_TEST(journal_lines_carry_job_fields)
{
	static const char *const extra[] = {"--log-target", "journal", NULL};
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char buf[8192];
	bool found = false;
	int fd;
	int64_t id;

#ifndef ENABLE_JOURNAL
	ck_abort_msg("not built: the _root program skips it --without-systemd");
#endif
	if (access(JOURNAL_SOCKET, F_OK) == 0) {
		journal_by_journalctl();
		return;
	}
	mkdir("/run/systemd", 0755);
	ck_assert(mkdir("/run/systemd/journal", 0755) == 0 || errno == EEXIST);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	strcpy(sun.sun_path, JOURNAL_SOCKET);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	tf_open(&d, &c, extra);
	id = failing_job();
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ck_assert_msg(poll(&pfd, 1, 5000) == 1, "no journal message");
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		ck_assert_int_gt(n, 0);
		char *msgid = journal_field(buf, (size_t)n, "MESSAGE_ID");
		if (msgid != NULL && strcmp(msgid, MSGID_JOB_FAILED) == 0) {
			char *job = journal_field(buf, (size_t)n, "JOB_ID");
			char *kind = journal_field(buf, (size_t)n, "JOB_KIND");
			char *uid = journal_field(buf, (size_t)n, "JOB_UID");
			char *err = journal_field(buf, (size_t)n, "JOB_ERROR");
			char *msg = journal_field(buf, (size_t)n, "MESSAGE");
			ck_assert_int_eq(atoll(job), id);
			ck_assert_str_eq(kind, "read-file");
			ck_assert_str_eq(uid, "0");
			ck_assert_str_eq(err, "not-found");
			ck_assert_ptr_nonnull(strstr(msg, "failed: open /no/such/file"));
			free(job), free(kind), free(uid), free(err), free(msg);
			found = true;
		}
		free(msgid);
		if (found)
			break;
	}
	close(fd);
	unlink(JOURNAL_SOCKET);
	rmdir("/run/systemd/journal");
	rmdir("/run/systemd");
}
END_TEST

static Suite *
logs_suite(void)
{
	Suite *s = suite_create("logs");
	TCase *tc = tcase_create("stderr");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, job_lines_lead_with_their_fields);
	tcase_add_test(tc, a_bad_log_target_is_refused);
#ifdef ENABLE_JOURNAL
	tcase_add_test(tc, journal_without_libsystemd_falls_back_to_stderr);
#endif
	suite_add_tcase(s, tc);
	return s;
}

static Suite *
logs_root_suite(void)
{
#ifndef ENABLE_JOURNAL
	fprintf(stderr, "SKIP: built --without-systemd: no journal target\n");
	exit(77);
#endif
	Suite *s = suite_create("logs as root");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, journal_lines_carry_job_fields);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(logs_suite, logs_root_suite,
			       "it listens on the journal's socket in /run");
}
