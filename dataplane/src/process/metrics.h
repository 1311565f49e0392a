/* metrics.h — the data plane's metrics: the per-worker counter shards (loop/counters.h, incremented by the layers
 * below through a pointer to their worker's shard), the snapshot gauges and apply histogram, and the Prometheus
 * text rendering of all of it with the labelled series of process/metrics_series.c. Unlabelled counters are
 * relaxed atomics written only by their worker and summed when /metrics is scraped. */
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include "loop/counters.h"
#include "process/metrics_series.h" /* TG_METRICS_MAX_WORKERS */
#include "process/metrics_text.h"

#include <stddef.h>
#include <stdint.h>

void tg_metrics_init(int num_workers);
/* Worker's counter shard (written by that worker only). */
struct tg_counters *tg_metrics_shard(int worker);
/* A snapshot was applied (main thread): its version, apply wall time and how long validating, building and
 * handing it to the workers took. */
void tg_metrics_set_snapshot(uint64_t version, uint64_t applied_wall_ms, uint64_t apply_micros);
/* A snapshot was refused (invalid or older than the one in force) after apply_micros (main thread); timed 0: it
 * was refused before validation began (not JSON), counted but not timed. */
void tg_metrics_snapshot_failed(int timed, uint64_t apply_micros);
/* The --max-buffer-memory budget of all workers in bytes (0: none), rendered beside the buffers in use. */
void tg_metrics_set_buffer_limit(uint64_t bytes);
/* Appends everything as Prometheus text to t. */
void tg_metrics_render(struct tg_metrics_text *t);

#endif
