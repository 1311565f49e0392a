/* curl_loop.c — see curl_loop.h. The socket callback keeps one ev_io per socket libcurl wants watched (attached
 * with curl_multi_assign); the timer callback arms one ev_timer; both events end in curl_multi_socket_action and
 * a sweep of finished transfers. Completed transfers are removed from the multi handle before their callback
 * runs, so a callback may start or cancel other requests freely. */
#include "curl_loop.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct tg_curl_loop;

struct sock_watch {
    ev_io io;
    struct tg_curl_loop *cl;
    struct sock_watch *next, *prev;
};

struct tg_curl_loop {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    struct tg_curl_req *pending; /* doubly linked list of requests in flight */
    struct sock_watch *watches;  /* every socket watch, for the final cleanup */
};

struct tg_curl_req {
    struct tg_curl_loop *cl;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t body_len, body_cap, max_body;
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
    void (*done)(void *arg, const struct tg_curl_response *r);
    void *arg;
    struct tg_curl_req *next, *prev;
    int linked; /* in cl->pending */
};

static void unlink_watch(struct tg_curl_loop *cl, struct sock_watch *sw)
{
    if (sw->prev)
        sw->prev->next = sw->next;
    else
        cl->watches = sw->next;
    if (sw->next)
        sw->next->prev = sw->prev;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

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
        curl_multi_remove_handle(r->cl->multi, r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r);
}

static void finish(struct tg_curl_req *r, enum tg_curl_outcome outcome)
{
    struct tg_curl_response resp = {.outcome = outcome, .body = r->body ? r->body : "", .body_len = r->body_len};
    if (r->easy)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
    if (r->too_large)
        resp.outcome = TG_CURL_TOO_LARGE;
    resp.error = outcome == TG_CURL_FAILED ? (r->errbuf[0] ? r->errbuf : "transfer failed")
                 : resp.outcome == TG_CURL_TOO_LARGE ? "response too large"
                 : outcome == TG_CURL_ABORTED      ? "aborted"
                                                   : NULL;
    unlink_req(r);
    if (r->easy) {
        curl_multi_remove_handle(r->cl->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    r->done(r->arg, &resp);
    free_req(r);
}

static void sweep(struct tg_curl_loop *cl)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(cl->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct tg_curl_req *r = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        CURLcode code = msg->data.result;
        if (r)
            finish(r, code == CURLE_OK ? TG_CURL_OK : TG_CURL_FAILED);
    }
}

static void on_socket_event(struct ev_loop *loop, ev_io *io, int revents)
{
    struct sock_watch *sw = (struct sock_watch *)io;
    struct tg_curl_loop *cl = sw->cl;
    int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running = 0;
    curl_multi_socket_action(cl->multi, io->fd, flags, &running);
    sweep(cl);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_curl_loop *cl = t->data;
    int running = 0;
    curl_multi_socket_action(cl->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    sweep(cl);
}

/* CURLMOPT_SOCKETFUNCTION */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct tg_curl_loop *cl = userp;
    struct sock_watch *sw = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sw) {
            ev_io_stop(cl->loop, &sw->io);
            curl_multi_assign(cl->multi, s, NULL);
            unlink_watch(cl, sw);
            free(sw);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!sw) {
        sw = calloc(1, sizeof *sw);
        if (!sw)
            return -1;
        sw->cl = cl;
        sw->next = cl->watches;
        if (cl->watches)
            cl->watches->prev = sw;
        cl->watches = sw;
        ev_io_init(&sw->io, on_socket_event, s, events);
        curl_multi_assign(cl->multi, s, sw);
    } else {
        ev_io_stop(cl->loop, &sw->io);
        ev_io_set(&sw->io, s, events);
    }
    ev_io_start(cl->loop, &sw->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "call socket_action soon" (from the loop, not here) */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct tg_curl_loop *cl = userp;
    ev_timer_stop(cl->loop, &cl->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&cl->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(cl->loop, &cl->timer);
    }
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
    struct tg_curl_req *r = userp;
    size_t n = size * nmemb;
    if (r->body_len + n > r->max_body) {
        r->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return 0;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

struct tg_curl_loop *tg_curl_loop_new(struct ev_loop *loop)
{
    pthread_once(&global_once, global_init);
    struct tg_curl_loop *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->loop = loop;
    cl->multi = curl_multi_init();
    if (!cl->multi) {
        free(cl);
        return NULL;
    }
    ev_timer_init(&cl->timer, on_timer, 0., 0.);
    cl->timer.data = cl;
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_SOCKETDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(cl->multi, CURLMOPT_TIMERDATA, cl);
    curl_multi_setopt(cl->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
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
    ev_timer_stop(cl->loop, &cl->timer);
    curl_multi_cleanup(cl->multi);
    struct sock_watch *sw = cl->watches; /* sockets of the connection cache closed without a REMOVE */
    cl->watches = NULL;
    while (sw) {
        struct sock_watch *next = sw->next;
        ev_io_stop(cl->loop, &sw->io);
        free(sw);
        sw = next;
    }
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
    if (curl_multi_add_handle(cl->multi, e) != CURLM_OK)
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
