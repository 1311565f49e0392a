/* upstream_pool.c — see upstream_pool.h. */
#include "proxy/upstream_pool.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void free_upstream(struct tg_deferred *d) { free(d); }

static void drop_active(struct tg_upstream *up)
{
    if (up->counted_active) {
        atomic_fetch_sub_explicit(&up->ep->active, 1, memory_order_relaxed);
        up->counted_active = 0;
    }
}

static void close_upstream(struct tg_upstream *up)
{
    struct tg_worker *w = up->pool->w;
    drop_active(up);
    tg_timer_cancel(&w->wheel, &up->timer);
    tg_conn_close(w->loop, &up->conn, &w->bufs);
    tg_worker_defer_free(w, &up->deferred);
}

void tg_upstream_pool_init(struct tg_upstream_pool *pool, struct tg_worker *w, uint64_t idle_timeout_ms,
                           size_t per_endpoint)
{
    memset(pool, 0, sizeof *pool); /* every optional pointer (connect_times, the TLS contexts...) starts NULL */
    pool->w = w;
    pool->idle_timeout_ms = idle_timeout_ms;
    pool->per_endpoint = per_endpoint;
}

static int ensure_slot(struct tg_upstream_pool *pool, uint32_t index)
{
    if (index < pool->len)
        return 0;
    uint32_t len = tg_endpoint_count();
    if (len <= index)
        len = index + 1;
    struct tg_upstream **idle = realloc(pool->idle, len * sizeof *idle);
    if (!idle)
        return -1;
    pool->idle = idle;
    uint32_t *counts = realloc(pool->idle_counts, len * sizeof *counts);
    if (!counts)
        return -1;
    pool->idle_counts = counts;
    for (uint32_t i = pool->len; i < len; i++) {
        pool->idle[i] = NULL;
        pool->idle_counts[i] = 0;
    }
    pool->len = len;
    return 0;
}

static void pool_remove(struct tg_upstream *up)
{
    struct tg_upstream_pool *pool = up->pool;
    struct tg_upstream **pp = &pool->idle[up->ep->index];
    while (*pp && *pp != up)
        pp = &(*pp)->pool_next;
    if (*pp) {
        *pp = up->pool_next;
        pool->idle_counts[up->ep->index]--;
    }
    up->pool_next = NULL;
}

static void on_idle_expired(struct tg_timer *t, uint64_t now_ms)
{
    struct tg_upstream *up = (struct tg_upstream *)((char *)t - offsetof(struct tg_upstream, timer));
    pool_remove(up);
    close_upstream(up);
}

/* The worker's session slot for ep (created on first use); NULL when out of memory (no reuse then). */
static struct tg_tls_session_slot *session_slot(struct tg_upstream_pool *pool, const struct tg_endpoint *ep)
{
    if (ep->index >= pool->sessions_len) {
        uint32_t len = tg_endpoint_count();
        if (len <= ep->index)
            len = ep->index + 1;
        struct tg_tls_session_slot **grown = realloc(pool->sessions, len * sizeof *grown);
        if (!grown)
            return NULL;
        for (uint32_t i = pool->sessions_len; i < len; i++)
            grown[i] = NULL;
        pool->sessions = grown;
        pool->sessions_len = len;
    }
    if (!pool->sessions[ep->index])
        pool->sessions[ep->index] = calloc(1, sizeof **pool->sessions);
    return pool->sessions[ep->index];
}

/* Puts a new connection's socket on TLS: SNI and the name verified, or (no server name) the endpoint's IP
 * address verified against the certificate's iPAddress SANs (RFC 5280 §4.2.1.6) with no SNI at all (RFC 6066 §3
 * allows host names only); the cached session offered. */
static int start_tls(struct tg_upstream *up, const struct tg_upstream_tls *tls)
{
    struct tg_tls_session_slot *slot = session_slot(up->pool, up->ep);
    if (tg_conn_start_tls_client(&up->conn, tls->ctx, tls->server_name, slot) != 0)
        return -1;
    if (tls->verify && !tls->server_name[0]) {
        const struct sockaddr_storage *a = &up->ep->addr;
        const unsigned char *ip = a->ss_family == AF_INET6
                                      ? (const unsigned char *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                      : (const unsigned char *)&((const struct sockaddr_in *)a)->sin_addr;
        size_t ip_len = a->ss_family == AF_INET6 ? 16 : 4;
        if (X509_VERIFY_PARAM_set1_ip(SSL_get0_param(tg_conn_ssl(&up->conn)), ip, ip_len) != 1)
            return -1;
    }
    return 0;
}

static void on_upstream_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_upstream *up = io->data;
    if (!up->owner && up->ep->tls) {
        /* idle TLS: a record that carries no data (a late TLS 1.3 session ticket) keeps the connection; data,
         * an alert or the end closes it like on plain TCP */
        char byte;
        if (tg_conn_read(&up->conn, &byte, 1) == TG_IO_AGAIN)
            return;
    }
    if (!up->owner) {
        /* idle in the pool: any readability means the backend closed it (or misbehaves) */
        pool_remove(up);
        close_upstream(up);
        return;
    }
    tg_conn_note_events(&up->conn, revents);
    up->on_event(up->owner);
}

static struct tg_upstream *connect_new(struct tg_upstream_pool *pool, struct tg_endpoint *ep,
                                       const struct tg_upstream_tls *tls)
{
    int fd = socket(ep->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint64_t t0 = pool->connect_times ? tg_now_ns() : 0;
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
    up->pool = pool;
    up->ep = ep;
    up->deferred.free_fn = free_upstream;
    tg_conn_init(&up->conn, fd, on_upstream_io, up);
    up->tcp_connected = rc == 0;
    up->connecting = rc != 0 || tls;
    up->wait_events = EV_WRITE;
    up->connect_started_ns = t0;
    if (!up->connecting && pool->connect_times)
        tg_histogram_observe_ns(pool->connect_times, tg_now_ns() - t0);
    up->conn.writable = rc == 0;
    up->conn.readable = 0; /* nothing to read before the request is sent */
    tg_timer_init(&up->timer, on_idle_expired);
    if (tls && start_tls(up, tls) != 0) {
        tg_conn_close(pool->w->loop, &up->conn, &pool->w->bufs);
        free(up);
        errno = ENOMEM;
        return NULL;
    }
    return up;
}

struct tg_upstream *tg_upstream_acquire(struct tg_upstream_pool *pool, struct tg_endpoint *ep,
                                        const struct tg_upstream_tls *tls)
{
    if (!ep->tls != !tls) { /* never plain text to a TLS endpoint (nor the reverse) */
        errno = EINVAL;
        return NULL;
    }
    struct tg_upstream *up = NULL;
    if (ep->index < pool->len && pool->idle[ep->index]) {
        up = pool->idle[ep->index];
        pool->idle[ep->index] = up->pool_next;
        pool->idle_counts[ep->index]--;
        up->pool_next = NULL;
        up->reused = 1;
        tg_timer_cancel(&pool->w->wheel, &up->timer);
        /* the watcher stays on EV_READ (no epoll_ctl churn): the response will be waited for with it anyway */
        up->conn.readable = 0;
        up->conn.writable = 1;
    } else {
        up = connect_new(pool, ep, tls);
        if (!up)
            return NULL;
    }
    atomic_fetch_add_explicit(&ep->active, 1, memory_order_relaxed);
    up->counted_active = 1;
    up->requests++;
    return up;
}

#define EARLY_SEND_MISSES_MAX 8 /* misses in a row before an endpoint is only probed, once per 256 connects */

/* The request head straight after connect(2): 1 sent (the connect completed), 0 not tried or EAGAIN (still
 * connecting), -1 the connect failed (errno: its error, as SO_ERROR would have said). */
static int early_send(struct tg_upstream *up)
{
    struct tg_buf *out = up->conn.out;
    if (up->early_tried || up->ep->tls || !out || tg_buf_len(out) == 0)
        return 0;
    up->early_tried = 1;
    uint32_t misses = atomic_load_explicit(&up->ep->early_send_misses, memory_order_relaxed);
    if (misses >= EARLY_SEND_MISSES_MAX && (misses & 255) != 0) {
        atomic_store_explicit(&up->ep->early_send_misses, misses + 1, memory_order_relaxed);
        return 0;
    }
    ssize_t n = tg_conn_write(&up->conn, tg_buf_start(out), tg_buf_len(out));
    if (n < 0)
        return -1;
    if (n == 0) { /* EAGAIN: connecting (tg_conn_write cleared writable) */
        atomic_store_explicit(&up->ep->early_send_misses, misses + 1, memory_order_relaxed);
        return 0;
    }
    tg_buf_consume(out, (size_t)n);
    up->conn.writable = tg_buf_len(out) == 0; /* a short write means the socket is full (tg_conn_write) */
    if (misses)
        atomic_store_explicit(&up->ep->early_send_misses, 0, memory_order_relaxed);
    return 1;
}

int tg_upstream_finish_connect(struct tg_upstream *up)
{
    if (!up->connecting)
        return 0;
    if (!up->tcp_connected && !up->conn.writable) {
        int e = early_send(up);
        if (e < 0)
            return -1;
        if (e > 0)
            up->tcp_connected = 1; /* the socket took data: established (tcp_sendmsg waits for that) */
    }
    if (!up->tcp_connected) {
        up->wait_events = EV_WRITE;
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
        up->tcp_connected = 1;
    }
    if (tg_conn_ssl(&up->conn)) {
        int events = 0;
        int rc = tg_conn_tls_handshake(&up->conn, &events);
        if (rc == TG_IO_AGAIN) {
            up->wait_events = (short)events;
            return TG_IO_AGAIN;
        }
        if (rc < 0) {
            up->tls_failed = 1;
            errno = EPROTO;
            return -1;
        }
        if (tg_log_get_level() <= TG_LOG_DEBUG)
            tg_debug("TLS to %s: %s handshake (%s)", up->ep->name,
                     tg_conn_tls_resumed(&up->conn) ? "resumed" : "full", SSL_get_version(tg_conn_ssl(&up->conn)));
        up->conn.writable = 1;
        up->conn.readable = 0;
    }
    up->connecting = 0;
    if (up->pool->connect_times)
        tg_histogram_observe_ns(up->pool->connect_times, tg_now_ns() - up->connect_started_ns);
    return 0;
}

void tg_upstream_release(struct tg_upstream *up, int reusable)
{
    struct tg_upstream_pool *pool = up->pool;
    struct tg_worker *w = pool->w;
    drop_active(up);
    up->owner = NULL;
    up->on_event = NULL;
    SSL *ssl = tg_conn_ssl(&up->conn);
    if (!reusable || pool->closed || up->connecting || tg_buf_len(up->conn.in) || tg_buf_len(up->conn.out) ||
        up->conn.fd < 0 || (ssl && SSL_pending(ssl) > 0) || ensure_slot(pool, up->ep->index) != 0 ||
        pool->idle_counts[up->ep->index] >= pool->per_endpoint) {
        close_upstream(up);
        return;
    }
    tg_buf_put(&w->bufs, up->conn.in);
    tg_buf_put(&w->bufs, up->conn.out);
    up->conn.in = up->conn.out = NULL;
    up->pool_next = pool->idle[up->ep->index];
    pool->idle[up->ep->index] = up;
    pool->idle_counts[up->ep->index]++;
    tg_conn_want(w->loop, &up->conn, EV_READ); /* notice the backend closing it */
    tg_timer_schedule(&w->wheel, &up->timer, tg_now_ms() + pool->idle_timeout_ms);
}

int tg_upstream_hand_over(struct tg_upstream *up)
{
    int counted = up->counted_active;
    up->counted_active = 0;
    up->owner = NULL;
    close_upstream(up); /* no socket any more: only the object goes */
    return counted;
}

void tg_upstream_pool_close_all(struct tg_upstream_pool *pool)
{
    for (uint32_t i = 0; i < pool->len; i++) {
        while (pool->idle[i]) {
            struct tg_upstream *up = pool->idle[i];
            pool->idle[i] = up->pool_next;
            pool->idle_counts[i]--;
            close_upstream(up);
        }
    }
}

void tg_upstream_pool_drain(struct tg_upstream_pool *pool)
{
    pool->closed = 1;
    tg_upstream_pool_close_all(pool);
}

void tg_upstream_pool_destroy(struct tg_upstream_pool *pool)
{
    for (uint32_t i = 0; i < pool->sessions_len; i++) {
        if (pool->sessions[i])
            tg_tls_session_slot_clear(pool->sessions[i]);
        free(pool->sessions[i]);
    }
    free(pool->sessions);
    pool->sessions = NULL;
    pool->sessions_len = 0;
    free(pool->idle);
    free(pool->idle_counts);
    pool->idle = NULL;
    pool->idle_counts = NULL;
    pool->len = 0;
}
