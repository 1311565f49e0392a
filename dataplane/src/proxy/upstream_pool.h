/* upstream_pool.h — connections from a worker to backend endpoints: a non-blocking connect, or an idle
 * keep-alive connection taken from the worker's pool (idle connections by endpoint, bounded per endpoint,
 * expired after an idle timeout, dropped at once when the backend closes them).
 *
 * A connection in use belongs to one owner (the forwarder of one request), which it tells about socket events
 * through the callback it was bound to (tg_upstream_bind); released, it returns to the pool or is closed. Each
 * connection in use holds one count of its endpoint's `active` (what leastConnections balances on).
 */
#ifndef TG_UPSTREAM_POOL_H
#define TG_UPSTREAM_POOL_H

#include "config/endpoint.h"
#include "histogram.h"
#include "loop/conn.h"
#include "loop/worker.h"
#include "timer_wheel.h"

#include <stddef.h>
#include <stdint.h>

struct tg_upstream_pool;

struct tg_upstream {
    struct tg_deferred deferred;
    struct tg_conn conn;
    struct tg_upstream_pool *pool;
    struct tg_endpoint *ep;
    void (*on_event)(void *owner);  /* a socket event while in use: the owner pumps */
    void *owner;                    /* NULL while idle in the pool */
    struct tg_upstream *pool_next;  /* idle pool link */
    struct tg_timer timer;          /* idle-in-pool expiry */
    unsigned char connecting;       /* connect(2) in progress */
    unsigned char reused;           /* came from the keep-alive pool */
    unsigned char counted_active;   /* holds one ep->active */
    uint32_t requests;              /* requests served on this connection */
    uint64_t connect_started_ns;    /* when connect(2) was called (for connect_times) */
};

/* One per worker. All-zero plus tg_upstream_pool_init is a valid empty pool. */
struct tg_upstream_pool {
    struct tg_worker *w;
    struct tg_upstream **idle;      /* idle connections by endpoint index */
    uint32_t *idle_counts;
    uint32_t len;
    uint64_t idle_timeout_ms;
    size_t per_endpoint;            /* idle connections kept per endpoint */
    int closed;                     /* draining: nothing returns to the pool any more */
    struct tg_histogram *connect_times; /* new connections' connect durations (the worker's; NULL: none) */
};

void tg_upstream_pool_init(struct tg_upstream_pool *pool, struct tg_worker *w, uint64_t idle_timeout_ms,
                           size_t per_endpoint);
/* An idle pooled connection to ep, or a new connecting one; NULL with errno on immediate failure. The result
 * holds one ep->active and has no owner yet (tg_upstream_bind). */
struct tg_upstream *tg_upstream_acquire(struct tg_upstream_pool *pool, struct tg_endpoint *ep);
/* Socket events of up now call on_event(owner). */
static inline void tg_upstream_bind(struct tg_upstream *up, void (*on_event)(void *owner), void *owner)
{
    up->on_event = on_event;
    up->owner = owner;
}
/* Finishes a connect: 0 connected, TG_IO_AGAIN still in progress, -1 failed (errno set). */
int tg_upstream_finish_connect(struct tg_upstream *up);
/* Ends the owner's use: back to the pool when reusable (nothing buffered, pool open, room left), else closed. */
void tg_upstream_release(struct tg_upstream *up, int reusable);
/* The owner moved up->conn elsewhere (a tunnel): frees up without touching up->ep->active — the count it held
 * (counted_active, returned: 1 or 0) belongs to the caller from now on. */
int tg_upstream_hand_over(struct tg_upstream *up);
/* Closes every idle connection. */
void tg_upstream_pool_close_all(struct tg_upstream_pool *pool);
/* The drain: closes the idle connections, and from now on every released one. */
void tg_upstream_pool_drain(struct tg_upstream_pool *pool);
/* Frees the pool's arrays (after close_all). */
void tg_upstream_pool_destroy(struct tg_upstream_pool *pool);

#endif
