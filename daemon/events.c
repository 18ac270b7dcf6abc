/* Job events and job objects on the wire, written by hand into the output
 * buffer. Strings are escaped by events_write_json_string(); results and
 * errors, the only free-form values, are kept as JSON text by the job. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <json-c/json.h>

#include "../proto/base64.h"
#include "../proto/utf8.h"
#include "events.h"
#include "xmalloc.h"

static const char hex[] = "0123456789abcdef";

const char *
events_stream_name(enum job_stream stream)
{
	static const char *const names[STREAM_COUNT] = {
		[STREAM_DATA] = "data",
		[STREAM_STDOUT] = "stdout",
		[STREAM_STDERR] = "stderr",
	};

	return names[stream];
}

/* A line is assembled in a small buffer and added in one call: printf
 * into an evbuffer costs more than all the rest of an event. */
struct line {
	char buf[512];
	size_t len;
};

static void
line_str(struct line *l, const char *s)
{
	size_t n = strlen(s);

	if (n > sizeof l->buf - l->len)
		n = sizeof l->buf - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
line_u64(struct line *l, uint64_t v)
{
	char digits[24];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0 && l->len < sizeof l->buf)
		l->buf[l->len++] = digits[--n];
}

static void
line_i64(struct line *l, int64_t v)
{
	if (v < 0) {
		line_str(l, "-");
		line_u64(l, (uint64_t)0 - (uint64_t)v);
	} else {
		line_u64(l, (uint64_t)v);
	}
}

static void
line_flush(struct line *l, struct evbuffer *out)
{
	evbuffer_add(out, l->buf, l->len);
	l->len = 0;
}

/* Bytes C takes escaped in a JSON string; 1 for most. */
static const unsigned char escaped_len[256] = {
	6, 6, 6, 6, 6, 6, 6, 6, 2, 2, 2, 6, 2, 2, 6, 6,
	6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static char *
escape_one(char *p, unsigned char c)
{
	*p++ = '\\';
	switch (c) {
	case '"': case '\\': *p++ = (char)c; break;
	case '\n': *p++ = 'n'; break;
	case '\r': *p++ = 'r'; break;
	case '\t': *p++ = 't'; break;
	case '\b': *p++ = 'b'; break;
	case '\f': *p++ = 'f'; break;
	default:
		*p++ = 'u'; *p++ = '0'; *p++ = '0';
		*p++ = hex[c >> 4]; *p++ = hex[c & 0xf];
	}
	return p;
}

/* Whether none of the 8 bytes in W needs escaping: no control
 * character, '"' or '\\'. */
static inline bool
word_plain(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, high = ones << 7;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
		 ((b - ones) & ~b)) & high) == 0;
}

/* Length of the run at S that needs no escaping. */
static size_t
plain_run(const unsigned char *s, size_t len)
{
	size_t i = 0;
	uint64_t w;

	while (i + 8 <= len && (memcpy(&w, s + i, 8), word_plain(w)))
		i += 8;
	while (i < len && escaped_len[s[i]] == 1)
		i++;
	return i;
}

size_t
events_json_string_size(const unsigned char *s, size_t len)
{
	size_t need = 2;

	for (size_t i = 0; i < len; i++) {
		size_t run = plain_run(s + i, len - i);
		need += run;
		i += run;
		if (i < len)
			need += escaped_len[s[i]];
	}
	return need;
}

char *
events_json_string_put(char *p, const unsigned char *s, size_t len,
		       size_t size)
{
	*p++ = '"';
	if (size == len + 2) {
		memcpy(p, s, len);
		p += len;
	} else {
		for (size_t i = 0; i < len; i++) {
			size_t run = i + plain_run(s + i, len - i);
			memcpy(p, s + i, run - i);
			p += run - i;
			if (run < len)
				p = escape_one(p, s[run]);
			i = run;
		}
	}
	*p++ = '"';
	return p;
}

void
events_write_json_string(struct evbuffer *out, const unsigned char *s,
			 size_t len)
{
	struct evbuffer_iovec vec;
	/* The exact size: reserving the worst case (6 bytes a byte) makes
	 * every 64 KiB chunk allocate a 384 KiB chain. */
	size_t need = events_json_string_size(s, len);

	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &vec, 1) < 1)
		return;
	char *end = events_json_string_put(vec.iov_base, s, len, need);
	vec.iov_len = (size_t)(end - (char *)vec.iov_base);
	evbuffer_commit_space(out, &vec, 1);
}

static void
write_base64(struct evbuffer *out, const unsigned char *raw, size_t len)
{
	struct evbuffer_iovec vec;
	size_t n = base64_encoded_len(len);

	if (evbuffer_reserve_space(out, (ev_ssize_t)n + 2, &vec, 1) < 1)
		return;
	char *p = vec.iov_base;
	*p++ = '"';
	base64_encode(raw, len, p);
	p[n] = '"';
	vec.iov_len = n + 2;
	evbuffer_commit_space(out, &vec, 1);
}

/* Writes JSON text kept by a job (a result or an error), or null. */
static void
write_json_text(struct evbuffer *out, const char *text)
{
	if (text == NULL)
		evbuffer_add(out, "null", 4);
	else
		evbuffer_add(out, text, strlen(text));
}

/* Adds a time as an RFC 3339 string, or null when MS is 0. The date and
 * time to the second are cached: jobs come in bursts. */
static void
line_time(struct line *l, long long ms)
{
	static long long cached_sec = -1;
	static char cached[32];
	int frac = (int)(ms % 1000);

	if (ms == 0) {
		line_str(l, "null");
		return;
	}
	if (ms / 1000 != cached_sec) {
		proto_format_time(ms, cached);
		cached[19] = '\0'; /* "YYYY-MM-DDTHH:MM:SS" */
		cached_sec = ms / 1000;
	}
	char tail[8] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
			(char)('0' + frac % 10), 'Z', '"', '\0'};
	line_str(l, "\"");
	line_str(l, cached);
	line_str(l, tail);
}

static void
write_string_or_null(struct evbuffer *out, const char *s)
{
	if (s == NULL)
		evbuffer_add(out, "null", 4);
	else
		events_write_json_string(out, (const unsigned char *)s, strlen(s));
}

void
events_write_job(struct evbuffer *out, const struct job *job)
{
	struct line l = {.len = 0};

	line_str(&l, "{\"id\":");
	line_u64(&l, job->id);
	line_str(&l, ",\"kind\":\"");
	line_str(&l, job->kind->name);
	line_str(&l, "\",\"state\":\"");
	line_str(&l, proto_state_name(job->state));
	line_str(&l, "\",\"label\":");
	line_flush(&l, out);
	write_string_or_null(out, job->label);
	line_str(&l, ",\"owner\":");
	line_u64(&l, job->owner.uid);
	line_str(&l, ",\"after\":[");
	for (unsigned i = 0; i < job->nafter; i++) {
		if (i > 0)
			line_str(&l, ",");
		line_u64(&l, job->after[i]);
		if (l.len > sizeof l.buf - 32)
			line_flush(&l, out);
	}
	line_str(&l, "],\"created\":");
	line_time(&l, job->created_ms);
	line_str(&l, ",\"started\":");
	line_time(&l, job->started_ms);
	line_str(&l, ",\"finished\":");
	line_time(&l, job->finished_ms);
	line_str(&l, ",\"attempts\":");
	line_u64(&l, job->attempts);
	line_str(&l, ",\"args\":");
	line_flush(&l, out);
	evbuffer_add(out, job->args, strlen(job->args));
	evbuffer_add(out, ",\"result\":", 10);
	write_json_text(out, job->result);
	evbuffer_add(out, ",\"error\":", 9);
	write_json_text(out, job->error);
	line_str(&l, ",\"queue\":\"");
	line_str(&l, job->queue); /* checked: [A-Za-z0-9._-] only */
	line_str(&l, "\",\"priority\":");
	line_i64(&l, job->priority);
	line_str(&l, job->paused ? ",\"paused\":true" : ",\"paused\":false");
	line_str(&l, ",\"not_before\":");
	line_time(&l, job->not_before_ms);
	line_str(&l, ",\"retry\":");
	if (job->retry.max == 0) {
		line_str(&l, "null");
	} else {
		char retry[96];
		snprintf(retry, sizeof retry,
			 "{\"max\":%u,\"delay_ms\":%lld,\"backoff\":%.15g}",
			 job->retry.max, job->retry.delay_ms, job->retry.backoff);
		line_str(&l, retry);
	}
	line_str(&l, ",\"retry_at\":");
	line_time(&l, job->retry_at_ms);
	line_str(&l, ",\"after_any\":[");
	for (unsigned i = 0; i < job->nafter_any; i++) {
		if (i > 0)
			line_str(&l, ",");
		line_u64(&l, job->after_any[i]);
		if (l.len > sizeof l.buf - 32)
			line_flush(&l, out);
	}
	line_str(&l, "],\"restarted_from\":");
	if (job->restarted_from == 0)
		line_str(&l, "null");
	else
		line_u64(&l, job->restarted_from);
	line_str(&l, "}");
	line_flush(&l, out);
}

/* Starts a notification line, up to the members after "seq". */
static void
line_event_head(struct line *l, const char *method, uint64_t id, uint32_t seq)
{
	line_str(l, "{\"jsonrpc\":\"2.0\",\"method\":\"");
	line_str(l, method);
	line_str(l, "\",\"params\":{\"id\":");
	line_u64(l, id);
	line_str(l, ",\"seq\":");
	line_u64(l, seq);
}

void
events_write_started(struct evbuffer *out, const struct job *job,
		     uint32_t seq)
{
	struct line l = {.len = 0};

	line_event_head(&l, "job.started", job->id, seq);
	line_str(&l, ",\"kind\":\"");
	line_str(&l, job->kind->name);
	line_str(&l, "\"}}\n");
	line_flush(&l, out);
}

void
events_write_paused(struct evbuffer *out, const struct job *job, bool paused)
{
	struct line l = {.len = 0};

	line_event_head(&l, paused ? "job.paused" : "job.resumed", job->id,
			job->seq);
	line_str(&l, "}}\n");
	line_flush(&l, out);
}

void
events_write_retrying(struct evbuffer *out, const struct job *job,
		      const char *error)
{
	struct line l = {.len = 0};

	line_event_head(&l, "job.retrying", job->id, job->seq);
	line_str(&l, ",\"attempt\":");
	line_u64(&l, job->attempts);
	line_str(&l, ",\"retry_at\":");
	line_time(&l, job->retry_at_ms);
	line_str(&l, ",\"error\":");
	line_flush(&l, out);
	write_json_text(out, error);
	evbuffer_add(out, "}}\n", 3);
}

void
events_write_progress(struct evbuffer *out, const struct job *job,
		      uint64_t done, int64_t total, const char *unit)
{
	struct line l = {.len = 0};

	line_event_head(&l, "job.progress", job->id, job->seq);
	line_str(&l, ",\"done\":");
	line_u64(&l, done);
	line_str(&l, ",\"total\":");
	if (total < 0)
		line_str(&l, "null");
	else
		line_u64(&l, (uint64_t)total);
	line_str(&l, ",\"unit\":\"");
	line_str(&l, unit);
	line_str(&l, "\"}}\n");
	line_flush(&l, out);
}

void
events_write_end(struct evbuffer *out, const struct job *job)
{
	bool ok = job->state == JOB_COMPLETED;
	struct line l = {.len = 0};

	line_event_head(&l, ok ? "job.completed" : "job.failed", job->id,
			job->seq);
	line_str(&l, ",\"kind\":\"");
	line_str(&l, job->kind->name);
	line_str(&l, ok ? "\",\"result\":" : "\",\"error\":");
	line_flush(&l, out);
	write_json_text(out, ok ? job->result : job->error);
	evbuffer_add(out, "}}\n", 3);
}

void
events_write_output_head(struct evbuffer *out, uint64_t id, uint32_t seq,
			 const char *stream, uint64_t offset,
			 enum chunk_encoding enc)
{
	struct line l = {.len = 0};

	line_event_head(&l, "job.output", id, seq);
	line_str(&l, ",\"stream\":\"");
	line_str(&l, stream);
	line_str(&l, "\",\"offset\":");
	line_u64(&l, offset);
	line_str(&l, ",\"encoding\":\"");
	line_str(&l, chunk_encoding_name(enc));
	line_str(&l, "\",\"data\":");
	line_flush(&l, out);
}

void
events_write_output(struct evbuffer *out, uint64_t id, uint32_t seq,
		    const char *stream, uint64_t offset,
		    enum chunk_encoding enc, const unsigned char *raw,
		    size_t len)
{
	events_write_output_head(out, id, seq, stream, offset, enc);
	if (enc == CHUNK_BASE64)
		write_base64(out, raw, len);
	else
		events_write_json_string(out, raw, len);
	evbuffer_add(out, "}}\n", 3);
}

void
events_write_output_header(struct evbuffer *out, uint64_t id, uint32_t seq,
			   const char *stream, uint64_t offset, size_t len)
{
	struct line l = {.len = 0};

	line_event_head(&l, "job.output", id, seq);
	line_str(&l, ",\"stream\":\"");
	line_str(&l, stream);
	line_str(&l, "\",\"offset\":");
	line_u64(&l, offset);
	line_str(&l, ",\"encoding\":\"binary\",\"length\":");
	line_u64(&l, len);
	line_str(&l, "}}\n");
	line_flush(&l, out);
}

struct json_object *
events_job_object(const struct job *job)
{
	struct evbuffer *buf = evbuffer_new();
	struct json_object *obj = json_object_new_string("");
	size_t len;

	/* A json-c value that serialises as the text written here. */
	events_write_job(buf, job);
	len = evbuffer_get_length(buf);
	char *text = xmalloc(len + 1);
	evbuffer_remove(buf, text, len);
	text[len] = '\0';
	evbuffer_free(buf);
	json_object_set_serializer(obj, json_object_userdata_to_json_string, text,
				   json_object_free_userdata);
	return obj;
}
