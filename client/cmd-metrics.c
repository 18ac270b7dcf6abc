/* asyncctl metrics: the daemon's figures in the Prometheus text format,
 * on stdout or written atomically to a file for node_exporter's textfile
 * collector. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "asyncctl.h"
#include "render.h"

/* Writes LEN bytes of TEXT to PATH: a temporary file beside it, synced,
 * then renamed over it, so that a reader never sees half of it. */
static int
write_textfile(const char *path, const char *text, size_t len)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 16);
	int fd, err = 0;

	if (tmp == NULL)
		return ENOMEM;
	snprintf(tmp, n + 16, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		err = errno;
		free(tmp);
		return err;
	}
	for (size_t off = 0; off < len && err == 0;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno != EINTR)
			err = errno;
		else if (w > 0)
			off += (size_t)w;
	}
	/* Readable by the exporter, which often runs as another user. */
	if (err == 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		err = errno;
	if (close(fd) < 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) < 0)
		err = errno;
	if (err != 0)
		unlink(tmp);
	free(tmp);
	return err;
}

int
cmd_metrics(struct ctl *ctl, int argc, char **argv)
{
	struct json_object *r;
	const char *text;
	int status, err;

	if (argc != 0)
		return ctl_usage("metrics", "unexpected argument: %s", argv[0]);
	if ((r = ctl_call(ctl, "daemon.metrics", NULL, &status)) == NULL)
		return status;
	text = json_object_get_string(
		render_get(render_get(r, "result"), "text"));
	if (text == NULL)
		text = "";
	if (ctl->textfile != NULL) {
		if ((err = write_textfile(ctl->textfile, text, strlen(text))) != 0) {
			fprintf(stderr, "asyncctl: %s: %s\n", ctl->textfile,
				strerror(err));
			json_object_put(r);
			return EXIT_JOB_FAILED;
		}
	} else if (!ctl->json) {
		fputs(text, stdout);
	}
	json_object_put(r);
	return EXIT_OK;
}
