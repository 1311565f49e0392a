/* proxy_worker.h — the proxying layer's per-worker object: what one worker runs for the gateway. It owns the
 * listener, the inbound HTTP server connections, the upstream keep-alive pool, the WebSocket sessions and the
 * worker's reference to the snapshot in force, and wires them to the worker (loop/worker.h) through the
 * worker's hooks: a posted snapshot is swapped in (sessions whose credential it revokes are closed), the drain
 * stops accepting and winds everything down, the loop's end closes what is left.
 *
 * It tells its own owner (the process) what happened through struct tg_proxy_hooks: a snapshot was applied on
 * this worker (the control socket answers once every worker has), and each answered request and ended session
 * (metrics).
 */
#ifndef TG_PROXY_WORKER_H
#define TG_PROXY_WORKER_H

#include "config/snapshot.h"
#include "loop/counters.h"
#include "loop/listener.h"
#include "loop/worker.h"
#include "proxy/http_server.h"
#include "proxy/proxy_settings.h"
#include "proxy/sessions.h"
#include "proxy/upstream_pool.h"
#include "proxy/ws_tunnel.h"

struct tg_proxy_hooks {
    void *owner;
    /* on the worker's thread: this worker switched to the snapshot of this version */
    void (*snapshot_applied)(void *owner, int worker, uint64_t version);
    /* on the worker's thread: one request or WebSocket handshake answered, one session ended (metrics_hooks.h);
     * NULL: not counted */
    const struct tg_metrics_hooks *metrics;
    /* debug sessions' store (proxy/debug_hooks.h); NULL: no recording */
    const struct tg_debug_hooks *debug;
    /* analytics sink (proxy/analytics_hooks.h); NULL: off */
    const struct tg_analytics_hooks *analytics;
};

struct tg_proxy_worker {
    struct tg_worker *w;
    const struct tg_proxy_settings *settings;
    struct tg_counters *counters;
    struct tg_proxy_hooks hooks;
    struct tg_listener listener;
    struct tg_listener tls_listener; /* --tls-listen (fd -1 when off) */
    struct tg_upstream_pool pool;
    struct tg_session_list sessions;
    struct tg_tunnel_env tunnels;
    struct tg_http_server server;   /* holds the worker's snapshot reference (server.snapshot) */
};

/* Sets pw up on w (w->hooks become pw's) and opens the listener (SO_REUSEPORT). 0, or -1 with a logged error. */
int tg_proxy_worker_init(struct tg_proxy_worker *pw, struct tg_worker *w, const struct tg_proxy_settings *settings,
                         struct tg_counters *counters, const struct tg_proxy_hooks *hooks);
/* From any thread: switch pw's worker to snap (it takes its own reference). */
void tg_proxy_worker_post_snapshot(struct tg_proxy_worker *pw, struct tg_snapshot *snap);
/* The admin API's read-only view of the worker's live sessions (sessions.h). */
static inline struct tg_session_list *tg_proxy_worker_sessions(struct tg_proxy_worker *pw) { return &pw->sessions; }
/* After the worker's loop ended (thread joined): frees what pw holds. */
void tg_proxy_worker_destroy(struct tg_proxy_worker *pw);

#endif
