/* A download's args: checked at submit, copied when the job starts, and
 * turned into where the file goes. */
#ifndef ASYNCD_DOWNLOAD_ARGS_H
#define ASYNCD_DOWNLOAD_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "file.h"
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
 * decoded, or "download" when that is empty or not a plain name. */
char *download_args_file_name(const char *url);
/* Fills SPEC's default directory; *ALLOC is what SPEC points at that the
 * caller frees afterwards, or NULL. */
void download_args_default_dir(struct download_file_spec *spec, char **alloc);

#endif
