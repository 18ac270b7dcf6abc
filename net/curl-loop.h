/* libcurl's multi interface driven by asyncd-net's event loop: one multi
 * handle, its sockets watched by libevent, its timer a libevent timer. No
 * thread per transfer. All of it runs on the loop thread. */
#ifndef ASYNCD_CURL_LOOP_H
#define ASYNCD_CURL_LOOP_H

#include <curl/curl.h>
#include <event2/event.h>

/* Called on the loop once a transfer added with curl_loop_add() has
 * ended, after its handle left the multi handle: the callee owns EASY
 * again and may clean it up, or set it up and add it once more. */
typedef void (*curl_loop_done_fn)(CURL *easy, CURLcode result, void *arg);

/* The result curl_loop_free() hands a transfer back with: not one of
 * libcurl's. The owner cleans up; nothing can be added any more. */
#define CURL_LOOP_DROPPED ((CURLcode)CURL_LAST)

/* Sets up the multi handle on BASE. */
void curl_loop_init(struct event_base *base);
/* Takes the transfers still added out of libcurl and hands each back to
 * its done callback with CURL_LOOP_DROPPED, so that its owner frees what
 * it holds; then frees the multi handle. */
void curl_loop_free(void);
/* Starts EASY; DONE follows exactly once unless curl_loop_remove() comes
 * first. Uses CURLOPT_PRIVATE. Returns 0, or -1 if libcurl refused (or
 * the loop is being freed). */
int curl_loop_add(CURL *easy, curl_loop_done_fn done, void *arg);
/* Stops EASY without its done callback. Never call it from a libcurl
 * callback (write, header, progress...): stop from there by returning an
 * error to libcurl, and the done callback follows. */
void curl_loop_remove(CURL *easy);
/* Transfers added and not yet done or removed. */
unsigned curl_loop_running(void);

#endif
