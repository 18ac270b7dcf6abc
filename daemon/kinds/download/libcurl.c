/* libcurl, loaded on first use (see libcurl.h). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "../../log.h"
#include "libcurl.h"

/* The soname of the ABI curl/curl.h describes (it has been 4 since
 * 2006). */
#define LIBCURL_SONAME "libcurl.so.4"

/* Each function's name and where its address goes. */
#define LIBCURL_SYM(member, name) {name, offsetof(struct libcurl, member)}

static const struct {
	const char *name;
	size_t offset;
} libcurl_syms[] = {
	LIBCURL_SYM(url, "curl_url"),
	LIBCURL_SYM(url_set, "curl_url_set"),
	LIBCURL_SYM(url_get, "curl_url_get"),
	LIBCURL_SYM(url_strerror, "curl_url_strerror"),
	LIBCURL_SYM(url_cleanup, "curl_url_cleanup"),
	LIBCURL_SYM(easy_unescape, "curl_easy_unescape"),
	LIBCURL_SYM(free, "curl_free"),
};

static struct libcurl api;
static bool tried;
static char failure[256]; /* why it could not be loaded */

/* Loads the library and every function, or fills failure[]. */
static void
libcurl_load(void)
{
	void *lib = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *err;

	if (lib == NULL) {
		snprintf(failure, sizeof failure, "cannot load libcurl: %s",
			 (err = dlerror()) != NULL ? err : LIBCURL_SONAME);
		log_warnx("%s", failure);
		return;
	}
	for (size_t i = 0; i < sizeof libcurl_syms / sizeof libcurl_syms[0];
	     i++) {
		void *fn = dlsym(lib, libcurl_syms[i].name);
		if (fn == NULL) {
			snprintf(failure, sizeof failure,
				 "cannot load libcurl: no %s in %s",
				 libcurl_syms[i].name, LIBCURL_SONAME);
			log_warnx("%s", failure);
			dlclose(lib);
			return;
		}
		*(void **)((char *)&api + libcurl_syms[i].offset) = fn;
	}
	/* Kept loaded until the daemon exits. */
}

const struct libcurl *
libcurl_get(const char **why)
{
	if (!tried) {
		tried = true;
		libcurl_load();
	}
	if (failure[0] != '\0') {
		*why = failure;
		return NULL;
	}
	return &api;
}
