/* test_dp_upstream_pool.c — proxy/upstream_pool.c against a real listening socket on 127.0.0.1, on a real worker
 * loop: a new connection connects (non-blocking) and holds one count of its endpoint's `active`; released
 * reusable it waits in the pool and the next acquire reuses it (same socket); the pool is bounded per endpoint;
 * an idle connection expires after the idle timeout (the backend sees EOF) or is dropped as soon as the backend
 * closes it; the owner bound with tg_upstream_bind is told about socket events; the drain closes everything and
 * keeps nothing afterwards; a refused connect fails. A new connection with the request queued sends it straight
 * after connect(2) (loopback completes the connect at once): no wait for writability; a refused one fails in that
 * send with ECONNREFUSED; an endpoint whose connects did not complete at once is only probed once in 256.
 * And the balancer's three policies (proxy/balancer.c). */
#include "clock.h"
#include "config/endpoint.h"
#include "loop/worker.h"
#include "proxy/balancer.h"
#include "proxy/upstream_pool.h"
#include "tg_test.h"
#include "tg_test_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Runs the worker's loop (timers, deferred frees, watchers) until *flag is set or ms pass. */
static void run_until(struct tg_worker *w, const int *flag, int ms)
{
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    while (tg_now_ms() < end && !(flag && *flag)) {
        ev_run(w->loop, EVRUN_NOWAIT);
        usleep(1000);
    }
}

static int events;
static void on_event(void *owner) { (*(int *)owner)++; }

static struct tg_upstream *connected(struct tg_worker *w, struct tg_upstream_pool *pool, struct tg_endpoint *ep)
{
    struct tg_upstream *up = tg_upstream_acquire(pool, ep, NULL);
    if (!up)
        return NULL;
    tg_upstream_bind(up, on_event, &events);
    for (int i = 0; i < 200 && tg_upstream_finish_connect(up) == TG_IO_AGAIN; i++) {
        tg_conn_want(w->loop, &up->conn, EV_WRITE);
        run_until(w, NULL, 2);
    }
    return up;
}

static void test_pool(void)
{
    int port = 0;
    int lfd = listen_local(&port);
    CHECK(lfd >= 0);
    char err[128];
    struct tg_endpoint *ep = tg_endpoint_intern("127.0.0.1", port, err, sizeof err);
    CHECK(ep != NULL);
    struct tg_worker w;
    CHECK_EQ_INT(tg_worker_init(&w, 0), 0);
    struct tg_upstream_pool pool;
    tg_upstream_pool_init(&pool, &w, 60, 1);

    /* a new connection: connecting or connected, counted active */
    struct tg_upstream *a = connected(&w, &pool, ep);
    CHECK(a != NULL);
    CHECK(!a->connecting && !a->reused);
    CHECK_EQ_INT(atomic_load(&ep->active), 1);
    int sa = accept(lfd, NULL, NULL);
    CHECK(sa >= 0);
    /* the owner hears about its socket's events */
    events = 0;
    CHECK_EQ_INT(write(sa, "HTTP", 4), 4);
    tg_conn_want(w.loop, &a->conn, EV_READ);
    run_until(&w, &events, 500);
    CHECK(events >= 1);
    CHECK(a->conn.readable);
    char buf[16];
    CHECK_EQ_INT(tg_conn_read(&a->conn, buf, sizeof buf), 4);

    /* released reusable: pooled, no longer active; the next acquire reuses the same socket */
    int fd_a = a->conn.fd;
    tg_upstream_release(a, 1);
    CHECK_EQ_INT(atomic_load(&ep->active), 0);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 1);
    struct tg_upstream *again = tg_upstream_acquire(&pool, ep, NULL);
    CHECK(again == a);
    CHECK(again->reused);
    CHECK_EQ_INT(again->conn.fd, fd_a);
    CHECK_EQ_INT(again->requests, 2);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 0);
    CHECK_EQ_INT(atomic_load(&ep->active), 1);
    tg_upstream_bind(again, on_event, &events);

    /* a second connection at the same time: a new socket; only one fits in the pool (per_endpoint = 1) */
    struct tg_upstream *b = connected(&w, &pool, ep);
    CHECK(b != NULL && b != again);
    int sb = accept(lfd, NULL, NULL);
    tg_upstream_release(again, 1);
    tg_upstream_release(b, 1); /* no room: closed */
    CHECK_EQ_INT(pool.idle_counts[ep->index], 1);
    CHECK_EQ_INT(atomic_load(&ep->active), 0);
    run_until(&w, NULL, 5);
    CHECK_EQ_INT(read(sb, buf, sizeof buf), 0); /* the backend sees the closed one end */
    close(sb);

    /* idle expiry: after 60 ms the pooled connection is closed, the backend sees EOF */
    uint64_t t0 = tg_now_ms();
    int gone = 0;
    while (!gone && tg_now_ms() - t0 < 2000) {
        run_until(&w, NULL, 5);
        gone = pool.idle_counts[ep->index] == 0;
    }
    CHECK(gone);
    CHECK(tg_now_ms() - t0 >= 50);
    CHECK_EQ_INT(read(sa, buf, sizeof buf), 0);
    close(sa);

    /* a pooled connection the backend closes is dropped at once */
    struct tg_upstream *c = connected(&w, &pool, ep);
    int sc = accept(lfd, NULL, NULL);
    tg_upstream_release(c, 1);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 1);
    close(sc);
    int dropped = 0;
    for (int i = 0; i < 200 && !dropped; i++) {
        run_until(&w, NULL, 2);
        dropped = pool.idle_counts[ep->index] == 0;
    }
    CHECK(dropped);

    /* not reusable, or with bytes buffered: closed */
    struct tg_upstream *d = connected(&w, &pool, ep);
    int sd = accept(lfd, NULL, NULL);
    tg_upstream_release(d, 0);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 0);
    run_until(&w, NULL, 5);
    CHECK_EQ_INT(read(sd, buf, sizeof buf), 0);
    close(sd);

    /* the drain closes idle ones and keeps nothing afterwards */
    struct tg_upstream *e = connected(&w, &pool, ep);
    int se = accept(lfd, NULL, NULL);
    tg_upstream_release(e, 1);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 1);
    tg_upstream_pool_drain(&pool);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 0);
    struct tg_upstream *f = connected(&w, &pool, ep);
    int sf = accept(lfd, NULL, NULL);
    tg_upstream_release(f, 1);
    CHECK_EQ_INT(pool.idle_counts[ep->index], 0);
    run_until(&w, NULL, 5);
    close(se);
    close(sf);

    /* hand over: the connection leaves with its active count, the object is freed */
    struct tg_upstream *g = connected(&w, &pool, ep);
    int sg = accept(lfd, NULL, NULL);
    struct tg_conn moved;
    tg_conn_move(w.loop, &moved, &g->conn, NULL, NULL);
    CHECK_EQ_INT(tg_upstream_hand_over(g), 1);
    CHECK_EQ_INT(atomic_load(&ep->active), 1);
    tg_conn_close(w.loop, &moved, &w.bufs);
    atomic_fetch_sub(&ep->active, 1);
    run_until(&w, NULL, 5);
    close(sg);

    /* a refused connect: the port is closed */
    close(lfd);
    struct tg_upstream *h = tg_upstream_acquire(&pool, ep, NULL);
    int failed = 0;
    if (!h) {
        failed = 1;
    } else {
        tg_upstream_bind(h, on_event, &events); /* unbound, an event would mean "idle in the pool": closed */
        for (int i = 0; i < 200 && !failed; i++) {
            tg_conn_want(w.loop, &h->conn, EV_WRITE);
            run_until(&w, NULL, 2);
            tg_conn_note_events(&h->conn, EV_WRITE);
            failed = tg_upstream_finish_connect(h) < 0;
        }
        CHECK_EQ_INT(errno, ECONNREFUSED);
        tg_upstream_release(h, 1);
    }
    CHECK(failed);
    CHECK_EQ_INT(atomic_load(&ep->active), 0);

    tg_upstream_pool_close_all(&pool);
    run_until(&w, NULL, 5);
    tg_upstream_pool_destroy(&pool);
    tg_worker_destroy(&w);
}

/* a new connection to ep with the request "PING" queued on its conn.out, as the forwarder leaves it */
static struct tg_upstream *with_request(struct tg_worker *w, struct tg_upstream_pool *pool, struct tg_endpoint *ep)
{
    struct tg_upstream *up = tg_upstream_acquire(pool, ep, NULL);
    if (!up)
        return NULL;
    tg_upstream_bind(up, on_event, &events);
    up->conn.out = tg_buf_get(&w->bufs);
    if (up->conn.out) {
        memcpy(up->conn.out->data, "PING", 4);
        up->conn.out->tail = 4;
    }
    return up;
}

static void test_early_send(void)
{
    int port = 0;
    int lfd = listen_local(&port);
    CHECK(lfd >= 0);
    char err[128], buf[8];
    struct tg_endpoint *ep = tg_endpoint_intern("127.0.0.1", port, err, sizeof err);
    CHECK(ep != NULL);
    struct tg_worker w;
    CHECK_EQ_INT(tg_worker_init(&w, 0), 0);
    struct tg_upstream_pool pool;
    tg_upstream_pool_init(&pool, &w, 60000, 4);

    /* loopback: the first finish_connect sends the request and reports the connect done, no event waited for */
    struct tg_upstream *a = with_request(&w, &pool, ep);
    CHECK(a != NULL && a->connecting);
    CHECK_EQ_INT(tg_upstream_finish_connect(a), 0);
    CHECK(!a->connecting && a->tcp_connected && a->conn.writable);
    CHECK_EQ_INT((int)tg_buf_len(a->conn.out), 0);
    CHECK_EQ_INT(atomic_load(&ep->early_send_misses), 0);
    int sa = accept(lfd, NULL, NULL);
    CHECK(sa >= 0);
    CHECK_EQ_INT(read(sa, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "PING", 4) == 0);
    tg_upstream_release(a, 0);
    close(sa);

    /* an endpoint that kept missing: not tried (the usual wait for writability), counted towards the next probe */
    atomic_store(&ep->early_send_misses, 8);
    struct tg_upstream *b = with_request(&w, &pool, ep);
    CHECK(b != NULL);
    CHECK_EQ_INT(tg_upstream_finish_connect(b), TG_IO_AGAIN);
    CHECK_EQ_INT((int)tg_buf_len(b->conn.out), 4);
    CHECK_EQ_INT(atomic_load(&ep->early_send_misses), 9);
    tg_upstream_release(b, 0);
    int sb = accept(lfd, NULL, NULL);
    close(sb);
    /* the probe (every 256th): it works again, the endpoint is tried from now on */
    atomic_store(&ep->early_send_misses, 256);
    struct tg_upstream *c = with_request(&w, &pool, ep);
    CHECK(c != NULL);
    CHECK_EQ_INT(tg_upstream_finish_connect(c), 0);
    CHECK_EQ_INT(atomic_load(&ep->early_send_misses), 0);
    tg_upstream_release(c, 0);
    int sc = accept(lfd, NULL, NULL);
    close(sc);

    /* refused: the send reports the connect's error, as SO_ERROR would */
    close(lfd);
    struct tg_upstream *d = with_request(&w, &pool, ep);
    if (d) { /* (a refusal may also come straight from connect(2): then acquire fails, as the pool test checks) */
        int rc = tg_upstream_finish_connect(d);
        for (int i = 0; i < 200 && rc == TG_IO_AGAIN; i++) {
            tg_conn_want(w.loop, &d->conn, EV_WRITE);
            run_until(&w, NULL, 2);
            tg_conn_note_events(&d->conn, EV_WRITE);
            rc = tg_upstream_finish_connect(d);
        }
        CHECK_EQ_INT(rc, -1);
        CHECK_EQ_INT(errno, ECONNREFUSED);
        tg_upstream_release(d, 0);
    }
    CHECK_EQ_INT(atomic_load(&ep->active), 0);
    tg_upstream_pool_close_all(&pool);
    run_until(&w, NULL, 5);
    tg_upstream_pool_destroy(&pool);
    tg_worker_destroy(&w);
}

static void test_balancer(void)
{
    char err[128];
    struct tg_endpoint *eps[3];
    for (int i = 0; i < 3; i++)
        eps[i] = tg_endpoint_intern("10.9.9.9", 1000 + i, err, sizeof err);
    struct tg_proxy_cfg px;
    memset(&px, 0, sizeof px);
    px.endpoints = eps;
    px.num_endpoints = 3;
    struct tg_worker w;
    CHECK_EQ_INT(tg_worker_init(&w, 0), 0);
    /* round robin: each in turn */
    px.lb = TG_LB_ROUND_ROBIN;
    CHECK(tg_balancer_choose(&px, &w) == eps[0]);
    CHECK(tg_balancer_choose(&px, &w) == eps[1]);
    CHECK(tg_balancer_choose(&px, &w) == eps[2]);
    CHECK(tg_balancer_choose(&px, &w) == eps[0]);
    /* least connections: the one with the fewest active */
    px.lb = TG_LB_LEAST_CONNECTIONS;
    atomic_store(&eps[0]->active, 5);
    atomic_store(&eps[1]->active, 1);
    atomic_store(&eps[2]->active, 3);
    for (int i = 0; i < 4; i++)
        CHECK(tg_balancer_choose(&px, &w) == eps[1]);
    /* random: every endpoint comes up */
    px.lb = TG_LB_RANDOM;
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 300; i++) {
        struct tg_endpoint *e = tg_balancer_choose(&px, &w);
        for (int k = 0; k < 3; k++)
            seen[k] += e == eps[k];
    }
    CHECK(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    for (int i = 0; i < 3; i++)
        atomic_store(&eps[i]->active, 0);
    px.num_endpoints = 0;
    CHECK(tg_balancer_choose(&px, &w) == NULL);
    tg_worker_destroy(&w);
}

int main(void)
{
    test_pool();
    test_early_send();
    test_balancer();
    TG_TEST_MAIN_END();
}
