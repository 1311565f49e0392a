/* worker.h — one data-plane worker: a thread with its own libev loop, timer wheel and buffer pool. The worker is
 * the event loop and nothing else: it knows no clients, upstreams, tunnels, snapshots or metrics. What runs on
 * it is its owner's (the proxy layer's per-worker object), which it tells what happened through the hooks it was
 * given (struct tg_worker_hooks): a value posted from another thread arrived, the drain began, is anything left,
 * the loop ended.
 *
 * Cross-thread messages reach a worker through its mailbox (a mutex-protected slot + ev_async): the latest
 * posted value (a newer one replaces one not taken yet, which is dropped through the hooks), or "drain and
 * stop". Objects are never freed inside their own callback stack: they are queued with tg_worker_defer_free()
 * and freed when the loop is about to sleep (Redis' freeClientAsync habit). The wheel is re-armed before every
 * sleep; a drain ends when the owner says it is idle or at its deadline. Each iteration's working time (wake-up
 * to the next sleep) goes into the worker's `iterations` histogram, which its owner's owner renders (/metrics:
 * tollgate_event_loop_iteration_duration_seconds); the clock read at the wake-up is the iteration's cached now.
 */
#ifndef TG_WORKER_H
#define TG_WORKER_H

#include "buf.h"
#include "histogram.h"
#include "timer_wheel.h"

#include <ev.h>
#include <pthread.h>
#include <stdint.h>

struct tg_deferred {
    struct tg_deferred *next;
    void (*free_fn)(struct tg_deferred *d);
};

enum { TG_WORKER_SLOT_INTROSPECTION = 0, TG_WORKER_SLOT_REDIS, TG_WORKER_SLOT_JWKS, TG_WORKER_SLOTS = 8 };

struct tg_worker;

/* What the owner of a worker is told (every hook runs on the worker's thread unless said otherwise; NULL hooks
 * are skipped). */
struct tg_worker_hooks {
    void *owner;
    /* A value given to tg_worker_post arrived; it is the owner's now. */
    void (*on_post)(void *owner, void *value);
    /* A posted value was replaced (or the worker ended) before it was taken: release it. Any thread. */
    void (*drop_post)(void *value);
    /* The drain began: stop accepting, close what is idle, ask the rest to finish. */
    void (*on_drain)(void *owner);
    /* While draining: 1 when nothing is left (the loop then ends). */
    int (*is_idle)(void *owner);
    /* The loop ended (drained or out of time): close whatever is left, now. */
    void (*on_exit)(void *owner);
};

struct tg_worker {
    int id;
    pthread_t thread;
    struct ev_loop *loop;
    struct tg_worker_hooks hooks;

    ev_async wakeup;
    ev_timer wheel_tick;
    uint64_t wheel_due_ms;          /* when wheel_tick is armed to fire (monotonic ms) */
    uint64_t wheel_armed_changes;   /* wheel.changes when wheel_due_ms was computed */
    ev_prepare before_sleep;
    ev_check after_poll;
    uint64_t now_ms;                /* monotonic ms read once when the loop woke (tg_worker_now_ms) */
    uint64_t woke_ns;               /* monotonic ns of that wake-up */
    uint32_t iteration;             /* counts the loop's wake-ups (wraps): per-iteration budgets compare it */
    struct tg_histogram iterations; /* how long each loop iteration worked: from the wake-up to the next sleep */
    uint64_t yield_after_ns;        /* an iteration that worked this long ends with sched_yield (0: never) */
    uint64_t busy_poll_ns;          /* poll without sleeping this long after an iteration that worked (0: never) */
    uint64_t worked_ns;             /* monotonic ns of the last iteration that had an event to handle */
    int stopped;                    /* the drain ended the loop (busy polling's outer loop stops too) */
    _Atomic uint64_t yields;        /* how many times it did (written by this thread only; read by metrics) */
    struct tg_timer_wheel wheel;
    struct tg_buf_pool bufs;
    struct tg_deferred *deferred;   /* objects to free at the end of this loop iteration */
    int draining;                   /* finish in-flight work; the loop ends when the owner is idle */
    uint64_t drain_deadline_ms;
    uint32_t rng;                   /* xorshift state for random load balancing and masks */

    /* mailbox (other threads → this worker) */
    pthread_mutex_t mailbox_lock;
    void *mailbox_value;
    int mailbox_drain;

    /* per-worker state of policies that need their own connections on this loop (libcurl multi for
     * introspection, hiredis for distributed quotas): created lazily on the worker thread by the policy,
     * destroyed by slot_free when the worker exits */
    void *slots[TG_WORKER_SLOTS];
    void (*slot_free[TG_WORKER_SLOTS])(struct tg_worker *w, void *state);
};

/* Creates the worker's loop, wheel and buffer pool; the owner sets w->hooks before tg_worker_run. 0 or -1. */
int tg_worker_init(struct tg_worker *w, int id);
/* Runs the worker's loop on the calling thread until the drain completes; then the owner's on_exit, the
 * deferred frees and the policies' slots. */
void tg_worker_run(struct tg_worker *w);
/* Frees the loop and the buffer pool (after tg_worker_run returned, e.g. joined); drops an untaken post. */
void tg_worker_destroy(struct tg_worker *w);

/* From any thread: hand value to the owner's on_post on the worker's thread (a newer post replaces it). */
void tg_worker_post(struct tg_worker *w, void *value);
/* From any thread: begin the drain (the owner's on_drain); the loop ends when the owner is idle, or after
 * drain_timeout_ms. */
void tg_worker_post_drain(struct tg_worker *w, uint64_t drain_timeout_ms);

void tg_worker_defer_free(struct tg_worker *w, struct tg_deferred *d);

/* The monotonic clock (clock.h's tg_now_ms) as read once when the loop woke for this iteration: what a hot path
 * stamps activity with instead of reading the clock per event. At most one iteration old. Worker thread. */
static inline uint64_t tg_worker_now_ms(const struct tg_worker *w)
{
    return w->now_ms;
}

/* Which wake-up of the loop this is (wraps): a connection that stamps its budget with it knows when a new
 * iteration gives it a fresh one. Worker thread. */
static inline uint32_t tg_worker_iteration(const struct tg_worker *w)
{
    return w->iteration;
}

uint32_t tg_worker_random(struct tg_worker *w);

#endif
