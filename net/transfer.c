/* Downloads in asyncd-net (see transfer.h): libcurl's side of a download,
 * moved out of the root daemon so that the bytes of arbitrary servers
 * are parsed where nothing can be gained (see sandbox.c).
 *
 * libcurl callbacks only record a failure and return an error to libcurl;
 * the transfer's done callback, outside libcurl, acts on it: a retry, or
 * the end. The write callback writes a file's bytes at once (a write
 * error ends the transfer there); the end waits for the hash to catch up
 * (sink.c), then NET_DONE tells asyncd, which commits or discards the
 * file as the user.
 *
 * Defaults: connect timeout 30 s; a transfer that receives nothing for
 * the stall timeout (asyncd's --download-stall-timeout) fails with
 * network-error (libcurl LOW_SPEED_LIMIT 1 byte/s over LOW_SPEED_TIME;
 * its speed is averaged over up to 5 s, so a stall after a burst is
 * noticed up to 5 s later); at most 10 redirects; a 512 KiB receive
 * buffer, down to 128 KiB when others run.
 *
 * Receiving pauses while the bytes have nowhere to go (the file's hash
 * is far behind, or a stream's window is used up) and while asyncd holds the
 * job (job.pause); it goes on, one turn of the loop later, when neither
 * holds it. libcurl makes no speed check of a paused transfer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "../daemon/log.h"
#include "../daemon/xmalloc.h"
#include "../proto/proto.h"
#include "curl-loop.h"
#include "net.h"
#include "sink.h"
#include "transfer.h"

#define DL_MAX_REDIRECTS 10
#define DL_BUFFER_MAX (512 * 1024)
#define DL_BUFFER_MIN (128 * 1024)
#define DL_CONNECT_TIMEOUT_S 30
/* NET_PROGRESS at most this often per transfer; asyncd has its own
 * limit for what reaches watchers. */
#define DL_PROGRESS_MS 100

struct transfer {
	uint64_t id;
	LIST_ENTRY(transfer) link;
	char *url;
	char protocols[sizeof ((struct net_start *)0)->protocols];
	long stall_timeout;
	int64_t max_bytes;
	int retries, attempt;
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	bool in_multi;   /* added to the multi handle */
	bool paused;     /* receiving stopped (curl_easy_pause) */
	bool held;       /* job.pause */
	bool begin_held; /* an attempt waits for the hold to end */
	struct event *retry_ev;
	struct event *resume_ev; /* receiving may go on: next turn */
	/* The response of this attempt. */
	bool response_seen;
	long status;
	int64_t range_start, range_total; /* its Content-Range, or -1 */
	uint64_t skip;     /* leading bytes to drop: we have them already */
	bool have_all;     /* a 416 saying we have the whole file */
	bool again;        /* start a new attempt at once, from byte 0 */
	char resp_etag[NET_VALIDATOR_MAX + 1]; /* strong ETag, or "" */
	char resp_modified[64];
	char resp_date[64];
	/* What we have. */
	uint64_t have;
	char *validator; /* of the body we have (If-Range), or NULL */
	struct curl_slist *headers;
	int64_t total; /* the whole size when known, else -1 */
	/* The failure to end with; the first one recorded wins. */
	const char *fail_code;
	char fail_msg[300];
	long fail_status;
	int fail_errno;
	bool fail_retryable;
	/* Where the bytes go. */
	struct sink *sink; /* the file; NULL for a stream */
	EVP_MD_CTX *sha;   /* a stream's hash (a file's is the sink's) */
	uint64_t unacked;  /* a stream's bytes asyncd has not taken yet */
	bool ending;       /* waiting for the sink, then NET_DONE */
	long long progress_ms;
};

static LIST_HEAD(, transfer) transfers = LIST_HEAD_INITIALIZER(transfers);

static void transfer_begin(struct transfer *t);
static void transfer_end(struct transfer *t);

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct transfer *
transfer_find(uint64_t id)
{
	struct transfer *t;

	LIST_FOREACH(t, &transfers, link)
		if (t->id == id)
			return t;
	return NULL;
}

static void
transfer_head(struct net_head *h, uint32_t type, const struct transfer *t)
{
	*h = (struct net_head){.type = type, .id = t->id};
}

/* A line about the job, in asyncd's log. */
static void
transfer_log(const struct transfer *t, enum net_log_kind kind,
	     const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
transfer_log(const struct transfer *t, enum net_log_kind kind,
	     const char *fmt, ...)
{
	struct net_log m;
	va_list ap;

	memset(&m, 0, sizeof m);
	transfer_head(&m.h, NET_LOG, t);
	m.kind = kind;
	va_start(ap, fmt);
	vsnprintf(m.text, sizeof m.text, fmt, ap);
	va_end(ap);
	net_send(&m, sizeof m);
}

static void
transfer_record(struct transfer *t, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
transfer_record(struct transfer *t, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (t->fail_code != NULL)
		return;
	t->fail_code = code;
	t->fail_retryable = false;
	va_start(ap, fmt);
	vsnprintf(t->fail_msg, sizeof t->fail_msg, fmt, ap);
	va_end(ap);
}

static void
transfer_progress(struct transfer *t, bool force)
{
	struct net_progress m;
	long long now = now_ms();

	if (!force && now - t->progress_ms < DL_PROGRESS_MS)
		return;
	t->progress_ms = now;
	memset(&m, 0, sizeof m);
	transfer_head(&m.h, NET_PROGRESS, t);
	m.have = t->have;
	m.total = t->total;
	net_send(&m, sizeof m);
}

/* ---- Headers ------------------------------------------------------------ */

/* Reads a Content-Range value: "bytes A-B/T", or the star form of a 416
 * that gives only the total T. */
static void
transfer_content_range(struct transfer *t, const char *v, size_t len)
{
	char buf[128];
	long long a, b, total;

	snprintf(buf, sizeof buf, "%.*s", (int)(len < 127 ? len : 127), v);
	if (sscanf(buf, " bytes %lld-%lld/%lld", &a, &b, &total) == 3 &&
	    a >= 0) {
		t->range_start = a;
		t->range_total = total;
	} else if (sscanf(buf, " bytes */%lld", &total) == 1) {
		t->range_total = total;
	}
}

/* Copies header value V (LEN bytes, spaces and CRLF around it dropped)
 * into OUT of SIZE; "" when it does not fit or holds a byte that is not
 * printable ASCII (it goes back into a request header and a JSON note). */
static void
transfer_header_value(char *out, size_t size, const char *v, size_t len)
{
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
			   v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	out[0] = '\0';
	if (len == 0 || len >= size)
		return;
	for (size_t i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return;
	memcpy(out, v, len);
	out[len] = '\0';
}

static bool
transfer_header_is(const char *buf, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(buf, name, n) == 0;
}

static size_t
transfer_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;

	if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
		t->range_start = -1; /* a new response, after a redirect */
		t->range_total = -1;
		t->resp_etag[0] = t->resp_modified[0] = t->resp_date[0] = '\0';
	} else if (transfer_header_is(buf, len, "Content-Range:")) {
		transfer_content_range(t, buf + 14, len - 14);
	} else if (transfer_header_is(buf, len, "ETag:")) {
		transfer_header_value(t->resp_etag, sizeof t->resp_etag,
				      buf + 5, len - 5);
		if (t->resp_etag[0] != '"') /* weak (W/"..."): not for ranges */
			t->resp_etag[0] = '\0';
	} else if (transfer_header_is(buf, len, "Last-Modified:")) {
		transfer_header_value(t->resp_modified, sizeof t->resp_modified,
				      buf + 14, len - 14);
	} else if (transfer_header_is(buf, len, "Date:")) {
		transfer_header_value(t->resp_date, sizeof t->resp_date,
				      buf + 5, len - 5);
	}
	return len;
}

/* ---- The response ------------------------------------------------------- */

/* The response's validator for If-Range, or NULL: its strong ETag, else
 * a Last-Modified that is strong (RFC 9110 8.8.2.2: at least a second
 * before the response's Date). */
static const char *
transfer_validator(const struct transfer *t)
{
	time_t modified, date;

	if (t->resp_etag[0] != '\0')
		return t->resp_etag;
	if (t->resp_modified[0] == '\0' || t->resp_date[0] == '\0')
		return NULL;
	modified = curl_getdate(t->resp_modified, NULL);
	date = curl_getdate(t->resp_date, NULL);
	if (modified == -1 || date == -1 || date - modified < 1)
		return NULL;
	return t->resp_modified;
}

static bool
transfer_same(const struct transfer *t, const char *v)
{
	const char *mine = transfer_validator(t);

	return mine != NULL && strcmp(mine, v) == 0;
}

/* The file changed on the server since the bytes we have: a file starts
 * over from its first byte (the file is emptied before anything of the
 * new body is written); a stream, whose bytes are gone, fails. */
static int
transfer_from_zero(struct transfer *t, int64_t length)
{
	if (t->sink == NULL) {
		transfer_record(t, JOBERR_NETWORK_ERROR,
				"the file changed on the server after %llu "
				"bytes were sent",
				(unsigned long long)t->have);
		return -1;
	}
	transfer_log(t, NET_LOG_RESTARTED,
		     "the file changed on the server; starting again from "
		     "byte 0");
	sink_truncate(t->sink);
	t->have = 0;
	t->skip = 0;
	t->total = length;
	return 0;
}

/* Checks an HTTP response to a request for bytes HAVE- of the file,
 * made with If-Range when we know the validator of what we have. */
static int
transfer_check_range(struct transfer *t, int64_t length)
{
	const char *v = transfer_validator(t);

	if ((t->status == 206 || t->status == 416) && t->validator != NULL &&
	    v != NULL && strcmp(v, t->validator) != 0) {
		/* A server that honours Range but not If-Range: these bytes
		 * are not the rest of ours. Ask again for the whole body. */
		transfer_record(t, JOBERR_NETWORK_ERROR,
				"the server sent a range of another version");
		if (transfer_from_zero(t, -1) == 0)
			t->again = true;
		return -1;
	}
	if (t->status == 416 && t->range_total == (int64_t)t->have) {
		t->have_all = true;
		t->total = (int64_t)t->have;
		return 0;
	}
	if (t->status == 206) {
		if (t->range_start != (int64_t)t->have) {
			transfer_record(t, JOBERR_NETWORK_ERROR,
					"asked for bytes from %llu, got from %lld",
					(unsigned long long)t->have,
					(long long)t->range_start);
			return -1;
		}
		t->total = t->range_total >= 0 ? t->range_total
			   : length >= 0	  ? (int64_t)t->have + length
						  : -1;
		return 0;
	}
	/* The whole file again. After If-Range that means another version
	 * unless it still has our validator (the server ignores Range). */
	if (t->validator != NULL && !transfer_same(t, t->validator))
		return transfer_from_zero(t, length);
	if (length >= 0 && length < (int64_t)t->have) {
		transfer_record(t, JOBERR_NETWORK_ERROR,
				"the file is now shorter than the part we have");
		return -1;
	}
	t->skip = t->have; /* the same file: drop what we have */
	t->total = length;
	return 0;
}

/* Remembers the validator of a body received from its first byte, and
 * tells asyncd, which keeps it for a later attempt. */
static void
transfer_remember(struct transfer *t)
{
	const char *v = transfer_validator(t);
	struct net_response m;

	if (t->have == 0) {
		free(t->validator);
		t->validator = v != NULL ? xstrdup(v) : NULL;
	}
	memset(&m, 0, sizeof m);
	transfer_head(&m.h, NET_RESPONSE, t);
	m.total = t->total;
	wire_strcpy(m.validator, sizeof m.validator, t->validator);
	net_send(&m, sizeof m);
}

/* Looks at the response once its body starts (or it ended without one). */
static int
transfer_response(struct transfer *t)
{
	curl_off_t length = -1;
	char *scheme = NULL;
	bool http;

	t->response_seen = true;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
	curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	curl_easy_getinfo(t->easy, CURLINFO_SCHEME, &scheme);
	http = scheme != NULL && strncasecmp(scheme, "http", 4) == 0;
	if (http && t->status >= 400 &&
	    !(t->status == 416 && t->have > 0 &&
	      t->range_total == (int64_t)t->have)) {
		transfer_record(t, JOBERR_HTTP_ERROR, "HTTP status %ld",
				t->status);
		t->fail_status = t->status;
		t->fail_retryable = t->status >= 500;
		return -1;
	}
	if (http && t->have > 0) {
		if (transfer_check_range(t, length) < 0)
			return -1;
	} else {
		t->total = length >= 0 ? (int64_t)t->have + length : -1;
	}
	if (t->max_bytes >= 0 && t->total > t->max_bytes) {
		transfer_record(t, JOBERR_TOO_LARGE, "%lld bytes, more than %lld",
				(long long)t->total, (long long)t->max_bytes);
		return -1;
	}
	if (http)
		transfer_remember(t);
	return 0;
}

/* ---- The body ----------------------------------------------------------- */

/* True when the bytes have nowhere to go for now. */
static bool
transfer_blocked(struct transfer *t)
{
	if (t->sink != NULL)
		return sink_full(t->sink);
	return t->unacked >= NET_STREAM_WINDOW;
}

static void
transfer_stream(struct transfer *t, const char *p, size_t n)
{
	struct {
		struct net_head h;
		char data[NET_DATA_MAX];
	} m;

	while (n > 0) {
		size_t k = n < NET_DATA_MAX ? n : NET_DATA_MAX;
		transfer_head(&m.h, NET_DATA, t);
		memcpy(m.data, p, k);
		EVP_DigestUpdate(t->sha, p, k);
		net_send(&m, sizeof m.h + k);
		t->unacked += k;
		p += k;
		n -= k;
	}
}

static size_t
transfer_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * nmemb, n = len;
	int err;

	if (t->fail_code != NULL ||
	    (!t->response_seen && transfer_response(t) < 0))
		return CURL_WRITEFUNC_ERROR;
	if (t->have_all)
		return len; /* the body of a 416 */
	/* A stream's window is used up: libcurl keeps these bytes and hands
	 * them over again once asyncd has taken what it has. */
	if (t->sink == NULL && t->unacked > 0 &&
	    t->unacked + len - (t->skip < len ? t->skip : len) >
		    NET_STREAM_WINDOW) {
		t->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (t->skip > 0) {
		size_t k = t->skip < n ? (size_t)t->skip : n;
		t->skip -= k;
		ptr += k;
		n -= k;
	}
	if (t->max_bytes >= 0 && t->have + n > (uint64_t)t->max_bytes) {
		transfer_record(t, JOBERR_TOO_LARGE, "more than %lld bytes",
				(long long)t->max_bytes);
		return CURL_WRITEFUNC_ERROR;
	}
	if (n > 0) {
		if (t->sink == NULL) {
			transfer_stream(t, ptr, n);
		} else if ((err = sink_write(t->sink, ptr, n)) != 0) {
			transfer_record(t, JOBERR_IO_ERROR, "%s", strerror(err));
			t->fail_errno = err;
			return CURL_WRITEFUNC_ERROR;
		}
		t->have += n;
		transfer_progress(t, false);
	}
	/* Stop receiving until the bytes have somewhere to go (or the hash
	 * has caught up); libcurl keeps the rest of its buffer for when
	 * receiving goes on. */
	if (!t->paused && transfer_blocked(t)) {
		if (t->sink != NULL)
			transfer_log(t, NET_LOG_DEBUG,
				     "the hash is behind: transfer paused");
		t->paused = true;
		curl_easy_pause(t->easy, CURLPAUSE_RECV);
	}
	return len;
}

/* ---- Attempts ----------------------------------------------------------- */

/* asyncd's --allow-scheme list for CURLOPT_PROTOCOLS_STR, less file
 * and the names this libcurl does not know (an unknown name would fail
 * the option). */
static char *
transfer_protocols(const char *list)
{
	const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
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
transfer_easy(struct transfer *t)
{
	char *protos = transfer_protocols(t->protocols);
	CURL *e = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	t->easy = e;
	if (e != NULL && (rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR,
						protos)) == CURLE_OK)
		rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	free(protos);
	if (rc != CURLE_OK) {
		/* All protocols stay enabled after a failure: never go on. */
		transfer_record(t, JOBERR_INTERNAL, "libcurl: %s",
				curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)DL_MAX_REDIRECTS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, transfer_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, transfer_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)DL_CONNECT_TIMEOUT_S);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, t->stall_timeout);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "asyncd/" PACKAGE_VERSION);
	return 0;
}

/* Network failures worth another try; others (too many redirects, a
 * refused protocol, a bad certificate ...) would fail the same way. */
static bool
transfer_transient(CURLcode rc)
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
transfer_retry(struct transfer *t)
{
	struct timeval tv = {1L << t->attempt, 0};

	t->attempt++;
	transfer_log(t, NET_LOG_RETRY, "%s; retry %d of %d in %ld s",
		     t->fail_msg, t->attempt, t->retries, (long)tv.tv_sec);
	t->fail_code = NULL;
	evtimer_add(t->retry_ev, &tv);
}

/* libcurl ended an attempt: succeed, try again, or give up. */
static void
transfer_done(CURL *easy UNUSED, CURLcode rc, void *arg)
{
	struct transfer *t = arg;

	t->in_multi = false;
	t->paused = false;
	if (rc == CURL_LOOP_DROPPED)
		return; /* going away: transfer_free_all() cleans up */
	if (t->fail_code == NULL && rc == CURLE_OK && !t->response_seen)
		transfer_response(t); /* a response without a body */
	if (t->again) {
		/* Asked for the whole body again: not a retry. */
		t->again = false;
		t->fail_code = NULL;
		transfer_begin(t);
		return;
	}
	if (t->fail_code == NULL && rc != CURLE_OK) {
		transfer_record(t, JOBERR_NETWORK_ERROR, "%s",
				t->errbuf[0] ? t->errbuf
					     : curl_easy_strerror(rc));
		t->fail_retryable = transfer_transient(rc);
	}
	if (t->fail_code != NULL && t->fail_retryable &&
	    t->attempt < t->retries)
		transfer_retry(t);
	else
		transfer_end(t);
}

static void
transfer_begin(struct transfer *t)
{
	char range[32];

	if (t->held) {
		t->begin_held = true; /* the end of the hold begins it */
		return;
	}
	t->response_seen = false;
	t->have_all = false;
	t->skip = 0;
	t->status = 0;
	t->range_start = t->range_total = -1;
	t->errbuf[0] = '\0';
	if (t->easy == NULL && transfer_easy(t) < 0) {
		transfer_end(t);
		return;
	}
	/* Every paused transfer holds a full buffer, and libcurl a copy of
	 * what it had not delivered: with many at once, smaller buffers. */
	long bufsize = DL_BUFFER_MAX / ((long)curl_loop_running() + 1);
	if (bufsize < DL_BUFFER_MIN)
		bufsize = DL_BUFFER_MIN;
	curl_easy_setopt(t->easy, CURLOPT_BUFFERSIZE, bufsize);
	snprintf(range, sizeof range, "%llu-", (unsigned long long)t->have);
	curl_easy_setopt(t->easy, CURLOPT_RANGE, t->have > 0 ? range : NULL);
	/* The rest only if it is still the same file; else the whole. */
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	if (t->have > 0 && t->validator != NULL) {
		char *h;
		if (asprintf(&h, "If-Range: %s", t->validator) < 0)
			fatal("asprintf");
		t->headers = curl_slist_append(NULL, h);
		free(h);
		if (t->headers == NULL)
			fatalx("curl_slist_append");
	}
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	if (curl_loop_add(t->easy, transfer_done, t) < 0) {
		transfer_record(t, JOBERR_INTERNAL, "cannot start the transfer");
		transfer_end(t);
		return;
	}
	t->in_multi = true;
}

/* Receiving may go on, or an attempt held back begin: one turn of the
 * loop after the release, outside libcurl's callbacks. */
static void
transfer_resume_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct transfer *t = arg;
	CURLcode rc;

	if (t->held || t->ending)
		return;
	if (t->begin_held) {
		t->begin_held = false;
		transfer_begin(t);
		return;
	}
	if (!t->paused || !t->in_multi || transfer_blocked(t))
		return;
	t->paused = false;
	/* libcurl hands over at once the bytes it kept; a failure there is
	 * reported here only. */
	rc = curl_easy_pause(t->easy, CURLPAUSE_CONT);
	if (rc != CURLE_OK && t->in_multi) {
		curl_loop_remove(t->easy);
		transfer_done(t->easy, rc, t);
	}
}

static void
transfer_retry_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	transfer_begin(arg);
}

/* ---- The end ------------------------------------------------------------ */

static void
transfer_free(struct transfer *t)
{
	LIST_REMOVE(t, link);
	if (t->in_multi)
		curl_loop_remove(t->easy);
	if (t->easy != NULL)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	event_free(t->retry_ev);
	event_free(t->resume_ev);
	sink_free(t->sink);
	EVP_MD_CTX_free(t->sha);
	free(t->validator);
	free(t->url);
	free(t);
}

/* Tells asyncd how it ended, once the file has every byte, and frees T. */
static void
transfer_report(struct transfer *t, int err, const char *sha_hex)
{
	char *url = NULL, *type = NULL;
	struct net_done *m;
	size_t ulen;

	if (t->easy != NULL) {
		curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
		curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
	}
	if (url == NULL)
		url = t->url;
	ulen = strnlen(url, NET_URL_MAX);
	m = xcalloc(1, sizeof *m + ulen);
	transfer_head(&m->h, NET_DONE, t);
	if (err != 0 && t->fail_code == NULL) {
		transfer_record(t, JOBERR_IO_ERROR, "%s", strerror(err));
		t->fail_errno = err;
	}
	m->have = t->have;
	m->total = t->total;
	m->status = t->status;
	m->fail_status = t->fail_status;
	m->fail_errno = t->fail_errno;
	wire_strcpy(m->code, sizeof m->code, t->fail_code);
	wire_strcpy(m->message, sizeof m->message, t->fail_msg);
	if (t->fail_code == NULL)
		wire_strcpy(m->sha256, sizeof m->sha256, sha_hex);
	wire_strcpy(m->content_type, sizeof m->content_type, type);
	memcpy(m->url, url, ulen);
	net_send(m, sizeof *m + ulen);
	free(m);
	transfer_free(t);
}

/* The sink drained, failed or finished. */
static void
transfer_sink_wake(void *arg)
{
	struct transfer *t = arg;
	char hex[65];
	int err;

	if (t->ending) {
		if (sink_done(t->sink, &err, hex))
			transfer_report(t, err, hex);
		return;
	}
	if ((err = sink_error(t->sink)) != 0) {
		transfer_record(t, JOBERR_IO_ERROR, "%s", strerror(err));
		t->fail_errno = err;
		transfer_end(t);
		return;
	}
	event_active(t->resume_ev, EV_TIMEOUT, 1);
}

/* The transfer is over, one way or another: the file gets its last bytes
 * (dropped after a stop that keeps nothing), then asyncd hears of it. */
static void
transfer_end_keeping(struct transfer *t, bool keep)
{
	if (t->in_multi) {
		curl_loop_remove(t->easy);
		t->in_multi = false;
	}
	evtimer_del(t->retry_ev);
	event_del(t->resume_ev);
	t->ending = true;
	if (t->sink == NULL) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		char hex[65] = "";
		EVP_DigestFinal_ex(t->sha, md, &mdlen);
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		transfer_report(t, 0, hex);
		return;
	}
	transfer_progress(t, true);
	sink_finish(t->sink, !keep);
}

static void
transfer_end(struct transfer *t)
{
	transfer_end_keeping(t, true);
}

/* ---- What asyncd asks ----------------------------------------------------- */

void
transfer_start(const struct net_start *m, size_t len, int fd)
{
	struct transfer *t;
	size_t ulen = len - sizeof *m;

	if (transfer_find(m->h.id) != NULL || ulen == 0 ||
	    ulen > NET_URL_MAX || memchr(m->url, '\0', ulen) != NULL ||
	    ((m->flags & NET_START_FILE) != 0) != (fd >= 0))
		fatalx("a malformed NET_START");
	t = xcalloc(1, sizeof *t);
	t->id = m->h.id;
	t->url = xstrndup(m->url, ulen);
	wire_strcpy(t->protocols, sizeof t->protocols, m->protocols);
	t->stall_timeout = (long)m->stall_timeout_s;
	t->max_bytes = m->max_bytes;
	t->retries = (int)m->retries;
	t->have = m->have;
	t->total = -1;
	if (m->validator[0] != '\0')
		t->validator = xstrndup(m->validator, NET_VALIDATOR_MAX);
	t->held = (m->flags & NET_START_HELD) != 0;
	t->retry_ev = evtimer_new(net_base, transfer_retry_cb, t);
	t->resume_ev = evtimer_new(net_base, transfer_resume_cb, t);
	LIST_INSERT_HEAD(&transfers, t, link);
	if (fd >= 0) {
		t->sink = sink_new(fd, m->have, transfer_sink_wake, t);
		if (m->flags & NET_START_TRUNCATE)
			sink_truncate(t->sink);
	} else if (m->have > 0) {
		/* A stream's first bytes went out from another process:
		 * nothing here could hash them. asyncd never asks. */
		fatalx("a stream cannot start at byte %llu",
		       (unsigned long long)m->have);
	} else {
		t->sha = EVP_MD_CTX_new();
		if (t->sha == NULL ||
		    !EVP_DigestInit_ex(t->sha, EVP_sha256(), NULL))
			fatalx("cannot set up SHA-256");
	}
	transfer_begin(t);
}

void
transfer_hold(uint64_t id, bool held)
{
	struct transfer *t = transfer_find(id);

	if (t == NULL || t->ending)
		return;
	t->held = held;
	if (!held) {
		event_active(t->resume_ev, EV_TIMEOUT, 1);
	} else if (t->in_multi && !t->paused) {
		t->paused = true;
		curl_easy_pause(t->easy, CURLPAUSE_RECV);
	}
}

void
transfer_credit(uint64_t id, uint64_t bytes)
{
	struct transfer *t = transfer_find(id);

	if (t == NULL || t->sink != NULL)
		return;
	t->unacked = bytes < t->unacked ? t->unacked - bytes : 0;
	if (t->paused && !t->ending)
		event_active(t->resume_ev, EV_TIMEOUT, 1);
}

void
transfer_stop(uint64_t id, bool keep)
{
	struct transfer *t = transfer_find(id);

	if (t == NULL || t->ending)
		return;
	transfer_record(t, JOBERR_CANCELLED, "cancelled");
	transfer_end_keeping(t, keep);
}

void
transfer_free_all(void)
{
	struct transfer *t;

	while ((t = LIST_FIRST(&transfers)) != NULL)
		transfer_free(t);
}
