/* A download's args: what a client may ask for, and the file name a URL
 * gives (where the file goes is dest.c's). */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../../log.h"
#include "../../params.h"
#include "../../xmalloc.h"
#include "args.h"
#include "libcurl.h"

#define DL_RETRIES_DEFAULT 2
#define DL_RETRIES_MAX 10
#define DL_URL_MAX 8192
#define DL_NAME_MAX 200 /* longer last segments are saved as "download" */

/* ---- Validation --------------------------------------------------------- */

/* Whether SCHEME (lower case) is among --allow-scheme's; file never is. */
static bool
download_args_scheme_allowed(const char *scheme)
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

/* url: one libcurl parses, of a scheme allowed. */
static int
download_args_check_url(struct json_object *value, const char *field,
			struct param_error *err)
{
	const char *url = json_object_get_string(value), *why;
	const struct libcurl *curl = libcurl_get(&why);
	char *scheme = NULL;
	CURLUcode uc;
	CURLU *u;
	int rc = 0;

	if (curl == NULL)
		return param_fail(err, field, "cannot check URLs: %s", why);
	if ((u = curl->url()) == NULL)
		fatalx("curl_url failed");
	uc = curl->url_set(u, CURLUPART_URL, url, 0);
	if (uc == CURLUE_OK)
		uc = curl->url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (uc != CURLUE_OK)
		rc = param_fail(err, field, "not a URL: %s",
				curl->url_strerror(uc));
	else if (!download_args_scheme_allowed(scheme))
		rc = param_fail(err, field, "URL scheme %.20s is not allowed",
				scheme);
	curl->free(scheme);
	curl->url_cleanup(u);
	return rc;
}

static int
download_args_check_sha256(struct json_object *value, const char *field,
			   struct param_error *err)
{
	const char *hex = json_object_get_string(value);

	if (strlen(hex) != 64 || strspn(hex, "0123456789abcdefABCDEF") != 64)
		return param_fail(err, field, "must be 64 hex digits");
	return 0;
}

/* The args as download_args_fields reads them, borrowed from the JSON;
 * struct download_args is the job's copy. */
struct download_args_view {
	const char *url, *dest, *sha256;
	bool stream, overwrite, resume;
	int64_t max_bytes, retries;
};

static const struct param_field download_args_fields[] = {
	{PARAM_STRING("url", struct download_args_view, url), .required = true,
	 .max_len = DL_URL_MAX, .check = download_args_check_url},
	{PARAM_BOOL("stream", struct download_args_view, stream)},
	{PARAM_PATH("dest", struct download_args_view, dest)},
	{PARAM_BOOL("overwrite", struct download_args_view, overwrite)},
	{PARAM_STRING("sha256", struct download_args_view, sha256),
	 .check = download_args_check_sha256},
	{PARAM_BOOL("resume", struct download_args_view, resume)},
	{PARAM_INT("max_bytes", struct download_args_view, max_bytes),
	 .min = 0, .max = INT64_MAX},
	{PARAM_INT("retries", struct download_args_view, retries), .min = 0,
	 .max = DL_RETRIES_MAX},
	PARAM_END,
};

int
download_args_validate(struct json_object *args, struct param_error *err)
{
	struct download_args_view a = {.dest = NULL, .stream = false,
					 .resume = false};

	if (params_read(args, "args.", download_args_fields, &a, err) < 0)
		return -1;
	if (a.stream && a.dest != NULL)
		return param_fail(err, "args.dest", "not allowed with stream");
	if (a.stream && a.resume)
		return param_fail(err, "args.resume",
				  "not allowed with stream: there is no file");
	return 0;
}

/* ---- Copying ------------------------------------------------------------ */

static const char *
download_args_string(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v)
		       ? json_object_get_string(v)
		       : NULL;
}

static int64_t
download_args_int(struct json_object *args, const char *name, int64_t dflt)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v)
		       ? json_object_get_int64(v)
		       : dflt;
}

static bool
download_args_bool(struct json_object *args, const char *name)
{
	struct json_object *v;

	return json_object_object_get_ex(args, name, &v) &&
	       json_object_get_boolean(v);
}

void
download_args_parse(struct download_args *a, struct json_object *args)
{
	const char *s;

	a->url = xstrdup(download_args_string(args, "url"));
	a->dest = (s = download_args_string(args, "dest")) ? xstrdup(s) : NULL;
	a->want_sha =
		(s = download_args_string(args, "sha256")) ? xstrdup(s) : NULL;
	a->overwrite = download_args_bool(args, "overwrite");
	a->resume = download_args_bool(args, "resume");
	a->stream = download_args_bool(args, "stream");
	a->max_bytes = download_args_int(args, "max_bytes", -1);
	a->retries =
		(int)download_args_int(args, "retries", DL_RETRIES_DEFAULT);
}

void
download_args_free(struct download_args *a)
{
	free(a->url);
	free(a->dest);
	free(a->want_sha);
}

/* ---- The destination ---------------------------------------------------- */

char *
download_args_file_name(const char *url, const char **why)
{
	const struct libcurl *curl = libcurl_get(why);
	char *path = NULL, *dec = NULL, *name = NULL;
	CURLU *u;
	int n = 0;

	if (curl == NULL)
		return NULL;
	u = curl->url();
	if (u != NULL &&
	    curl->url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl->url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
		const char *seg = strrchr(path, '/');
		dec = curl->easy_unescape(NULL, seg ? seg + 1 : path, 0, &n);
	}
	if (dec != NULL && n > 0 && n <= DL_NAME_MAX &&
	    memchr(dec, '/', (size_t)n) == NULL &&
	    strlen(dec) == (size_t)n && strcmp(dec, ".") != 0 &&
	    strcmp(dec, "..") != 0)
		name = xstrdup(dec);
	curl->free(dec);
	curl->free(path);
	curl->url_cleanup(u);
	return name != NULL ? name : xstrdup("download");
}
