/* --metrics-listen ADDR:PORT: GET /metrics (and HEAD) over HTTP with
 * libevent's evhttp, for a Prometheus server to scrape. Nothing else is
 * served there: another path is 404, another method 405. */
#ifndef ASYNCD_METRICS_HTTP_H
#define ASYNCD_METRICS_HTTP_H

struct evbuffer;

/* Listens on ADDR:PORT ("127.0.0.1:9101", "[::1]:9101"); RENDER appends
 * the text. Returns 0, or -1 after logging why. */
int metrics_http_listen(const char *addr_port,
			void (*render)(struct evbuffer *out));
void metrics_http_free(void);

#endif
