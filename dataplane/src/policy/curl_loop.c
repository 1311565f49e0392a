/* curl_loop.c — see curl_loop.h. The libcurl/libev glue is curl_ev.h; this file owns the requests (headers,
 * timeouts, bounded body, outcome) and the list of those in flight, so that tg_curl_loop_free can end them.
 * Completed transfers are out of the multi handle before their callback runs, so a callback may start or cancel
 * other requests freely.
 * Timers: the one raw ev_timer on this path is libcurl's own (CURLMOPT_TIMERFUNCTION), inside common/curl_ev.c,
 * which the controller shares and which knows no worker wheel; curl re-arms it on every socket action, so it
 * is one watcher per tg_curl_loop, not one per request. Everything else in policy/ runs on the worker's wheel. */
#include "policy/curl_loop.h"

#include "curl_ev.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct tg_curl_loop {
    struct tg_curl_ev *ev;
    struct tg_curl_req *pending; /* doubly linked list of requests in flight */
};

struct tg_curl_req {
    struct tg_curl_loop *cl;
    CURL *easy;
    struct curl_slist *headers;
    struct tg_curl_body body;
    size_t max_body;
    char errbuf[CURL_ERROR_SIZE];
    void (*done)(void *arg, const struct tg_curl_response *r);
    void *arg;
    struct tg_curl_req *next, *prev;
    int linked; /* in cl->pending */
};

static void unlink_req(struct tg_curl_req *r)
{
    struct tg_curl_loop *cl = r->cl;
    if (!r->linked)
        return;
    r->linked = 0;
    if (r->prev)
        r->prev->next = r->next;
    else
        cl->pending = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->next = r->prev = NULL;
}

static void free_req(struct tg_curl_req *r)
{
    if (r->easy) {
        curl_multi_remove_handle(tg_curl_ev_multi(r->cl->ev), r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    tg_curl_body_free(&r->body);
    free(r);
}

static void finish(struct tg_curl_req *r, enum tg_curl_outcome outcome)
{
    struct tg_curl_response resp = {.outcome = outcome, .body = r->body.data ? r->body.data : "",
                                    .body_len = r->body.len};
    if (r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
    if (r->body.too_large)
        resp.outcome = TG_CURL_TOO_LARGE;
    resp.error = outcome == TG_CURL_FAILED ? (r->errbuf[0] ? r->errbuf : "transfer failed")
                 : resp.outcome == TG_CURL_TOO_LARGE ? "response too large"
                 : outcome == TG_CURL_ABORTED      ? "aborted"
                                                   : NULL;
    unlink_req(r);
    if (r->easy) {
        curl_multi_remove_handle(tg_curl_ev_multi(r->cl->ev), r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    r->done(r->arg, &resp);
    free_req(r);
}

/* curl_ev's done hook. */
static void on_transfer_done(void *ud, void *req, CURLcode code)
{
    finish(req, code == CURLE_OK ? TG_CURL_OK : TG_CURL_FAILED);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct tg_curl_req *r = userp;
    size_t n = size * nmemb;
    return tg_curl_body_append(&r->body, data, n, r->max_body) == 0 ? n : 0; /* 0 aborts the transfer */
}

struct tg_curl_loop *tg_curl_loop_new(struct ev_loop *loop)
{
    struct tg_curl_loop *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    const struct tg_curl_ev_hooks hooks = {.done = on_transfer_done};
    cl->ev = tg_curl_ev_new(loop, &hooks, cl);
    if (!cl->ev) {
        free(cl);
        return NULL;
    }
    curl_multi_setopt(tg_curl_ev_multi(cl->ev), CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    return cl;
}

void tg_curl_loop_free(struct tg_curl_loop *cl)
{
    if (!cl)
        return;
    while (cl->pending) {
        struct tg_curl_req *r = cl->pending;
        cl->pending = r->next; /* unlinked here, so finish leaves the list alone */
        if (cl->pending)
            cl->pending->prev = NULL;
        r->next = r->prev = NULL;
        r->linked = 0;
        finish(r, TG_CURL_ABORTED);
    }
    tg_curl_ev_free(cl->ev);
    free(cl);
}

struct tg_curl_req *tg_curl_request(struct tg_curl_loop *cl, const struct tg_curl_request_spec *spec,
                                    void (*done)(void *arg, const struct tg_curl_response *r), void *arg)
{
    struct tg_curl_req *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cl = cl;
    r->done = done;
    r->arg = arg;
    r->max_body = spec->max_body ? spec->max_body : 65536;
    r->easy = curl_easy_init();
    if (!r->easy)
        goto fail;
    for (size_t i = 0; spec->headers && spec->headers[i]; i++) {
        struct curl_slist *h = curl_slist_append(r->headers, spec->headers[i]);
        if (!h)
            goto fail;
        r->headers = h;
    }
    if (spec->post_body) { /* no "Expect: 100-continue" round trip */
        struct curl_slist *h = curl_slist_append(r->headers, "Expect:");
        if (!h)
            goto fail;
        r->headers = h;
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, spec->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(spec->connect_timeout_ms ? spec->connect_timeout_ms : 2000));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(spec->timeout_ms ? spec->timeout_ms : 5000));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (spec->post_body) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, spec->post_body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)spec->post_len);
    }
    if (curl_multi_add_handle(tg_curl_ev_multi(cl->ev), e) != CURLM_OK)
        goto fail;
    r->next = cl->pending;
    if (cl->pending)
        cl->pending->prev = r;
    cl->pending = r;
    r->linked = 1;
    return r;
fail:
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = NULL;
    curl_slist_free_all(r->headers);
    free(r);
    return NULL;
}

void tg_curl_request_cancel(struct tg_curl_req *r)
{
    if (!r)
        return;
    unlink_req(r);
    free_req(r);
}
