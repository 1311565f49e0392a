/* upstream.c — connections from a worker to backend endpoints: endpoint choice (roundRobin, leastConnections,
 * random), non-blocking connect, and the worker's keep-alive pools (idle connections by endpoint, bounded per
 * endpoint, expired after an idle timeout, dropped at once when the backend closes them). */
#include "proxy/proxy.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tg_endpoint *tg_upstream_choose(struct tg_worker *w, struct tg_proxy_cfg *px)
{
    size_t n = px->num_endpoints;
    if (n == 0)
        return NULL;
    switch (px->lb) {
    case TG_LB_RANDOM:
        return px->endpoints[tg_worker_random(w) % n];
    case TG_LB_LEAST_CONNECTIONS: {
        /* fewest active connections; ties broken round-robin so equal endpoints share the load */
        uint32_t start = atomic_fetch_add_explicit(&px->rr_next, 1, memory_order_relaxed);
        struct tg_endpoint *best = NULL;
        uint32_t best_active = UINT32_MAX;
        for (size_t i = 0; i < n; i++) {
            struct tg_endpoint *ep = px->endpoints[(start + i) % n];
            uint32_t active = atomic_load_explicit(&ep->active, memory_order_relaxed);
            if (active < best_active) {
                best = ep;
                best_active = active;
            }
        }
        return best;
    }
    case TG_LB_ROUND_ROBIN:
    default:
        return px->endpoints[atomic_fetch_add_explicit(&px->rr_next, 1, memory_order_relaxed) % n];
    }
}

static void free_upstream(struct tg_deferred *d) { free(d); }

static void close_upstream(struct tg_upstream *up)
{
    struct tg_worker *w = up->w;
    if (up->counted_active) {
        atomic_fetch_sub_explicit(&up->ep->active, 1, memory_order_relaxed);
        up->counted_active = 0;
    }
    tg_timer_cancel(&w->wheel, &up->timer);
    tg_conn_close(w->loop, &up->conn, &w->bufs);
    tg_worker_defer_free(w, &up->deferred);
}

static int ensure_pool_slot(struct tg_worker *w, uint32_t index)
{
    if (index < w->pools_len)
        return 0;
    uint32_t len = tg_endpoint_count();
    if (len <= index)
        len = index + 1;
    struct tg_upstream **pools = realloc(w->idle_pools, len * sizeof *pools);
    if (!pools)
        return -1;
    w->idle_pools = pools;
    uint32_t *counts = realloc(w->idle_counts, len * sizeof *counts);
    if (!counts)
        return -1;
    w->idle_counts = counts;
    for (uint32_t i = w->pools_len; i < len; i++) {
        w->idle_pools[i] = NULL;
        w->idle_counts[i] = 0;
    }
    w->pools_len = len;
    return 0;
}

static void pool_remove(struct tg_upstream *up)
{
    struct tg_worker *w = up->w;
    struct tg_upstream **pp = &w->idle_pools[up->ep->index];
    while (*pp && *pp != up)
        pp = &(*pp)->pool_next;
    if (*pp) {
        *pp = up->pool_next;
        w->idle_counts[up->ep->index]--;
    }
    up->pool_next = NULL;
}

static void on_idle_expired(struct tg_timer *t, uint64_t now_ms)
{
    struct tg_upstream *up = (struct tg_upstream *)((char *)t - offsetof(struct tg_upstream, timer));
    pool_remove(up);
    close_upstream(up);
}

void tg_upstream_io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_upstream *up = io->data;
    if (!up->client) {
        /* idle in the pool: any readability means the backend closed it (or misbehaves) */
        pool_remove(up);
        close_upstream(up);
        return;
    }
    tg_conn_note_events(&up->conn, revents);
    tg_client_pump(up->client);
}

static struct tg_upstream *connect_new(struct tg_worker *w, struct tg_endpoint *ep)
{
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, (const struct sockaddr *)&ep->addr, ep->addr_len);
    if (rc != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    struct tg_upstream *up = calloc(1, sizeof *up);
    if (!up) {
        close(fd);
        return NULL;
    }
    up->w = w;
    up->ep = ep;
    up->deferred.free_fn = free_upstream;
    tg_conn_init(&up->conn, fd, tg_upstream_io_cb, up);
    up->connecting = rc != 0;
    up->conn.writable = rc == 0;
    up->conn.readable = 0; /* nothing to read before the request is sent */
    tg_timer_init(&up->timer, on_idle_expired);
    return up;
}

struct tg_upstream *tg_upstream_acquire(struct tg_worker *w, struct tg_endpoint *ep, uint32_t connect_timeout_ms)
{
    struct tg_upstream *up = NULL;
    if (ep->index < w->pools_len && w->idle_pools[ep->index]) {
        up = w->idle_pools[ep->index];
        w->idle_pools[ep->index] = up->pool_next;
        w->idle_counts[ep->index]--;
        up->pool_next = NULL;
        up->reused = 1;
        tg_timer_cancel(&w->wheel, &up->timer);
        /* the watcher stays on EV_READ (no epoll_ctl churn): the response will be waited for with it anyway */
        up->conn.readable = 0;
        up->conn.writable = 1;
    } else {
        up = connect_new(w, ep);
        if (!up)
            return NULL;
    }
    atomic_fetch_add_explicit(&ep->active, 1, memory_order_relaxed);
    up->counted_active = 1;
    up->requests++;
    return up;
}

int tg_upstream_finish_connect(struct tg_upstream *up)
{
    if (!up->connecting)
        return 0;
    if (!up->conn.writable)
        return TG_IO_AGAIN;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(up->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY) {
        up->conn.writable = 0;
        return TG_IO_AGAIN;
    }
    if (err) {
        errno = err;
        return -1;
    }
    up->connecting = 0;
    return 0;
}

void tg_upstream_release(struct tg_upstream *up, int reusable)
{
    struct tg_worker *w = up->w;
    if (up->counted_active) {
        atomic_fetch_sub_explicit(&up->ep->active, 1, memory_order_relaxed);
        up->counted_active = 0;
    }
    up->client = NULL;
    if (!reusable || w->draining || up->connecting || tg_buf_len(up->conn.in) || tg_buf_len(up->conn.out) ||
        ensure_pool_slot(w, up->ep->index) != 0 ||
        w->idle_counts[up->ep->index] >= w->config->upstream_pool_per_endpoint) {
        close_upstream(up);
        return;
    }
    tg_buf_put(&w->bufs, up->conn.in);
    tg_buf_put(&w->bufs, up->conn.out);
    up->conn.in = up->conn.out = NULL;
    up->pool_next = w->idle_pools[up->ep->index];
    w->idle_pools[up->ep->index] = up;
    w->idle_counts[up->ep->index]++;
    tg_conn_want(w->loop, &up->conn, EV_READ); /* notice the backend closing it */
    tg_timer_schedule(&w->wheel, &up->timer, tg_now_ms() + w->config->upstream_idle_timeout_ms);
}

void tg_upstream_pools_close_all(struct tg_worker *w)
{
    for (uint32_t i = 0; i < w->pools_len; i++) {
        while (w->idle_pools[i]) {
            struct tg_upstream *up = w->idle_pools[i];
            w->idle_pools[i] = up->pool_next;
            w->idle_counts[i]--;
            close_upstream(up);
        }
    }
}
