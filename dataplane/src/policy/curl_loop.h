/* curl_loop.h — libcurl's multi interface driven by one worker's libev loop (the glue is common/curl_ev.h), so
 * the policies' own HTTP calls (RFC 7662 introspection, JWKS fetches) never block the worker. Name resolution
 * uses libcurl's threaded resolver. One tg_curl_loop per worker per user, created lazily on the worker thread.
 *
 * A request ends with exactly one call of its done callback (on the worker's loop, never from inside
 * tg_curl_request), unless it was cancelled first; tg_curl_loop_free ends the pending ones with
 * TG_CURL_ABORTED. Responses are bounded (max_body): a longer one fails with TG_CURL_TOO_LARGE. */
#ifndef TG_CURL_LOOP_H
#define TG_CURL_LOOP_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct tg_curl_loop;
struct tg_curl_req;

enum tg_curl_outcome { TG_CURL_OK = 0, TG_CURL_FAILED, TG_CURL_TOO_LARGE, TG_CURL_ABORTED };

struct tg_curl_response {
    enum tg_curl_outcome outcome;
    long status;            /* HTTP status (0 when no response) */
    const char *body;       /* NUL-terminated (valid during the callback) */
    size_t body_len;
    const char *error;      /* libcurl's reason when FAILED (no credentials in it) */
};

struct tg_curl_request_spec {
    const char *url;
    const char *post_body;  /* NULL: GET; else POST of these bytes (not copied: must live until done/cancel) */
    size_t post_len;
    const char *const *headers; /* NULL-terminated "Name: value" lines, copied */
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
    size_t max_body;
};

struct tg_curl_loop *tg_curl_loop_new(struct ev_loop *loop);
/* Ends pending requests (their done gets TG_CURL_ABORTED) and frees everything. */
void tg_curl_loop_free(struct tg_curl_loop *cl);

/* Starts a request. Returns its handle, or NULL when it could not be started (done is not called then). */
struct tg_curl_req *tg_curl_request(struct tg_curl_loop *cl, const struct tg_curl_request_spec *spec,
                                    void (*done)(void *arg, const struct tg_curl_response *r), void *arg);
/* Abandons a pending request: done is never called for it. */
void tg_curl_request_cancel(struct tg_curl_req *req);

#endif
