/* read-file: streams a file's bytes as job.output "data" chunks.
 *
 * The file is opened with the submitting user's identity and read, both
 * on the worker pool; the loop only frames and sends. READ_FILE_INFLIGHT
 * reads are kept in flight so that a worker reads the next one while the
 * loop sends this one; reads are delivered in file order whatever order
 * they finish in. While a watcher is past its high-water mark no new read
 * is scheduled, until resume().
 *
 * What a read does depends on the watchers (read_slot_send): when all
 * take binary frames straight to their sockets, a worker only brings
 * the range into the page cache and the loop queues it for sendfile();
 * otherwise it reads into a buffer that binary frames refer to, and,
 * when the slot's turn comes and a watcher takes JSON, a worker cuts and
 * encodes it with the job's one chunk encoder (the slot whose turn it is
 * has it alone). A slot read for other watchers than those it meets at
 * its turn goes back to a worker first.
 *
 * job.pause holds it as well, harder: no read is scheduled, and what a
 * read in flight brings, or a failed open, is kept until job.resume, so
 * that no chunk and no end comes while it is paused. Either hold
 * stops it; it reads on only once neither does, since the pump asks
 * for both before every read. The resume is carried out on the next
 * turn of the loop (go_ev): it may end the job, which jobs.c must not
 * see happen inside its pause hook.
 *
 * Reading stops where read() returns 0 (or at args.length), never at
 * the size fstat() gave: procfs reports 0 bytes and sysfs 4096 for files
 * that hold something else, and a regular file may grow. Up to the size
 * fstat() gave, reads run ahead; past it, one at a time.
 *
 * Ownership: the job points at its struct read_file (job->priv) until the
 * job ends; pool items point at it until their done function ran. It is
 * freed when both are gone (rf->job NULL and no item in flight).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <event2/event.h>
#include <json-c/json.h>

#include "../../identity.h"
#include "../../kinds.h"
#include "../../output-buf.h"
#include "../../output-encode.h"
#include "../../params.h"
#include "../../pool.h"
#include "../../xmalloc.h"
#include "read-file.h"

/* The args as read_file_fields reads them. */
struct read_file_args {
	const char *path;
	int64_t offset, length;
	int encoding; /* in read_file_encodings */
};

static const char *const read_file_encodings[] = {"auto", "base64", NULL};

static const struct param_field read_file_fields[] = {
	{PARAM_PATH("path", struct read_file_args, path), .required = true},
	{PARAM_INT("offset", struct read_file_args, offset), .min = 0,
	 .max = INT64_MAX - 1},
	{PARAM_INT("length", struct read_file_args, length), .min = 0,
	 .max = INT64_MAX - 1},
	{PARAM_ENUM("encoding", struct read_file_args, encoding),
	 .max_len = 16, .values = read_file_encodings},
	PARAM_END,
};

static int
read_file_validate(struct json_object *args, struct param_error *err)
{
	struct read_file_args a;

	return params_read(args, "args.", read_file_fields, &a, err);
}

/* Frees RF once neither the job nor a pool item refers to it. */
static void
read_file_maybe_free(struct read_file *rf)
{
	if (rf->job != NULL || rf->inflight > 0)
		return;
	if (rf->fd >= 0)
		close(rf->fd);
	if (rf->null_fd >= 0)
		close(rf->null_fd);
	if (rf->go_ev != NULL)
		event_free(rf->go_ev);
	for (unsigned i = 0; i < READ_FILE_INFLIGHT; i++) {
		output_buf_unref(rf->slots[i].buf);
		output_encoded_free(rf->slots[i].encoded);
	}
	free(rf->path);
	free(rf);
}

/* Lets go of the job, which is about to end. */
static struct job *
read_file_detach(struct read_file *rf)
{
	struct job *job = rf->job;

	rf->job = NULL;
	job->priv = NULL;
	return job;
}

static void
read_file_fail(struct read_file *rf, int err, const char *what)
{
	struct job *job = read_file_detach(rf);
	char msg[4200];

	snprintf(msg, sizeof msg, "%s %s", what, rf->path);
	job_fail_errno(job, err, msg);
	read_file_maybe_free(rf);
}

static void
read_file_complete(struct read_file *rf)
{
	struct read_slot_out out = {rf, NULL};

	/* A character the file ended inside goes out as base64. */
	chunk_finish(&rf->enc, read_slot_sink, &out);

	struct job *job = read_file_detach(rf);
	struct json_object *result = json_object_new_object();
	uint64_t size = rf->size_known ? rf->size : rf->sent;

	job_progress(job, rf->sent, (int64_t)rf->sent, "bytes", true);
	json_object_object_add(result, "path",
			       json_object_new_string(rf->path));
	json_object_object_add(result, "bytes",
			       json_object_new_int64((int64_t)rf->sent));
	json_object_object_add(result, "size",
			       json_object_new_int64((int64_t)size));
	job_complete(job, result);
	read_file_maybe_free(rf);
}

/* Kernel file systems whose files report a size that is not what a read
 * returns: 0 (procfs, cgroup), a page (sysfs), anything. */
static const long read_file_pseudo_fs[] = {
	PROC_SUPER_MAGIC, SYSFS_MAGIC,        DEBUGFS_MAGIC,       TRACEFS_MAGIC,
	SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC,
};

/* Whether FD's size from fstat() is the number of bytes it holds. */
static bool
read_file_size_is_known(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	for (size_t i = 0;
	     i < sizeof read_file_pseudo_fs / sizeof read_file_pseudo_fs[0];
	     i++)
		if ((long)sfs.f_type == read_file_pseudo_fs[i])
			return false;
	return true;
}

/* Worker: opens the file as its owner and learns its size. */
static void
read_file_open_work(struct pool_work *w, void *arg)
{
	struct read_file *rf = arg;
	struct identity id;
	struct stat st;
	int rc;

	if (pool_cancelled(w))
		return;
	rf->open_what = "user database look-up for";
	if ((rc = identity_lookup(&id, rf->uid, rf->gid)) < 0) {
		rf->open_err = -rc;
		return;
	}
	/* O_NONBLOCK: a FIFO must not hold a worker until a writer comes. */
	rf->open_what = "open";
	rc = identity_open(&id, rf->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
	identity_release(&id);
	if (rc < 0) {
		rf->open_err = -rc;
		return;
	}
	rf->fd = rc;
	rf->open_what = "read";
	if (fstat(rf->fd, &st) < 0) {
		rf->open_err = errno;
	} else if (S_ISDIR(st.st_mode)) {
		rf->open_err = EISDIR;
	} else if (!S_ISREG(st.st_mode)) {
		rf->open_what = "not a regular file:";
		rf->open_err = EINVAL;
	} else {
		rf->size = (uint64_t)st.st_size;
		rf->size_known = read_file_size_is_known(rf->fd);
	}
	if (rf->open_err == 0) {
		posix_fadvise(rf->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		rf->null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
}

static void read_file_read_done(void *arg, bool cancelled);

/* Whether to start another read now. */
static bool
read_file_more(const struct read_file *rf)
{
	if (rf->eof || rf->next >= rf->end)
		return false;
	return rf->next < rf->ahead || rf->nbusy == 0;
}

/* Schedules the next read into the slot after the busy ones. */
static void
read_file_schedule(struct read_file *rf)
{
	struct read_slot *slot =
		&rf->slots[(rf->head + rf->nbusy) % READ_FILE_INFLIGHT];
	uint64_t left = rf->end - rf->next;

	/* A buffer still referred to by output waiting for a socket is
	 * left to it: the read goes into a new one. */
	if (slot->buf != NULL && !output_buf_unshared(slot->buf)) {
		output_buf_unref(slot->buf);
		slot->buf = NULL;
	}
	if (slot->buf == NULL)
		slot->buf = output_buf_new(READ_FILE_CHUNK);
	slot->rf = rf;
	slot->offset = rf->next;
	slot->len = left < READ_FILE_CHUNK ? (size_t)left : READ_FILE_CHUNK;
	slot->ready = false;
	slot->got = 0;
	slot->err = ECANCELED; /* unless the work runs */
	slot->by_file = rf->size_known && rf->null_fd >= 0 &&
			job_output_to_files(rf->job);
	rf->next += slot->len;
	rf->nbusy++;
	rf->inflight++;
	slot->work = pool_submit(read_slot_work, read_file_read_done,
				 slot);
}

/* Keeps reads in flight until the end, unless output is blocked; ends
 * the job when everything was delivered. */
static void
read_file_pump(struct read_file *rf)
{
	if (!read_file_more(rf) && rf->nbusy == 0) {
		read_file_complete(rf);
		return;
	}
	while (read_file_more(rf) && rf->nbusy < READ_FILE_INFLIGHT) {
		if (job_output_blocked(rf->job))
			return; /* resume() brings us back */
		read_file_schedule(rf);
	}
}

/* The progress total: what the size at open leaves to read, or null
 * when the kernel does not report the size. */
static int64_t
read_file_total(const struct read_file *rf)
{
	uint64_t left = rf->size > rf->offset ? rf->size - rf->offset : 0;

	if (!rf->size_known)
		return -1;
	if (rf->end - rf->offset < left)
		left = rf->end - rf->offset;
	return (int64_t)left;
}

/* Sends the chunks that are ready, in file order. Returns -1 when a read
 * failed and the job ended. */
static int
read_file_deliver(struct read_file *rf)
{
	struct read_slot *slot;

	while (rf->nbusy > 0 && (slot = &rf->slots[rf->head])->ready) {
		if (!rf->eof && slot->err == 0 && slot->got > 0 &&
		    !read_slot_send(rf, slot, read_file_read_done))
			return 0; /* a worker has it */
		slot->ready = false;
		output_encoded_free(slot->encoded);
		slot->encoded = NULL;
		rf->head = (rf->head + 1) % READ_FILE_INFLIGHT;
		rf->nbusy--;
		if (rf->eof)
			continue; /* past a short read: the file ended there */
		if (slot->err != 0) {
			read_file_fail(rf, slot->err, "read");
			return -1;
		}
		if (slot->got < slot->len)
			rf->eof = true;
		if (slot->got > 0) {
			rf->sent += slot->got;
			/* The last one is the final event, sent at the end. */
			if (!rf->eof && rf->sent < rf->end - rf->offset)
				job_progress(rf->job, rf->sent,
					     read_file_total(rf), "bytes",
					     false);
		}
	}
	return 0;
}

/* Goes on unless job.pause holds the job: ends it if the open failed,
 * sends the chunks that are ready, reads on (read_file_pump minds the
 * output). Only once the file is open. */
static void
read_file_go(struct read_file *rf)
{
	if (rf->job->paused || rf->open_work != NULL)
		return;
	if (rf->open_err != 0) {
		read_file_fail(rf, rf->open_err, rf->open_what);
		return;
	}
	if (read_file_deliver(rf) < 0)
		return;
	read_file_pump(rf);
}

static void
read_file_read_done(void *arg, bool cancelled UNUSED)
{
	struct read_slot *slot = arg;
	struct read_file *rf = slot->rf;

	rf->inflight--;
	slot->work = NULL;
	slot->ready = true;
	if (rf->job == NULL) {
		read_file_maybe_free(rf);
		return;
	}
	read_file_go(rf);
}

static void
read_file_open_done(void *arg, bool cancelled UNUSED)
{
	struct read_file *rf = arg;

	rf->inflight--;
	rf->open_work = NULL;
	if (rf->job == NULL) {
		read_file_maybe_free(rf);
		return;
	}
	/* offset and length are below INT64_MAX: no overflow. */
	rf->end =
		rf->length >= 0 ? rf->offset + (uint64_t)rf->length : UINT64_MAX;
	rf->ahead = rf->size_known ? rf->size : 0;
	rf->next = rf->offset;
	read_file_go(rf);
}

/* ARGS member NAME as an integer, or DEFAULT when absent. */
static int64_t
read_file_arg_int(struct json_object *args, const char *name, int64_t def)
{
	struct json_object *v;

	if (!json_object_object_get_ex(args, name, &v))
		return def;
	return json_object_get_int64(v);
}

static void
read_file_start(struct job *job, struct json_object *args)
{
	struct read_file *rf = xcalloc(1, sizeof *rf);
	struct json_object *v;

	json_object_object_get_ex(args, "path", &v);
	rf->path = xstrdup(json_object_get_string(v));
	rf->offset = (uint64_t)read_file_arg_int(args, "offset", 0);
	rf->length = read_file_arg_int(args, "length", -1);
	chunk_init(&rf->enc, json_object_object_get_ex(args, "encoding", &v) &&
				     strcmp(json_object_get_string(v),
					    "base64") == 0);
	rf->uid = job->owner.uid;
	rf->gid = job->owner.gid;
	rf->fd = -1;
	rf->null_fd = -1;
	rf->job = job;
	job->priv = rf;
	rf->inflight = 1;
	rf->open_work = pool_submit(read_file_open_work, read_file_open_done,
				    rf);
}

/* Lets go of JOB: reads in flight are cancelled and their done functions
 * free the state later, or it goes now. */
static void
read_file_release(struct job *job)
{
	struct read_file *rf = job->priv;

	if (rf->open_work != NULL)
		pool_cancel(rf->open_work);
	for (unsigned i = 0; i < READ_FILE_INFLIGHT; i++)
		if (rf->slots[i].work != NULL)
			pool_cancel(rf->slots[i].work);
	if (rf->go_ev != NULL)
		event_del(rf->go_ev);
	read_file_detach(rf);
	read_file_maybe_free(rf);
}

/* Stops at once. */
static void
read_file_cancel(struct job *job)
{
	read_file_release(job);
	job_fail(job, JOBERR_CANCELLED, "cancelled", NULL);
}

/* The watchers drained. */
static void
read_file_resume(struct job *job)
{
	struct read_file *rf = job->priv;

	if (rf != NULL)
		read_file_go(rf);
}

static void
read_file_go_cb(evutil_socket_t fd UNUSED, short what UNUSED, void *arg)
{
	struct read_file *rf = arg;

	if (rf->job != NULL)
		read_file_go(rf);
}

/* job.pause: read_file_go() sees job->paused, so only a resume not yet
 * carried out is dropped. job.resume: it goes on at the next turn of the
 * loop. */
static void
read_file_pause(struct job *job, bool paused)
{
	struct read_file *rf = job->priv;

	if (rf == NULL)
		return;
	if (rf->go_ev == NULL)
		rf->go_ev = evtimer_new(daemon_base, read_file_go_cb, rf);
	if (paused)
		event_del(rf->go_ev);
	else
		event_active(rf->go_ev, EV_TIMEOUT, 1);
}

const struct job_kind kind_read_file = {
	.name = "read-file",
	.validate = read_file_validate,
	.start = read_file_start,
	.cancel = read_file_cancel,
	.free = read_file_release,
	.resume = read_file_resume,
	.pause = read_file_pause,
};
