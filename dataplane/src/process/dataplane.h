/* dataplane.h — the process: its configuration, its workers (each a loop, loop/worker.h, running the proxying
 * layer's per-worker object, proxy/proxy_worker.h), and the main thread's state (the snapshot in force, the
 * control socket's pending applies, the admin API). The main thread runs libev's default loop for the admin and
 * control servers and signals; workers run their own loops. There is no global: the process state reaches its
 * callbacks through their context pointers (the mini servers' ctx, the proxy hooks' owner, watchers' data). */
#ifndef TG_DATAPLANE_H
#define TG_DATAPLANE_H

#include "config/snapshot.h"
#include "loop/worker.h"
#include "mini_http_server.h"
#include "process/admin_exposure.h"
#include "process/analytics_log.h"
#include "process/debug_store.h"
#include "process/metrics.h"
#include "proxy/proxy_settings.h"
#include "proxy/proxy_worker.h"

#include <ev.h>
#include <stdatomic.h>
#include <stdint.h>

struct tg_pending_apply {
    struct tg_pending_apply *next;
    void *conn;                     /* the control request to answer */
    uint64_t version;
};

struct tg_dataplane_config {
    struct tg_proxy_settings proxy; /* listener, inbound limits and timeouts, upstream pools */
    int workers;
    uint64_t drain_timeout_ms;
    size_t yield_after_us;      /* --yield-after-us (loop/worker.h yield_after_ns) */
    size_t busy_poll_us;        /* --busy-poll-us (loop/worker.h busy_poll_ns) */
};

struct tg_dataplane {
    struct tg_dataplane_config config;
    const char *admin_addr;
    const char *control_socket;
    const char *snapshot_file;
    struct ev_loop *loop;           /* main thread */
    struct tg_worker *workers;      /* the loops */
    struct tg_proxy_worker *proxies; /* what each loop runs (proxies[i] on workers[i]) */
    int num_workers;

    struct tg_snapshot *current;    /* main thread's reference to the snapshot in force */
    uint64_t applied_version;
    uint64_t applied_wall_ms;
    char boot_id[40];

    _Atomic uint64_t acked[TG_METRICS_MAX_WORKERS]; /* version each worker switched to */
    ev_async acks;                  /* workers → main: a worker switched */
    struct tg_pending_apply *pending;

    struct tg_debug_store debug;    /* debug sessions: outside every snapshot, reached by the workers' hooks */
    struct tg_analytics_log analytics; /* --analytics-log: queue + writer thread (started when set) */
    const char *analytics_path;
    size_t analytics_queue;
    ev_signal sighup;
    struct tg_admin_exposure exposure; /* --probe-listen, --admin-token-file */
    struct tg_mini_server admin;
    struct tg_mini_server control;
    ev_signal sigterm, sigint;
    ev_timer drain_watch;
    ev_timer debug_expiry;          /* ends debug sessions at their duration without waiting for a read */
    int stopping;
};

/* control_api.c */
/* Validates doc and swaps it in on every worker. Returns the new snapshot's version (>0), or 0 with errors
 * appended to errors (a JSON array); *conflict is set when the version is older than the applied one. */
uint64_t tg_dataplane_apply(struct tg_dataplane *dp, json_t *doc, json_t *errors, int *conflict);
void tg_control_handle(struct tg_mini_request *req, void *ctx);
void tg_control_on_acks(struct ev_loop *loop, ev_async *a, int revents);
/* The control server's on_abandon: a PUT /snapshot whose connection timed out is no longer answered. */
void tg_control_on_abandon(struct tg_mini_request *req, void *ctx);
/* The proxy hook: on a worker thread, that worker switched to version (owner = the dataplane). */
void tg_control_worker_applied(void *owner, int worker, uint64_t version);

/* admin_api.c */
void tg_admin_handle(struct tg_mini_request *req, void *ctx);
/* metrics_extra.c: the analytics and debug families appended to t */
void tg_metrics_append_process(struct tg_dataplane *dp, struct tg_metrics_text *t);
/* loop_metrics.c: the event loops' iteration-duration histograms appended to t */
void tg_metrics_append_loop(struct tg_dataplane *dp, struct tg_metrics_text *t);
/* debug_api.c: /debug/sessions[/{id}] */
void tg_debug_api_handle(struct tg_debug_store *st, struct tg_mini_request *req);

#endif
