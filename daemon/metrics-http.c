/* The metrics over HTTP (see metrics-http.h). */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "metrics-http.h"
#include "runtime.h"
#include "xmalloc.h"

static struct evhttp *http;
static void (*render_text)(struct evbuffer *out);

static void
metrics_http_cb(struct evhttp_request *req, void *arg UNUSED)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *body;

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is here");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
				  "GET, HEAD");
		evhttp_send_error(req, 405, "only GET");
		return;
	}
	body = evbuffer_new();
	render_text(body);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

int
metrics_http_listen(const char *addr_port, void (*render)(struct evbuffer *out))
{
	char *host = xstrdup(addr_port), *colon = strrchr(host, ':'), *end;
	long port;

	if (colon == NULL || colon == host)
		goto bad;
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		goto bad;
	if (host[0] == '[') { /* [::1]:9101 */
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']')
			goto bad;
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	render_text = render;
	http = evhttp_new(daemon_base);
	if (http == NULL)
		fatalx("cannot allocate the metrics listener");
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
						 EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						 EVHTTP_REQ_DELETE);
	evhttp_set_gencb(http, metrics_http_cb, NULL);
	evhttp_set_timeout(http, 10);
	if (evhttp_bind_socket(http, host, (ev_uint16_t)port) < 0) {
		log_warn("--metrics-listen %s: cannot listen", addr_port);
		free(host);
		return -1;
	}
	log_info("metrics on http://%s/metrics", addr_port);
	free(host);
	return 0;
bad:
	log_warnx("--metrics-listen %s: expected ADDRESS:PORT", addr_port);
	free(host);
	return -1;
}

void
metrics_http_free(void)
{
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
}
