/* metrics.h — the data plane's counters, sharded per worker (no cross-thread contention on the hot path),
 * summed when /metrics is scraped, and rendered in the Prometheus text format.
 * Unlabelled counters are relaxed atomics written only by their worker; labelled request counters (proxy ×
 * status) live in a small per-worker map under a per-worker mutex that only the scrape contends for. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TG_METRICS_MAX_WORKERS 64

struct tg_metrics_shard {
    _Atomic uint64_t connections_accepted;
    _Atomic uint64_t connections_active;
    _Atomic uint64_t ws_sessions_total;
    _Atomic uint64_t ws_sessions_active;
    _Atomic uint64_t ws_messages_c2b, ws_messages_b2c;
    _Atomic uint64_t ws_bytes_c2b, ws_bytes_b2c;
    _Atomic uint64_t upstream_connect_failures;
    _Atomic uint64_t accept_errors;
};

/* Adds n to a single-writer counter (relaxed load + store: no locked instruction on the hot path). */
static inline void tg_counter_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
static inline void tg_counter_sub(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - n, memory_order_relaxed);
}

void tg_metrics_init(int num_workers);
struct tg_metrics_shard *tg_metrics_shard(int worker);
/* Counts one finished HTTP request (or WebSocket handshake answer) of proxy_id ("" when unrouted). */
void tg_metrics_count_request(int worker, const char *proxy_id, int status);
/* Records the version and apply time of the snapshot in force. */
void tg_metrics_set_snapshot(uint64_t version, uint64_t applied_wall_ms, uint64_t apply_micros);
/* Renders everything as Prometheus text; returns a malloc'd NUL-terminated string. */
char *tg_metrics_render(void);

#endif
