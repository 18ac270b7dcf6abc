/* The download kind against a real asyncd and the real test HTTP server
 * (tests/httpd/testhttpd), both started per test in temporary
 * directories: every argument, every error code, no DEST.part left behind
 * on failure, resume and retries with Range requests (seen in the
 * server's request log and its per-key counters), continuing across a
 * restart of the daemon (kill -9 and SIGTERM) with If-Range, and taking
 * a changed file whole, never spliced, concurrency and its
 * limit, identity (permission and ownership as uid 65534), streaming,
 * redirects, stalls, and asyncctl end to end. Bodies are checked byte by
 * byte and by SHA-256 against the server's formula. The identity cases
 * need root to connect as uid 65534: check_download_root, built from this
 * file. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "../../proto/base64.h"
#include "../testutil.h"

#define WAIT_MS 30000

static struct tdaemon d;
static struct tconn *c;
static pid_t httpd_pid;
static char hdir[64];     /* the server's directory: port file and log */
static char base[64];     /* http://127.0.0.1:PORT */
static char work[128];    /* a scratch directory for downloads, 0755 */

/* ---- The server and the daemon ----------------------------------------- */

static void
httpd_start(void)
{
	const char *prog = td_path("TESTHTTPD", "tests/httpd/testhttpd");
	char portfile[128], log[128];
	char *port = NULL;

	snprintf(hdir, sizeof hdir, "/tmp/asyncd-httpd.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(hdir));
	snprintf(portfile, sizeof portfile, "%s/port", hdir);
	snprintf(log, sizeof log, "%s/httpd.log", hdir);
	httpd_pid = fork();
	ck_assert_int_ge(httpd_pid, 0);
	if (httpd_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		dup2(null, 1); /* it prints the port there too */
		execl(prog, prog, "--port", "0", "--port-file", portfile, "-v",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && (port = read_file(portfile, NULL)) == NULL; i++)
		usleep(10000);
	ck_assert_msg(port != NULL, "testhttpd did not start (%s)", prog);
	snprintf(base, sizeof base, "http://127.0.0.1:%d", atoi(port));
	free(port);
}

static void
httpd_stop(void)
{
	char cmd[128];

	if (httpd_pid > 0) {
		kill(httpd_pid, SIGTERM);
		waitpid(httpd_pid, NULL, 0);
		httpd_pid = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", hdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", hdir);
}

/* True when the server logged a request line containing NEEDLE. */
static bool
httpd_saw(const char *needle)
{
	char log[128];
	char *text;
	bool found;

	snprintf(log, sizeof log, "%s/httpd.log", hdir);
	text = read_file(log, NULL);
	found = text != NULL && strstr(text, needle) != NULL;
	free(text);
	return found;
}

static size_t
collect_cb(char *p, size_t size, size_t n, void *arg)
{
	strncat(arg, p, size * n < 31 ? size * n : 31);
	return size * n;
}

/* The number the server's ROUTE answers for KEY (/ROUTE?key=KEY). */
static long
httpd_number(const char *route, const char *key)
{
	char url[160], body[64] = "";
	CURL *e = curl_easy_init();

	snprintf(url, sizeof url, "%s/%s?key=%s", base, route, key);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
	ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	return atol(body);
}

/* The server's request count for KEY (/count?key=KEY). */
static long
httpd_count(const char *key)
{
	return httpd_number("count", key);
}

/* Starts asyncd with EXTRA options and connects to it. */
static void
start(const char *const extra[])
{
	tf_open(&d, &c, extra);
}

static void
setup(void)
{
	httpd_start();
	snprintf(work, sizeof work, "%s/work", hdir);
	ck_assert_int_eq(mkdir(work, 0755), 0);
	chmod(hdir, 0755);
}

static void
teardown(void)
{
	tc_close(c);
	c = NULL;
	if (d.pid > 0)
		ck_assert_int_eq(td_stop(&d), 0);
	httpd_stop();
}

/* ---- Bodies ------------------------------------------------------------- */

static unsigned char
pattern(uint64_t i)
{
	return (unsigned char)((i * 131 + 7) % 251);
}

static unsigned char *
pattern_buf(size_t n)
{
	unsigned char *b = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i);
	return b;
}

static void
sha_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void
pattern_sha(size_t n, char out[65])
{
	unsigned char *b = pattern_buf(n);

	sha_hex(b, n, out);
	free(b);
}

/* /res version V: byte i is pattern(i + V). */
static void
version_sha(size_t n, uint64_t v, char out[65])
{
	unsigned char *b = malloc(n ? n : 1);

	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i + v);
	sha_hex(b, n, out);
	free(b);
}

static void
assert_version_file(const char *path, size_t n, uint64_t v)
{
	size_t len = 0;
	unsigned char *b = (unsigned char *)read_file(path, &len);

	ck_assert_msg(b != NULL, "%s is missing", path);
	ck_assert_msg(len == n, "%s has %zu bytes, not %zu", path, len, n);
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern(i + v))
			ck_abort_msg("%s differs from version %llu at byte %zu",
				     path, (unsigned long long)v, i);
	free(b);
}

/* Asserts that PATH holds exactly the first N bytes of the pattern. */
static void
assert_pattern_file(const char *path, size_t n)
{
	size_t len = 0;
	unsigned char *b = (unsigned char *)read_file(path, &len);

	ck_assert_msg(b != NULL, "%s is missing", path);
	ck_assert_msg(len == n, "%s has %zu bytes, not %zu", path, len, n);
	for (size_t i = 0; i < n; i++)
		if (b[i] != pattern(i))
			ck_abort_msg("%s differs at byte %zu", path, i);
	free(b);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool
part_exists(const char *path)
{
	char part[600];

	snprintf(part, sizeof part, "%s.part", path);
	return exists(part);
}

static void
write_pattern(const char *path, size_t n)
{
	unsigned char *b = pattern_buf(n);

	write_file(path, b, n, 0644);
	free(b);
}

/* ---- Jobs --------------------------------------------------------------- */

/* What one job sent until its end. */
struct run {
	struct json_object *end; /* job.completed or job.failed */
	int nprogress;
	int64_t first_done, last_done, last_total; /* total -1: null */
	bool monotonic;
	unsigned char *data; /* the "data" stream, decoded */
	size_t len;
};

static void
run_free(struct run *r)
{
	json_object_put(r->end);
	free(r->data);
}

static void
run_output(struct run *r, struct json_object *ev)
{
	const char *text = jstr(ev, "params.data");
	size_t n = strlen(text);

	ck_assert_int_eq(jint(ev, "params.offset"), (int64_t)r->len);
	ck_assert_str_eq(jstr(ev, "params.stream"), "data");
	r->data = realloc(r->data, r->len + n + 3);
	if (strcmp(jstr(ev, "params.encoding"), "base64") == 0) {
		long k = base64_decode(text, n, r->data + r->len);
		ck_assert_int_ge(k, 0);
		r->len += (size_t)k;
	} else {
		memcpy(r->data + r->len, text, n);
		r->len += n;
	}
}

static void
run_progress(struct run *r, struct json_object *ev)
{
	int64_t done = jint(ev, "params.done");

	ck_assert_str_eq(jstr(ev, "params.unit"), "bytes");
	if (r->nprogress == 0)
		r->first_done = done;
	else if (done < r->last_done)
		r->monotonic = false;
	r->nprogress++;
	r->last_done = done;
	r->last_total = jnull(ev, "params.total") ? -1 : jint(ev, "params.total");
}

/* Reads job ID's events (others are dropped) until it ends. */
static void
follow(int64_t id, struct run *r)
{
	memset(r, 0, sizeof *r);
	r->monotonic = true;
	for (;;) {
		struct json_object *ev = tc_event(c, WAIT_MS);
		ck_assert_msg(ev != NULL, "job %lld did not end", (long long)id);
		const char *m = jstr(ev, "method");
		if (m == NULL || jint(ev, "params.id") != id) {
			json_object_put(ev);
			continue;
		}
		if (strcmp(m, "job.output") == 0)
			run_output(r, ev);
		else if (strcmp(m, "job.progress") == 0)
			run_progress(r, ev);
		if (strcmp(m, "job.completed") == 0 || strcmp(m, "job.failed") == 0) {
			r->end = ev;
			return;
		}
		json_object_put(ev);
	}
}

static int64_t
submit_args(struct tconn *conn, const char *args)
{
	return tc_submit(conn, "{\"kind\":\"download\",\"args\":%s}", args);
}

/* Runs a download with ARGS (JSON) to its end. */
static void
run_download(const char *args, struct run *r)
{
	follow(submit_args(c, args), r);
}

static void
assert_completed(struct run *r)
{
	ck_assert_msg(strcmp(jstr(r->end, "method"), "job.completed") == 0,
		      "expected completed: %s", json_object_to_json_string(r->end));
}

static void
assert_failed(struct run *r, const char *code)
{
	ck_assert_msg(strcmp(jstr(r->end, "method"), "job.failed") == 0 &&
			      strcmp(jstr(r->end, "params.error.code"), code) == 0,
		      "expected %s: %s", code, json_object_to_json_string(r->end));
}

/* A one-shot download of URL_PATH to DEST, expected to fail with CODE and
 * leave neither DEST nor DEST.part. */
static void
expect_failure(const char *url_path, const char *dest, const char *extra,
	       const char *code)
{
	char args[2048];
	struct run r;

	snprintf(args, sizeof args, "{\"url\":\"%s%s\",\"dest\":\"%s\"%s%s}",
		 base, url_path, dest, extra ? "," : "", extra ? extra : "");
	run_download(args, &r);
	assert_failed(&r, code);
	ck_assert_msg(!exists(dest), "%s exists after a failure", dest);
	ck_assert_msg(!part_exists(dest), "%s.part left behind", dest);
	run_free(&r);
}

/* ---- Tests: success ----------------------------------------------------- */

START_TEST(downloads_file_with_result_and_progress)
{
	char dest[512], url[128], sha[65], args[1200];
	size_t n = 3 * 1024 * 1024 + 7;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/a.bin", work);
	snprintf(url, sizeof url, "%s/bytes/%zu", base, n);
	snprintf(args, sizeof args, "{\"url\":\"%s\",\"dest\":\"%s\"}", url, dest);
	run_download(args, &r);
	assert_completed(&r);
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(r.end, "params.result.path"), dest);
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), (int64_t)n);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 200);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	ck_assert_str_eq(jstr(r.end, "params.result.content_type"),
			 "application/octet-stream");
	ck_assert_str_eq(jstr(r.end, "params.result.url"), url);
	ck_assert_int_ge(jint(r.end, "params.result.elapsed_ms"), 0);
	ck_assert_int_ge(r.nprogress, 1);
	ck_assert(r.monotonic);
	ck_assert_int_eq(r.last_done, (int64_t)n);
	ck_assert_int_eq(r.last_total, (int64_t)n);
	assert_pattern_file(dest, n);
	ck_assert(!part_exists(dest));
	run_free(&r);
}
END_TEST

START_TEST(empty_body_completes)
{
	char dest[512], args[1200], sha[65];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/empty", work);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/0\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	sha_hex("", 0, sha);
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), 0);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	ck_assert_int_eq(r.last_done, 0);
	assert_pattern_file(dest, 0);
	run_free(&r);
}
END_TEST

START_TEST(directory_dest_takes_the_url_name)
{
	char args[1200], want[512];
	struct run r;

	start(NULL);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/1234?x=1\",\"dest\":\"%s\"}", base, work);
	run_download(args, &r);
	assert_completed(&r);
	snprintf(want, sizeof want, "%s/1234", work);
	ck_assert_str_eq(jstr(r.end, "params.result.path"), want);
	assert_pattern_file(want, 1234);
	run_free(&r);

	/* The name taken is a directory there. */
	snprintf(want, sizeof want, "%s/4321", work);
	ck_assert_int_eq(mkdir(want, 0755), 0);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/4321\",\"dest\":\"%s\",\"overwrite\":true}",
		 base, work);
	run_download(args, &r);
	assert_failed(&r, "is-a-directory");
	ck_assert(!part_exists(want));
	run_free(&r);
}
END_TEST

START_TEST(empty_url_name_is_download)
{
	char path[512];

	/* "download" already exists: the job stops before any transfer. */
	start(NULL);
	snprintf(path, sizeof path, "%s/download", work);
	write_file(path, "old", 3, 0644);
	char args[1200];
	struct run r;
	snprintf(args, sizeof args, "{\"url\":\"%s/\",\"dest\":\"%s\"}", base,
		 work);
	run_download(args, &r);
	assert_failed(&r, "exists");
	ck_assert(!part_exists(path));
	run_free(&r);
}
END_TEST

START_TEST(default_dir_is_per_user_for_a_root_daemon)
{
	char dl[300], args[256], path[512];
	const char *extra[] = {"--download-dir", dl, NULL};
	struct tconn *nobody;
	struct stat st;
	struct run r;

	snprintf(dl, sizeof dl, "%s/dl", work);
	start(extra);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/777\"}", base);
	run_download(args, &r);
	assert_completed(&r);
	snprintf(path, sizeof path, "%s/0/777", dl);
	ck_assert_str_eq(jstr(r.end, "params.result.path"), path);
	assert_pattern_file(path, 777);
	run_free(&r);

	nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	tc_close(c);
	c = nobody;
	run_download(args, &r);
	assert_completed(&r);
	snprintf(path, sizeof path, "%s/%d/777", dl, TEST_NOBODY);
	ck_assert_str_eq(jstr(r.end, "params.result.path"), path);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, TEST_NOBODY);
	snprintf(path, sizeof path, "%s/%d", dl, TEST_NOBODY);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_uid, TEST_NOBODY);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	run_free(&r);
}
END_TEST

/* Under a --download-dir in a directory everyone may write (sticky, as
 * /tmp), another user's planted links and directories get nothing from
 * root: a link in the path is not followed, and a user's directory made
 * by a third user is refused, not adopted. */
START_TEST(planted_links_and_directories_are_refused)
{
	char shared[300], dl[320], target[300], args[256], path[400];
	const char *extra[] = {"--download-dir", dl, NULL};
	struct stat st;
	struct run r;

	snprintf(shared, sizeof shared, "%s/shared", work);
	snprintf(dl, sizeof dl, "%s/dl", shared);
	snprintf(target, sizeof target, "%s/target", work);
	ck_assert_int_eq(mkdir(shared, 01777), 0);
	ck_assert_int_eq(chmod(shared, 01777), 0);
	ck_assert_int_eq(mkdir(target, 0755), 0);
	/* uid 65534 plants shared/dl -> target before the daemon makes it. */
	ck_assert_int_eq(seteuid(TEST_NOBODY), 0);
	int rc = symlink(target, dl);
	ck_assert_int_eq(seteuid(0), 0);
	ck_assert_int_eq(rc, 0);
	start(extra);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/10\"}", base);
	run_download(args, &r);
	assert_failed(&r, "io-error");
	snprintf(path, sizeof path, "%s/0", target);
	ck_assert_int_ne(lstat(path, &st), 0); /* nothing made through it */
	run_free(&r);

	/* Now a real directory, and root's own one made by 65534, 0777. */
	ck_assert_int_eq(unlink(dl), 0);
	ck_assert_int_eq(mkdir(dl, 01777), 0);
	ck_assert_int_eq(chmod(dl, 01777), 0);
	snprintf(path, sizeof path, "%s/0", dl);
	ck_assert_int_eq(seteuid(TEST_NOBODY), 0);
	rc = mkdir(path, 0777);
	ck_assert_int_eq(seteuid(0), 0);
	ck_assert_int_eq(rc, 0);
	run_download(args, &r);
	assert_failed(&r, "permission-denied");
	snprintf(path, sizeof path, "%s/0/10", dl);
	ck_assert_int_ne(lstat(path, &st), 0);
	run_free(&r);
}
END_TEST

START_TEST(existing_dest_needs_overwrite)
{
	char dest[512], args[1200];
	size_t len;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/keep", work);
	write_file(dest, "old", 3, 0644);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/5000\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_failed(&r, "exists");
	char *old = read_file(dest, &len);
	ck_assert(len == 3 && memcmp(old, "old", 3) == 0);
	free(old);
	ck_assert(!part_exists(dest));
	run_free(&r);

	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/5000\",\"dest\":\"%s\",\"overwrite\":true}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	assert_pattern_file(dest, 5000);
	run_free(&r);
}
END_TEST

START_TEST(sha256_match_and_mismatch)
{
	char dest[512], args[1200], sha[65];
	struct run r;

	start(NULL);
	pattern_sha(70000, sha);
	for (char *p = sha; *p; p++) /* upper case is accepted */
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(dest, sizeof dest, "%s/ok", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/70000\",\"dest\":\"%s\",\"sha256\":\"%s\"}",
		 base, dest, sha);
	run_download(args, &r);
	assert_completed(&r);
	assert_pattern_file(dest, 70000);
	run_free(&r);

	snprintf(dest, sizeof dest, "%s/bad", work);
	snprintf(args, sizeof args,
		 "\"sha256\":\"%064d\"", 0);
	expect_failure("/bytes/70000", dest, args, "checksum-mismatch");
	/* Even a resumable download leaves no file behind on a mismatch. */
	snprintf(args, sizeof args, "\"sha256\":\"%064d\",\"resume\":true", 0);
	expect_failure("/bytes/70000", dest, args, "checksum-mismatch");
}
END_TEST

/* ---- Tests: resume and retries ------------------------------------------ */

START_TEST(resume_continues_the_part_with_a_range)
{
	char dest[512], part[600], args[1200], sha[65];
	size_t n = 1000000, m = 123457;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/r.bin", work);
	snprintf(part, sizeof part, "%s.part", dest);
	write_pattern(part, m);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/%zu\",\"dest\":\"%s\",\"resume\":true}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	pattern_sha(n, sha);
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), (int64_t)n);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 206);
	ck_assert_int_gt(r.first_done, (int64_t)m);
	assert_pattern_file(dest, n);
	ck_assert(httpd_saw("Range: bytes=123457-"));
	ck_assert(!part_exists(dest));
	run_free(&r);
}
END_TEST

START_TEST(resume_without_server_ranges_skips_what_it_has)
{
	char dest[512], part[600], args[1200], sha[65];
	size_t n = 500000, m = 200000;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/nr.bin", work);
	snprintf(part, sizeof part, "%s.part", dest);
	write_pattern(part, m);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/%zu?norange=1\",\"dest\":\"%s\","
		 "\"resume\":true}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	pattern_sha(n, sha);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 200);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	assert_pattern_file(dest, n);
	run_free(&r);
}
END_TEST

START_TEST(resume_of_a_complete_part)
{
	char dest[512], part[600], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/full.bin", work);
	snprintf(part, sizeof part, "%s.part", dest);
	write_pattern(part, 4096);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/bytes/4096\",\"dest\":\"%s\",\"resume\":true}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), 4096);
	assert_pattern_file(dest, 4096);
	ck_assert(httpd_saw("Range: bytes=4096-"));
	run_free(&r);
}
END_TEST

START_TEST(failure_keeps_the_part_only_with_resume)
{
	char dest[512], part[600], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/k.bin", work);
	snprintf(part, sizeof part, "%s.part", dest);
	write_pattern(part, 1000);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/status/500\",\"dest\":\"%s\",\"resume\":true,"
		 "\"retries\":0}",
		 base, dest);
	run_download(args, &r);
	assert_failed(&r, "http-error");
	ck_assert_int_eq(jint(r.end, "params.error.status"), 500);
	assert_pattern_file(part, 1000);
	ck_assert(!exists(dest));
	run_free(&r);

	/* Without resume, a cut connection leaves nothing. */
	expect_failure("/drop/300000?after=100000", dest, "\"retries\":0",
		       "network-error");
}
END_TEST

START_TEST(retry_continues_after_a_dropped_connection)
{
	char dest[512], args[1200], sha[65];
	size_t n = 1000000;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/drop.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/drop/%zu?after=300000&once=dropkey\","
		 "\"dest\":\"%s\"}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	assert_pattern_file(dest, n);
	ck_assert_int_eq(httpd_count("dropkey"), 2);
	ck_assert(httpd_saw("Range: bytes=300000-"));
	run_free(&r);
}
END_TEST

START_TEST(retry_recovers_from_503s)
{
	char dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/f.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/fail5xx/50000?key=k2&times=2\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	assert_pattern_file(dest, 50000);
	ck_assert_int_eq(httpd_count("k2"), 3);
	run_free(&r);
}
END_TEST

START_TEST(retries_run_out)
{
	char dest[512];

	start(NULL);
	snprintf(dest, sizeof dest, "%s/x.bin", work);
	expect_failure("/fail5xx/5000?key=k3&times=5", dest, "\"retries\":1",
		       "http-error");
	ck_assert_int_eq(httpd_count("k3"), 2);
	expect_failure("/fail5xx/5000?key=k4&times=1", dest, "\"retries\":0",
		       "http-error");
	ck_assert_int_eq(httpd_count("k4"), 1);
}
END_TEST

/* A retry asks for the rest with If-Range too: the same file goes on
 * (206), a changed one comes whole (200) and replaces what was written;
 * a stream, whose bytes are gone, fails. */
START_TEST(retry_checks_the_validator)
{
	char dest[512], args[1200], sha[65];
	size_t n = 1000000;
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/same.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/res/%zu?key=rs&drop=300000\",\"dest\":\"%s\"}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 206);
	pattern_sha(n, sha);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	assert_pattern_file(dest, n);
	ck_assert(httpd_saw("Range: bytes=300000- If-Range: \"rs-v0\""));
	ck_assert_int_eq(httpd_number("sent", "rs"), (long)n);
	run_free(&r);

	snprintf(dest, sizeof dest, "%s/changed.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/res/%zu?key=rc&drop=300000&change=1\","
		 "\"dest\":\"%s\"}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 200);
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), (int64_t)n);
	version_sha(n, 1, sha);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	assert_version_file(dest, n, 1);
	ck_assert(httpd_saw("Range: bytes=300000- If-Range: \"rc-v0\""));
	run_free(&r);

	/* A server that ignores If-Range sends a range of the new version:
	 * its ETag gives it away, and the whole file is asked for again. */
	snprintf(dest, sizeof dest, "%s/ignored.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/res/%zu?key=ri&drop=300000&change=1&noifrange=1\","
		 "\"dest\":\"%s\"}",
		 base, n, dest);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(jint(r.end, "params.result.status"), 200);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	assert_version_file(dest, n, 1);
	ck_assert_int_eq(httpd_count("ri"), 3);
	run_free(&r);

	snprintf(args, sizeof args,
		 "{\"url\":\"%s/res/%zu?key=rt&drop=300000&change=1\","
		 "\"stream\":true}",
		 base, n);
	run_download(args, &r);
	assert_failed(&r, "network-error");
	ck_assert_int_eq(httpd_count("rt"), 2);
	run_free(&r);
}
END_TEST

/* ---- Tests: limits and errors ------------------------------------------- */

START_TEST(max_bytes_with_length_and_chunked)
{
	char dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/m.bin", work);
	expect_failure("/bytes/10000", dest, "\"max_bytes\":9999", "too-large");
	expect_failure("/chunked/100000", dest, "\"max_bytes\":50000",
		       "too-large");
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/chunked/100000\",\"dest\":\"%s\","
		 "\"max_bytes\":100000}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	assert_pattern_file(dest, 100000);
	ck_assert_int_eq(r.last_done, 100000);
	run_free(&r);
}
END_TEST

START_TEST(http_error_status)
{
	char dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/h", work);
	snprintf(args, sizeof args, "{\"url\":\"%s/status/404\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_failed(&r, "http-error");
	ck_assert_int_eq(jint(r.end, "params.error.status"), 404);
	ck_assert(!exists(dest) && !part_exists(dest));
	run_free(&r);
}
END_TEST

START_TEST(missing_directory_is_not_found)
{
	char dest[512];

	start(NULL);
	snprintf(dest, sizeof dest, "%s/no/such/dir", work);
	expect_failure("/bytes/10", dest, NULL, "not-found");
}
END_TEST

START_TEST(connection_refused_is_network_error)
{
	char dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/refused", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"http://127.0.0.1:1/x\",\"dest\":\"%s\","
		 "\"retries\":0}",
		 dest);
	run_download(args, &r);
	assert_failed(&r, "network-error");
	ck_assert(!exists(dest) && !part_exists(dest));
	run_free(&r);
}
END_TEST

START_TEST(redirects_followed_up_to_ten)
{
	char dest[512], args[1200], url[128];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/red", work);
	/* /redirect/K answers with K+1 redirects. */
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/redirect/9?to=/bytes/1000\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	snprintf(url, sizeof url, "%s/bytes/1000", base);
	ck_assert_str_eq(jstr(r.end, "params.result.url"), url);
	assert_pattern_file(dest, 1000);
	run_free(&r);

	snprintf(dest, sizeof dest, "%s/red2", work);
	expect_failure("/redirect/10?to=/bytes/1000", dest, NULL,
		       "network-error");
	expect_failure("/loop", dest, NULL, "network-error");
	/* A redirect may not lead to a scheme the daemon refuses. */
	expect_failure("/redirect/0?to=file:///etc/passwd", dest, NULL,
		       "network-error");
}
END_TEST

START_TEST(stall_is_network_error)
{
	const char *extra[] = {"--download-stall-timeout", "1", NULL};
	char dest[512];

	start(extra);
	snprintf(dest, sizeof dest, "%s/stall", work);
	expect_failure("/stall/1000000?after=0", dest, "\"retries\":0",
		       "network-error");
	expect_failure("/stall/1000000?after=100000", dest, "\"retries\":0",
		       "network-error");
}
END_TEST

START_TEST(schemes_are_checked)
{
	const char *extra[] = {"--allow-scheme", "ftp", "--allow-scheme", "file",
			       NULL};
	static const char *const refused[] = {
		"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://x/",
		"FILE:///etc/passwd", "127.0.0.1/x", "http//x", NULL};
	struct json_object *resp;

	start(NULL);
	for (int i = 0; refused[i] != NULL; i++) {
		resp = tc_call(c, "job.submit",
			       "{\"kind\":\"download\",\"args\":{\"url\":\"%s\"}}",
			       refused[i]);
		assert_rpc_error(resp, -32602, "args.url");
		json_object_put(resp);
	}
	tc_close(c);
	c = NULL;
	ck_assert_int_eq(td_stop(&d), 0);

	/* --allow-scheme adds ftp, never file. */
	start(extra);
	resp = tc_call(c, "job.submit",
		       "{\"kind\":\"download\",\"args\":{\"url\":"
		       "\"file:///etc/passwd\"}}");
	assert_rpc_error(resp, -32602, "args.url");
	json_object_put(resp);
	char args[1200], dest[512];
	struct run r;
	snprintf(dest, sizeof dest, "%s/ftp", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"ftp://127.0.0.1:1/x\",\"dest\":\"%s\",\"retries\":0}",
		 dest);
	run_download(args, &r);
	assert_failed(&r, "network-error");
	run_free(&r);
}
END_TEST

START_TEST(invalid_args_name_the_field)
{
	static const struct {
		const char *args, *field;
	} cases[] = {
		{"{}", "args.url"},
		{"{\"url\":5}", "args.url"},
		{"{\"url\":\"not a url\"}", "args.url"},
		{"{\"url\":\"http://h/x\",\"dest\":\"rel/path\"}", "args.dest"},
		{"{\"url\":\"http://h/x\",\"dest\":7}", "args.dest"},
		{"{\"url\":\"http://h/x\",\"overwrite\":1}", "args.overwrite"},
		{"{\"url\":\"http://h/x\",\"resume\":\"yes\"}", "args.resume"},
		{"{\"url\":\"http://h/x\",\"stream\":null}", "args.stream"},
		{"{\"url\":\"http://h/x\",\"sha256\":\"abc\"}", "args.sha256"},
		{"{\"url\":\"http://h/x\",\"sha256\":"
		 "\"g000000000000000000000000000000000000000000000000000000000000000\"}",
		 "args.sha256"},
		{"{\"url\":\"http://h/x\",\"max_bytes\":-1}", "args.max_bytes"},
		{"{\"url\":\"http://h/x\",\"max_bytes\":1.5}", "args.max_bytes"},
		{"{\"url\":\"http://h/x\",\"retries\":11}", "args.retries"},
		{"{\"url\":\"http://h/x\",\"retries\":-1}", "args.retries"},
		{"{\"url\":\"http://h/x\",\"stream\":true,\"dest\":\"/tmp/x\"}",
		 "args.dest"},
		{"{\"url\":\"http://h/x\",\"stream\":true,\"resume\":true}",
		 "args.resume"},
		{"{\"url\":\"http://h/x\",\"bogus\":1}", "args.bogus"},
	};
	struct json_object *resp;

	start(NULL);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		resp = tc_call(c, "job.submit",
			       "{\"kind\":\"download\",\"args\":%s}", cases[i].args);
		assert_rpc_error(resp, -32602, cases[i].field);
		json_object_put(resp);
	}
	resp = tc_call(c, "job.list", "{\"kind\":\"download\"}");
	ck_assert_int_eq(json_object_array_length(jget(resp, "result.jobs")), 0);
	json_object_put(resp);
	resp = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(resp, "result.limits.max_running.download"), 16);
	json_object_put(resp);
}
END_TEST

/* ---- Tests: identity ---------------------------------------------------- */

START_TEST(unwritable_dest_is_permission_denied)
{
	char dir[300], dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dir, sizeof dir, "%s/ro", work);
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(dest, sizeof dest, "%s/x", dir);
	tc_close(c);
	c = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/10\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_failed(&r, "permission-denied");
	ck_assert(!exists(dest) && !part_exists(dest));
	run_free(&r);
}
END_TEST

START_TEST(file_belongs_to_the_submitting_user)
{
	char dir[300], dest[512], args[1200];
	struct stat st;
	struct run r;

	start(NULL);
	snprintf(dir, sizeof dir, "%s/rw", work);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	chmod(dir, 0777);
	snprintf(dest, sizeof dest, "%s/mine", dir);
	tc_close(c);
	c = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/10000\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(stat(dest, &st), 0);
	ck_assert_int_eq(st.st_uid, TEST_NOBODY);
	ck_assert_int_eq(st.st_gid, TEST_NOBODY);
	assert_pattern_file(dest, 10000);
	run_free(&r);
}
END_TEST

/* ---- Tests: streaming --------------------------------------------------- */

START_TEST(stream_delivers_text_and_binary)
{
	char args[256], sha[65];
	size_t n = 300001;
	struct run r;

	start(NULL);
	snprintf(args, sizeof args, "{\"url\":\"%s/text/%zu\",\"stream\":true}",
		 base, n);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert(jnull(r.end, "params.result.path"));
	ck_assert_int_eq(jint(r.end, "params.result.bytes"), (int64_t)n);
	ck_assert_int_eq(r.len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(r.data[i],
				 (unsigned char)"h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 "[i % 18]);
	sha_hex(r.data, r.len, sha);
	ck_assert_str_eq(jstr(r.end, "params.result.sha256"), sha);
	run_free(&r);

	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/%zu\",\"stream\":true}",
		 base, n);
	run_download(args, &r);
	assert_completed(&r);
	ck_assert_int_eq(r.len, n);
	unsigned char *want = pattern_buf(n);
	ck_assert(memcmp(r.data, want, n) == 0);
	free(want);
	run_free(&r);
}
END_TEST

START_TEST(stream_pauses_for_a_slow_reader)
{
	const char *extra[] = {"--output-hwm", "65536", NULL};
	char args[256];
	size_t n = 8 * 1024 * 1024;
	struct run r;

	start(extra);
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/%zu\",\"stream\":true}",
		 base, n);
	int64_t id = submit_args(c, args);
	/* Not reading now: the daemon must pause the transfer, not drop or
	 * buffer without end. */
	usleep(500000);
	follow(id, &r);
	assert_completed(&r);
	ck_assert_int_eq(r.len, n);
	unsigned char *want = pattern_buf(n);
	ck_assert(memcmp(r.data, want, n) == 0);
	free(want);
	run_free(&r);
	char *log = read_file(d.log, NULL);
	ck_assert_msg(log != NULL && strstr(log, "transfer paused") != NULL,
		      "the transfer never paused");
	free(log);
}
END_TEST

/* ---- Tests: concurrency, cancel, timeout -------------------------------- */

START_TEST(fifty_concurrent_downloads)
{
	enum { N = 50 };
	int64_t ids[N];
	char args[1200], dest[512], sha[65];

	start(NULL);
	for (int i = 0; i < N; i++) {
		snprintf(args, sizeof args,
			 "{\"url\":\"%s/bytes/%d\",\"dest\":\"%s/c%d\"}", base,
			 200000 + 997 * i, work, i);
		ids[i] = submit_args(c, args);
	}
	for (int i = 0; i < N; i++) {
		struct json_object *end = tc_wait_end(c, ids[i], WAIT_MS);
		ck_assert_str_eq(jstr(end, "method"), "job.completed");
		pattern_sha((size_t)(200000 + 997 * i), sha);
		ck_assert_str_eq(jstr(end, "params.result.sha256"), sha);
		json_object_put(end);
		snprintf(dest, sizeof dest, "%s/c%d", work, i);
		assert_pattern_file(dest, (size_t)(200000 + 997 * i));
	}
}
END_TEST

static int
count_state(const char *state)
{
	struct json_object *r =
		tc_call(c, "job.list", "{\"state\":\"%s\",\"kind\":\"download\"}",
			state);
	int n = (int)json_object_array_length(jget(r, "result.jobs"));

	json_object_put(r);
	return n;
}

START_TEST(max_downloads_queues_the_rest)
{
	const char *extra[] = {"--max-downloads", "2", NULL};
	char args[1200];
	int64_t ids[5];

	start(extra);
	for (int i = 0; i < 5; i++) {
		snprintf(args, sizeof args,
			 "{\"url\":\"%s/slow/1000000?rate=10000\",\"dest\":\"%s/s%d\"}",
			 base, work, i);
		ids[i] = submit_args(c, args);
	}
	struct json_object *info = tc_call(c, "daemon.info", NULL);
	ck_assert_int_eq(jint(info, "result.limits.max_running.download"), 2);
	json_object_put(info);
	ck_assert_int_eq(count_state("running"), 2);
	ck_assert_int_eq(count_state("queued"), 3);
	for (int i = 0; i < 5; i++) {
		struct json_object *r =
			tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)ids[i]);
		json_object_put(r);
	}
	for (int i = 0; i < 5; i++) {
		char dest[512];
		struct json_object *end = tc_wait_end(c, ids[i], WAIT_MS);
		ck_assert_str_eq(jstr(end, "params.error.code"), "cancelled");
		json_object_put(end);
		snprintf(dest, sizeof dest, "%s/s%d", work, i);
		ck_assert(!exists(dest) && !part_exists(dest));
	}
}
END_TEST

/* Waits for a progress event of ID with done > 0. */
static void
wait_progress(int64_t id)
{
	for (;;) {
		struct json_object *ev = tc_event(c, WAIT_MS);
		ck_assert_ptr_nonnull(ev);
		bool got = strcmp(jstr(ev, "method"), "job.progress") == 0 &&
			   jint(ev, "params.id") == id && jint(ev, "params.done") > 0;
		json_object_put(ev);
		if (got)
			return;
	}
}

START_TEST(cancel_removes_the_part_unless_resume)
{
	char dest[512], part[600], args[1200];
	struct run r;
	int64_t id;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/cancel.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/slow/10000000?rate=200000\",\"dest\":\"%s\"}",
		 base, dest);
	id = submit_args(c, args);
	wait_progress(id);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id));
	follow(id, &r);
	assert_failed(&r, "cancelled");
	ck_assert(!exists(dest) && !part_exists(dest));
	run_free(&r);

	snprintf(args, sizeof args,
		 "{\"url\":\"%s/slow/10000000?rate=200000\",\"dest\":\"%s\","
		 "\"resume\":true}",
		 base, dest);
	id = submit_args(c, args);
	wait_progress(id);
	json_object_put(tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id));
	follow(id, &r);
	assert_failed(&r, "cancelled");
	snprintf(part, sizeof part, "%s.part", dest);
	struct stat st;
	ck_assert_int_eq(stat(part, &st), 0);
	ck_assert_int_gt(st.st_size, 0);
	assert_pattern_file(part, (size_t)st.st_size);
	run_free(&r);
}
END_TEST

START_TEST(timeout_fails_and_cleans_up)
{
	char dest[512], args[1200];
	struct run r;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/slow.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/slow/10000000?rate=100000\",\"dest\":\"%s\"}",
		 base, dest);
	follow(tc_submit(c, "{\"kind\":\"download\",\"timeout_ms\":300,"
			    "\"args\":%s}", args), &r);
	assert_failed(&r, "timeout");
	ck_assert(!exists(dest) && !part_exists(dest));
	run_free(&r);
	/* Still serving. */
	snprintf(args, sizeof args, "{\"url\":\"%s/bytes/10\",\"dest\":\"%s\"}",
		 base, dest);
	run_download(args, &r);
	assert_completed(&r);
	run_free(&r);
}
END_TEST

START_TEST(shutdown_interrupts_and_cleans_up)
{
	char dest[512], args[1200];
	struct run r;
	int64_t id;

	start(NULL);
	snprintf(dest, sizeof dest, "%s/stop.bin", work);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/slow/10000000?rate=200000\",\"dest\":\"%s\"}",
		 base, dest);
	/* A download that may not run again after a restart fails. */
	id = tc_submit(c, "{\"kind\":\"download\",\"args\":%s,"
			  "\"on_interrupt\":\"fail\"}", args);
	wait_progress(id);
	kill(d.pid, SIGTERM);
	follow(id, &r);
	assert_failed(&r, "interrupted");
	run_free(&r);
	ck_assert_int_eq(td_stop(&d), 0);
	ck_assert(!exists(dest) && !part_exists(dest));
}
END_TEST

/* ---- Tests: restarts ---------------------------------------------------- */

/* A slow changeable resource: 2.4 MB at 600 kB/s, so that a stop at half
 * way leaves a second of transfer on each side. */
#define RS_SIZE 2400000
#define RS_RATE 600000
/* What a first attempt may have been sent beyond what reached DEST.part:
 * the server's queue, the socket buffers, the daemon's unwritten bytes. A
 * download that started over would cost about RS_SIZE / 2 more. */
#define RS_SLACK 400000

/* Waits for a progress event of ID with done >= MIN. */
static void
wait_progress_at(int64_t id, int64_t min)
{
	for (;;) {
		struct json_object *ev = tc_event(c, WAIT_MS);
		ck_assert_msg(ev != NULL, "no progress to %lld", (long long)min);
		bool got = strcmp(jstr(ev, "method"), "job.progress") == 0 &&
			   jint(ev, "params.id") == id &&
			   jint(ev, "params.done") >= min;
		json_object_put(ev);
		if (got)
			return;
	}
}

/* The size of PATH.part, which must exist. */
static size_t
part_size(const char *path)
{
	char part[600];
	struct stat st;

	snprintf(part, sizeof part, "%s.part", path);
	ck_assert_msg(stat(part, &st) == 0, "%s is missing", part);
	return (size_t)st.st_size;
}

/* Stops the daemon with SIG (SIGKILL: a crash), keeping its state. */
static void
daemon_halt(int sig)
{
	int status;

	tc_close(c);
	c = NULL;
	status = td_halt(&d, sig);
	if (sig == SIGTERM)
		ck_assert_int_eq(status, 0);
}

/* Starts the daemon again on its state and reconnects. */
static void
daemon_restart(void)
{
	td_restart(&d, NULL);
	c = tc_open(d.sock);
	ck_assert_ptr_nonnull(c);
}

/* Polls job ID until it has finished; returns job.get's response. */
static struct json_object *
wait_finished(int64_t id)
{
	for (int i = 0; i < WAIT_MS / 50; i++) {
		struct json_object *r =
			tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);
		const char *state = jstr(r, "result.job.state");
		ck_assert_ptr_nonnull(state);
		if (strcmp(state, "completed") == 0 ||
		    strcmp(state, "failed") == 0)
			return r;
		json_object_put(r);
		usleep(50000);
	}
	ck_abort_msg("job %lld did not finish", (long long)id);
	return NULL;
}

static void
assert_job_completed(struct json_object *r)
{
	ck_assert_msg(strcmp(jstr(r, "result.job.state"), "completed") == 0,
		      "expected completed: %s", json_object_to_json_string(r));
}

/* Starts a download of /res/RS_SIZE?key=KEY&rate=RS_RATE&validator=
 * VALIDATOR to DEST with EXTRA args, stops the daemon with SIG half way
 * and returns the job's id; *KEPT gets the size of DEST.part then. */
static int64_t
start_and_halt(const char *key, const char *validator, const char *dest,
	       const char *extra, int sig, size_t *kept)
{
	char args[1400];
	int64_t id;

	start(NULL);
	snprintf(args, sizeof args,
		 "{\"url\":\"%s/res/%d?key=%s&rate=%d&validator=%s\","
		 "\"dest\":\"%s\"%s}",
		 base, RS_SIZE, key, RS_RATE, validator, dest, extra);
	id = submit_args(c, args);
	wait_progress_at(id, RS_SIZE / 2);
	daemon_halt(sig);
	*kept = part_size(dest);
	ck_assert_msg(*kept > 0 && *kept < RS_SIZE, "the part has %zu bytes",
		      *kept);
	ck_assert(!exists(dest));
	return id;
}

/* The server sent the file about once for KEY: what the first attempt got
 * before it was cut off, then only the rest. */
static void
assert_sent_about_once(const char *key)
{
	long sent = httpd_number("sent", key);

	ck_assert_msg(sent >= RS_SIZE && sent <= RS_SIZE + RS_SLACK,
		      "the server sent %ld bytes for a %d-byte file", sent,
		      RS_SIZE);
}

/* After a crash, the part on disk is where the download goes on: Range
 * from its size, If-Range with the ETag; the server sends only the rest. */
START_TEST(restart_after_kill_continues_the_part)
{
	char dest[512], part[600], sha[65], extra[100], needle[160];
	struct json_object *r;
	size_t kept;
	int64_t id;

	snprintf(dest, sizeof dest, "%s/crash.bin", work);
	pattern_sha(RS_SIZE, sha);
	snprintf(extra, sizeof extra, ",\"sha256\":\"%s\"", sha);
	id = start_and_halt("crash", "etag", dest, extra, SIGKILL, &kept);
	/* A crash leaves the bytes that reached the file, all of the body. */
	snprintf(part, sizeof part, "%s.part", dest);
	assert_pattern_file(part, kept);
	daemon_restart();
	r = wait_finished(id);
	assert_job_completed(r);
	ck_assert_int_eq(jint(r, "result.job.attempts"), 2);
	ck_assert_str_eq(jstr(r, "result.job.result.sha256"), sha);
	ck_assert_int_eq(jint(r, "result.job.result.bytes"), RS_SIZE);
	ck_assert_int_eq(jint(r, "result.job.result.status"), 206);
	json_object_put(r);
	assert_pattern_file(dest, RS_SIZE);
	ck_assert(!part_exists(dest));
	snprintf(needle, sizeof needle, "Range: bytes=%zu- If-Range: \"crash-v0\"",
		 kept);
	ck_assert_msg(httpd_saw(needle), "no request with %s", needle);
	ck_assert_int_eq(httpd_count("crash"), 2);
	/* The rest only: what the first attempt was sent, plus RS_SIZE - kept. */
	assert_sent_about_once("crash");
}
END_TEST

/* A stop (SIGTERM) keeps the part with every byte received, and the next
 * start continues it; here the validator is Last-Modified. */
START_TEST(restart_after_sigterm_continues_the_part)
{
	char dest[512], part[600], sha[65], extra[100], needle[160];
	struct json_object *r;
	size_t kept;
	int64_t id;

	snprintf(dest, sizeof dest, "%s/term.bin", work);
	snprintf(part, sizeof part, "%s.part", dest);
	pattern_sha(RS_SIZE, sha);
	snprintf(extra, sizeof extra, ",\"sha256\":\"%s\"", sha);
	id = start_and_halt("term", "date", dest, extra, SIGTERM, &kept);
	assert_pattern_file(part, kept);
	daemon_restart();
	r = wait_finished(id);
	assert_job_completed(r);
	ck_assert_int_eq(jint(r, "result.job.attempts"), 2);
	ck_assert_str_eq(jstr(r, "result.job.result.sha256"), sha);
	ck_assert_int_eq(jint(r, "result.job.result.status"), 206);
	json_object_put(r);
	assert_pattern_file(dest, RS_SIZE);
	snprintf(needle, sizeof needle,
		 "Range: bytes=%zu- If-Range: Wed, 01 Jan 2020 00:00:00 GMT",
		 kept);
	ck_assert_msg(httpd_saw(needle), "no request with %s", needle);
	assert_sent_about_once("term");
}
END_TEST

/* The file changed on the server while the daemon was down: If-Range
 * gets the whole new version, which replaces the part from byte 0. */
START_TEST(restart_after_a_change_takes_the_new_file)
{
	static const int sigs[] = {SIGTERM, SIGKILL};
	char dest[512], sha1[65], needle[160], key[16];
	struct json_object *r;
	size_t kept;
	int64_t id;

	version_sha(RS_SIZE, 1, sha1);
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof key, "chg%d", i);
		snprintf(dest, sizeof dest, "%s/%s.bin", work, key);
		id = start_and_halt(key, "etag", dest, "", sigs[i], &kept);
		ck_assert_int_eq(httpd_number("bump", key), 1);
		daemon_restart();
		r = wait_finished(id);
		assert_job_completed(r);
		ck_assert_str_eq(jstr(r, "result.job.result.sha256"), sha1);
		ck_assert_int_eq(jint(r, "result.job.result.bytes"), RS_SIZE);
		ck_assert_int_eq(jint(r, "result.job.result.status"), 200);
		json_object_put(r);
		assert_version_file(dest, RS_SIZE, 1);
		snprintf(needle, sizeof needle,
			 "Range: bytes=%zu- If-Range: \"%s-v0\"", kept, key);
		ck_assert_msg(httpd_saw(needle), "no request with %s", needle);
		ck_assert(httpd_number("sent", key) >= RS_SIZE + (long)kept);
		tf_close(&d, &c);
	}
}
END_TEST

/* Nothing says a part without a validator is still the server's file:
 * the next start takes the whole body, without Range. */
START_TEST(restart_without_a_validator_starts_over)
{
	char dest[512], sha[65], needle[160];
	struct json_object *r;
	size_t kept;
	int64_t id;

	snprintf(dest, sizeof dest, "%s/nov.bin", work);
	pattern_sha(RS_SIZE, sha);
	id = start_and_halt("nov", "none", dest, "", SIGKILL, &kept);
	daemon_restart();
	r = wait_finished(id);
	assert_job_completed(r);
	ck_assert_str_eq(jstr(r, "result.job.result.sha256"), sha);
	ck_assert_int_eq(jint(r, "result.job.result.status"), 200);
	json_object_put(r);
	assert_pattern_file(dest, RS_SIZE);
	snprintf(needle, sizeof needle, "key=nov&rate=%d&validator=none Range",
		 RS_RATE);
	ck_assert(!httpd_saw(needle));
	ck_assert_int_eq(httpd_count("nov"), 2);
	ck_assert(httpd_number("sent", "nov") >= RS_SIZE + (long)kept);
}
END_TEST

/* ---- Tests: asyncctl ---------------------------------------------------- */

static void
ctl(char *const argv[], struct run_result *res)
{
	char env[256];

	snprintf(env, sizeof env, "ASYNCD_SOCKET=%s", d.sock);
	run_program(argv, NULL, env, -1, res);
}

START_TEST(asyncctl_saves_and_prints_the_path)
{
	const char *ctlpath = td_path("ASYNCCTL", "client/asyncctl");
	char url[128], dest[512], expect[600];
	struct run_result res;

	start(NULL);
	snprintf(url, sizeof url, "%s/bytes/654321", base);
	snprintf(dest, sizeof dest, "%s/ctl.bin", work);
	char *argv[] = {(char *)ctlpath, "download", url, "-o", dest, NULL};
	ctl(argv, &res);
	ck_assert_msg(res.status == 0, "status %d: %s", res.status, res.err);
	snprintf(expect, sizeof expect, "%s\n", dest);
	ck_assert_str_eq(res.out, expect);
	assert_pattern_file(dest, 654321);
	run_result_free(&res);

	/* A relative -o is taken from the caller's working directory. */
	ck_assert_int_eq(chdir(work), 0);
	char *rel[] = {(char *)ctlpath, "download", url, "-o", "rel.bin", NULL};
	ctl(rel, &res);
	ck_assert_int_eq(res.status, 0);
	snprintf(expect, sizeof expect, "%s/rel.bin\n", work);
	ck_assert_str_eq(res.out, expect);
	run_result_free(&res);
	snprintf(dest, sizeof dest, "%s/rel.bin", work);
	assert_pattern_file(dest, 654321);
}
END_TEST

START_TEST(asyncctl_several_urls_and_failure)
{
	const char *ctlpath = td_path("ASYNCCTL", "client/asyncctl");
	char u1[128], u2[128], bad[128], dest[512];
	struct run_result res;

	start(NULL);
	snprintf(u1, sizeof u1, "%s/bytes/1111", base);
	snprintf(u2, sizeof u2, "%s/bytes/2222", base);
	char *argv[] = {(char *)ctlpath, "download", u1, u2, "-o", work, NULL};
	ctl(argv, &res);
	ck_assert_msg(res.status == 0, "status %d: %s", res.status, res.err);
	run_result_free(&res);
	snprintf(dest, sizeof dest, "%s/1111", work);
	assert_pattern_file(dest, 1111);
	snprintf(dest, sizeof dest, "%s/2222", work);
	assert_pattern_file(dest, 2222);

	snprintf(bad, sizeof bad, "%s/status/404", base);
	snprintf(dest, sizeof dest, "%s/404", work);
	char *fail[] = {(char *)ctlpath, "download", bad, "-o", dest, NULL};
	ctl(fail, &res);
	ck_assert_int_eq(res.status, 1);
	ck_assert_ptr_nonnull(strstr(res.err, "http-error"));
	ck_assert(!exists(dest) && !part_exists(dest));
	run_result_free(&res);
}
END_TEST

START_TEST(asyncctl_streams_to_stdout)
{
	const char *ctlpath = td_path("ASYNCCTL", "client/asyncctl");
	char url[128];
	size_t n = 1000003;
	struct run_result res;

	start(NULL);
	snprintf(url, sizeof url, "%s/bytes/%zu", base, n);
	char *argv[] = {(char *)ctlpath, "download", url, "-o", "-", NULL};
	ctl(argv, &res);
	ck_assert_msg(res.status == 0, "status %d: %s", res.status, res.err);
	ck_assert_int_eq(res.out_len, n);
	unsigned char *want = pattern_buf(n);
	ck_assert(memcmp(res.out, want, n) == 0);
	free(want);
	run_result_free(&res);
}
END_TEST

static Suite *
download_suite(void)
{
	Suite *s = suite_create("download");
	TCase *tc = tcase_create("download");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, downloads_file_with_result_and_progress);
	tcase_add_test(tc, empty_body_completes);
	tcase_add_test(tc, directory_dest_takes_the_url_name);
	tcase_add_test(tc, empty_url_name_is_download);
	tcase_add_test(tc, existing_dest_needs_overwrite);
	tcase_add_test(tc, sha256_match_and_mismatch);
	tcase_add_test(tc, resume_continues_the_part_with_a_range);
	tcase_add_test(tc, resume_without_server_ranges_skips_what_it_has);
	tcase_add_test(tc, resume_of_a_complete_part);
	tcase_add_test(tc, failure_keeps_the_part_only_with_resume);
	tcase_add_test(tc, retry_continues_after_a_dropped_connection);
	tcase_add_test(tc, retry_recovers_from_503s);
	tcase_add_test(tc, retries_run_out);
	tcase_add_test(tc, retry_checks_the_validator);
	tcase_add_test(tc, max_bytes_with_length_and_chunked);
	tcase_add_test(tc, http_error_status);
	tcase_add_test(tc, missing_directory_is_not_found);
	tcase_add_test(tc, connection_refused_is_network_error);
	tcase_add_test(tc, redirects_followed_up_to_ten);
	tcase_add_test(tc, stall_is_network_error);
	tcase_add_test(tc, schemes_are_checked);
	tcase_add_test(tc, invalid_args_name_the_field);
	tcase_add_test(tc, stream_delivers_text_and_binary);
	tcase_add_test(tc, stream_pauses_for_a_slow_reader);
	tcase_add_test(tc, fifty_concurrent_downloads);
	tcase_add_test(tc, max_downloads_queues_the_rest);
	tcase_add_test(tc, cancel_removes_the_part_unless_resume);
	tcase_add_test(tc, timeout_fails_and_cleans_up);
	tcase_add_test(tc, shutdown_interrupts_and_cleans_up);
	tcase_add_test(tc, restart_after_kill_continues_the_part);
	tcase_add_test(tc, restart_after_sigterm_continues_the_part);
	tcase_add_test(tc, restart_after_a_change_takes_the_new_file);
	tcase_add_test(tc, restart_without_a_validator_starts_over);
	tcase_add_test(tc, asyncctl_saves_and_prints_the_path);
	tcase_add_test(tc, asyncctl_several_urls_and_failure);
	tcase_add_test(tc, asyncctl_streams_to_stdout);
	suite_add_tcase(s, tc);
	return s;
}

/* Downloads for another user, who connects as uid 65534. */
static Suite *
download_root_suite(void)
{
	Suite *s = suite_create("download as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, default_dir_is_per_user_for_a_root_daemon);
	tcase_add_test(tc, planted_links_and_directories_are_refused);
	tcase_add_test(tc, unwritable_dest_is_permission_denied);
	tcase_add_test(tc, file_belongs_to_the_submitting_user);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(download_suite, download_root_suite,
			       "to connect as uid 65534");
}
