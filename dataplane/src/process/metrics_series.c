/* metrics_series.c — see metrics_series.h. */
#include "process/metrics_series.h"

#include "histogram.h"
#include "strmap.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLASSES 5 /* 1xx .. 5xx (a status outside 100..599 counts in the nearest class) */
static const char *const class_names[CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

/* WebSocket close codes kept as their own label value (RFC 6455 §7.4.1 and the IANA registry's 1012-1014);
 * everything else is "other". */
static const unsigned close_codes[] = {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008,
                                       1009, 1010, 1011, 1012, 1013, 1014, 1015};
#define CLOSE_CODES (sizeof close_codes / sizeof close_codes[0])
#define CLOSE_SLOTS (CLOSE_CODES + 1) /* + other */
static const char *const closed_by_names[] = {"client", "backend", "proxy", "none"};
#define CLOSED_BY 4

/* The policies' error codes (every literal passed to tg_policy_reject in dataplane/src/policy). */
static const char *const reasons[] = {
    "access.denied",          "auth.bad_subprotocols",        "auth.insufficient_scope",
    "auth.introspection_unavailable", "auth.invalid_api_key", "auth.invalid_token",
    "auth.jwks_unavailable",  "auth.missing_api_key",         "auth.missing_token",
    "auth.repeated_credential", "auth.token_expired",         "auth.token_revoked",
    "cors.headers_not_allowed", "cors.method_not_allowed",    "cors.origin_not_allowed",
    "policy.too_many_header_edits", "quota.exceeded",         "quota.unavailable",
    "spike_arrest.exceeded",
};

enum upstream_kind {
    UP_NO_ENDPOINTS, UP_CONNECT_REFUSED, UP_CONNECT_ERROR, UP_CONNECT_TIMEOUT, UP_RESPONSE_TIMEOUT, UP_RESET,
    UP_CLOSED, UP_BAD_RESPONSE, UP_TLS, UP_OTHER, UP_KINDS
};
static const char *const kind_names[UP_KINDS] = {
    "no_endpoints", "connect_refused", "connect_error", "connect_timeout", "response_timeout", "reset",
    "closed", "bad_response", "tls", "other",
};

struct series {
    char key[400];                /* environment '\n' proxy (neither holds a newline: the snapshot's names) */
    char environment[160];
    char proxy[200];
    _Atomic uint64_t by_class[CLASSES];
    struct tg_histogram request_duration;
    struct tg_histogram session_duration;
};

struct rejection {
    char key[480]; /* environment '\n' proxy '\n' policy '\n' reason */
    char environment[160], proxy[200], policy[48];
    const char *reason;
    _Atomic uint64_t count;
};

#define CACHE_SLOTS 64
struct cache_entry {
    const char *environment, *proxy; /* the caller's pointers (snapshot-owned); the names are compared too */
    struct series *series;
};

struct shard {
    pthread_mutex_t lock;         /* guards the maps (the scrape iterates them); the counters are atomics */
    struct tg_strmap series;      /* key → struct series */
    struct tg_strmap rejections;  /* key → struct rejection */
    struct series *overflow;
    struct cache_entry cache[CACHE_SLOTS];
    _Atomic uint64_t upstream[UP_KINDS];
    _Atomic uint64_t closes[CLOSE_SLOTS][CLOSED_BY];
};

static struct shard shards[TG_METRICS_MAX_WORKERS];
static int worker_count;

static void add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

const char *tg_metrics_reject_reason(const char *code)
{
    for (size_t i = 0; code && i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(code, reasons[i]) == 0)
            return reasons[i];
    return "other";
}

const char *tg_metrics_upstream_kind(const char *code, const char *detail)
{
    const char *d = detail ? detail : "";
    enum upstream_kind k = UP_OTHER;
    if (strcmp(code, "upstream.tls_failed") == 0 || strstr(d, "TLS") || strstr(d, "certificate"))
        k = UP_TLS;
    else if (strcmp(code, "upstream.no_endpoints") == 0)
        k = UP_NO_ENDPOINTS;
    else if (strcmp(code, "upstream.connect_timeout") == 0)
        k = UP_CONNECT_TIMEOUT;
    else if (strcmp(code, "upstream.timeout") == 0)
        k = UP_RESPONSE_TIMEOUT;
    else if (strcmp(code, "upstream.connect_failed") == 0)
        k = strstr(d, "refused") ? UP_CONNECT_REFUSED : UP_CONNECT_ERROR;
    else if (strstr(d, "reset"))
        k = UP_RESET;
    else if (strstr(d, "malformed") || strstr(d, "too large") || strstr(d, "invalid") || strstr(d, "switched"))
        k = UP_BAD_RESPONSE;
    else if (strstr(d, "closed"))
        k = UP_CLOSED;
    return kind_names[k];
}

static size_t close_slot(unsigned code)
{
    for (size_t i = 0; i < CLOSE_CODES; i++)
        if (close_codes[i] == code)
            return i;
    return CLOSE_CODES;
}

const char *tg_metrics_close_code_label(unsigned code)
{
    static const char *const labels[CLOSE_CODES] = {"1000", "1001", "1002", "1003", "1005", "1006", "1007", "1008",
                                                    "1009", "1010", "1011", "1012", "1013", "1014", "1015"};
    size_t i = close_slot(code);
    return i < CLOSE_CODES ? labels[i] : "other";
}

void tg_metrics_series_init(int num_workers)
{
    worker_count = num_workers > TG_METRICS_MAX_WORKERS ? TG_METRICS_MAX_WORKERS : num_workers;
    for (int i = 0; i < TG_METRICS_MAX_WORKERS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        tg_strmap_init(&shards[i].series);
        tg_strmap_init(&shards[i].rejections);
    }
}

static struct series *new_series(const char *key, size_t len, const char *environment, const char *proxy)
{
    struct series *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    memcpy(s->key, key, len + 1);
    snprintf(s->environment, sizeof s->environment, "%s", environment);
    snprintf(s->proxy, sizeof s->proxy, "%s", proxy);
    return s;
}

/* The worker's series of (environment, proxy): the cache, else the shard's map (created there while under the
 * cap, else the overflow series). NULL only when out of memory. */
static struct series *series_of(struct shard *sh, const char *environment, const char *proxy)
{
    size_t slot = (((uintptr_t)proxy >> 4) ^ ((uintptr_t)environment >> 3)) % CACHE_SLOTS;
    struct cache_entry *e = &sh->cache[slot];
    if (e->series && e->proxy == proxy && e->environment == environment && strcmp(e->series->proxy, proxy) == 0 &&
        strcmp(e->series->environment, environment) == 0)
        return e->series;
    char key[sizeof ((struct series *)0)->key];
    int len = snprintf(key, sizeof key, "%.159s\n%.199s", environment, proxy);
    if (len < 0)
        return NULL;
    pthread_mutex_lock(&sh->lock);
    struct series *s = tg_strmap_get(&sh->series, key, (size_t)len);
    if (!s && sh->series.count < TG_METRICS_MAX_SERIES) {
        s = new_series(key, (size_t)len, environment, proxy);
        if (s) {
            int err = 0;
            tg_strmap_put(&sh->series, s->key, (size_t)len, s, &err);
            if (err) {
                free(s);
                s = NULL;
            }
        }
    } else if (!s) {
        if (!sh->overflow)
            sh->overflow = new_series("_overflow\n_overflow", 19, "_overflow", "_overflow");
        s = sh->overflow;
    }
    pthread_mutex_unlock(&sh->lock);
    if (s && s != sh->overflow) {
        e->environment = environment;
        e->proxy = proxy;
        e->series = s;
    }
    return s;
}

static void count_rejection(struct shard *sh, const struct tg_request_outcome *o)
{
    const char *reason = tg_metrics_reject_reason(o->reject_code);
    char key[sizeof ((struct rejection *)0)->key];
    int len = snprintf(key, sizeof key, "%.159s\n%.199s\n%.47s\n%s", o->environment, o->proxy, o->rejected_by,
                       reason);
    if (len < 0 || (size_t)len >= sizeof key)
        return;
    pthread_mutex_lock(&sh->lock);
    struct rejection *r = tg_strmap_get(&sh->rejections, key, (size_t)len);
    if (!r && sh->rejections.count < 4 * TG_METRICS_MAX_SERIES && (r = calloc(1, sizeof *r)) != NULL) {
        memcpy(r->key, key, (size_t)len + 1);
        snprintf(r->environment, sizeof r->environment, "%s", o->environment);
        snprintf(r->proxy, sizeof r->proxy, "%s", o->proxy);
        snprintf(r->policy, sizeof r->policy, "%s", o->rejected_by);
        r->reason = reason;
        int err = 0;
        tg_strmap_put(&sh->rejections, r->key, (size_t)len, r, &err);
        if (err) {
            free(r);
            r = NULL;
        }
    }
    pthread_mutex_unlock(&sh->lock);
    if (r)
        add(&r->count, 1);
}

static void on_request_done(int worker, const struct tg_request_outcome *o)
{
    struct shard *sh = &shards[worker % TG_METRICS_MAX_WORKERS];
    struct series *s = series_of(sh, o->environment, o->proxy);
    if (s) {
        int cls = o->status / 100 - 1;
        add(&s->by_class[cls < 0 ? 0 : cls >= CLASSES ? CLASSES - 1 : cls], 1);
        if (o->duration_ns)
            tg_histogram_observe_ns(&s->request_duration, o->duration_ns);
    }
    if (o->rejected_by && o->reject_code && o->reject_code[0])
        count_rejection(sh, o);
    if (o->upstream_error) {
        const char *kind = tg_metrics_upstream_kind(o->upstream_error, o->upstream_detail);
        for (int k = 0; k < UP_KINDS; k++)
            if (kind_names[k] == kind)
                add(&sh->upstream[k], 1);
    }
}

static void on_session_closed(int worker, const struct tg_session_outcome *o)
{
    struct shard *sh = &shards[worker % TG_METRICS_MAX_WORKERS];
    struct series *s = series_of(sh, o->environment, o->proxy);
    if (s)
        tg_histogram_observe_ns(&s->session_duration, o->duration_ns);
    int by = CLOSED_BY - 1;
    for (int i = 0; i < CLOSED_BY - 1; i++)
        if (o->closed_by && strcmp(o->closed_by, closed_by_names[i]) == 0)
            by = i;
    add(&sh->closes[close_slot(o->close_code)][by], 1);
}

const struct tg_metrics_hooks *tg_metrics_series_hooks(void)
{
    static const struct tg_metrics_hooks hooks = {.request_done = on_request_done,
                                                  .session_closed = on_session_closed};
    return &hooks;
}

/* ---- the scrape: the workers' series summed by key ---- */

struct merged {
    struct tg_strmap map;
    void **items;
    size_t n, cap;
};

static void *merged_slot(struct merged *m, const char *key, size_t item_size, int *created)
{
    *created = 0;
    void *it = tg_strmap_get(&m->map, key, strlen(key));
    if (it)
        return it;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        void **grown = realloc(m->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        m->items = grown;
        m->cap = cap;
    }
    it = calloc(1, item_size);
    if (!it)
        return NULL;
    m->items[m->n++] = it;
    *created = 1;
    return it;
}

static void merged_free(struct merged *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->items[i]);
    free(m->items);
    tg_strmap_free(&m->map);
}

static void merge_series(struct merged *m, const struct series *src)
{
    int created;
    struct series *d = merged_slot(m, src->key, sizeof *d, &created);
    if (!d)
        return;
    if (created) {
        memcpy(d->key, src->key, sizeof d->key);
        memcpy(d->environment, src->environment, sizeof d->environment);
        memcpy(d->proxy, src->proxy, sizeof d->proxy);
        tg_strmap_put(&m->map, d->key, strlen(d->key), d, NULL);
    }
    for (int c = 0; c < CLASSES; c++)
        add(&d->by_class[c], atomic_load_explicit(&src->by_class[c], memory_order_relaxed));
    tg_histogram_add_into(&d->request_duration, &src->request_duration);
    tg_histogram_add_into(&d->session_duration, &src->session_duration);
}

static void merge_rejection(struct merged *m, const struct rejection *src)
{
    int created;
    struct rejection *d = merged_slot(m, src->key, sizeof *d, &created);
    if (!d)
        return;
    if (created) {
        memcpy(d, src, offsetof(struct rejection, count));
        tg_strmap_put(&m->map, d->key, strlen(d->key), d, NULL);
    }
    add(&d->count, atomic_load_explicit(&src->count, memory_order_relaxed));
}

/* One histogram family over the merged series: the histogram at offset in each series that observed anything,
 * labelled by environment and proxy. */
static void render_histograms(struct tg_metrics_text *t, const struct merged *ser, size_t offset, const char *name,
                              const char *help)
{
    char labels[512];
    tg_mtext_family(t, name, "histogram", help);
    for (size_t i = 0; i < ser->n; i++) {
        const struct series *s = ser->items[i];
        const struct tg_histogram *h = (const struct tg_histogram *)((const char *)s + offset);
        if (!atomic_load_explicit(&h->count, memory_order_relaxed))
            continue;
        tg_mtext_proxy_labels(labels, sizeof labels, s->environment, s->proxy);
        tg_mtext_histogram(t, h, name, labels);
    }
}

void tg_metrics_series_render(struct tg_metrics_text *t)
{
    struct merged ser = {0}, rej = {0};
    tg_strmap_init(&ser.map);
    tg_strmap_init(&rej.map);
    uint64_t upstream[UP_KINDS] = {0}, closes[CLOSE_SLOTS][CLOSED_BY] = {{0}};
    for (int w = 0; w < worker_count; w++) {
        struct shard *sh = &shards[w];
        pthread_mutex_lock(&sh->lock);
        for (size_t i = 0; i < sh->series.cap; i++)
            if (sh->series.slots[i].key)
                merge_series(&ser, sh->series.slots[i].value);
        if (sh->overflow)
            merge_series(&ser, sh->overflow);
        for (size_t i = 0; i < sh->rejections.cap; i++)
            if (sh->rejections.slots[i].key)
                merge_rejection(&rej, sh->rejections.slots[i].value);
        pthread_mutex_unlock(&sh->lock);
        for (int k = 0; k < UP_KINDS; k++)
            upstream[k] += atomic_load_explicit(&sh->upstream[k], memory_order_relaxed);
        for (size_t c = 0; c < CLOSE_SLOTS; c++)
            for (int b = 0; b < CLOSED_BY; b++)
                closes[c][b] += atomic_load_explicit(&sh->closes[c][b], memory_order_relaxed);
    }

    char labels[512];
    tg_mtext_family(t, "tollgate_requests_total", "counter",
                    "HTTP requests and WebSocket handshakes answered (the gateway's own answers included), by "
                    "environment, proxy and status class (environment and proxy empty when unrouted).");
    for (size_t i = 0; i < ser.n; i++) {
        const struct series *s = ser.items[i];
        tg_mtext_proxy_labels(labels, sizeof labels, s->environment, s->proxy);
        for (int c = 0; c < CLASSES; c++) {
            uint64_t v = atomic_load_explicit(&s->by_class[c], memory_order_relaxed);
            if (v)
                tg_mtext_printf(t, "tollgate_requests_total{%s,code=\"%s\"} %llu\n", labels, class_names[c],
                                (unsigned long long)v);
        }
    }
    render_histograms(t, &ser, offsetof(struct series, request_duration), "tollgate_request_duration_seconds",
                      "Time from a complete request head to the end of its answer (to the 101 for a WebSocket).");
    render_histograms(t, &ser, offsetof(struct series, session_duration),
                      "tollgate_websocket_session_duration_seconds",
                      "Lifetime of ended WebSocket sessions, from the 101 to the close.");
    tg_mtext_family(t, "tollgate_websocket_sessions_closed_total", "counter",
                    "Ended WebSocket sessions by the close code sent to the client (standard codes; others "
                    "\"other\") and the side that closed first.");
    for (size_t c = 0; c < CLOSE_SLOTS; c++)
        for (int b = 0; b < CLOSED_BY; b++)
            if (closes[c][b])
                tg_mtext_printf(t, "tollgate_websocket_sessions_closed_total{close_code=\"%s\",closed_by=\"%s\"} %llu\n",
                                c < CLOSE_CODES ? tg_metrics_close_code_label(close_codes[c]) : "other",
                                closed_by_names[b], (unsigned long long)closes[c][b]);
    tg_mtext_family(t, "tollgate_policy_rejections_total", "counter",
                    "Requests a policy rejected, by environment, proxy, policy type and reason (its error code).");
    for (size_t i = 0; i < rej.n; i++) {
        const struct rejection *r = rej.items[i];
        tg_mtext_proxy_labels(labels, sizeof labels, r->environment, r->proxy);
        tg_mtext_printf(t, "tollgate_policy_rejections_total{%s,policy=\"", labels);
        tg_mtext_label_value(t, r->policy);
        tg_mtext_printf(t, "\",reason=\"%s\"} %llu\n", r->reason,
                        (unsigned long long)atomic_load_explicit(&r->count, memory_order_relaxed));
    }
    tg_mtext_family(t, "tollgate_upstream_errors_total", "counter",
                    "Requests answered with an error because of the backend, by kind.");
    for (int k = 0; k < UP_KINDS; k++)
        tg_mtext_printf(t, "tollgate_upstream_errors_total{kind=\"%s\"} %llu\n", kind_names[k],
                        (unsigned long long)upstream[k]);
    merged_free(&ser);
    merged_free(&rej);
}
