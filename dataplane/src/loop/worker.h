/* worker.h — one data-plane worker: a thread with its own libev loop, its own SO_REUSEPORT listener, timer
 * wheel, buffer pool, keep-alive pools and session list. Nothing on a request's path is shared with other
 * workers except the (immutable, ref-counted) snapshot and the endpoints' atomic counters.
 *
 * Cross-thread messages reach a worker through its mailbox (a mutex-protected slot + ev_async): a new snapshot
 * to switch to, or "drain and stop". Objects are never freed inside their own callback stack: they are queued
 * with tg_worker_defer_free() and freed when the loop is about to sleep (Redis' freeClientAsync habit).
 */
#ifndef TG_WORKER_H
#define TG_WORKER_H

#include "buf.h"
#include "http1_parser.h"
#include "process/metrics.h"
#include "config/snapshot.h"
#include "timer_wheel.h"

#include <ev.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdint.h>

struct tg_upstream;
struct tg_tunnel;

struct tg_deferred {
    struct tg_deferred *next;
    void (*free_fn)(struct tg_deferred *d);
};

enum { TG_WORKER_SLOT_INTROSPECTION = 0, TG_WORKER_SLOT_REDIS, TG_WORKER_SLOT_JWKS, TG_WORKER_SLOTS = 8 };

struct tg_dataplane_config {
    const char *listen_addr;        /* "0.0.0.0:8080" */
    int workers;
    size_t max_head_bytes;          /* 32 KiB */
    uint64_t request_head_timeout_ms; /* first byte → full head */
    uint64_t keepalive_timeout_ms;  /* idle client connection between requests */
    uint64_t upstream_idle_timeout_ms; /* idle pooled upstream connection */
    size_t upstream_pool_per_endpoint; /* idle keep-alive connections kept per endpoint per worker */
    uint64_t drain_timeout_ms;
    size_t max_connections_per_worker;
};

struct tg_worker {
    int id;
    pthread_t thread;
    struct ev_loop *loop;
    const struct tg_dataplane_config *config;

    int listen_fd;
    ev_io accept_io;
    ev_timer accept_retry;          /* re-enables accept after EMFILE */
    int reserve_fd;                 /* spare descriptor closed to shed a connection when out of fds */

    ev_async wakeup;
    ev_timer wheel_tick;
    uint64_t wheel_due_ms;          /* when wheel_tick is armed to fire (monotonic ms) */
    ev_prepare before_sleep;
    struct tg_timer_wheel wheel;
    struct tg_buf_pool bufs;
    struct tg_metrics_shard *metrics;
    struct tg_snapshot *snapshot;   /* this worker's reference to the snapshot in force */
    struct tg_deferred *deferred;   /* objects to free at the end of this loop iteration */

    /* keep-alive pools: idle upstream connections by endpoint index */
    struct tg_upstream **idle_pools;
    uint32_t *idle_counts;
    uint32_t pools_len;

    struct tg_http_head scratch_head; /* parse target for request heads (copied out once complete) */
    size_t num_clients;
    int draining;                   /* stop accepting; finish in-flight work; exit when nothing is left */
    uint64_t drain_deadline_ms;
    uint32_t rng;                   /* xorshift state for random load balancing and masks */

    /* mailbox (other threads → this worker) */
    pthread_mutex_t mailbox_lock;
    struct tg_snapshot *mailbox_snapshot;
    int mailbox_drain;
    void (*on_snapshot_applied)(struct tg_worker *w, uint64_t version); /* called on the worker thread */

    /* per-worker state of policies that need their own connections on this loop (libcurl multi for
     * introspection, hiredis for distributed quotas): created lazily on the worker thread by the policy,
     * destroyed by slot_free when the worker exits */
    void *slots[TG_WORKER_SLOTS];
    void (*slot_free[TG_WORKER_SLOTS])(struct tg_worker *w, void *state);

    /* live WebSocket sessions, for /sessions and the drain (lock: the admin thread reads it) */
    pthread_mutex_t sessions_lock;
    struct tg_tunnel *sessions;
    struct tg_client *clients;      /* all client connections (for the drain) */
};

/* Creates the worker (listener bound with SO_REUSEPORT); 0 or -1 with a logged error. */
int tg_worker_init(struct tg_worker *w, int id, const struct tg_dataplane_config *config);
/* Runs the worker's loop on the calling thread until the drain completes; then closes what is left. */
void tg_worker_run(struct tg_worker *w);
/* Joins w->thread and frees the worker's resources. */
void tg_worker_join(struct tg_worker *w);

/* From any thread: switch to snap (the worker takes its own reference). */
void tg_worker_post_snapshot(struct tg_worker *w, struct tg_snapshot *snap);
/* From any thread: stop accepting, close WebSockets with 1001, finish HTTP exchanges, exit the thread. */
void tg_worker_post_drain(struct tg_worker *w, uint64_t drain_timeout_ms);

void tg_worker_defer_free(struct tg_worker *w, struct tg_deferred *d);
uint32_t tg_worker_random(struct tg_worker *w);

#endif
