/* A download's transfer, seen from the daemon: it runs in the network
 * process (netproc.c, net/transfer.c), which gets the URL, what we have
 * already and the file's descriptor, and tells back the response,
 * progress, a stream's bytes and how it ended. Retries of network
 * failures are the network process's; this side counts them, and starts
 * the transfer again in a new process if the old one dies.
 *
 * A stream's bytes come in a window (NET_STREAM_WINDOW): they are given
 * back as they reach watchers, and held while a watcher is past its
 * high-water mark, which pauses the transfer there.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../log.h"
#include "../../metrics.h"
#include "../../msgids.h"
#include "../../xmalloc.h"
#include "download.h"
#include "netproc.h"

void
download_record(struct download *d, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (d->fail_code != NULL)
		return;
	d->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(d->fail_msg, sizeof d->fail_msg, fmt, ap);
	va_end(ap);
}

/* ---- What the network process tells ------------------------------------- */

static void
transfer_response(void *arg, int64_t total, const char *validator)
{
	struct download *d = arg;

	d->total = total;
	free(d->validator);
	d->validator = validator[0] != '\0' ? xstrdup(validator) : NULL;
	d->events->validated(d, -1);
}

static void
transfer_progress(void *arg, uint64_t have, int64_t total)
{
	struct download *d = arg;

	if (have > d->have)
		metrics_download_bytes(have - d->have);
	d->have = have;
	d->total = total;
	job_progress(d->job, d->have, d->total, "bytes", false);
}

static void
transfer_data(void *arg, const void *data, size_t len)
{
	struct download *d = arg;

	job_output(d->job, STREAM_DATA, data, len);
	d->streamed += len;
	if (d->credit_owed == 0 && job_output_blocked(d->job))
		job_log(d->job, LOG_DEBUG, MSGID_JOB,
			"a watcher is behind: transfer paused");
	d->credit_owed += len;
	if (!job_output_blocked(d->job))
		download_transfer_drained(d);
}

static void
transfer_log(void *arg, enum net_log_kind kind, const char *text)
{
	struct download *d = arg;

	switch (kind) {
	case NET_LOG_RETRY:
		d->attempt++;
		job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RETRY, "%s", text);
		break;
	case NET_LOG_RESTARTED:
		job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RESTARTED, "%s", text);
		break;
	default:
		job_log(d->job, LOG_DEBUG, MSGID_JOB, "%s", text);
		break;
	}
}

static void
transfer_done(void *arg, const struct netproc_result *r)
{
	struct download *d = arg;

	d->in_net = false;
	if (r->have > d->have)
		metrics_download_bytes(r->have - d->have);
	d->have = r->have;
	d->total = r->total;
	d->status = r->status;
	free(d->content_type);
	d->content_type = r->content_type ? xstrdup(r->content_type) : NULL;
	free(d->url);
	d->url = xstrdup(r->url);
	if (r->code == NULL) {
		snprintf(d->sha256, sizeof d->sha256, "%s", r->sha256);
		d->events->succeeded(d);
		return;
	}
	if (strcmp(r->code, JOBERR_IO_ERROR) == 0) {
		download_record(d, proto_errno_code(r->fail_errno), "%s: %s",
				d->file ? download_file_path(d->file) : "stream",
				r->message);
		d->fail_errno = r->fail_errno;
	} else {
		download_record(d, r->code, "%s", r->message);
		d->fail_status = r->fail_status;
	}
	d->events->aborted(d);
}

/* The network process died under the transfer: it starts again in a new
 * one while retries are left and what we have can be continued (a
 * stream's bytes sent out, and hashed, by the dead one cannot). */
static void
transfer_lost(void *arg, const char *why)
{
	struct download *d = arg;

	d->in_net = false;
	if (d->stopping || d->attempt >= d->args.retries ||
	    (d->file == NULL && d->streamed > 0)) {
		download_record(d, JOBERR_NETWORK_ERROR, "%s", why);
		d->events->aborted(d);
		return;
	}
	d->attempt++;
	job_log(d->job, LOG_INFO, MSGID_DOWNLOAD_RETRY, "%s; retry %d of %d",
		why, d->attempt, d->args.retries);
	download_transfer_begin(d);
}

static const struct netproc_events transfer_events = {
	.response = transfer_response,
	.progress = transfer_progress,
	.data = transfer_data,
	.log = transfer_log,
	.done = transfer_done,
	.lost = transfer_lost,
};

/* ---- What the kind asks ------------------------------------------------- */

void
download_transfer_begin(struct download *d)
{
	size_t ulen = strlen(d->args.url);
	struct net_start *m = xcalloc(1, sizeof *m + ulen);
	int fd = -1;

	m->h = (struct net_head){.type = NET_START, .id = d->job->id};
	m->max_bytes = d->args.max_bytes;
	m->retries = (uint32_t)(d->args.retries - d->attempt);
	m->stall_timeout_s = (uint32_t)daemon_opts.download_stall_timeout;
	wire_strcpy(m->protocols, sizeof m->protocols,
		    daemon_opts.allowed_schemes);
	memcpy(m->url, d->args.url, ulen);
	if (d->job->paused)
		m->flags |= NET_START_HELD;
	if (d->file != NULL) {
		/* What the part holds: all of it is hashed again; without a
		 * validator nothing says it is the server's file still. */
		int64_t size = download_file_size(d->file);
		fd = download_file_fd(d->file);
		m->flags |= NET_START_FILE;
		d->have = size > 0 ? (uint64_t)size : 0;
		if (d->have > 0 && d->validator == NULL && !d->args.resume) {
			d->have = 0;
			m->flags |= NET_START_TRUNCATE;
		}
	} else {
		d->have = 0; /* a stream starts again only before any byte */
	}
	m->have = d->have;
	wire_strcpy(m->validator, sizeof m->validator, d->validator);
	d->credit_owed = 0;
	d->phase = DL_TRANSFER;
	d->in_net = true;
	netproc_start(m, sizeof *m + ulen, fd, &transfer_events, d);
	free(m);
}

void
download_transfer_pause_job(struct download *d, bool paused)
{
	if (paused)
		job_log(d->job, LOG_DEBUG, MSGID_JOB, "paused: transfer paused");
	if (d->in_net)
		netproc_hold(d->job->id, paused);
}

void
download_transfer_drained(struct download *d)
{
	if (d->in_net && d->credit_owed > 0)
		netproc_credit(d->job->id, d->credit_owed);
	d->credit_owed = 0;
}

bool
download_transfer_stop(struct download *d, bool keep)
{
	if (!d->in_net || d->stopping)
		return d->in_net;
	d->stopping = true;
	netproc_stop(d->job->id, keep);
	return true;
}

void
download_transfer_forget(struct download *d)
{
	if (d->in_net)
		netproc_forget(d->job->id);
	d->in_net = false;
}
