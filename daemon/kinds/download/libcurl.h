/* The few libcurl functions the daemon calls (URL parsing for a
 * download's args), loaded with dlopen on first use. The daemon does not
 * link libcurl: loading it and the ~40 libraries it needs was most of the
 * daemon's start-up, and only asyncd-net transfers anything. Loop thread
 * only. */
#ifndef ASYNCD_DOWNLOAD_LIBCURL_H
#define ASYNCD_DOWNLOAD_LIBCURL_H

#include <curl/curl.h>

struct libcurl {
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *content,
			     unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **content,
			     unsigned int flags);
	const char *(*url_strerror)(CURLUcode code);
	void (*url_cleanup)(CURLU *u);
	char *(*easy_unescape)(CURL *handle, const char *s, int length,
			       int *outlength);
	void (*free)(void *p);
};

/* The functions, loaded once; NULL with the reason in *WHY (static text)
 * when libcurl cannot be loaded. A failure is remembered, not retried. */
const struct libcurl *libcurl_get(const char **why);

#endif
