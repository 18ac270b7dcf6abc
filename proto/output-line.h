/* Reading job.output events without a general JSON parser. A client that
 * streams a large file gets almost all of it as job.output lines, and
 * json-c takes each byte through its state machine; these lines have one
 * fixed layout (the daemon writes them by hand), so a client can take
 * them apart directly, and hand any line that does not match exactly to
 * json-c as before. */
#ifndef ASYNCD_OUTPUT_LINE_H
#define ASYNCD_OUTPUT_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct output_event {
	uint64_t id, seq, offset;
	char stream[8];   /* "data", "stdout" or "stderr" */
	bool base64;      /* else "utf-8" */
	const char *data; /* the JSON string's contents, inside LINE */
	size_t data_len;
};

/* Takes apart the part every job.output line in the daemon's layout
 * shares, up to the encoding's opening quote, filling EV's id, seq,
 * stream and offset; returns where the encoding's name starts, or NULL.
 * END is where the line ends. */
const char *outline_parse_head(const char *line, const char *end,
			       struct output_event *ev);
/* Recognises LINE as a job.output event in the daemon's layout; false
 * for anything else. */
bool outline_parse(const char *line, size_t len, struct output_event *ev);
/* Decodes EV's data into OUT (room for ev->data_len bytes). Returns the
 * number of bytes, or -1 when the data holds something this decoder does
 * not take (the caller falls back to json-c). */
long outline_decode(const struct output_event *ev, unsigned char *out);
/* Parses LINE and decodes its data into *BUF (grown as needed, *SIZE
 * bytes); the decoded length, or -1 when LINE is not such an event. */
long outline_read(const char *line, size_t len, struct output_event *ev,
		  unsigned char **buf, size_t *size);

#endif
