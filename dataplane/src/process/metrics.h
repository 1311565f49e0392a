/* metrics.h — the data plane's metrics: the per-worker counter shards (loop/counters.h, incremented by the layers
 * below through a pointer to their worker's shard), the labelled request counters (proxy × status, counted
 * through the proxy layer's count_request hook), the snapshot gauges, and their Prometheus text rendering.
 * Unlabelled counters are relaxed atomics written only by their worker and summed when /metrics is scraped;
 * labelled request counters live in a small per-worker map under a per-worker mutex that only the scrape
 * contends for. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include "loop/counters.h"

#include <stddef.h>
#include <stdint.h>

#define TG_METRICS_MAX_WORKERS 64

void tg_metrics_init(int num_workers);
/* Worker's counter shard (written by that worker only). */
struct tg_counters *tg_metrics_shard(int worker);
/* Counts one finished HTTP request (or WebSocket handshake answer) of proxy_id ("" when unrouted). */
void tg_metrics_count_request(int worker, const char *proxy_id, int status);
/* Records the version and apply time of the snapshot in force. */
void tg_metrics_set_snapshot(uint64_t version, uint64_t applied_wall_ms, uint64_t apply_micros);
/* Renders everything as Prometheus text; returns a malloc'd NUL-terminated string. */
char *tg_metrics_render(void);

#endif
