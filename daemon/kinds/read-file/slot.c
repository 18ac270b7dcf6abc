/* One read of a read-file job: what a worker does for it (read it, bring
 * it into the page cache, cut and encode it) and how the loop sends what
 * it brought, in the form the watchers take when its turn comes. */
#include <errno.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "../../output-buf.h"
#include "../../output-encode.h"
#include "../../output-frame.h"
#include "../../pool.h"
#include "read-file.h"

/* Worker: brings one chunk into the page cache without copying it,
 * learning how much of it there is. False when the file cannot do that
 * (the chunk is read as usual then). */
static bool
read_slot_cache(struct pool_work *w, struct read_slot *slot)
{
	while (slot->got < slot->len && !pool_cancelled(w)) {
		off_t at = (off_t)(slot->offset + slot->got);
		ssize_t n = sendfile(slot->rf->null_fd, slot->rf->fd, &at,
				     slot->len - slot->got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && slot->got == 0 &&
		    (errno == EINVAL || errno == ENOSYS))
			return false;
		if (n < 0) {
			slot->err = errno;
			return true;
		}
		if (n == 0)
			break;
		slot->got += (size_t)n;
	}
	/* The frame's last byte goes from memory (job_output_file()). */
	if (slot->got == 0 || slot->err != 0 ||
	    pread(slot->rf->fd, &slot->last, 1,
		  (off_t)(slot->offset + slot->got - 1)) == 1)
		return true;
	slot->got = 0; /* the file shrank meanwhile: read it as usual */
	slot->err = 0;
	return false;
}

/* Reads one chunk, all of it unless the file ends first. */
void
read_slot_work(struct pool_work *w, void *arg)
{
	struct read_slot *slot = arg;
	ssize_t n;

	slot->got = 0;
	slot->err = 0;
	if (slot->by_file && read_slot_cache(w, slot))
		return;
	slot->by_file = false;
	while (slot->got < slot->len && !pool_cancelled(w)) {
		n = pread(slot->rf->fd, slot->buf->data + slot->got,
			  slot->len - slot->got,
			  (off_t)(slot->offset + slot->got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			slot->err = errno;
			return;
		}
		if (n == 0)
			return;
		slot->got += (size_t)n;
	}
}

/* Worker: cuts and encodes a slot's bytes for JSON watchers. The loop
 * leaves the encoder alone meanwhile: this slot is the one it waits for. */
static void
read_slot_encode_work(struct pool_work *w, void *arg)
{
	struct read_slot *slot = arg;

	if (pool_cancelled(w))
		return;
	slot->encoded = output_encode(&slot->rf->enc, slot->buf->data,
				      slot->got);
}

void
read_slot_sink(void *arg, enum chunk_encoding enc, uint64_t offset,
	       const unsigned char *raw, size_t len)
{
	struct read_slot_out *o = arg;

	job_output_chunk(o->rf->job,
			 &(struct output_chunk){.stream = STREAM_DATA,
						.offset = offset,
						.enc = enc,
						.raw = raw,
						.len = len,
						.buf = o->slot != NULL
							       ? o->slot->buf
							       : NULL});
}

/* Hands SLOT to a worker again: to ENCODE its bytes, or to read them into
 * memory (it was only brought into the page cache). */
static void
read_slot_rework(struct read_file *rf, struct read_slot *slot, bool encode,
		 pool_done_fn done)
{
	slot->ready = false;
	rf->inflight++;
	if (encode) {
		slot->work = pool_submit(read_slot_encode_work, done, slot);
		return;
	}
	slot->by_file = false;
	slot->got = 0;
	slot->err = ECANCELED; /* unless the work runs */
	slot->work = pool_submit(read_slot_work, done, slot);
}

/* Sends the chunks a worker encoded: good for any watcher. */
static void
read_slot_send_encoded(struct read_file *rf, struct read_slot *slot)
{
	for (size_t i = 0; i < slot->encoded->n; i++) {
		struct output_chunk c = output_encoded_chunk(
			slot->encoded, i, STREAM_DATA, slot->buf);
		job_output_chunk(rf->job, &c);
	}
}

/* JSON needs the bytes in memory and encoded, both done on a worker;
 * binary frames take a file range, or the bytes cut anywhere. */
bool
read_slot_send(struct read_file *rf, struct read_slot *slot,
	       pool_done_fn done)
{
	struct read_slot_out out = {rf, slot};
	struct job *job = rf->job;

	if (slot->encoded != NULL) {
		read_slot_send_encoded(rf, slot);
		return true;
	}
	if (job_output_wants_json(job)) {
		read_slot_rework(rf, slot, !slot->by_file, done);
		return false;
	}
	if (slot->by_file && rf->enc.ncarry == 0 && job_output_to_files(job) &&
	    job_output_file(job, STREAM_DATA, rf->enc.offset, rf->fd,
			    slot->offset, slot->got, slot->last) == 0) {
		rf->enc.offset += slot->got;
		return true;
	}
	if (slot->by_file) {
		read_slot_rework(rf, slot, false, done);
		return false;
	}
	chunk_write_raw(&rf->enc, slot->buf->data, slot->got, read_slot_sink,
			&out);
	return true;
}
