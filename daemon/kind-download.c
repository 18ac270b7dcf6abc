/* download: fetches a URL with libcurl's multi interface on the event loop
 * (curl-loop.c), into DEST.part written and hashed on the worker pool
 * (download-file.c) and renamed to DEST at the end, or streamed to the
 * watchers as job.output "data" chunks.
 *
 * A job goes: opening the file (pool) -> transfer (loop) [-> waiting to
 * retry -> transfer ...] -> committing the file (pool) -> completed; or,
 * on a failure or a stop, -> discarding the file (pool) -> failed. libcurl
 * callbacks only record a failure and return an error to libcurl; the
 * transfer's done callback, outside libcurl, acts on it.
 *
 * Defaults: connect timeout 30 s; a transfer that receives nothing for
 * --download-stall-timeout seconds (60) fails with network-error (libcurl
 * LOW_SPEED_LIMIT 1 byte/s over LOW_SPEED_TIME; its speed is averaged
 * over up to 5 s, so a stall after a burst is noticed up to 5 s later);
 * at most 10 redirects; a 512 KiB receive buffer.
 *
 * Without dest, a download goes to the daemon's download directory:
 * --download-dir, else ~/Downloads of the daemon's user. A daemon running
 * as root serves many users from one directory it owns, so each user gets
 * a subdirectory named after the uid, made on first use (mode 0700, owned
 * by the user): --download-dir (default /var/lib/asyncd/downloads)/UID/.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "curl-loop.h"
#include "download-file.h"
#include "kinds.h"
#include "log.h"
#include "params.h"
#include "xmalloc.h"

#define DL_RETRIES_DEFAULT 2
#define DL_RETRIES_MAX 10
#define DL_MAX_REDIRECTS 10
#define DL_BUFFER_SIZE (512 * 1024)
#define DL_CONNECT_TIMEOUT_S 30
#define DL_ROOT_DIR "/var/lib/asyncd/downloads"
#define DL_URL_MAX 8192
#define DL_NAME_MAX 200 /* longer last segments are saved as "download" */

enum dl_phase {
	DL_OPENING,    /* DEST.part being opened (pool) */
	DL_TRANSFER,   /* libcurl at work (loop) */
	DL_RETRY_WAIT, /* the retry timer runs */
	DL_COMMITTING, /* DEST.part being checked and renamed (pool) */
	DL_ENDING,     /* DEST.part being discarded (pool): then it fails */
};

struct download {
	struct job *job;
	enum dl_phase phase;
	/* The args. */
	char *url, *dest, *want_sha;
	bool overwrite, resume, stream;
	int64_t max_bytes; /* -1: no limit */
	int retries;
	/* The transfer. */
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	bool in_multi; /* added to the multi handle */
	bool paused;   /* receiving stopped (curl_easy_pause) */
	struct event *retry_ev;
	int attempt; /* retries done */
	long long started_ms;
	/* The response of this attempt. */
	bool response_seen;
	long status;
	int64_t range_start, range_total; /* its Content-Range, or -1 */
	uint64_t skip;     /* leading bytes to drop: we have them already */
	bool have_all;     /* a 416 saying the part is the whole file */
	/* What we have. */
	uint64_t have; /* bytes of the file, resumed part included */
	int64_t total; /* the whole size when known, else -1 */
	char *content_type;
	/* A failure to end with; a callback records it. */
	const char *fail_code;
	char fail_msg[300];
	long fail_status; /* http-error */
	int fail_errno;   /* io-error */
	bool fail_retryable;
	/* Where the bytes go. */
	struct download_file *file; /* NULL when streaming */
	EVP_MD_CTX *sha;            /* streaming: the hash */
};

static void download_transfer_begin(struct download *d);
static void download_retry_cb(evutil_socket_t fd, short what, void *arg);

/* ---- Validation --------------------------------------------------------- */

/* Whether SCHEME (lower case) is among --allow-scheme's; file never is. */
static bool
download_scheme_allowed(const char *scheme)
{
	const char *list = daemon_opts.allowed_schemes;
	size_t len = strlen(scheme);

	if (strcmp(scheme, "file") == 0 || list == NULL)
		return false;
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		if (n == len && strncmp(p, scheme, n) == 0)
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

static int
download_check_url(const char *url, struct param_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode uc;
	int rc = 0;

	if (u == NULL)
		fatalx("curl_url failed");
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK)
		uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc != CURLUE_OK)
		rc = param_fail(err, "args.url", "not a URL: %s",
				curl_url_strerror(uc));
	else if (!download_scheme_allowed(scheme))
		rc = param_fail(err, "args.url", "URL scheme %.20s is not allowed",
				scheme);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

static int
download_check_sha256(const char *hex, struct param_error *err)
{
	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdefABCDEF") != 64)
		return param_fail(err, "args.sha256", "must be 64 hex digits");
	return 0;
}

static int
download_validate(struct json_object *args, struct param_error *err)
{
	static const char *const allowed[] = {"url", "dest", "overwrite",
					      "sha256", "resume", "max_bytes",
					      "stream", "retries", NULL};
	const char *url, *dest = NULL, *sha = NULL;
	bool flag, stream = false, resume = false;
	int64_t n;

	if (params_only(args, "args.", allowed, err) < 0 ||
	    params_string(args, "args.", "url", true, DL_URL_MAX, &url, err) < 0 ||
	    download_check_url(url, err) < 0 ||
	    params_bool(args, "args.", "stream", &stream, err) < 0 ||
	    params_path(args, "args.", "dest", false, &dest, err) < 0 ||
	    params_bool(args, "args.", "overwrite", &flag, err) < 0 ||
	    params_string(args, "args.", "sha256", false, 0, &sha, err) < 0 ||
	    (sha != NULL && download_check_sha256(sha, err) < 0) ||
	    params_bool(args, "args.", "resume", &resume, err) < 0 ||
	    params_int(args, "args.", "max_bytes", false, 0, INT64_MAX, &n,
		       err) < 0 ||
	    params_int(args, "args.", "retries", false, 0, DL_RETRIES_MAX, &n,
		       err) < 0)
		return -1;
	if (stream && dest != NULL)
		return param_fail(err, "args.dest", "not allowed with stream");
	if (stream && resume)
		return param_fail(err, "args.resume",
				  "not allowed with stream: there is no file");
	return 0;
}

/* ---- Set-up and release ------------------------------------------------- */

static const char *
arg_string(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v)
		       ? json_object_get_string(v)
		       : NULL;
}

static int64_t
arg_int(struct json_object *args, const char *name, int64_t dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v)
		       ? json_object_get_int64(v)
		       : dflt;
}

static bool
arg_bool(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v) &&
	       json_object_get_boolean(v);
}

/* The file name for URL inside a directory: its last path segment,
 * decoded, or "download" when that is empty or not a plain name. */
static char *
download_file_name(const char *url)
{
	CURLU *u = curl_url();
	char *path = NULL, *dec = NULL, *name = NULL;
	int n = 0;

	if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		const char *seg = strrchr(path, '/');
		dec = curl_easy_unescape(NULL, seg ? seg + 1 : path, 0, &n);
	}
	if (dec != NULL && n > 0 && n <= DL_NAME_MAX &&
	    memchr(dec, '/', (size_t)n) == NULL &&
	    strlen(dec) == (size_t)n && strcmp(dec, ".") != 0 &&
	    strcmp(dec, "..") != 0)
		name = xstrdup(dec);
	curl_free(dec);
	curl_free(path);
	curl_url_cleanup(u);
	return name != NULL ? name : xstrdup("download");
}

static struct download *
download_new(struct job *job, struct json_object *args)
{
	struct download *d = xcalloc(1, sizeof *d);
	const char *s;

	d->job = job;
	d->url = xstrdup(arg_string(args, "url"));
	d->dest = (s = arg_string(args, "dest")) ? xstrdup(s) : NULL;
	d->want_sha = (s = arg_string(args, "sha256")) ? xstrdup(s) : NULL;
	d->overwrite = arg_bool(args, "overwrite");
	d->resume = arg_bool(args, "resume");
	d->stream = arg_bool(args, "stream");
	d->max_bytes = arg_int(args, "max_bytes", -1);
	d->retries = (int)arg_int(args, "retries", DL_RETRIES_DEFAULT);
	d->total = -1;
	d->started_ms = now_mono_ms();
	d->retry_ev = evtimer_new(daemon_base, download_retry_cb, d);
	job->priv = d;
	return d;
}

static void
download_free(struct download *d)
{
	if (d->in_multi)
		curl_loop_remove(d->easy);
	if (d->easy != NULL)
		curl_easy_cleanup(d->easy);
	event_free(d->retry_ev);
	download_file_free(d->file);
	EVP_MD_CTX_free(d->sha);
	d->job->priv = NULL;
	free(d->url);
	free(d->dest);
	free(d->want_sha);
	free(d->content_type);
	free(d);
}

/* ---- Ending ------------------------------------------------------------- */

/* Records the failure to end with; the first one wins. */
static void __attribute__((format(printf, 3, 4)))
download_record(struct download *d, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (d->fail_code != NULL)
		return;
	d->fail_code = code;
	d->fail_retryable = false;
	va_start(ap, fmt);
	vsnprintf(d->fail_msg, sizeof d->fail_msg, fmt, ap);
	va_end(ap);
}

static void
download_record_errno(struct download *d, int err, const char *what)
{
	download_record(d, proto_errno_code(err), "%s: %s", what,
			strerror(err));
	d->fail_errno = err;
}

/* Fails the job with the recorded failure and frees D. */
static void
download_fail_now(struct download *d)
{
	struct job *job = d->job;
	struct json_object *extra = NULL;
	const char *code = d->fail_code ? d->fail_code : JOBERR_INTERNAL;
	char msg[sizeof d->fail_msg];

	snprintf(msg, sizeof msg, "%s", d->fail_msg);
	if (strcmp(code, JOBERR_HTTP_ERROR) == 0) {
		extra = json_object_new_object();
		json_object_object_add(extra, "status",
				       json_object_new_int64(d->fail_status));
	} else if (strcmp(code, JOBERR_IO_ERROR) == 0) {
		extra = json_object_new_object();
		json_object_object_add(extra, "errno",
				       json_object_new_int(d->fail_errno));
	}
	download_free(d);
	job_fail(job, code, msg, extra);
}

static void
download_discarded(void *arg, int err)
{
	download_fail_now(arg);
}

/* Stops whatever runs and fails the job once the file is dealt with:
 * DEST.part goes unless resume (and always after a checksum mismatch). */
static void
download_abort(struct download *d)
{
	bool keep = d->resume && d->fail_code != NULL &&
		    strcmp(d->fail_code, JOBERR_CHECKSUM_MISMATCH) != 0;

	if (d->in_multi) {
		curl_loop_remove(d->easy);
		d->in_multi = false;
	}
	evtimer_del(d->retry_ev);
	d->phase = DL_ENDING;
	if (d->file != NULL)
		download_file_discard(d->file, keep, download_discarded);
	else
		download_fail_now(d);
}

static struct json_object *
json_string_or_null(const char *s)
{
	return s != NULL ? json_object_new_string(s) : NULL;
}

/* Completes the job with its result and frees D. */
static void
download_complete(struct download *d, const char *path, const char *sha_hex)
{
	struct job *job = d->job;
	struct json_object *r = json_object_new_object();
	char *url = NULL;

	curl_easy_getinfo(d->easy, CURLINFO_EFFECTIVE_URL, &url);
	json_object_object_add(r, "path", json_string_or_null(path));
	json_object_object_add(r, "bytes", json_object_new_int64((int64_t)d->have));
	json_object_object_add(r, "status", json_object_new_int64(d->status));
	json_object_object_add(r, "sha256", json_object_new_string(sha_hex));
	json_object_object_add(r, "content_type",
			       json_string_or_null(d->content_type));
	json_object_object_add(r, "url", json_object_new_string(url ? url : d->url));
	json_object_object_add(r, "elapsed_ms",
			       json_object_new_int64(now_mono_ms() - d->started_ms));
	job_progress(job, d->have, (int64_t)d->have, "bytes", true);
	download_free(d);
	job_complete(job, r);
}

static void
download_committed(void *arg, int err)
{
	struct download *d = arg;

	if (err != 0) {
		download_record_errno(d, err, download_file_path(d->file));
	} else if (download_file_mismatch(d->file)) {
		download_record(d, JOBERR_CHECKSUM_MISMATCH,
				"SHA-256 is %s, not %s",
				download_file_sha256(d->file), d->want_sha);
	} else {
		char *path = xstrdup(download_file_path(d->file));
		char sha[65];
		snprintf(sha, sizeof sha, "%s", download_file_sha256(d->file));
		download_complete(d, path, sha);
		free(path);
		return;
	}
	download_abort(d);
}

/* The transfer got everything: check the hash and put the file in place. */
static void
download_succeeded(struct download *d)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[65] = "";

	if (d->file != NULL) {
		d->phase = DL_COMMITTING;
		download_file_commit(d->file, d->want_sha, download_committed);
		return;
	}
	job_output_end(d->job, STREAM_DATA);
	EVP_DigestFinal_ex(d->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	if (d->want_sha != NULL && strcasecmp(d->want_sha, hex) != 0) {
		download_record(d, JOBERR_CHECKSUM_MISMATCH,
				"SHA-256 is %s, not %s", hex, d->want_sha);
		download_abort(d);
		return;
	}
	download_complete(d, NULL, hex);
}

/* ---- libcurl callbacks: they record, pause, never end a transfer ------- */

/* Reads a Content-Range value: "bytes A-B/T", or the star form of a 416
 * that gives only the total T. */
static void
download_parse_content_range(struct download *d, const char *v, size_t len)
{
	char buf[128];
	long long a, b, t;

	snprintf(buf, sizeof buf, "%.*s", (int)(len < 127 ? len : 127), v);
	if (sscanf(buf, " bytes %lld-%lld/%lld", &a, &b, &t) == 3 && a >= 0) {
		d->range_start = a;
		d->range_total = t;
	} else if (sscanf(buf, " bytes */%lld", &t) == 1) {
		d->range_total = t;
	}
}

static size_t
download_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;

	if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
		d->range_start = -1; /* a new response, after a redirect */
		d->range_total = -1;
	} else if (len > 14 && strncasecmp(buf, "Content-Range:", 14) == 0) {
		download_parse_content_range(d, buf + 14, len - 14);
	}
	return len;
}

/* Checks an HTTP response to a request for bytes HAVE- of the file. */
static int
download_check_range(struct download *d, int64_t length)
{
	if (d->status == 416 && d->range_total == (int64_t)d->have) {
		d->have_all = true;
		d->total = (int64_t)d->have;
		return 0;
	}
	if (d->status == 206) {
		if (d->range_start != (int64_t)d->have) {
			download_record(d, JOBERR_NETWORK_ERROR,
					"asked for bytes from %llu, got from %lld",
					(unsigned long long)d->have,
					(long long)d->range_start);
			return -1;
		}
		d->total = d->range_total >= 0 ? d->range_total
			   : length >= 0	  ? (int64_t)d->have + length
						  : -1;
		return 0;
	}
	/* The whole file again: drop what we have. */
	if (length >= 0 && length < (int64_t)d->have) {
		download_record(d, JOBERR_NETWORK_ERROR,
				"the file is now shorter than the part we have");
		return -1;
	}
	d->skip = d->have;
	d->total = length;
	return 0;
}

/* Looks at the response once its body starts (or it ended without one). */
static int
download_response(struct download *d)
{
	curl_off_t length = -1;
	char *scheme = NULL, *type = NULL;
	bool http;

	d->response_seen = true;
	curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &d->status);
	curl_easy_getinfo(d->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	curl_easy_getinfo(d->easy, CURLINFO_SCHEME, &scheme);
	curl_easy_getinfo(d->easy, CURLINFO_CONTENT_TYPE, &type);
	free(d->content_type);
	d->content_type = type != NULL ? xstrdup(type) : NULL;
	http = scheme != NULL && strncasecmp(scheme, "http", 4) == 0;
	if (http && d->status >= 400 &&
	    !(d->status == 416 && d->have > 0 &&
	      d->range_total == (int64_t)d->have)) {
		download_record(d, JOBERR_HTTP_ERROR, "HTTP status %ld",
				d->status);
		d->fail_status = d->status;
		d->fail_retryable = d->status >= 500;
		return -1;
	}
	if (http && d->have > 0) {
		if (download_check_range(d, length) < 0)
			return -1;
	} else {
		d->total = length >= 0 ? (int64_t)d->have + length : -1;
	}
	if (d->max_bytes >= 0 && d->total > d->max_bytes) {
		download_record(d, JOBERR_TOO_LARGE, "%lld bytes, more than %lld",
				(long long)d->total, (long long)d->max_bytes);
		return -1;
	}
	return 0;
}

/* True when the bytes have nowhere to go for now. */
static bool
download_blocked(struct download *d)
{
	if (d->file != NULL)
		return download_file_full(d->file);
	return job_output_blocked(d->job);
}

static void
download_deliver(struct download *d, const char *p, size_t n)
{
	if (d->file != NULL) {
		download_file_write(d->file, p, n);
	} else {
		EVP_DigestUpdate(d->sha, p, n);
		job_output(d->job, STREAM_DATA, p, n);
	}
	d->have += n;
	job_progress(d->job, d->have, d->total, "bytes", false);
}

/* Stops receiving until the bytes have somewhere to go. Called from the
 * write callback once it has taken its bytes, so that they never come
 * twice; libcurl keeps the rest of its current receive buffer and hands
 * it over when download_unpause() lets the transfer go on. */
static void
download_pause(struct download *d)
{
	log_debug("job %llu: %s is behind: transfer paused",
		  (unsigned long long)d->job->id,
		  d->file != NULL ? "the disk" : "a watcher");
	d->paused = true;
	curl_easy_pause(d->easy, CURLPAUSE_RECV);
}

static size_t
download_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct download *d = arg;
	size_t len = size * nmemb, n = len;

	if (d->fail_code != NULL ||
	    (!d->response_seen && download_response(d) < 0))
		return CURL_WRITEFUNC_ERROR;
	if (d->have_all)
		return len; /* the body of a 416 */
	if (d->skip > 0) {
		size_t k = d->skip < n ? (size_t)d->skip : n;
		d->skip -= k;
		ptr += k;
		n -= k;
	}
	if (d->max_bytes >= 0 && d->have + n > (uint64_t)d->max_bytes) {
		download_record(d, JOBERR_TOO_LARGE, "more than %lld bytes",
				(long long)d->max_bytes);
		return CURL_WRITEFUNC_ERROR;
	}
	if (n > 0)
		download_deliver(d, ptr, n);
	if (!d->paused && download_blocked(d))
		download_pause(d);
	return len;
}

/* ---- The transfer ------------------------------------------------------- */

/* --allow-scheme's list for CURLOPT_PROTOCOLS_STR, less file and the names
 * this libcurl does not know (an unknown name would fail the option). */
static char *
download_protocols(void)
{
	const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
	const char *list = daemon_opts.allowed_schemes;
	char *out = xcalloc(1, strlen(list) + 1);

	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		for (const char *const *q = info->protocols; *q != NULL; q++) {
			if (strlen(*q) != n || strncmp(*q, p, n) != 0 ||
			    strcmp(*q, "file") == 0)
				continue;
			if (*out != '\0')
				strcat(out, ",");
			strncat(out, p, n);
			break;
		}
		p += n + (p[n] == ',');
	}
	return out;
}

/* Makes the easy handle; -1 after recording why not. */
static int
download_easy_setup(struct download *d)
{
	char *protos = download_protocols();
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	d->easy = e;
	if (e != NULL &&
	    (rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protos)) == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	free(protos);
	if (rc != CURLE_OK) {
		/* All protocols stay enabled after a failure: never go on. */
		download_record(d, JOBERR_INTERNAL, "libcurl: %s",
				curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, d->url);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)DL_MAX_REDIRECTS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, download_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, download_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, d);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)DL_BUFFER_SIZE);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)DL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
			 (long)daemon_opts.download_stall_timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, d->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "asyncd/" PACKAGE_VERSION);
	return 0;
}

/* Network failures worth another try; others (too many redirects, a
 * refused protocol, a bad certificate ...) would fail the same way. */
static bool
download_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* Waits 1 s, 2 s, 4 s ... before the next attempt. */
static void
download_retry(struct download *d)
{
	struct timeval tv = {1L << d->attempt, 0};

	d->attempt++;
	log_info("job %llu: %s; retry %d of %d in %ld s",
		 (unsigned long long)d->job->id, d->fail_msg, d->attempt,
		 d->retries, (long)tv.tv_sec);
	d->fail_code = NULL;
	d->phase = DL_RETRY_WAIT;
	evtimer_add(d->retry_ev, &tv);
}

static void
download_transfer_done(CURL *easy, CURLcode rc, void *arg)
{
	struct download *d = arg;

	d->in_multi = false;
	d->paused = false;
	if (d->fail_code == NULL && rc == CURLE_OK && !d->response_seen)
		download_response(d); /* a response without a body */
	if (d->fail_code == NULL && rc != CURLE_OK) {
		download_record(d, JOBERR_NETWORK_ERROR, "%s",
				d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
		d->fail_retryable = download_transient(rc);
	}
	if (d->fail_code == NULL)
		download_succeeded(d);
	else if (d->fail_retryable && d->attempt < d->retries)
		download_retry(d);
	else
		download_abort(d);
}

/* Lets a paused transfer go on. libcurl hands over at once any bytes it
 * kept; if that fails, libcurl reports it here only. */
static void
download_unpause(struct download *d)
{
	CURLcode rc;

	d->paused = false;
	rc = curl_easy_pause(d->easy, CURLPAUSE_CONT);
	if (rc != CURLE_OK && d->in_multi) {
		curl_loop_remove(d->easy);
		download_transfer_done(d->easy, rc, d);
	}
}

static void
download_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	download_transfer_begin(arg);
}

/* Starts an attempt: from byte HAVE when we have some. */
static void
download_transfer_begin(struct download *d)
{
	char range[32];

	d->phase = DL_TRANSFER;
	d->response_seen = false;
	d->have_all = false;
	d->skip = 0;
	d->status = 0;
	d->range_start = d->range_total = -1;
	d->errbuf[0] = '\0';
	if (d->easy == NULL && download_easy_setup(d) < 0) {
		download_abort(d);
		return;
	}
	snprintf(range, sizeof range, "%llu-", (unsigned long long)d->have);
	curl_easy_setopt(d->easy, CURLOPT_RANGE, d->have > 0 ? range : NULL);
	if (curl_loop_add(d->easy, download_transfer_done, d) < 0) {
		download_record(d, JOBERR_INTERNAL, "cannot start the transfer");
		download_abort(d);
		return;
	}
	d->in_multi = true;
}

/* ---- The file ----------------------------------------------------------- */

/* Bytes reached the file: go on if the transfer waited, stop on an
 * error. */
static void
download_drained(void *arg, int err)
{
	struct download *d = arg;

	if (d->phase != DL_TRANSFER && d->phase != DL_RETRY_WAIT)
		return;
	if (err != 0) {
		download_record_errno(d, err, download_file_path(d->file));
		download_abort(d);
	} else if (d->paused && d->in_multi && !download_file_full(d->file)) {
		download_unpause(d);
	}
}

static void
download_opened(void *arg, int err)
{
	struct download *d = arg;

	if (err != 0) {
		download_record_errno(d, err, download_file_path(d->file));
		download_abort(d);
		return;
	}
	d->have = download_file_resumed(d->file);
	if (d->max_bytes >= 0 && d->have > (uint64_t)d->max_bytes) {
		download_record(d, JOBERR_TOO_LARGE,
				"the part has %llu bytes, more than %lld",
				(unsigned long long)d->have,
				(long long)d->max_bytes);
		download_abort(d);
		return;
	}
	download_transfer_begin(d);
}

/* Fills SPEC's default directory (see the top of the file). */
static void
download_default_dir(struct download_file_spec *spec, char **alloc)
{
	const char *home = getenv("HOME");

	*alloc = NULL;
	if (geteuid() == 0) {
		spec->default_dir = daemon_opts.download_dir ? daemon_opts.download_dir
							     : DL_ROOT_DIR;
		spec->per_user = true;
	} else if (daemon_opts.download_dir != NULL) {
		spec->default_dir = daemon_opts.download_dir;
	} else if (home != NULL && home[0] == '/') {
		if (asprintf(alloc, "%s/Downloads", home) < 0)
			fatal("asprintf");
		spec->default_dir = *alloc;
	}
}

static void
download_open_file(struct download *d)
{
	struct download_file_spec spec = {
		.uid = d->job->owner.uid,
		.gid = d->job->owner.gid,
		.dest = d->dest,
		.overwrite = d->overwrite,
		.resume = d->resume,
	};
	char *name = download_file_name(d->url), *dir;

	spec.name = name;
	download_default_dir(&spec, &dir);
	d->file = download_file_new(&spec, download_drained, d);
	free(name);
	free(dir);
	d->phase = DL_OPENING;
	download_file_open(d->file, download_opened);
}

/* ---- The kind ----------------------------------------------------------- */

static void
download_start(struct job *job, struct json_object *args)
{
	struct download *d = download_new(job, args);

	if (!d->stream) {
		download_open_file(d);
		return;
	}
	d->sha = EVP_MD_CTX_new();
	if (d->sha == NULL || !EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL))
		fatalx("cannot set up SHA-256");
	download_transfer_begin(d);
}

static void
download_cancel(struct job *job)
{
	struct download *d = job->priv;

	if (d == NULL || d->phase == DL_ENDING)
		return;
	/* jobs.c reports the stop's own reason. */
	download_record(d, JOBERR_CANCELLED, "cancelled");
	download_abort(d);
}

/* The watchers drained: a paused stream goes on. */
static void
download_resume(struct job *job)
{
	struct download *d = job->priv;

	if (d == NULL || d->file != NULL || !d->paused || !d->in_multi)
		return;
	download_unpause(d);
}

const struct job_kind kind_download = {
	.name = "download",
	.validate = download_validate,
	.start = download_start,
	.cancel = download_cancel,
	.resume = download_resume,
	.default_max_running = 16,
};
