/* jwks_fetch.c — see jwks_fetch.h. A worker keeps a short list of URLs (a policy names one; a data plane rarely
 * sees more than a handful), each with its current key set, one fetch in flight at most and the requests
 * waiting for it. */
#include "policy/auth/jwks_fetch.h"

#include "backoff.h"
#include "clock.h"
#include "policy/auth/auth_redact.h"
#include "policy/curl_loop.h"
#include "log.h"
#include "loop/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URLS 64
#define MAX_JWKS_BYTES (1u << 20)

struct source;

struct tg_jwks_wait {
    struct source *src;
    void (*cb)(void *arg, const struct tg_jwks *keys);
    void *arg;
    struct tg_jwks_wait *next, *prev;
};

struct source {
    char *url;
    struct tg_jwks keys;
    int have_keys;
    uint64_t fetched_ms;      /* monotonic time of the last successful fetch */
    uint64_t attempt_ms;      /* monotonic time the last fetch started */
    uint64_t miss_ms;         /* monotonic time of the last refresh asked for by an unknown kid (0: none) */
    uint64_t retry_after_ms;  /* after a failure: no new fetch until then (backoff), whether keys serve or not */
    struct tg_backoff backoff; /* TG_JWKS_RETRY_MS doubling up to TG_JWKS_REFRESH_MS; reset by a success */
    uint64_t used_ms;
    struct tg_curl_req *req;
    struct tg_jwks_wait *waiters;
    struct source *next;
    struct fetcher *f;
};

struct fetcher {
    struct tg_worker *w;
    struct tg_curl_loop *curl;
    struct source *sources;
    size_t count;
};

static void source_free(struct source *s)
{
    if (s->req)
        tg_curl_request_cancel(s->req);
    tg_jwks_free(&s->keys);
    free(s->url);
    free(s);
}

static void deliver(struct source *s, const struct tg_jwks *keys)
{
    while (s->waiters) {
        struct tg_jwks_wait *wt = s->waiters;
        s->waiters = wt->next;
        if (s->waiters)
            s->waiters->prev = NULL;
        void (*cb)(void *, const struct tg_jwks *) = wt->cb;
        void *arg = wt->arg;
        free(wt);
        cb(arg, keys);
    }
}

static void fetcher_free(struct tg_worker *w, void *p)
{
    struct fetcher *f = p;
    tg_curl_loop_free(f->curl); /* pending fetches end: their waiters hear "unavailable" */
    f->curl = NULL;
    while (f->sources) {
        struct source *s = f->sources;
        f->sources = s->next;
        s->req = NULL;
        deliver(s, NULL);
        source_free(s);
    }
    free(f);
    w->slots[TG_WORKER_SLOT_JWKS] = NULL;
}

static struct fetcher *fetcher_of(struct tg_worker *w)
{
    struct fetcher *f = w->slots[TG_WORKER_SLOT_JWKS];
    if (f)
        return f;
    f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->w = w;
    f->curl = tg_curl_loop_new(w->loop);
    if (!f->curl) {
        free(f);
        return NULL;
    }
    w->slots[TG_WORKER_SLOT_JWKS] = f;
    w->slot_free[TG_WORKER_SLOT_JWKS] = fetcher_free;
    return f;
}

struct skip_ctx {
    char url[512]; /* loggable: tg_redact_url */
};

static void on_skip(void *arg, size_t index, const char *why)
{
    struct skip_ctx *sc = arg;
    tg_warn("jwks %s: key %zu skipped: %s", sc->url, index, why);
}

static void on_fetched(void *arg, const struct tg_curl_response *r)
{
    struct source *s = arg;
    s->req = NULL;
    struct tg_jwks fresh;
    char err[200] = "";
    struct skip_ctx sc;
    tg_redact_url(s->url, sc.url, sizeof sc.url);
    int ok = r->outcome == TG_CURL_OK && r->status == 200 &&
             tg_jwks_parse_text(r->body, r->body_len, &fresh, NULL, s->f->w->id == 0 ? on_skip : NULL, &sc, err,
                                sizeof err) == 0;
    if (ok) {
        tg_jwks_free(&s->keys);
        s->keys = fresh;
        s->have_keys = 1;
        s->fetched_ms = tg_now_ms();
        s->retry_after_ms = 0;
        tg_backoff_reset(&s->backoff);
    } else {
        if (r->outcome != TG_CURL_ABORTED && s->f->w->id == 0)
            tg_warn("jwks %s: fetch failed (%s)", sc.url,
                    r->outcome != TG_CURL_OK ? r->error : r->status != 200 ? "HTTP status not 200" : err);
        if (r->outcome != TG_CURL_ABORTED) /* never a fetch per request against a failing server */
            s->retry_after_ms = tg_now_ms() + tg_backoff_next(&s->backoff);
    }
    deliver(s, s->have_keys ? &s->keys : NULL);
}

static int start_fetch(struct fetcher *f, struct source *s)
{
    if (s->req)
        return 0;
    const char *headers[] = {"Accept: application/json, application/jwk-set+json", NULL};
    struct tg_curl_request_spec spec = {.url = s->url, .headers = headers, .connect_timeout_ms = 2000,
                                        .timeout_ms = 5000, .max_body = MAX_JWKS_BYTES};
    s->attempt_ms = tg_now_ms();
    s->req = tg_curl_request(f->curl, &spec, on_fetched, s);
    return s->req ? 0 : -1;
}

static struct source *find_or_add(struct fetcher *f, const char *url)
{
    struct source **pp, *oldest = NULL;
    for (struct source *s = f->sources; s; s = s->next) {
        if (strcmp(s->url, url) == 0)
            return s;
        if (!s->req && !s->waiters && (!oldest || s->used_ms < oldest->used_ms))
            oldest = s;
    }
    if (f->count >= MAX_URLS && oldest) { /* URLs no policy uses any more age out */
        for (pp = &f->sources; *pp != oldest; pp = &(*pp)->next)
            ;
        *pp = oldest->next;
        source_free(oldest);
        f->count--;
    }
    struct source *s = calloc(1, sizeof *s);
    if (!s || !(s->url = strdup(url))) {
        free(s);
        return NULL;
    }
    s->f = f;
    tg_backoff_init(&s->backoff, TG_JWKS_RETRY_MS, TG_JWKS_REFRESH_MS, (uint64_t)tg_worker_random(f->w) | 1);
    s->next = f->sources;
    f->sources = s;
    f->count++;
    return s;
}

int tg_jwks_fetch_get(struct tg_worker *w, const char *url, int refresh, const struct tg_jwks **keys,
                      void (*cb)(void *arg, const struct tg_jwks *keys), void *arg, struct tg_jwks_wait **wait)
{
    struct fetcher *f = fetcher_of(w);
    struct source *s = f ? find_or_add(f, url) : NULL;
    if (!s)
        return -1;
    uint64_t now = tg_now_ms();
    s->used_ms = now;
    int backing_off = now < s->retry_after_ms;
    int kid_refresh = refresh && !(backing_off && s->have_keys) &&
                      (!s->miss_ms || now - s->miss_ms >= TG_JWKS_KID_MISS_MS);
    if (kid_refresh)
        s->miss_ms = now;
    int must_wait = !s->have_keys || kid_refresh || (refresh && s->req);
    if (!must_wait) {
        if (now - s->fetched_ms >= TG_JWKS_REFRESH_MS && !backing_off)
            start_fetch(f, s); /* background refresh; the known keys serve meanwhile */
        *keys = &s->keys;
        return 1;
    }
    if (!s->have_keys && !s->req && backing_off)
        return -1;
    if (start_fetch(f, s) < 0)
        return s->have_keys ? (*keys = &s->keys, 1) : -1;
    struct tg_jwks_wait *wt = calloc(1, sizeof *wt);
    if (!wt)
        return -1;
    wt->src = s;
    wt->cb = cb;
    wt->arg = arg;
    wt->next = s->waiters;
    if (s->waiters)
        s->waiters->prev = wt;
    s->waiters = wt;
    *wait = wt;
    return 0;
}

void tg_jwks_fetch_cancel(struct tg_jwks_wait *wt)
{
    if (!wt)
        return;
    struct source *s = wt->src;
    if (wt->prev)
        wt->prev->next = wt->next;
    else
        s->waiters = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    free(wt);
}
