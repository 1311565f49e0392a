/* curl_ev.h — libcurl's multi interface driven by a libev loop, shared by the controller's Kubernetes client
 * (kube_client.c) and the data plane's policy fetches (curl_loop.c).
 *
 * Owns: the multi handle's lifecycle, curl's multi_socket contract (CURLMOPT_SOCKETFUNCTION → one ev_io per
 * socket curl wants watched, CURLMOPT_TIMERFUNCTION → one ev_timer; both end in curl_multi_socket_action), the
 * sweep of finished transfers (curl_multi_info_read) and their dispatch to the owner, and the bounded response
 * body both owners accumulate. Nothing blocks the loop and no thread is started (name resolution is libcurl's
 * own threaded resolver).
 *
 * The owner keeps its requests: it sets CURLOPT_PRIVATE on each easy handle and adds it with
 * curl_multi_add_handle(tg_curl_ev_multi(ev), easy). When a transfer ends, ev removes the easy handle from
 * the multi handle and then calls hooks.done with the CURLOPT_PRIVATE pointer and libcurl's result; the easy
 * handle is the owner's again (to clean up or reuse). libcurl forbids re-entering the multi handle from its
 * own callbacks (a write callback runs inside curl_multi_socket_action): tg_curl_ev_busy() says when curl is
 * on the stack, and hooks.settle (optional) runs once it is off it, before and after the sweep, for an owner
 * that deferred adds and removals meanwhile. hooks.done itself always runs with curl off the stack, so it may
 * add or remove easy handles freely.
 */
#ifndef TG_CURL_EV_H
#define TG_CURL_EV_H

#include <curl/curl.h>
#include <ev.h>
#include <stddef.h>

struct tg_curl_ev;

struct tg_curl_ev_hooks {
    /* A finished transfer: req is its CURLOPT_PRIVATE, result libcurl's code for it. Required. */
    void (*done)(void *ud, void *req, CURLcode result);
    /* Curl is off the stack (see above). Optional. */
    void (*settle)(void *ud);
};

/* Initializes libcurl once per process (thread-safe) and creates a multi handle on loop. hooks is copied; ud
 * is passed to each hook. Returns NULL when libcurl cannot be initialized or memory is exhausted. */
struct tg_curl_ev *tg_curl_ev_new(struct ev_loop *loop, const struct tg_curl_ev_hooks *hooks, void *ud);
/* Stops the timer, cleans up the multi handle and frees the socket watches left (those of cached connections
 * closed without a CURL_POLL_REMOVE). Every easy handle must have been removed from the multi handle first.
 * NULL is a no-op. */
void tg_curl_ev_free(struct tg_curl_ev *ev);

/* The multi handle, for the owner's CURLMOPT_* options and curl_multi_add_handle/remove_handle calls. */
CURLM *tg_curl_ev_multi(const struct tg_curl_ev *ev);
/* Non-zero while curl_multi_socket_action is on the stack: the multi handle must not be touched then. */
int tg_curl_ev_busy(const struct tg_curl_ev *ev);

/* A response body accumulated by a CURLOPT_WRITEFUNCTION, bounded by its owner. All-zero is an empty body. */
struct tg_curl_body {
    char *data;      /* NUL-terminated while len > 0; NULL until the first byte */
    size_t len, cap;
    unsigned too_large : 1; /* an append would have passed the bound */
};

/* Appends n bytes when the body stays within max bytes. Returns 0, or -1 when it would pass max (too_large
 * is set; nothing is appended) or memory is exhausted. A write callback returns 0 to libcurl on -1, which
 * aborts the transfer. */
int tg_curl_body_append(struct tg_curl_body *b, const char *p, size_t n, size_t max);
/* Frees the bytes; b is all-zero again. */
void tg_curl_body_free(struct tg_curl_body *b);

#endif
