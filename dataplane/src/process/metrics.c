/* metrics.c — see metrics.h. (Includes the policy layer's Redis counter for its failure count.) */
#include "process/metrics.h"
#include "proxy/ws_kernel_relay.h"

#include "policy/traffic/redis_counter.h"
#include "strmap.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct request_counter {
    char key[200]; /* proxy_id '\0'-free text, then '|' and status */
    char proxy[160];
    int status;
    _Atomic uint64_t count; /* written by the shard's worker only */
};

/* A worker's recently used counters: a hit costs a compare, no lock and no formatting. */
#define REQUEST_CACHE_SLOTS 32
struct request_cache_entry {
    const char *proxy_id; /* the caller's pointer (snapshot-owned); the name is compared too */
    int status;
    struct request_counter *counter;
};

struct request_shard {
    pthread_mutex_t lock;           /* guards by_key (the scrape iterates it) */
    struct tg_strmap by_key;
    struct request_cache_entry cache[REQUEST_CACHE_SLOTS];
};

static struct tg_counters shards[TG_METRICS_MAX_WORKERS];
static struct request_shard request_shards[TG_METRICS_MAX_WORKERS];
static int worker_count;
static _Atomic uint64_t snapshot_version, snapshot_applied_ms, snapshot_apply_micros;

void tg_metrics_init(int num_workers)
{
    worker_count = num_workers > TG_METRICS_MAX_WORKERS ? TG_METRICS_MAX_WORKERS : num_workers;
    for (int i = 0; i < TG_METRICS_MAX_WORKERS; i++) {
        pthread_mutex_init(&request_shards[i].lock, NULL);
        tg_strmap_init(&request_shards[i].by_key);
    }
}

struct tg_counters *tg_metrics_shard(int worker) { return &shards[worker % TG_METRICS_MAX_WORKERS]; }

void tg_metrics_count_request(int worker, const char *proxy_id, int status)
{
    struct request_shard *rs = &request_shards[worker % TG_METRICS_MAX_WORKERS];
    size_t slot = (((uintptr_t)proxy_id >> 4) ^ (uintptr_t)status * 31u) % REQUEST_CACHE_SLOTS;
    struct request_cache_entry *e = &rs->cache[slot];
    if (e->counter && e->proxy_id == proxy_id && e->status == status && strcmp(e->counter->proxy, proxy_id) == 0) {
        tg_counter_add(&e->counter->count, 1);
        return;
    }
    char key[200];
    int len = snprintf(key, sizeof key, "%.160s|%d", proxy_id, status);
    pthread_mutex_lock(&rs->lock);
    struct request_counter *c = tg_strmap_get(&rs->by_key, key, (size_t)len);
    if (!c && rs->by_key.count < 100000) {
        c = calloc(1, sizeof *c);
        if (c) {
            memcpy(c->key, key, (size_t)len + 1);
            snprintf(c->proxy, sizeof c->proxy, "%s", proxy_id);
            c->status = status;
            tg_strmap_put(&rs->by_key, c->key, (size_t)len, c, NULL);
        }
    }
    pthread_mutex_unlock(&rs->lock);
    if (c) {
        tg_counter_add(&c->count, 1);
        e->proxy_id = proxy_id;
        e->status = status;
        e->counter = c;
    }
}

void tg_metrics_set_snapshot(uint64_t version, uint64_t applied_wall_ms, uint64_t apply_micros)
{
    atomic_store(&snapshot_version, version);
    atomic_store(&snapshot_applied_ms, applied_wall_ms);
    atomic_store(&snapshot_apply_micros, apply_micros);
}

struct text {
    char *data;
    size_t len, cap;
};

static void emit(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->data && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 8192;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown)
            return;
        t->data = grown;
        t->cap = cap;
    }
}

static uint64_t sum(size_t offset)
{
    uint64_t total = 0;
    for (int i = 0; i < worker_count; i++)
        total += atomic_load_explicit((_Atomic uint64_t *)((char *)&shards[i] + offset), memory_order_relaxed);
    return total;
}

/* Prometheus label values escape backslash, double quote and newline. */
static void emit_label_value(struct text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            emit(t, "\\%c", *v);
        else if (*v == '\n')
            emit(t, "\\n");
        else
            emit(t, "%c", *v);
    }
}

char *tg_metrics_render(void)
{
    struct text t = {0};
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } plain[] = {
        {"tollgate_connections_accepted_total", "counter", "Client connections accepted.",
         offsetof(struct tg_counters, connections_accepted)},
        {"tollgate_connections_active", "gauge", "Client connections open now.",
         offsetof(struct tg_counters, connections_active)},
        {"tollgate_websocket_sessions_total", "counter", "WebSocket sessions established (101 relayed).",
         offsetof(struct tg_counters, ws_sessions_total)},
        {"tollgate_websocket_sessions_active", "gauge", "WebSocket sessions being relayed now.",
         offsetof(struct tg_counters, ws_sessions_active)},
        {"tollgate_upstream_connect_failures_total", "counter", "Failed connections to backends.",
         offsetof(struct tg_counters, upstream_connect_failures)},
        {"tollgate_accept_errors_total", "counter", "accept(2) failures (EMFILE and others).",
         offsetof(struct tg_counters, accept_errors)},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        emit(&t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", plain[i].name, plain[i].help, plain[i].name, plain[i].type,
             plain[i].name, (unsigned long long)sum(plain[i].offset));
    emit(&t, "# HELP tollgate_websocket_messages_total WebSocket data messages relayed, by direction.\n"
             "# TYPE tollgate_websocket_messages_total counter\n"
             "tollgate_websocket_messages_total{direction=\"client_to_backend\"} %llu\n"
             "tollgate_websocket_messages_total{direction=\"backend_to_client\"} %llu\n",
         (unsigned long long)sum(offsetof(struct tg_counters, ws_messages_c2b)),
         (unsigned long long)sum(offsetof(struct tg_counters, ws_messages_b2c)));
    emit(&t, "# HELP tollgate_websocket_bytes_total WebSocket bytes relayed (frames incl. headers), by direction.\n"
             "# TYPE tollgate_websocket_bytes_total counter\n"
             "tollgate_websocket_bytes_total{direction=\"client_to_backend\"} %llu\n"
             "tollgate_websocket_bytes_total{direction=\"backend_to_client\"} %llu\n",
         (unsigned long long)sum(offsetof(struct tg_counters, ws_bytes_c2b)),
         (unsigned long long)sum(offsetof(struct tg_counters, ws_bytes_b2c)));
    if (tg_krelay_requested()) /* --kernel-relay (issue 15): proxy/ws_kernel_relay.h */
        emit(&t, "# HELP tollgate_kernel_relay_sessions WebSocket sessions the kernel relays now (BPF sockmap).\n"
                 "# TYPE tollgate_kernel_relay_sessions gauge\ntollgate_kernel_relay_sessions %llu\n"
                 "# HELP tollgate_kernel_relay_fallbacks_total Sessions kept in the user-space relay although "
                 "--kernel-relay is on (BPF not loaded, TLS, map full).\n"
                 "# TYPE tollgate_kernel_relay_fallbacks_total counter\ntollgate_kernel_relay_fallbacks_total %llu\n",
             (unsigned long long)tg_krelay_sessions_active(), (unsigned long long)tg_krelay_fallbacks_total());

    /* requests by proxy and status, merged across workers */
    struct tg_strmap merged;
    tg_strmap_init(&merged);
    struct request_counter *owned = NULL;
    size_t owned_n = 0, owned_cap = 0;
    for (int w = 0; w < worker_count; w++) {
        struct request_shard *rs = &request_shards[w];
        pthread_mutex_lock(&rs->lock);
        for (size_t i = 0; i < rs->by_key.cap; i++) {
            struct request_counter *c = rs->by_key.slots[i].key ? rs->by_key.slots[i].value : NULL;
            if (!c)
                continue;
            if (owned_n == owned_cap) {
                size_t cap = owned_cap ? owned_cap * 2 : 64;
                struct request_counter *grown = realloc(owned, cap * sizeof *owned);
                if (!grown)
                    break;
                /* re-point the merged map at the moved array */
                owned = grown;
                owned_cap = cap;
                tg_strmap_free(&merged);
                tg_strmap_init(&merged);
                for (size_t k = 0; k < owned_n; k++)
                    tg_strmap_put(&merged, owned[k].key, strlen(owned[k].key), &owned[k], NULL);
            }
            struct request_counter *m = tg_strmap_get(&merged, c->key, strlen(c->key));
            uint64_t count = atomic_load_explicit(&c->count, memory_order_relaxed);
            if (m) {
                atomic_store_explicit(&m->count, atomic_load_explicit(&m->count, memory_order_relaxed) + count,
                                      memory_order_relaxed);
            } else {
                memcpy(owned[owned_n].key, c->key, sizeof c->key);
                memcpy(owned[owned_n].proxy, c->proxy, sizeof c->proxy);
                owned[owned_n].status = c->status;
                atomic_init(&owned[owned_n].count, count);
                tg_strmap_put(&merged, owned[owned_n].key, strlen(owned[owned_n].key), &owned[owned_n], NULL);
                owned_n++;
            }
        }
        pthread_mutex_unlock(&rs->lock);
    }
    emit(&t, "# HELP tollgate_requests_total HTTP requests and WebSocket handshakes answered, by proxy and status.\n"
             "# TYPE tollgate_requests_total counter\n");
    for (size_t i = 0; i < owned_n; i++) {
        emit(&t, "tollgate_requests_total{proxy=\"");
        emit_label_value(&t, owned[i].proxy);
        emit(&t, "\",status=\"%d\"} %llu\n", owned[i].status,
             (unsigned long long)atomic_load_explicit(&owned[i].count, memory_order_relaxed));
    }
    tg_strmap_free(&merged);
    free(owned);

    emit(&t, "# HELP tollgate_quota_redis_failures_total Quota counts Redis did not answer (fail open or closed).\n"
             "# TYPE tollgate_quota_redis_failures_total counter\ntollgate_quota_redis_failures_total %llu\n",
         (unsigned long long)tg_redis_failures());
    emit(&t, "# HELP tollgate_snapshot_version Version of the snapshot in force (0: none yet).\n"
             "# TYPE tollgate_snapshot_version gauge\ntollgate_snapshot_version %llu\n"
             "# HELP tollgate_snapshot_applied_timestamp_seconds When the snapshot in force was applied.\n"
             "# TYPE tollgate_snapshot_applied_timestamp_seconds gauge\n"
             "tollgate_snapshot_applied_timestamp_seconds %.3f\n"
             "# HELP tollgate_snapshot_apply_seconds Time to validate, build and swap in the last snapshot.\n"
             "# TYPE tollgate_snapshot_apply_seconds gauge\ntollgate_snapshot_apply_seconds %.6f\n",
         (unsigned long long)atomic_load(&snapshot_version), (double)atomic_load(&snapshot_applied_ms) / 1000.0,
         (double)atomic_load(&snapshot_apply_micros) / 1e6);
    return t.data;
}
