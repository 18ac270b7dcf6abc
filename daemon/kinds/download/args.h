/* A download's args: checked at submit, copied when the job starts, and
 * the file name a URL gives. */
#ifndef ASYNCD_DOWNLOAD_ARGS_H
#define ASYNCD_DOWNLOAD_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "../../job-kind.h"

struct json_object;

/* The args of a job, copied out of the validated JSON. */
struct download_args {
	char *url, *dest, *want_sha;
	bool overwrite, resume, stream;
	int64_t max_bytes; /* -1: no limit */
	int retries;
};

/* The kind's validate: the members, the URL and its scheme (against
 * --allow-scheme, never file), and the combinations stream refuses. */
int download_args_validate(struct json_object *args, struct param_error *err);
/* Fills A from ARGS, which download_args_validate accepted. */
void download_args_parse(struct download_args *a, struct json_object *args);
/* Frees what A holds (not A). */
void download_args_free(struct download_args *a);

/* The file name for URL inside a directory: its last path segment,
 * decoded, or "download" when that is empty or not a plain name. NULL,
 * with the reason in *WHY, when libcurl cannot be loaded. */
char *download_args_file_name(const char *url, const char **why);

#endif
