/* download's transfer: libcurl's multi interface on the event loop
 * (curl-loop.c), one attempt after another until one succeeds, fails for
 * good, or the retries run out; the received bytes go to the file
 * (file.c) or to the watchers, and the transfer pauses while they
 * have nowhere to go. libcurl callbacks only record a failure and return
 * an error to libcurl; the transfer's done callback, outside libcurl, acts
 * on it: the events' succeeded(), a retry, or aborted().
 *
 * Defaults: connect timeout 30 s; a transfer that receives nothing for
 * --download-stall-timeout seconds (60) fails with network-error (libcurl
 * LOW_SPEED_LIMIT 1 byte/s over LOW_SPEED_TIME; its speed is averaged
 * over up to 5 s, so a stall after a burst is noticed up to 5 s later);
 * at most 10 redirects; a 512 KiB receive buffer, down to 128 KiB
 * when others run (less memory held by many paused transfers).
 *
 * job.pause pauses receiving as backpressure does (the connection stays
 * open while the server keeps it; libcurl makes no speed check of a
 * paused transfer, so the stall timeout does not count the pause), and
 * an attempt due meanwhile (the file opened, a retry) waits to begin.
 * The two holds combine: a transfer receives again only when neither
 * holds it, each release asking for the other (the job's paused flag,
 * or download_transfer_blocked()).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "../../log.h"
#include "../../metrics.h"
#include "../../msgids.h"
#include "../../xmalloc.h"
#include "curl-loop.h"
#include "download.h"

#define DL_MAX_REDIRECTS 10
/* libcurl's receive buffer: DL_BUFFER_MAX for a transfer alone, less
 * with others running, down to DL_BUFFER_MIN (see download_transfer_begin). */
#define DL_BUFFER_MAX (512 * 1024)
#define DL_BUFFER_MIN (128 * 1024)
#define DL_CONNECT_TIMEOUT_S 30

/* ---- libcurl callbacks: they record, pause, never end a transfer ------- */

/* Reads a Content-Range value: "bytes A-B/T", or the star form of a 416
 * that gives only the total T. */
void
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
download_transfer_content_range(struct download *d, const char *v, size_t len)
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

/* Copies header value V (LEN bytes, spaces and CRLF around it dropped)
 * into OUT of SIZE; "" when it does not fit or holds a byte that is not
 * printable ASCII (it goes back into a request header and a JSON note). */
static void
download_transfer_header_value(char *out, size_t size, const char *v,
			       size_t len)
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

/* True when the header line BUF of LEN bytes is NAME (with its colon). */
static bool
download_transfer_header_is(const char *buf, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && strncasecmp(buf, name, n) == 0;
}

static size_t
download_transfer_header_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;

	if (len >= 5 && strncasecmp(buf, "HTTP/", 5) == 0) {
		d->range_start = -1; /* a new response, after a redirect */
		d->range_total = -1;
		d->resp_etag[0] = d->resp_modified[0] = d->resp_date[0] = '\0';
	} else if (download_transfer_header_is(buf, len, "Content-Range:")) {
		download_transfer_content_range(d, buf + 14, len - 14);
	} else if (download_transfer_header_is(buf, len, "ETag:")) {
		download_transfer_header_value(d->resp_etag,
					       sizeof d->resp_etag, buf + 5,
					       len - 5);
		if (d->resp_etag[0] != '"') /* weak (W/"..."): not for ranges */
			d->resp_etag[0] = '\0';
	} else if (download_transfer_header_is(buf, len, "Last-Modified:")) {
		download_transfer_header_value(d->resp_modified,
					       sizeof d->resp_modified,
					       buf + 14, len - 14);
	} else if (download_transfer_header_is(buf, len, "Date:")) {
		download_transfer_header_value(d->resp_date,
					       sizeof d->resp_date, buf + 5,
					       len - 5);
	}
	return len;
}

/* The response's validator for If-Range, or NULL: its strong ETag, else
 * a Last-Modified that is strong (RFC 9110 8.8.2.2: at least a second
 * before the response's Date). */
static const char *
download_transfer_validator(const struct download *d)
{
	time_t modified, date;

	if (d->resp_etag[0] != '\0')
		return d->resp_etag;
	if (d->resp_modified[0] == '\0' || d->resp_date[0] == '\0')
		return NULL;
	modified = curl_getdate(d->resp_modified, NULL);
	date = curl_getdate(d->resp_date, NULL);
	if (modified == -1 || date == -1 || date - modified < 1)
		return NULL;
	return d->resp_modified;
}

/* Whether this response carries validator V, the one we asked with. */
static bool
download_transfer_same(const struct download *d, const char *v)
{
	const char *mine = download_transfer_validator(d);

	return mine != NULL && strcmp(mine, v) == 0;
}

/* The file changed on the server since the bytes we have: a file starts
 * over from its first byte (the part is emptied before anything of the
 * new body is written); a stream, whose bytes are gone, fails. */
static int
download_transfer_from_zero(struct download *d, int64_t length)
{
	if (d->file == NULL) {
		download_record(d, JOBERR_NETWORK_ERROR,
				"the file changed on the server after %llu "
				"bytes were sent",
				(unsigned long long)d->have);
		return -1;
	}
	job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RESTARTED,
		"the file changed on the server; starting again from byte 0");
	download_file_truncate(d->file);
	d->have = 0;
	d->skip = 0;
	d->total = length;
	return 0;
}

/* Checks an HTTP response to a request for bytes HAVE- of the file,
 * made with If-Range when we know the validator of what we have. */
static int
download_transfer_check_range(struct download *d, int64_t length)
{
	const char *v = download_transfer_validator(d);

	if ((d->status == 206 || d->status == 416) && d->validator != NULL &&
	    v != NULL && strcmp(v, d->validator) != 0) {
		/* A server that honours Range but not If-Range: these bytes
		 * are not the rest of ours. Ask again for the whole body. */
		download_record(d, JOBERR_NETWORK_ERROR,
				"the server sent a range of another version");
		if (download_transfer_from_zero(d, -1) == 0)
			d->again = true;
		return -1;
	}
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
	/* The whole file again. After If-Range that means another version
	 * unless it still has our validator (the server ignores Range). */
	if (d->validator != NULL && !download_transfer_same(d, d->validator))
		return download_transfer_from_zero(d, length);
	/* The same file: drop what we have. */
	if (length >= 0 && length < (int64_t)d->have) {
		download_record(d, JOBERR_NETWORK_ERROR,
				"the file is now shorter than the part we have");
		return -1;
	}
	d->skip = d->have;
	d->total = length;
	return 0;
}

/* Remembers the validator of a body received from its first byte, and
 * the note a later attempt needs to continue it. */
static void
download_transfer_remember(struct download *d)
{
	const char *v = download_transfer_validator(d);

	if (d->have == 0) {
		free(d->validator);
		d->validator = v != NULL ? xstrdup(v) : NULL;
	}
	d->events->validated(d, -1);
}

/* Looks at the response once its body starts (or it ended without one). */
static int
download_transfer_response(struct download *d)
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
		if (download_transfer_check_range(d, length) < 0)
			return -1;
	} else {
		d->total = length >= 0 ? (int64_t)d->have + length : -1;
	}
	if (d->args.max_bytes >= 0 && d->total > d->args.max_bytes) {
		download_record(d, JOBERR_TOO_LARGE, "%lld bytes, more than %lld",
				(long long)d->total,
				(long long)d->args.max_bytes);
		return -1;
	}
	if (http)
		download_transfer_remember(d);
	return 0;
}

/* True when the bytes have nowhere to go for now. */
static bool
download_transfer_blocked(struct download *d)
{
	if (d->file != NULL)
		return download_file_full(d->file);
	return job_output_blocked(d->job);
}

static void
download_transfer_deliver(struct download *d, const char *p, size_t n)
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
 * it over when download_transfer_unpause() lets the transfer go on. */
static void
download_transfer_pause(struct download *d)
{
	job_log(d->job, LOG_DEBUG, MSGID_JOB, "%s is behind: transfer paused",
		d->file != NULL ? "the disk" : "a watcher");
	d->paused = true;
	curl_easy_pause(d->easy, CURLPAUSE_RECV);
}

static size_t
download_transfer_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct download *d = arg;
	size_t len = size * nmemb, n = len;

	if (d->fail_code != NULL ||
	    (!d->response_seen && download_transfer_response(d) < 0))
		return CURL_WRITEFUNC_ERROR;
	if (d->have_all)
		return len; /* the body of a 416 */
	metrics_download_bytes(len);
	if (d->skip > 0) {
		size_t k = d->skip < n ? (size_t)d->skip : n;
		d->skip -= k;
		ptr += k;
		n -= k;
	}
	if (d->args.max_bytes >= 0 &&
	    d->have + n > (uint64_t)d->args.max_bytes) {
		download_record(d, JOBERR_TOO_LARGE, "more than %lld bytes",
				(long long)d->args.max_bytes);
		return CURL_WRITEFUNC_ERROR;
	}
	if (n > 0)
		download_transfer_deliver(d, ptr, n);
	if (!d->paused && download_transfer_blocked(d))
		download_transfer_pause(d);
	return len;
}

/* ---- The transfer ------------------------------------------------------- */

/* --allow-scheme's list for CURLOPT_PROTOCOLS_STR, less file and the names
 * this libcurl does not know (an unknown name would fail the option). */
static char *
download_transfer_protocols(void)
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
download_transfer_easy(struct download *d)
{
	char *protos = download_transfer_protocols();
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
	curl_easy_setopt(e, CURLOPT_URL, d->args.url);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)DL_MAX_REDIRECTS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, download_transfer_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION,
			 download_transfer_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, d);
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
download_transfer_transient(CURLcode rc)
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

/* job.resume, one turn of the loop later (an unpause may end the job,
 * which must not happen inside the kind's pause hook): an attempt held
 * back begins; a paused transfer receives again unless its bytes still
 * have nowhere to go, whose release then lets it go on. */
static void
download_transfer_resume_cb(evutil_socket_t fd UNUSED, short what UNUSED,
			    void *arg)
{
	struct download *d = arg;

	if (d->job->paused || d->phase != DL_TRANSFER)
		return;
	if (d->begin_held) {
		d->begin_held = false;
		download_transfer_begin(d);
	} else if (d->paused && d->in_multi && !download_transfer_blocked(d)) {
		download_transfer_unpause(d);
	}
}

void
download_transfer_pause_job(struct download *d, bool paused)
{
	if (!paused) {
		event_active(d->resume_ev, EV_TIMEOUT, 1);
		return;
	}
	event_del(d->resume_ev);
	if (d->in_multi && !d->paused) {
		job_log(d->job, LOG_DEBUG, MSGID_JOB, "paused: transfer paused");
		d->paused = true;
		curl_easy_pause(d->easy, CURLPAUSE_RECV);
	}
}

/* Waits 1 s, 2 s, 4 s ... before the next attempt. */
static void
download_transfer_retry(struct download *d)
{
	struct timeval tv = {1L << d->attempt, 0};

	d->attempt++;
	job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RETRY, "%s; retry %d of %d in %ld s",
		d->fail_msg, d->attempt, d->args.retries, (long)tv.tv_sec);
	d->fail_code = NULL;
	d->phase = DL_RETRY_WAIT;
	evtimer_add(d->retry_ev, &tv);
}

/* libcurl ended an attempt: succeed, try again, or give up. */
static void
download_transfer_done(CURL *easy UNUSED, CURLcode rc, void *arg)
{
	struct download *d = arg;

	d->in_multi = false;
	d->paused = false;
	if (rc == CURL_LOOP_DROPPED)
		return; /* the loop is going away: the job's free hook or
			 * download_free() cleans up */
	if (d->fail_code == NULL && rc == CURLE_OK && !d->response_seen)
		download_transfer_response(d); /* a response without a body */
	if (d->again) {
		/* Asked for the whole body again: not a retry. */
		d->again = false;
		d->fail_code = NULL;
		download_transfer_begin(d);
		return;
	}
	if (d->fail_code == NULL && rc != CURLE_OK) {
		download_record(d, JOBERR_NETWORK_ERROR, "%s",
				d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc));
		d->fail_retryable = download_transfer_transient(rc);
	}
	if (d->fail_code == NULL)
		d->events->succeeded(d);
	else if (d->fail_retryable && d->attempt < d->args.retries)
		download_transfer_retry(d);
	else
		d->events->aborted(d);
}

/* libcurl hands over at once any bytes it kept; if that fails, libcurl
 * reports it here only. */
void
download_transfer_unpause(struct download *d)
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
download_transfer_retry_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	download_transfer_begin(arg);
}

void
download_transfer_init(struct download *d)
{
	d->retry_ev = evtimer_new(daemon_base, download_transfer_retry_cb, d);
	d->resume_ev = evtimer_new(daemon_base, download_transfer_resume_cb, d);
}

void
download_transfer_begin(struct download *d)
{
	char range[32];

	d->phase = DL_TRANSFER;
	if (d->job->paused) {
		/* download_transfer_resume_cb() begins it. */
		d->begin_held = true;
		return;
	}
	d->response_seen = false;
	d->have_all = false;
	d->skip = 0;
	d->status = 0;
	d->range_start = d->range_total = -1;
	d->errbuf[0] = '\0';
	if (d->easy == NULL && download_transfer_easy(d) < 0) {
		d->events->aborted(d);
		return;
	}
	/* Every paused transfer holds a full buffer, and libcurl a copy of
	 * what it had not delivered: with many at once, smaller buffers. */
	long bufsize = DL_BUFFER_MAX / ((long)curl_loop_running() + 1);
	if (bufsize < DL_BUFFER_MIN)
		bufsize = DL_BUFFER_MIN;
	curl_easy_setopt(d->easy, CURLOPT_BUFFERSIZE, bufsize);
	snprintf(range, sizeof range, "%llu-", (unsigned long long)d->have);
	curl_easy_setopt(d->easy, CURLOPT_RANGE, d->have > 0 ? range : NULL);
	/* The rest only if it is still the same file; else the whole. */
	curl_slist_free_all(d->headers);
	d->headers = NULL;
	if (d->have > 0 && d->validator != NULL) {
		char *h;
		if (asprintf(&h, "If-Range: %s", d->validator) < 0)
			fatal("asprintf");
		d->headers = curl_slist_append(NULL, h);
		free(h);
		if (d->headers == NULL)
			fatalx("curl_slist_append");
	}
	curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
	if (curl_loop_add(d->easy, download_transfer_done, d) < 0) {
		download_record(d, JOBERR_INTERNAL, "cannot start the transfer");
		d->events->aborted(d);
		return;
	}
	d->in_multi = true;
}

void
download_transfer_stop(struct download *d)
{
	if (d->in_multi) {
		curl_loop_remove(d->easy);
		d->in_multi = false;
	}
	evtimer_del(d->retry_ev);
	event_del(d->resume_ev);
	d->begin_held = false;
}

const char *
download_transfer_url(struct download *d)
{
	char *url = NULL;

	curl_easy_getinfo(d->easy, CURLINFO_EFFECTIVE_URL, &url);
	return url ? url : d->args.url;
}

void
download_transfer_free(struct download *d)
{
	if (d->in_multi)
		curl_loop_remove(d->easy);
	if (d->easy != NULL)
		curl_easy_cleanup(d->easy);
	curl_slist_free_all(d->headers);
	event_free(d->retry_ev);
	event_free(d->resume_ev);
}
