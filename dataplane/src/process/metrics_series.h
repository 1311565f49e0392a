/* metrics_series.h — the data plane's labelled metric series, fed through the proxy layer's struct
 * tg_metrics_hooks (proxy/metrics_hooks.h): requests by environment, proxy and status class, request and
 * WebSocket session duration histograms by environment and proxy, policy rejections by policy and reason,
 * upstream errors by kind, WebSocket closes by close code and side.
 *
 * Each worker writes only its own shard: a small cache of recently used (environment, proxy) series makes the
 * common request a pointer compare, a name compare and a few relaxed stores; a miss takes the shard's mutex
 * (which only the scrape otherwise contends for). Label values are bounded: environment and proxy names come
 * from the snapshot, at most TG_METRICS_MAX_SERIES pairs per worker (the rest count under
 * environment="_overflow",proxy="_overflow"); reasons, kinds and close codes are fixed vocabularies ("other" for
 * anything else). A series, once created, lives until exit (counters stay monotonic across snapshots). */
#ifndef TG_METRICS_SERIES_H
#define TG_METRICS_SERIES_H

#include "process/metrics_text.h"
#include "proxy/metrics_hooks.h"

#define TG_METRICS_MAX_WORKERS 64  /* shards: the most workers --workers accepts */
#define TG_METRICS_MAX_SERIES 2000 /* (environment, proxy) pairs per worker */

void tg_metrics_series_init(int num_workers);
/* The hooks the proxy layer calls (static storage). */
const struct tg_metrics_hooks *tg_metrics_series_hooks(void);
/* Appends every labelled family (HELP, TYPE, samples summed over the workers). */
void tg_metrics_series_render(struct tg_metrics_text *t);

/* The fixed vocabularies (exposed for the unit test): a policy error code → reason label ("other" when not
 * known); a forwarder error (code, message) → upstream error kind; a close code → its label ("other"). */
const char *tg_metrics_reject_reason(const char *code);
const char *tg_metrics_upstream_kind(const char *code, const char *detail);
const char *tg_metrics_close_code_label(unsigned code);

#endif
