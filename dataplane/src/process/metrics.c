/* metrics.c — see metrics.h. (Includes the policy layer's Redis counter for its failure count.) */
#include "process/metrics.h"
#include "proxy/ws_kernel_relay.h"

#include "buf.h"
#include "histogram.h"
#include "policy/traffic/redis_counter.h"
#include "process/metrics_text.h"

#include <stddef.h>

static struct tg_counters shards[TG_METRICS_MAX_WORKERS];
static int worker_count;
static _Atomic uint64_t snapshot_version, snapshot_applied_ms, snapshot_apply_micros;
static _Atomic uint64_t apply_failures;
static _Atomic int apply_last_success = -1; /* -1: nothing applied or refused yet */
static struct tg_histogram apply_duration;   /* main thread: the single writer */
static uint64_t buffer_limit_bytes;          /* set once before the workers start */

void tg_metrics_init(int num_workers)
{
    worker_count = num_workers > TG_METRICS_MAX_WORKERS ? TG_METRICS_MAX_WORKERS : num_workers;
    tg_metrics_series_init(num_workers);
}

void tg_metrics_set_buffer_limit(uint64_t bytes) { buffer_limit_bytes = bytes; }

struct tg_counters *tg_metrics_shard(int worker) { return &shards[worker % TG_METRICS_MAX_WORKERS]; }

void tg_metrics_snapshot_failed(int timed, uint64_t apply_micros)
{
    if (timed)
        tg_histogram_observe_ns(&apply_duration, apply_micros * 1000u);
    tg_counter_add(&apply_failures, 1);
    atomic_store(&apply_last_success, 0);
}

void tg_metrics_set_snapshot(uint64_t version, uint64_t applied_wall_ms, uint64_t apply_micros)
{
    atomic_store(&snapshot_version, version);
    atomic_store(&snapshot_applied_ms, applied_wall_ms);
    atomic_store(&snapshot_apply_micros, apply_micros);
    tg_histogram_observe_ns(&apply_duration, apply_micros * 1000u);
    atomic_store(&apply_last_success, 1);
}

static uint64_t sum(size_t offset)
{
    uint64_t total = 0;
    for (int i = 0; i < worker_count; i++)
        total += atomic_load_explicit((_Atomic uint64_t *)((char *)&shards[i] + offset), memory_order_relaxed);
    return total;
}

void tg_metrics_render(struct tg_metrics_text *t)
{
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
        {"tollgate_upstream_tls_failures_total", "counter",
         "Failed TLS handshakes to backends (certificate verification, client certificate, protocol).", offsetof(struct tg_counters, upstream_tls_failures)},
        {"tollgate_accept_errors_total", "counter", "accept(2) failures (EMFILE and others).",
         offsetof(struct tg_counters, accept_errors)},
        {"tollgate_tls_handshakes_total", "counter", "TLS handshakes completed on the TLS listener (resumed included).",
         offsetof(struct tg_counters, tls_handshakes)},
        {"tollgate_tls_resumed_handshakes_total", "counter", "TLS handshakes that resumed a session (tickets).",
         offsetof(struct tg_counters, tls_resumed)},
        {"tollgate_buffer_waiting_connections", "gauge",
         "Connections waiting (unread) for the --max-buffer-memory budget now.", offsetof(struct tg_counters, buffer_waiting)},
        {"tollgate_buffer_waits_total", "counter",
         "Times a connection had to wait for the --max-buffer-memory budget.", offsetof(struct tg_counters, buffer_waits)},
        {"tollgate_tls_handshake_failures_total", "counter",
         "TLS client connections that failed or ended before completing a handshake (fatal alert, error or EOF).",
         offsetof(struct tg_counters, tls_handshake_failures)},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        tg_mtext_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", plain[i].name, plain[i].help, plain[i].name, plain[i].type,
             plain[i].name, (unsigned long long)sum(plain[i].offset));
    tg_mtext_printf(t, "# HELP tollgate_websocket_messages_total WebSocket data messages relayed, by direction.\n"
             "# TYPE tollgate_websocket_messages_total counter\n"
             "tollgate_websocket_messages_total{direction=\"client_to_backend\"} %llu\n"
             "tollgate_websocket_messages_total{direction=\"backend_to_client\"} %llu\n",
         (unsigned long long)sum(offsetof(struct tg_counters, ws_messages_c2b)),
         (unsigned long long)sum(offsetof(struct tg_counters, ws_messages_b2c)));
    tg_mtext_printf(t, "# HELP tollgate_websocket_bytes_total WebSocket bytes relayed (frames incl. headers), by direction.\n"
             "# TYPE tollgate_websocket_bytes_total counter\n"
             "tollgate_websocket_bytes_total{direction=\"client_to_backend\"} %llu\n"
             "tollgate_websocket_bytes_total{direction=\"backend_to_client\"} %llu\n",
         (unsigned long long)sum(offsetof(struct tg_counters, ws_bytes_c2b)),
         (unsigned long long)sum(offsetof(struct tg_counters, ws_bytes_b2c)));
    tg_mtext_printf(t, "# HELP tollgate_buffer_memory_bytes Memory in I/O buffers handed out now (32 KiB each; "
             "idle connections hold none).\n# TYPE tollgate_buffer_memory_bytes gauge\ntollgate_buffer_memory_bytes %llu\n",
         (unsigned long long)sum(offsetof(struct tg_counters, buffers_in_use)) * TG_BUF_SIZE);
    if (buffer_limit_bytes)
        tg_mtext_printf(t, "# HELP tollgate_buffer_memory_limit_bytes The --max-buffer-memory budget (all workers).\n"
                 "# TYPE tollgate_buffer_memory_limit_bytes gauge\ntollgate_buffer_memory_limit_bytes %llu\n",
             (unsigned long long)buffer_limit_bytes);
    if (tg_krelay_requested()) /* --kernel-relay (issue 15): proxy/ws_kernel_relay.h */
        tg_mtext_printf(t, "# HELP tollgate_kernel_relay_sessions WebSocket sessions the kernel relays now (BPF sockmap).\n"
                 "# TYPE tollgate_kernel_relay_sessions gauge\ntollgate_kernel_relay_sessions %llu\n"
                 "# HELP tollgate_kernel_relay_fallbacks_total Sessions kept in the user-space relay although "
                 "--kernel-relay is on (BPF not loaded, TLS, map full).\n"
                 "# TYPE tollgate_kernel_relay_fallbacks_total counter\ntollgate_kernel_relay_fallbacks_total %llu\n",
             (unsigned long long)tg_krelay_sessions_active(), (unsigned long long)tg_krelay_fallbacks_total());

    struct tg_histogram connect = {0};
    for (int i = 0; i < worker_count; i++)
        tg_histogram_add_into(&connect, &shards[i].upstream_connect);
    tg_mtext_family(t, "tollgate_upstream_connect_duration_seconds", "histogram",
                    "Time to open a new backend connection (connect(2) until writable); pooled reuse is not "
                    "counted.");
    tg_mtext_histogram(t, &connect, "tollgate_upstream_connect_duration_seconds", "");
    tg_metrics_series_render(t);

    tg_mtext_printf(t, "# HELP tollgate_quota_redis_failures_total Quota counts Redis did not answer (fail open or closed).\n"
             "# TYPE tollgate_quota_redis_failures_total counter\ntollgate_quota_redis_failures_total %llu\n",
         (unsigned long long)tg_redis_failures());
    tg_mtext_printf(t, "# HELP tollgate_snapshot_version Version of the snapshot in force (0: none yet).\n"
             "# TYPE tollgate_snapshot_version gauge\ntollgate_snapshot_version %llu\n"
             "# HELP tollgate_snapshot_applied_timestamp_seconds When the snapshot in force was applied.\n"
             "# TYPE tollgate_snapshot_applied_timestamp_seconds gauge\n"
             "tollgate_snapshot_applied_timestamp_seconds %.3f\n"
             "# HELP tollgate_snapshot_apply_seconds Time to validate, build and swap in the last snapshot.\n"
             "# TYPE tollgate_snapshot_apply_seconds gauge\ntollgate_snapshot_apply_seconds %.6f\n",
         (unsigned long long)atomic_load(&snapshot_version), (double)atomic_load(&snapshot_applied_ms) / 1000.0,
         (double)atomic_load(&snapshot_apply_micros) / 1e6);
    tg_mtext_family(t, "tollgate_snapshot_apply_duration_seconds", "histogram",
                    "Time to validate, build and hand over each snapshot pushed (applied or refused).");
    tg_mtext_histogram(t, &apply_duration, "tollgate_snapshot_apply_duration_seconds", "");
    int last = atomic_load(&apply_last_success);
    tg_mtext_family(t, "tollgate_snapshot_apply_last_success", "gauge",
                    "1 when the last snapshot pushed was applied, 0 when it was refused (absent before any push).");
    if (last >= 0)
        tg_mtext_printf(t, "tollgate_snapshot_apply_last_success %d\n", last);
    tg_mtext_family(t, "tollgate_snapshot_apply_failures_total", "counter",
                    "Snapshots refused (not JSON, invalid, or older than the one in force).");
    tg_mtext_printf(t, "tollgate_snapshot_apply_failures_total %llu\n",
                    (unsigned long long)atomic_load(&apply_failures));
}
