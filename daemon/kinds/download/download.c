/* download: fetches a URL into DEST.part and renames it to DEST at the
 * end, or streams it to the watchers as job.output "data" chunks. The
 * transfer runs in the network process (transfer.c, netproc.c), which
 * writes and hashes the file through the descriptor this side opened as
 * the user (file.c). The args and where the file goes: args.c.
 *
 * A job goes: opening the file (pool) -> transfer (network process, with
 * its retries) -> committing the file (pool) -> completed; or, on a
 * failure or a stop, -> discarding the file (pool) -> failed. This file
 * holds the job's side of it: the file, the end, and the kind.
 *
 * Across a restart a download to a file continues DEST.part. Once a
 * response's headers are in, the job's resume note holds the resolved
 * DEST and the validator of the body (a strong ETag, else Last-Modified);
 * a stop for a restart keeps DEST.part, written and flushed, and adds its
 * size. The next attempt opens that part as `resume` does (the network
 * process hashes its bytes again) and asks for the rest with Range and If-Range: a
 * 206 is appended, a 200 (another version) empties the part first. After
 * a crash the part's size on disk is the offset. Without a validator
 * nothing says the part is still the server's file: it starts over.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "../../kinds.h"
#include "../../log.h"
#include "../../msgids.h"
#include "../../xmalloc.h"
#include "download.h"
#include "netproc.h"

/* ---- Set-up and release ------------------------------------------------- */

/* Reads the resume note an earlier attempt of D's job left: the DEST
 * and validator of DEST.part, and the bytes it held at a stop. */
static void
download_read_note(struct download *d)
{
	struct json_object *note, *path, *v, *off;

	d->note_offset = -1;
	if (d->job->resume == NULL || d->args.stream ||
	    (note = json_tokener_parse(d->job->resume)) == NULL)
		return;
	if (json_object_object_get_ex(note, "path", &path) &&
	    json_object_is_type(path, json_type_string) &&
	    json_object_get_string(path)[0] == '/' &&
	    json_object_object_get_ex(note, "validator", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) <= NET_VALIDATOR_MAX) {
		d->note_path = xstrdup(json_object_get_string(path));
		d->validator = xstrdup(json_object_get_string(v));
		if (json_object_object_get_ex(note, "offset", &off))
			d->note_offset = json_object_get_int64(off);
	}
	json_object_put(note);
}

static void download_abort(struct download *d);
static void download_succeeded(struct download *d);
static void download_save_note(struct download *d, int64_t offset);

/* How the transfer reaches back here. */
static const struct download_events download_events = {
	.succeeded = download_succeeded,
	.aborted = download_abort,
	.validated = download_save_note,
};

static struct download *
download_new(struct job *job, struct json_object *args)
{
	struct download *d = xcalloc(1, sizeof *d);

	d->job = job;
	d->events = &download_events;
	download_args_parse(&d->args, args);
	d->total = -1;
	d->started_ms = now_mono_ms();
	download_read_note(d);
	job->priv = d;
	return d;
}

static void
download_free(struct download *d)
{
	download_file_free(d->file);
	d->job->priv = NULL;
	download_args_free(&d->args);
	free(d->content_type);
	free(d->url);
	free(d->validator);
	free(d->note_path);
	free(d);
}

/* ---- Ending ------------------------------------------------------------- */

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
download_discarded(void *arg, int err UNUSED)
{
	struct download *d = arg;

	if (d->keep_for_restart)
		download_save_note(d, download_file_kept(d->file));
	download_fail_now(d);
}

/* Whether DEST.part stays when the job fails: for resume or a restart to
 * continue it, never after a checksum mismatch. */
static bool
download_keeps_part(const struct download *d)
{
	return d->keep_for_restart ||
	       (d->args.resume && d->fail_code != NULL &&
		strcmp(d->fail_code, JOBERR_CHECKSUM_MISMATCH) != 0);
}

/* Fails the job once the file is dealt with; the transfer is over. */
static void
download_abort(struct download *d)
{
	bool keep = download_keeps_part(d);

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
	const char *url = d->url != NULL ? d->url : d->args.url;

	json_object_object_add(r, "path", json_string_or_null(path));
	json_object_object_add(r, "bytes", json_object_new_int64((int64_t)d->have));
	json_object_object_add(r, "status", json_object_new_int64(d->status));
	json_object_object_add(r, "sha256", json_object_new_string(sha_hex));
	json_object_object_add(r, "content_type",
			       json_string_or_null(d->content_type));
	json_object_object_add(r, "url", json_object_new_string(url));
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
		download_abort(d);
		return;
	}
	char *path = xstrdup(download_file_path(d->file));
	char sha[65];
	snprintf(sha, sizeof sha, "%s", d->sha256);
	download_complete(d, path, sha);
	free(path);
}

/* Everything arrived, and the network process hashed it (d->sha256). */
static void
download_succeeded(struct download *d)
{
	char sha[65];

	if (d->file == NULL)
		job_output_end(d->job, STREAM_DATA);
	if (d->args.want_sha != NULL &&
	    strcasecmp(d->args.want_sha, d->sha256) != 0) {
		/* Nothing is renamed, and a part goes. */
		download_record(d, JOBERR_CHECKSUM_MISMATCH,
				"SHA-256 is %s, not %s", d->sha256,
				d->args.want_sha);
		download_abort(d);
		return;
	}
	if (d->file != NULL) {
		d->phase = DL_COMMITTING;
		download_file_commit(d->file, download_committed);
		return;
	}
	snprintf(sha, sizeof sha, "%s", d->sha256);
	download_complete(d, NULL, sha);
}

/* ---- The file ----------------------------------------------------------- */

static void
download_save_note(struct download *d, int64_t offset)
{
	struct json_object *note;
	const char *text;

	if (d->file == NULL)
		return;
	if (d->validator == NULL) {
		if (d->job->resume != NULL)
			job_set_resume(d->job, NULL);
		return;
	}
	note = json_object_new_object();
	json_object_object_add(note, "path", json_object_new_string(
						     download_file_path(d->file)));
	json_object_object_add(note, "validator",
			       json_object_new_string(d->validator));
	if (offset >= 0)
		json_object_object_add(note, "offset",
				       json_object_new_int64(offset));
	text = json_object_to_json_string_ext(
		note, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (d->job->resume == NULL || strcmp(d->job->resume, text) != 0)
		job_set_resume(d->job, text);
	json_object_put(note);
}

static void
download_opened(void *arg, int err)
{
	struct download *d = arg;

	if (err != 0 || d->fail_code != NULL) { /* or cancelled meanwhile */
		if (err != 0)
			download_record_errno(d, err,
					      download_file_path(d->file));
		download_abort(d);
		return;
	}
	d->have = (uint64_t)download_file_size(d->file);
	if (d->note_path != NULL) {
		bool moved = d->note_offset >= 0 &&
			     d->have != (uint64_t)d->note_offset;
		job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RESUMED,
			"continuing %s.part from byte %llu%s",
			download_file_path(d->file), (unsigned long long)d->have,
			moved ? " (not the size it had at the stop)" : "");
	}
	if (d->args.max_bytes >= 0 && d->have > (uint64_t)d->args.max_bytes) {
		download_record(d, JOBERR_TOO_LARGE,
				"the part has %llu bytes, more than %lld",
				(unsigned long long)d->have,
				(long long)d->args.max_bytes);
		download_abort(d);
		return;
	}
	download_transfer_begin(d);
}

static void
download_open_file(struct download *d)
{
	/* An earlier attempt's part, where it was. */
	struct download_file_spec spec = {
		.uid = d->job->owner.uid,
		.gid = d->job->owner.gid,
		.dest = d->note_path != NULL ? d->note_path : d->args.dest,
		.download_dir = daemon_opts.download_dir,
		.overwrite = d->args.overwrite,
		.resume = d->args.resume || d->note_path != NULL,
	};
	const char *why;
	char *name = download_args_file_name(d->args.url, &why);

	if (name == NULL) { /* a job accepted before a restart */
		download_record(d, JOBERR_INTERNAL, "%s", why);
		download_fail_now(d);
		return;
	}
	spec.name = name;
	d->file = download_file_new(&spec, d);
	free(name);
	d->phase = DL_OPENING;
	download_file_open(d->file, download_opened);
}

/* ---- The kind ----------------------------------------------------------- */

static void
download_start(struct job *job, struct json_object *args)
{
	struct download *d = download_new(job, args);

	if (!d->args.stream) {
		download_open_file(d);
		return;
	}
	download_transfer_begin(d);
}

static void
download_cancel(struct job *job)
{
	struct download *d = job->priv;

	if (d == NULL || d->phase == DL_ENDING || d->stopping)
		return;
	/* A part with a known validator is worth keeping for the next
	 * start; without one it would start over anyway. */
	d->keep_for_restart = job_stopping_for_restart(job) &&
			      d->file != NULL && d->validator != NULL;
	/* jobs.c reports the stop's own reason. */
	download_record(d, JOBERR_CANCELLED, "cancelled");
	if (download_transfer_stop(d, download_keeps_part(d)))
		return; /* aborted() follows */
	if (d->phase == DL_OPENING || d->phase == DL_COMMITTING)
		download_file_cancel(d->file); /* its callback aborts */
	else
		download_abort(d);
}

/* Tears the job down at a forced shutdown: the network process forgets
 * the transfer; the file is let go as it is (download_file_release). */
static void
download_release(struct job *job)
{
	struct download *d = job->priv;

	download_transfer_forget(d);
	download_file_release(d->file);
	d->file = NULL;
	download_free(d);
}

/* The watchers drained: a stream's window opens again. */
static void
download_resume(struct job *job)
{
	struct download *d = job->priv;

	if (d != NULL && d->file == NULL)
		download_transfer_drained(d);
}

/* job.pause and job.resume: the transfer's business (transfer.c). */
static void
download_pause(struct job *job, bool paused)
{
	struct download *d = job->priv;

	if (d != NULL)
		download_transfer_pause_job(d, paused);
}

/* A download to a file can run again after a restart; a stream's reader
 * is gone by then. */
static bool
download_requeue_by_default(struct json_object *args)
{
	struct json_object *v;

	return !json_object_object_get_ex(args, "stream", &v) ||
	       !json_object_get_boolean(v);
}

const struct job_kind kind_download = {
	.name = "download",
	.validate = download_args_validate,
	.start = download_start,
	.cancel = download_cancel,
	.free = download_release,
	.resume = download_resume,
	.pause = download_pause,
	.requeue_by_default = download_requeue_by_default,
	.default_max_running = 16,
};
