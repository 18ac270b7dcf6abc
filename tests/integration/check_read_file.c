/* read-file against a real asyncd: content and encodings, offsets and
 * lengths, errors, the user's own permissions, backpressure with a slow
 * reader, cancellation, and asyncctl read-file. The cases with another
 * user need root to connect as it: check_read_file_root, built from this
 * file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../../proto/base64.h"
#include "../../proto/utf8.h"
#include "../testutil.h"

#define CHUNK (64 * 1024)
#define MiB (1024 * 1024)

static struct tdaemon d;
static struct tconn *c;

static void
setup(void)
{
	tf_open(&d, &c, NULL);
}

static void
teardown(void)
{
	tf_close(&d, &c);
}

/* What a watcher received of one read-file job. */
struct got {
	unsigned char *data; /* decoded stream, unless hashing */
	size_t len;
	EVP_MD_CTX *sha; /* hash the stream instead of keeping it */
	size_t nutf8, nbase64;
	size_t max_chunk;
	/* utf-8 chunks that hold one multibyte character and nothing else:
	 * what the encoder sends when it completes a character cut at a
	 * 64 KiB boundary (the first ones; their number in ncarried). */
	struct {
		uint64_t offset;
		unsigned char ch[4];
		size_t len;
	} carried[128];
	size_t ncarried;
	int nprogress;
	int64_t progress_done, progress_total; /* of the last progress */
	struct json_object *end; /* job.completed or job.failed */
};

static void
got_free(struct got *g)
{
	free(g->data);
	if (g->sha != NULL)
		EVP_MD_CTX_free(g->sha);
	json_object_put(g->end);
	memset(g, 0, sizeof *g);
}

static void
got_append(struct got *g, const unsigned char *p, size_t n)
{
	if (g->sha != NULL) {
		EVP_DigestUpdate(g->sha, p, n);
	} else {
		g->data = realloc(g->data, g->len + n + 1);
		memcpy(g->data + g->len, p, n);
	}
	g->len += n;
}

/* Checks one job.output event and adds its decoded bytes to G. */
static void
got_output(struct got *g, struct json_object *p)
{
	struct json_object *data = jget(p, "data");
	const char *enc = jstr(p, "encoding");
	const char *text = json_object_get_string(data);
	size_t tlen = (size_t)json_object_get_string_len(data);
	bool cut;

	ck_assert_str_eq(jstr(p, "stream"), "data");
	ck_assert_int_eq(jint(p, "offset"), (int64_t)g->len);
	ck_assert_ptr_nonnull(enc);
	if (strcmp(enc, "utf-8") == 0) {
		/* json-c decoded the string: these are the raw bytes. */
		ck_assert_uint_eq(utf8_valid_prefix((const unsigned char *)text,
						    tlen, &cut),
				  tlen);
		ck_assert_uint_le(tlen, CHUNK);
		g->max_chunk = tlen > g->max_chunk ? tlen : g->max_chunk;
		g->nutf8++;
		if (tlen >= 2 && tlen <= 4 &&
		    utf8_char_len((const unsigned char *)text, tlen, &cut) ==
			    tlen) {
			size_t k = g->ncarried++;
			if (k < sizeof g->carried / sizeof g->carried[0]) {
				g->carried[k].offset = g->len;
				memcpy(g->carried[k].ch, text, tlen);
				g->carried[k].len = tlen;
			}
		}
		got_append(g, (const unsigned char *)text, tlen);
		return;
	}
	ck_assert_str_eq(enc, "base64");
	unsigned char *raw = malloc(tlen / 4 * 3 + 3);
	long n = base64_decode(text, tlen, raw);
	ck_assert_int_gt(n, 0);
	ck_assert_int_le(n, CHUNK);
	g->max_chunk = (size_t)n > g->max_chunk ? (size_t)n : g->max_chunk;
	g->nbase64++;
	got_append(g, raw, (size_t)n);
	free(raw);
}

/* Reads the events of jobs IDS on CONN until each has ended, checking
 * their order; events of other jobs are dropped. */
static void
collect_many(struct tconn *conn, const int64_t *ids, struct got *gots,
	     int n, int timeout_s)
{
	int64_t *seqs = calloc((size_t)n, sizeof *seqs);
	int left = n;

	while (left > 0) {
		struct json_object *ev = tc_event(conn, timeout_s * 1000);
		ck_assert_msg(ev != NULL, "no event in time");
		const char *m = jstr(ev, "method");
		struct json_object *p = jget(ev, "params");
		int i = 0;
		while (m != NULL && i < n && jint(ev, "params.id") != ids[i])
			i++;
		if (m == NULL || i == n) {
			json_object_put(ev);
			continue;
		}
		struct got *g = &gots[i];
		ck_assert_int_eq(jint(p, "seq"), ++seqs[i]);
		if (seqs[i] == 1)
			ck_assert_str_eq(m, "job.started");
		if (strcmp(m, "job.output") == 0) {
			got_output(g, p);
		} else if (strcmp(m, "job.progress") == 0) {
			ck_assert_str_eq(jstr(p, "unit"), "bytes");
			g->nprogress++;
			g->progress_done = jint(p, "done");
			g->progress_total = jint(p, "total");
		} else if (strcmp(m, "job.completed") == 0 ||
			   strcmp(m, "job.failed") == 0) {
			ck_assert_ptr_null(g->end);
			g->end = ev;
			left--;
			continue;
		}
		json_object_put(ev);
	}
	free(seqs);
}

static void
collect(struct tconn *conn, int64_t id, struct got *g, int timeout_s)
{
	collect_many(conn, &id, g, 1, timeout_s);
}

static int64_t
submit_read(struct tconn *conn, const char *path, const char *extra)
{
	return tc_submit(conn,
			 "{\"kind\":\"read-file\",\"args\":{\"path\":\"%s\"%s%s}}",
			 path, extra ? "," : "", extra ? extra : "");
}

/* Reads PATH through the daemon into G and expects it to complete. */
static void
read_ok(const char *path, const char *extra, struct got *g)
{
	int64_t id = submit_read(c, path, extra);

	collect(c, id, g, 60);
	ck_assert_msg(strcmp(jstr(g->end, "method"), "job.completed") == 0,
		      "read-file failed: %s", json_object_to_json_string(g->end));
	ck_assert_str_eq(jstr(g->end, "params.result.path"), path);
	ck_assert_int_eq(jint(g->end, "params.result.bytes"), (int64_t)g->len);
}

/* Reads PATH as CONN and expects job.failed with CODE. */
static void
read_fails(struct tconn *conn, const char *path, const char *code)
{
	struct got g = {0};
	int64_t id = submit_read(conn, path, NULL);

	collect(conn, id, &g, 30);
	ck_assert_str_eq(jstr(g.end, "method"), "job.failed");
	ck_assert_str_eq(jstr(g.end, "params.error.code"), code);
	ck_assert_uint_eq(g.len, 0);
	got_free(&g);
}

static void
path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", d.dir, name);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
fill_random(unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t r = next_random();
		memcpy(p + i, &r, n - i < 8 ? n - i : 8);
	}
}

/* Text of LEN bytes (cut at a character) mixing 1- to 4-byte UTF-8
 * characters, so that 64 KiB boundaries fall inside characters. */
static unsigned char *
make_text(size_t *len)
{
	static const char *const pieces[] = {"a", "é", "€", "😀", "\n", "\"",
					     "\\", "\t", "ж"};
	size_t cap = *len, n = 0;
	unsigned char *t = malloc(cap + 8);

	while (n < cap) {
		const char *p = pieces[next_random() % 9];
		size_t l = strlen(p);
		if (n + l > cap)
			break;
		memcpy(t + n, p, l);
		n += l;
	}
	*len = n;
	return t;
}

START_TEST(text_with_multibyte_characters_across_chunks)
{
	char path[256];
	size_t len = 5 * CHUNK + 1234, cut_boundaries = 0;
	unsigned char *text = make_text(&len);
	struct got g = {0};

	/* The test means something only if characters straddle chunks. */
	for (size_t b = CHUNK; b < len; b += CHUNK)
		if ((text[b] & 0xc0) == 0x80)
			cut_boundaries++;
	ck_assert_uint_gt(cut_boundaries, 0);
	path_in(path, sizeof path, "text.txt");
	write_file(path, text, len, 0644);
	read_ok(path, NULL, &g);
	ck_assert_uint_eq(g.len, len);
	ck_assert_mem_eq(g.data, text, len);
	ck_assert_uint_eq(g.nbase64, 0);
	ck_assert_uint_ge(g.nutf8, 6);
	ck_assert_int_eq(jint(g.end, "params.result.size"), (int64_t)len);
	/* The final progress event reports everything. */
	ck_assert_int_ge(g.nprogress, 1);
	ck_assert_int_eq(g.progress_done, (int64_t)len);
	ck_assert_int_eq(g.progress_total, (int64_t)len);
	got_free(&g);
	free(text);
}
END_TEST

/* Writes at P one character of LEN (2, 3 or 4) bytes, its code point
 * drawn from all those of that length (surrogates excepted). */
static void
put_random_char(unsigned char *p, size_t len)
{
	uint64_t r = next_random();
	uint32_t cp;

	if (len == 2) {
		cp = 0x80 + (uint32_t)(r % (0x800 - 0x80));
		p[0] = (unsigned char)(0xc0 | cp >> 6);
	} else if (len == 3) {
		cp = 0x800 + (uint32_t)(r % (0x10000 - 0x800 - 0x800));
		if (cp >= 0xd800)
			cp += 0x800;
		p[0] = (unsigned char)(0xe0 | cp >> 12);
	} else {
		cp = 0x10000 + (uint32_t)(r % (0x110000 - 0x10000));
		p[0] = (unsigned char)(0xf0 | cp >> 18);
	}
	for (size_t k = 1; k < len; k++) {
		unsigned shift = 6 * (unsigned)(len - 1 - k);
		p[k] = (unsigned char)(0x80 | (cp >> shift & 0x3f));
	}
}

/* A read's 1 MiB slot is cut into 64 KiB chunks on a worker, and a
 * character cut at one of those boundaries is completed from the
 * encoder's carry and sent as a chunk of its own: each such chunk must
 * hold its own character (they once all went out to JSON watchers with
 * the bytes of the slot's last one). */
START_TEST(characters_cut_at_chunks_of_one_read_arrive_whole)
{
	char path[256];
	size_t cap = 3 * MiB + 4321, len = 0, at = 0, first = 0;
	unsigned char *text = malloc(cap);
	bool lens[5] = {false};
	struct got g = {0};

	/* Only 2-, 3- and 4-byte characters: most 64 KiB boundaries fall
	 * inside one, and a different one at each. */
	while (len + 4 <= cap) {
		size_t l = 2 + next_random() % 3;
		put_random_char(text + len, l);
		len += l;
	}
	path_in(path, sizeof path, "multibyte.txt");
	write_file(path, text, len, 0644);
	read_ok(path, NULL, &g);
	ck_assert_uint_eq(g.len, len);
	while (at < len && g.data[at] == text[at])
		at++;
	ck_assert_msg(at == len,
		      "the stream differs from the file at byte %zu "
		      "(%zu into its 1 MiB read)",
		      at, at % MiB);
	ck_assert_uint_eq(g.nbase64, 0);

	/* The test means something only if the first read completed
	 * several characters, all different, and 2-, 3- and 4-byte ones
	 * were cut somewhere. */
	ck_assert_uint_le(g.ncarried, sizeof g.carried / sizeof g.carried[0]);
	for (size_t i = 0; i < g.ncarried; i++) {
		lens[g.carried[i].len] = true;
		if (g.carried[i].offset >= MiB)
			continue;
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(g.carried[j].len != g.carried[i].len ||
					      memcmp(g.carried[j].ch,
						     g.carried[i].ch,
						     g.carried[i].len) != 0,
				      "the same character was cut twice");
		first++;
	}
	ck_assert_uint_ge(first, 4);
	ck_assert(lens[2] && lens[3] && lens[4]);
	got_free(&g);
	free(text);
}
END_TEST

START_TEST(binary_file_arrives_as_base64)
{
	char path[256];
	size_t len = 3 * CHUNK + 777;
	unsigned char *bin = malloc(len);
	struct got g = {0};

	fill_random(bin, len);
	bin[0] = 0xff; /* never UTF-8 */
	path_in(path, sizeof path, "bin.dat");
	write_file(path, bin, len, 0644);
	read_ok(path, NULL, &g);
	ck_assert_uint_eq(g.len, len);
	ck_assert_mem_eq(g.data, bin, len);
	ck_assert_uint_eq(g.nutf8, 0);
	ck_assert_uint_eq(g.nbase64, 4);
	ck_assert_uint_eq(g.max_chunk, CHUNK);
	got_free(&g);
	free(bin);
}
END_TEST

START_TEST(encoding_base64_sends_every_chunk_as_base64)
{
	char path[256];
	size_t len = 2 * CHUNK + 10;
	unsigned char *text = make_text(&len);
	struct got g = {0};

	path_in(path, sizeof path, "text.txt");
	write_file(path, text, len, 0644);
	read_ok(path, "\"encoding\":\"base64\"", &g);
	ck_assert_uint_eq(g.len, len);
	ck_assert_mem_eq(g.data, text, len);
	ck_assert_uint_eq(g.nutf8, 0);
	ck_assert_uint_eq(g.nbase64, 3);
	got_free(&g);
	free(text);
}
END_TEST

START_TEST(empty_file_completes_with_no_output)
{
	char path[256];
	struct got g = {0};

	path_in(path, sizeof path, "empty");
	write_file(path, "", 0, 0644);
	read_ok(path, NULL, &g);
	ck_assert_uint_eq(g.len, 0);
	ck_assert_uint_eq(g.nutf8 + g.nbase64, 0);
	ck_assert_int_eq(jint(g.end, "params.result.bytes"), 0);
	ck_assert_int_eq(jint(g.end, "params.result.size"), 0);
	ck_assert_int_eq(g.nprogress, 1);
	ck_assert_int_eq(g.progress_done, 0);
	ck_assert_int_eq(g.progress_total, 0);
	got_free(&g);
}
END_TEST

/* Reads the 10-byte file with EXTRA args; expects WANT. */
static void
expect_range(const char *path, const char *extra, const char *want)
{
	struct got g = {0};

	read_ok(path, extra, &g);
	ck_assert_uint_eq(g.len, strlen(want));
	if (g.len > 0)
		ck_assert_mem_eq(g.data, want, g.len);
	else
		ck_assert_uint_eq(g.nutf8 + g.nbase64, 0);
	ck_assert_int_eq(jint(g.end, "params.result.size"), 10);
	ck_assert_int_eq(g.progress_total, (int64_t)strlen(want));
	got_free(&g);
}

START_TEST(offsets_and_lengths)
{
	char path[256];

	path_in(path, sizeof path, "digits");
	write_file(path, "0123456789", 10, 0644);
	expect_range(path, "\"offset\":0", "0123456789");
	expect_range(path, "\"offset\":3,\"length\":4", "3456");
	expect_range(path, "\"length\":2", "01");
	expect_range(path, "\"offset\":8,\"length\":100", "89");
	expect_range(path, "\"offset\":9", "9");
	expect_range(path, "\"length\":0", "");
	/* At or past the end: no chunk, bytes 0. */
	expect_range(path, "\"offset\":10", "");
	expect_range(path, "\"offset\":11,\"length\":5", "");
	expect_range(path, "\"offset\":4611686018427387904", "");
}
END_TEST

/* Reads PATH, a file whose size the kernel does not report, through the
 * daemon with EXTRA args: it reads to the end of the file, and reports
 * as its size the bytes read. */
static void
read_pseudo_ok(const char *path, const char *extra, struct got *g)
{
	read_ok(path, extra, g);
	ck_assert_int_eq(jint(g->end, "params.result.size"), (int64_t)g->len);
	ck_assert_int_eq(g->progress_done, (int64_t)g->len);
	ck_assert_int_eq(g->progress_total, (int64_t)g->len);
}

/* procfs says 0 bytes for /proc/version; the size fstat gives must not
 * decide where reading stops. */
START_TEST(proc_and_sys_files_are_read_to_their_end)
{
	size_t len;
	char *want = read_file("/proc/version", &len);
	struct got g = {0};

	ck_assert_ptr_nonnull(want);
	ck_assert_uint_gt(len, 10);
	read_pseudo_ok("/proc/version", NULL, &g);
	ck_assert_uint_eq(g.len, len);
	ck_assert_mem_eq(g.data, want, len);
	got_free(&g);
	/* offset and length still hold. */
	read_pseudo_ok("/proc/version", "\"offset\":5,\"length\":7", &g);
	ck_assert_uint_eq(g.len, 7);
	ck_assert_mem_eq(g.data, want + 5, 7);
	got_free(&g);
	read_pseudo_ok("/proc/version", "\"offset\":3", &g);
	ck_assert_uint_eq(g.len, len - 3);
	ck_assert_mem_eq(g.data, want + 3, len - 3);
	got_free(&g);
	read_pseudo_ok("/proc/version", "\"offset\":1000000", &g);
	ck_assert_uint_eq(g.len, 0);
	got_free(&g);
	free(want);

	/* A file that changes as it is read: only its shape can be checked. */
	char path[64], pid_line[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
	snprintf(pid_line, sizeof pid_line, "\nPid:\t%d\n", (int)getpid());
	read_pseudo_ok(path, NULL, &g);
	ck_assert_uint_gt(g.len, 100);
	g.data[g.len] = '\0';
	ck_assert_msg(strncmp((char *)g.data, "Name:\t", 6) == 0 &&
			      strstr((char *)g.data, pid_line) != NULL,
		      "not a status file: %s", (char *)g.data);
	got_free(&g);

	/* sysfs reports a page for what holds a few bytes. */
	const char *sys = "/sys/devices/system/cpu/online";
	struct stat st;
	if ((want = read_file(sys, &len)) != NULL && len > 0 &&
	    stat(sys, &st) == 0 && (size_t)st.st_size != len) {
		read_pseudo_ok(sys, NULL, &g);
		ck_assert_uint_eq(g.len, len);
		ck_assert_mem_eq(g.data, want, len);
		got_free(&g);
	}
	free(want);
}
END_TEST

START_TEST(large_file_matches_its_sha256)
{
	const size_t len = 100 * MiB + 12345;
	unsigned char want[32], have[32], *buf = malloc(MiB);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	struct got g = {0};
	char path[256];
	int fd;

	path_in(path, sizeof path, "large.dat");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (size_t done = 0; done < len;) {
		size_t n = len - done < MiB ? len - done : MiB;
		fill_random(buf, n);
		/* Some text runs too, so that both encodings occur. */
		if ((done / MiB) % 3 == 0)
			memset(buf, 'x', n / 2);
		EVP_DigestUpdate(sha, buf, n);
		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
	EVP_DigestFinal_ex(sha, want, NULL);

	g.sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(g.sha, EVP_sha256(), NULL);
	read_ok(path, NULL, &g);
	EVP_DigestFinal_ex(g.sha, have, NULL);
	ck_assert_uint_eq(g.len, len);
	ck_assert_mem_eq(have, want, sizeof want);
	ck_assert_uint_gt(g.nutf8, 0);
	ck_assert_uint_gt(g.nbase64, 0);
	ck_assert_int_eq(g.progress_done, (int64_t)len);
	EVP_MD_CTX_free(sha);
	free(buf);
	got_free(&g);
}
END_TEST

START_TEST(missing_file_is_not_found)
{
	char path[256];

	path_in(path, sizeof path, "no-such-file");
	read_fails(c, path, "not-found");
	path_in(path, sizeof path, "no-such-dir/file");
	read_fails(c, path, "not-found");
}
END_TEST

START_TEST(directory_is_a_directory)
{
	read_fails(c, d.dir, "is-a-directory");
}
END_TEST

/* A read the kernel refuses is io-error with its errno: the reading
 * process's own memory at address 0 is never mapped (EIO). */
START_TEST(read_error_is_io_error_with_errno)
{
	struct got g = {0};
	int64_t id = submit_read(c, "/proc/self/mem", NULL);

	collect(c, id, &g, 30);
	ck_assert_str_eq(jstr(g.end, "method"), "job.failed");
	ck_assert_str_eq(jstr(g.end, "params.error.code"), "io-error");
	ck_assert_int_eq(jint(g.end, "params.error.errno"), EIO);
	ck_assert_ptr_nonnull(strstr(jstr(g.end, "params.error.message"), "/proc/self/mem"));
	ck_assert_uint_eq(g.len, 0);
	got_free(&g);
}
END_TEST

/* The daemon still answers after a refused request. */
static void
assert_serving(void)
{
	struct json_object *r = tc_call(c, "daemon.info", NULL);

	ck_assert_int_eq(jint(r, "result.protocol"), 2);
	json_object_put(r);
}

static void
submit_refused(const char *args, const char *field)
{
	struct json_object *r = tc_call(
		c, "job.submit", "{\"kind\":\"read-file\",\"args\":%s}", args);

	assert_rpc_error(r, -32602, field);
	json_object_put(r);
	assert_serving();
}

START_TEST(bad_args_are_invalid_params)
{
	submit_refused("{\"path\":\"relative/file\"}", "args.path");
	submit_refused("{\"path\":\"\"}", "args.path");
	submit_refused("{}", "args.path");
	submit_refused("{\"path\":7}", "args.path");
	submit_refused("{\"path\":\"/etc/hostname\",\"bogus\":1}", "args.bogus");
	submit_refused("{\"path\":\"/etc/hostname\",\"offset\":-1}", "args.offset");
	submit_refused("{\"path\":\"/etc/hostname\",\"offset\":1.5}", "args.offset");
	submit_refused("{\"path\":\"/etc/hostname\",\"length\":-5}", "args.length");
	submit_refused("{\"path\":\"/etc/hostname\",\"length\":\"1\"}", "args.length");
	submit_refused("{\"path\":\"/etc/hostname\",\"encoding\":\"utf-8\"}",
		       "args.encoding");
	/* No job was created. */
	struct json_object *r = tc_call(c, "job.list", "{}");
	ck_assert_int_eq(json_object_array_length(jget(r, "result.jobs")), 0);
	json_object_put(r);
}
END_TEST

START_TEST(private_root_file_is_denied_to_another_user)
{
	char path[256], dir[256], inner[300];
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);

	path_in(path, sizeof path, "secret");
	write_file(path, "root only\n", 10, 0600);
	read_fails(nobody, path, "permission-denied");
	/* A readable file in a directory it cannot search. */
	path_in(dir, sizeof dir, "private");
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(inner, sizeof inner, "%s/open", dir);
	write_file(inner, "x", 1, 0644);
	read_fails(nobody, inner, "permission-denied");
	/* Root itself reads both. */
	struct got g = {0};
	read_ok(path, NULL, &g);
	ck_assert_mem_eq(g.data, "root only\n", 10);
	got_free(&g);
	tc_close(nobody);
}
END_TEST

START_TEST(readable_file_works_for_another_user)
{
	char path[256];
	struct tconn *nobody = tc_open_as(d.sock, TEST_NOBODY, TEST_NOBODY);
	struct got g = {0};
	int64_t id;

	path_in(path, sizeof path, "public");
	write_file(path, "for everyone\n", 13, 0644);
	id = submit_read(nobody, path, NULL);
	collect(nobody, id, &g, 30);
	ck_assert_str_eq(jstr(g.end, "method"), "job.completed");
	ck_assert_uint_eq(g.len, 13);
	ck_assert_mem_eq(g.data, "for everyone\n", 13);
	got_free(&g);
	tc_close(nobody);
}
END_TEST

/* Creates a sparse file of SIZE bytes (zeros). */
static void
make_sparse(const char *path, off_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	close(fd);
}

/* The daemon's resident set, in KiB. */
static long
daemon_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)d.pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static const char *
job_state(struct tconn *conn, int64_t id)
{
	static char state[32];
	struct json_object *r = tc_call(conn, "job.get", "{\"id\":%lld}",
					(long long)id);

	snprintf(state, sizeof state, "%s", jstr(r, "result.job.state"));
	json_object_put(r);
	return state;
}

/* The bound on the daemon's memory while it streams: far below what the
 * file would take if it were buffered. AddressSanitizer's shadow memory
 * and allocator add their own share, and its quarantine keeps freed
 * memory (256 MiB by default): a daemon measured under it gets a small
 * quarantine. */
#ifdef __SANITIZE_ADDRESS__
#define RSS_BOUND_KIB (128 * 1024)
#else
#define RSS_BOUND_KIB (64 * 1024)
#endif

static void
restart_for_rss(void)
{
#ifdef __SANITIZE_ADDRESS__
	const char *old = getenv("ASAN_OPTIONS");
	char opts[512];

	snprintf(opts, sizeof opts, "%s%squarantine_size_mb=16",
		 old ? old : "", old && *old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	tc_close(c);
	ck_assert_int_eq(td_stop(&d), 0);
	td_start(&d, NULL);
	c = tc_open(d.sock);
	ck_assert_ptr_nonnull(c);
#endif
}

START_TEST(slow_reader_keeps_the_daemon_small)
{
	const off_t size = 256 * (off_t)MiB;
	struct tconn *other;
	long rss, max_rss = 0;
	struct got g = {0};
	char path[256];
	int64_t id;

	restart_for_rss();
	other = tc_open(d.sock);
	path_in(path, sizeof path, "sparse");
	make_sparse(path, size);
	/* base64: 341 MiB of events if they were all buffered. */
	id = submit_read(c, path, "\"encoding\":\"base64\"");
	/* Not reading at all: the job must pause, not buffer the file. */
	sleep(2);
	ck_assert_str_eq(job_state(other, id), "running");
	rss = daemon_rss_kib();
	ck_assert_msg(rss < RSS_BOUND_KIB, "RSS %ld KiB while paused", rss);
	/* Reading slowly. */
	g.sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(g.sha, EVP_sha256(), NULL);
	for (int n = 0;; n++) {
		struct json_object *ev = tc_event(c, 30000);
		ck_assert_ptr_nonnull(ev);
		const char *m = jstr(ev, "method");
		if (strcmp(m, "job.output") == 0)
			got_output(&g, jget(ev, "params"));
		if (strcmp(m, "job.completed") == 0 || strcmp(m, "job.failed") == 0) {
			g.end = ev;
			break;
		}
		json_object_put(ev);
		if (n % 64 == 0) {
			usleep(20000);
			rss = daemon_rss_kib();
			max_rss = rss > max_rss ? rss : max_rss;
		}
	}
	ck_assert_str_eq(jstr(g.end, "method"), "job.completed");
	ck_assert_int_eq(jint(g.end, "params.result.bytes"), size);
	ck_assert_uint_eq(g.len, (size_t)size);
	ck_assert_msg(max_rss < RSS_BOUND_KIB, "RSS reached %ld KiB", max_rss);
	/* All zeros, as the file is. */
	unsigned char have[32], want[32], *zeros = calloc(1, MiB);
	EVP_DigestFinal_ex(g.sha, have, NULL);
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	for (off_t i = 0; i < size; i += MiB)
		EVP_DigestUpdate(sha, zeros, MiB);
	EVP_DigestFinal_ex(sha, want, NULL);
	ck_assert_mem_eq(have, want, 32);
	EVP_MD_CTX_free(sha);
	free(zeros);
	got_free(&g);
	tc_close(other);
}
END_TEST

START_TEST(unwatched_read_runs_to_the_end_without_buffering)
{
	const off_t size = 512 * (off_t)MiB;
	char path[256];
	int64_t id;
	long rss;
	struct json_object *r;

	restart_for_rss();
	path_in(path, sizeof path, "sparse");
	make_sparse(path, size);
	id = tc_submit(c, "{\"kind\":\"read-file\",\"watch\":false,"
		       "\"args\":{\"path\":\"%s\"}}", path);
	for (int i = 0; i < 6000 && strcmp(job_state(c, id), "completed") != 0; i++)
		usleep(10000);
	ck_assert_str_eq(job_state(c, id), "completed");
	r = tc_call(c, "job.get", "{\"id\":%lld}", (long long)id);
	ck_assert_int_eq(jint(r, "result.job.result.bytes"), size);
	ck_assert_int_eq(jint(r, "result.job.result.size"), size);
	json_object_put(r);
	rss = daemon_rss_kib();
	ck_assert_msg(rss < RSS_BOUND_KIB, "RSS %ld KiB", rss);
	/* No event reached this connection. */
	ck_assert_ptr_null(tc_event(c, 100));
}
END_TEST

START_TEST(cancel_stops_a_read)
{
	struct tconn *other = tc_open(d.sock);
	const off_t size = 256 * (off_t)MiB;
	struct got g = {0};
	struct json_object *r;
	char path[256];
	int64_t id;

	path_in(path, sizeof path, "sparse");
	make_sparse(path, size);
	id = submit_read(c, path, NULL);
	usleep(300000); /* it streams until the connection is full */
	r = tc_call(other, "job.cancel", "{\"id\":%lld}", (long long)id);
	ck_assert_ptr_nonnull(jget(r, "result.job"));
	json_object_put(r);
	g.sha = EVP_MD_CTX_new(); /* count only */
	EVP_DigestInit_ex(g.sha, EVP_sha256(), NULL);
	collect(c, id, &g, 60);
	ck_assert_str_eq(jstr(g.end, "method"), "job.failed");
	ck_assert_str_eq(jstr(g.end, "params.error.code"), "cancelled");
	ck_assert_uint_lt(g.len, (size_t)size);
	ck_assert_str_eq(job_state(other, id), "failed");
	got_free(&g);

	/* Cancelled before anything was read, too. */
	id = submit_read(c, path, NULL);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}", (long long)id);
	json_object_put(r);
	collect(c, id, &g, 60);
	ck_assert_str_eq(jstr(g.end, "params.error.code"), "cancelled");
	got_free(&g);

	/* A finished read cannot be cancelled; the daemon goes on. */
	path_in(path, sizeof path, "small");
	write_file(path, "abc", 3, 0644);
	read_ok(path, NULL, &g);
	ck_assert_mem_eq(g.data, "abc", 3);
	r = tc_call(c, "job.cancel", "{\"id\":%lld}",
		    (long long)jint(g.end, "params.id"));
	assert_rpc_error(r, -32002, NULL);
	json_object_put(r);
	got_free(&g);
	tc_close(other);
}
END_TEST

START_TEST(many_reads_at_once)
{
	enum { N = 40 };
	char path[N][256];
	int64_t ids[N];
	struct got g[N];

	memset(g, 0, sizeof g);

	for (int i = 0; i < N; i++) {
		char name[32], content[64];
		snprintf(name, sizeof name, "f%d", i);
		path_in(path[i], sizeof path[i], name);
		int len = snprintf(content, sizeof content, "file number %d\n", i);
		write_file(path[i], content, (size_t)len, 0644);
		ids[i] = submit_read(c, path[i], NULL);
	}
	collect_many(c, ids, g, N, 60);
	for (int i = 0; i < N; i++) {
		char content[64];
		int len = snprintf(content, sizeof content, "file number %d\n", i);
		ck_assert_str_eq(jstr(g[i].end, "method"), "job.completed");
		ck_assert_uint_eq(g[i].len, (size_t)len);
		ck_assert_mem_eq(g[i].data, content, (size_t)len);
		got_free(&g[i]);
	}
}
END_TEST

/* ---- asyncctl read-file ------------------------------------------------- */

static void
ctl(struct run_result *r, int uid, const char *a1, const char *a2,
    const char *a3, const char *a4, const char *a5)
{
	char *argv[] = {(char *)td_path("ASYNCCTL", "client/asyncctl"),
			"--socket", d.sock, "read-file", (char *)a1, (char *)a2,
			(char *)a3, (char *)a4, (char *)a5, NULL};

	run_program(argv, NULL, NULL, uid, r);
}

static void
ctl_identical(const char *path, const unsigned char *want, size_t len)
{
	struct run_result r;

	ctl(&r, -1, path, NULL, NULL, NULL, NULL);
	ck_assert_msg(r.status == 0, "asyncctl: %d %s", r.status, r.err);
	ck_assert_uint_eq(r.out_len, len);
	ck_assert_mem_eq(r.out, want, len);
	run_result_free(&r);
}

START_TEST(asyncctl_writes_the_exact_bytes)
{
	char text_path[256], bin_path[256];
	size_t tlen = 3 * CHUNK + 99, blen = 2 * CHUNK + 5;
	unsigned char *text = make_text(&tlen), *bin = malloc(blen);
	struct run_result r;

	fill_random(bin, blen);
	path_in(text_path, sizeof text_path, "text.txt");
	path_in(bin_path, sizeof bin_path, "bin.dat");
	write_file(text_path, text, tlen, 0644);
	write_file(bin_path, bin, blen, 0644);
	ctl_identical(text_path, text, tlen);
	ctl_identical(bin_path, bin, blen);

	/* --offset and --length. */
	ctl(&r, -1, bin_path, "--offset", "1000", "--length", "70000");
	ck_assert_int_eq(r.status, 0);
	ck_assert_uint_eq(r.out_len, 70000);
	ck_assert_mem_eq(r.out, bin + 1000, 70000);
	run_result_free(&r);

	/* A relative path is taken from asyncctl's working directory. */
	char cwd[512];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(d.dir), 0);
	ctl_identical("text.txt", text, tlen);
	ctl_identical("./bin.dat", bin, blen);
	ck_assert_int_eq(chdir(cwd), 0);
	free(text);
	free(bin);
}
END_TEST

START_TEST(asyncctl_failures_write_nothing_to_stdout)
{
	char path[256];
	struct run_result r;

	path_in(path, sizeof path, "missing");
	ctl(&r, -1, path, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "not-found"));
	run_result_free(&r);

	ctl(&r, -1, NULL, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 2);
	ck_assert_uint_eq(r.out_len, 0);
	run_result_free(&r);
}
END_TEST

START_TEST(asyncctl_refusal_writes_nothing_to_stdout)
{
	char path[256];
	struct run_result r;

	path_in(path, sizeof path, "secret");
	write_file(path, "s", 1, 0600);
	ctl(&r, TEST_NOBODY, path, NULL, NULL, NULL, NULL);
	ck_assert_int_eq(r.status, 1);
	ck_assert_uint_eq(r.out_len, 0);
	ck_assert_ptr_nonnull(strstr(r.err, "permission-denied"));
	run_result_free(&r);
}
END_TEST

static Suite *
read_file_suite(void)
{
	Suite *s = suite_create("read-file");
	TCase *tc = tcase_create("content");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, text_with_multibyte_characters_across_chunks);
	tcase_add_test(tc, characters_cut_at_chunks_of_one_read_arrive_whole);
	tcase_add_test(tc, binary_file_arrives_as_base64);
	tcase_add_test(tc, encoding_base64_sends_every_chunk_as_base64);
	tcase_add_test(tc, empty_file_completes_with_no_output);
	tcase_add_test(tc, offsets_and_lengths);
	tcase_add_test(tc, proc_and_sys_files_are_read_to_their_end);
	tcase_add_test(tc, large_file_matches_its_sha256);
	tcase_add_test(tc, many_reads_at_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, missing_file_is_not_found);
	tcase_add_test(tc, directory_is_a_directory);
	tcase_add_test(tc, read_error_is_io_error_with_errno);
	tcase_add_test(tc, bad_args_are_invalid_params);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, slow_reader_keeps_the_daemon_small);
	tcase_add_test(tc, unwatched_read_runs_to_the_end_without_buffering);
	tcase_add_test(tc, cancel_stops_a_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("asyncctl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, asyncctl_writes_the_exact_bytes);
	tcase_add_test(tc, asyncctl_failures_write_nothing_to_stdout);
	suite_add_tcase(s, tc);
	return s;
}

/* Reading as another user: uid 65534 against root's files. */
static Suite *
read_file_root_suite(void)
{
	Suite *s = suite_create("read-file as root");
	TCase *tc = tcase_create("users");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, private_root_file_is_denied_to_another_user);
	tcase_add_test(tc, readable_file_works_for_another_user);
	tcase_add_test(tc, asyncctl_refusal_writes_nothing_to_stdout);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_suite_split(read_file_suite, read_file_root_suite,
			       "to connect as uid 65534");
}
