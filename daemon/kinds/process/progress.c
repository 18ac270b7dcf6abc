/* Progress lines of process jobs (see progress.h). */
#include <ctype.h>
#include <string.h>

#include <json-c/json.h>

#include "progress.h"

void
proc_progress_init(struct proc_progress *pp)
{
	pp->len = 0;
	pp->overlong = false;
}

/* A count: an integer from 0 to INT64_MAX - 1 (json-c clamps bigger
 * numbers to INT64_MAX). */
static int
proc_progress_count(struct json_object *v, int64_t *out)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int))
		return -1;
	n = json_object_get_int64(v);
	if (n < 0 || n == INT64_MAX)
		return -1;
	*out = n;
	return 0;
}

/* {"done":N} or {"done":N,"total":M}; M may be null. */
static int
proc_progress_json(const char *text, size_t len, uint64_t *done,
		   int64_t *total)
{
	struct json_tokener *tok;
	struct json_object *obj;
	int64_t d = -1, t = -1;
	int rc = -1;

	/* json-c's strict mode still takes 'single-quoted' keys. */
	if (memchr(text, '\'', len) != NULL ||
	    (tok = json_tokener_new_ex(2)) == NULL)
		return -1;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, text, (int)len);
	if (obj == NULL || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(obj, json_type_object))
		goto out;
	json_object_object_foreach(obj, key, val) {
		if (strcmp(key, "done") == 0 && proc_progress_count(val, &d) == 0)
			continue;
		if (strcmp(key, "total") == 0 &&
		    (val == NULL || proc_progress_count(val, &t) == 0))
			continue;
		goto out;
	}
	if (d < 0)
		goto out;
	*done = (uint64_t)d;
	*total = t;
	rc = 0;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return rc;
}

/* Digits only, at most 18 of them (below INT64_MAX). */
static int
proc_progress_number(const char *s, size_t len, int64_t *out)
{
	int64_t n = 0;

	if (len == 0 || len > 18)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (s[i] - '0');
	}
	*out = n;
	return 0;
}

/* N/M */
static int
proc_progress_fraction(const char *s, size_t len, uint64_t *done,
		       int64_t *total)
{
	const char *slash = memchr(s, '/', len);
	int64_t d, t;

	if (slash == NULL ||
	    proc_progress_number(s, (size_t)(slash - s), &d) < 0 ||
	    proc_progress_number(slash + 1, len - (size_t)(slash - s) - 1,
				 &t) < 0)
		return -1;
	*done = (uint64_t)d;
	*total = t;
	return 0;
}

int
proc_progress_parse(const char *line, size_t len, uint64_t *done,
		    int64_t *total)
{
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		len--;
	while (len > 0 && isspace((unsigned char)*line)) {
		line++;
		len--;
	}
	if (len == 0)
		return -1;
	if (*line == '{')
		return proc_progress_json(line, len, done, total);
	return proc_progress_fraction(line, len, done, total);
}

/* Ends the current line: reports it when it is valid. */
static void
proc_progress_line(struct proc_progress *pp, proc_progress_fn fn, void *arg)
{
	uint64_t done;
	int64_t total;

	if (!pp->overlong &&
	    proc_progress_parse(pp->line, pp->len, &done, &total) == 0)
		fn(arg, done, total);
	pp->len = 0;
	pp->overlong = false;
}

void
proc_progress_feed(struct proc_progress *pp, const void *data, size_t len,
		   proc_progress_fn fn, void *arg)
{
	const char *p = data, *end = p + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);
		if (!pp->overlong && n <= sizeof pp->line - pp->len) {
			memcpy(pp->line + pp->len, p, n);
			pp->len += n;
		} else {
			pp->overlong = true;
		}
		if (nl == NULL)
			break;
		proc_progress_line(pp, fn, arg);
		p = nl + 1;
	}
}
