/* upstream_pool.h — connections from a worker to backend endpoints: a non-blocking connect, or an idle
 * keep-alive connection taken from the worker's pool (idle connections by endpoint, bounded per endpoint,
 * expired after an idle timeout, dropped at once when the backend closes them).
 *
 * A connection in use belongs to one owner (the forwarder of one request), which it tells about socket events
 * through the callback it was bound to (tg_upstream_bind); released, it returns to the pool or is closed. Each
 * connection in use holds one count of its endpoint's `active` (what leastConnections balances on).
 *
 * TLS origination: a connection to an endpoint interned with TLS settings (endpoint.h) starts TLS on its socket
 * at once and stays `connecting` until the TCP connect and then the TLS handshake completed
 * (tg_upstream_finish_connect drives both, so the owner's connect timeout bounds the handshake too). The worker
 * keeps one TLS session per such endpoint (so per address, SNI and settings) and offers it on every new
 * connection: the backend resumes instead of a full handshake. A handshake that fails (the certificate does not
 * verify, the backend refuses our client certificate...) fails the connect with a reason; nothing is ever sent
 * in plain text to an endpoint that asks for TLS.
 */
#ifndef TG_UPSTREAM_POOL_H
#define TG_UPSTREAM_POOL_H

#include "config/endpoint.h"
#include "config/upstream_tls.h"
#include "histogram.h"
#include "loop/conn.h"
#include "loop/tls_transport.h"
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
    unsigned char connecting;       /* connect(2) or the TLS handshake in progress */
    unsigned char tcp_connected;    /* connect(2) completed (the TLS handshake may still be going) */
    unsigned char tls_failed;       /* the connect failed in the TLS handshake (tg_upstream_tls_error says why) */
    unsigned char early_tried;      /* the request was tried straight after connect(2) (tg_upstream_finish_connect) */
    short wait_events;              /* while connecting: the readiness the connect or handshake waits for */
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
    struct tg_tls_session_slot **sessions; /* TLS session to resume, by endpoint index (NULL until one is used) */
    uint32_t sessions_len;
    int closed;                     /* draining: nothing returns to the pool any more */
    struct tg_histogram *connect_times; /* new connections' connect durations (the worker's; NULL: none) */
};

void tg_upstream_pool_init(struct tg_upstream_pool *pool, struct tg_worker *w, uint64_t idle_timeout_ms,
                           size_t per_endpoint);
/* An idle pooled connection to ep, or a new connecting one; NULL with errno on immediate failure. tls: the
 * settings of an endpoint interned with TLS (ep->tls), NULL for plain TCP. The result holds one ep->active and has
 * no owner yet (tg_upstream_bind). */
struct tg_upstream *tg_upstream_acquire(struct tg_upstream_pool *pool, struct tg_endpoint *ep,
                                        const struct tg_upstream_tls *tls);
/* Socket events of up now call on_event(owner). */
static inline void tg_upstream_bind(struct tg_upstream *up, void (*on_event)(void *owner), void *owner)
{
    up->on_event = on_event;
    up->owner = owner;
}
/* Finishes a connect (TCP, then TLS when the endpoint asks for it): 0 connected, TG_IO_AGAIN still in progress
 * (wait for up->wait_events), -1 failed (errno set; up->tls_failed when the TLS handshake failed).
 * Plain TCP with the request already queued on up->conn.out: the first call sends it at once instead of waiting
 * for writability — a connect to a backend on the same host (loopback, a pod's veth) completes inside
 * connect(2), and the send then saves the wait, the SO_ERROR query and an epoll_ctl; a send that says EAGAIN
 * leaves the connect to the usual wait, one that fails is the connect's failure. An endpoint whose connects
 * keep not completing at once (a remote one) is not tried again but for one connect in 256. */
int tg_upstream_finish_connect(struct tg_upstream *up);
/* Why the last TLS handshake of this thread failed (for logs; never key material). */
static inline const char *tg_upstream_tls_error(void) { return tg_tls_last_error(); }
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
