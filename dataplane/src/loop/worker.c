/* worker.c — see worker.h: the per-thread loop, listener with SO_REUSEPORT, accept with load shedding
 * (EMFILE: shed one connection with the reserve descriptor, pause accepting briefly), the timer wheel's libev
 * driver, the mailbox, deferred frees and the drain. */
#include "loop/worker.h"

#include "clock.h"
#include "log.h"
#include "net_listen.h"
#include "proxy/proxy.h"
#include "proxy/ws_tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 64
#define TIMERS_PER_ROUND 20000

static int open_listener(const char *spec)
{
    char err[300];
    int fd = tg_listen_tcp(spec, 4096, 1, err, sizeof err); /* SO_REUSEPORT: one listener per worker */
    if (fd < 0)
        tg_error("%s", err);
    return fd;
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_worker *w = io->data;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP && !w->draining; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            tg_counter_add(&w->metrics->accept_errors, 1);
            if (errno == EMFILE || errno == ENFILE) {
                /* out of descriptors: accept-and-close one pending connection with the reserve so clients get a
                 * clean reset instead of hanging, and pause accepting for a moment (libuv's EMFILE trick) */
                if (w->reserve_fd >= 0) {
                    close(w->reserve_fd);
                    int shed = accept(w->listen_fd, NULL, NULL);
                    if (shed >= 0)
                        close(shed);
                    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                ev_io_stop(loop, &w->accept_io);
                ev_timer_start(loop, &w->accept_retry);
                tg_warn("worker %d: out of file descriptors, accepting paused for 100 ms", w->id);
            }
            return;
        }
        if (w->config->max_connections_per_worker && w->num_clients >= w->config->max_connections_per_worker) {
            close(fd);
            continue;
        }
        tg_client_accept(w, fd, (struct sockaddr *)&peer);
    }
}

static void on_accept_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_worker *w = t->data;
    if (!w->draining)
        ev_io_start(loop, &w->accept_io);
}

void tg_worker_defer_free(struct tg_worker *w, struct tg_deferred *d)
{
    d->next = w->deferred;
    w->deferred = d;
}

uint32_t tg_worker_random(struct tg_worker *w)
{
    uint32_t x = w->rng; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rng = x;
    return x;
}

static void run_deferred(struct tg_worker *w)
{
    while (w->deferred) {
        struct tg_deferred *d = w->deferred;
        w->deferred = d->next;
        d->free_fn(d);
    }
}

/* Points the libev timer at the wheel's next due tick; left alone when it is already due no later than that (this
 * runs before every sleep of the loop, and most iterations do not bring the earliest deadline closer). */
static void arm_wheel(struct tg_worker *w)
{
    uint64_t now = tg_now_ms();
    uint64_t delay = tg_timer_wheel_next_delay_ms(&w->wheel, now, 1000);
    uint64_t due = now + delay;
    /* armed to fire no later than needed (an early wake-up only re-arms): nothing to change */
    if (ev_is_active(&w->wheel_tick) && w->wheel_due_ms <= due && w->wheel_due_ms >= now)
        return;
    w->wheel_due_ms = due;
    ev_timer_stop(w->loop, &w->wheel_tick);
    ev_timer_set(&w->wheel_tick, (double)delay / 1000.0 + 0.0005, 0.);
    ev_timer_start(w->loop, &w->wheel_tick);
}

static void check_drained(struct tg_worker *w)
{
    if (!w->draining)
        return;
    if ((w->num_clients == 0 && tg_tunnels_count(w) == 0) || tg_now_ms() >= w->drain_deadline_ms)
        ev_break(w->loop, EVBREAK_ALL);
}

static void on_wheel_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_worker *w = t->data;
    tg_timer_wheel_run(&w->wheel, tg_now_ms(), TIMERS_PER_ROUND);
    check_drained(w);
}

/* Runs just before the loop sleeps: free what callbacks released, re-arm the wheel. */
static void on_before_sleep(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct tg_worker *w = p->data;
    run_deferred(w);
    arm_wheel(w);
    check_drained(w);
}

static void on_wakeup(struct ev_loop *loop, ev_async *a, int revents)
{
    struct tg_worker *w = a->data;
    pthread_mutex_lock(&w->mailbox_lock);
    struct tg_snapshot *snap = w->mailbox_snapshot;
    w->mailbox_snapshot = NULL;
    int drain = w->mailbox_drain;
    pthread_mutex_unlock(&w->mailbox_lock);
    if (snap) {
        struct tg_snapshot *old = w->snapshot;
        w->snapshot = snap; /* the mailbox's reference becomes ours */
        tg_snapshot_unref(old);
        tg_tunnels_check_credentials(w, snap);
        if (w->on_snapshot_applied)
            w->on_snapshot_applied(w, snap->version);
    }
    if (drain && !w->draining) {
        w->draining = 1;
        ev_io_stop(loop, &w->accept_io);
        ev_timer_stop(loop, &w->accept_retry);
        tg_clients_drain(w);
        tg_tunnels_drain(w);
        tg_upstream_pools_close_all(w);
    }
}

int tg_worker_init(struct tg_worker *w, int id, const struct tg_dataplane_config *config)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->config = config;
    w->listen_fd = open_listener(config->listen_addr);
    if (w->listen_fd < 0)
        return -1;
    w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!w->loop)
        w->loop = ev_loop_new(0);
    w->metrics = tg_metrics_shard(id);
    w->rng = 0x9e3779b9u ^ (uint32_t)(id * 2654435761u) ^ (uint32_t)tg_wall_ms();
    if (!w->rng)
        w->rng = 1;
    tg_buf_pool_init(&w->bufs, 256, 0);
    tg_timer_wheel_init(&w->wheel, tg_now_ms());
    pthread_mutex_init(&w->mailbox_lock, NULL);
    pthread_mutex_init(&w->sessions_lock, NULL);

    ev_io_init(&w->accept_io, on_accept, w->listen_fd, EV_READ);
    w->accept_io.data = w;
    ev_io_start(w->loop, &w->accept_io);
    ev_timer_init(&w->accept_retry, on_accept_retry, 0.1, 0.);
    w->accept_retry.data = w;
    ev_async_init(&w->wakeup, on_wakeup);
    w->wakeup.data = w;
    ev_async_start(w->loop, &w->wakeup);
    ev_timer_init(&w->wheel_tick, on_wheel_tick, 1., 0.);
    w->wheel_tick.data = w;
    ev_timer_start(w->loop, &w->wheel_tick);
    ev_prepare_init(&w->before_sleep, on_before_sleep);
    w->before_sleep.data = w;
    ev_prepare_start(w->loop, &w->before_sleep);
    return 0;
}

void tg_worker_run(struct tg_worker *w)
{
    ev_run(w->loop, 0);
    /* drained (or out of time): whatever is left is cut */
    while (w->sessions) {
        struct tg_tunnel *t = w->sessions;
        tg_tunnel_destroy_now(t);
    }
    while (w->clients)
        tg_client_close(w->clients);
    tg_upstream_pools_close_all(w);
    run_deferred(w);
    for (int i = 0; i < TG_WORKER_SLOTS; i++)
        if (w->slots[i] && w->slot_free[i])
            w->slot_free[i](w, w->slots[i]);
    run_deferred(w);
    close(w->listen_fd);
    if (w->reserve_fd >= 0)
        close(w->reserve_fd);
}

void tg_worker_join(struct tg_worker *w)
{
    pthread_join(w->thread, NULL);
    tg_snapshot_unref(w->snapshot);
    w->snapshot = NULL;
    pthread_mutex_lock(&w->mailbox_lock);
    tg_snapshot_unref(w->mailbox_snapshot);
    w->mailbox_snapshot = NULL;
    pthread_mutex_unlock(&w->mailbox_lock);
    free(w->idle_pools);
    free(w->idle_counts);
    tg_buf_pool_destroy(&w->bufs);
    ev_loop_destroy(w->loop);
}

void tg_worker_post_snapshot(struct tg_worker *w, struct tg_snapshot *snap)
{
    tg_snapshot_ref(snap);
    pthread_mutex_lock(&w->mailbox_lock);
    struct tg_snapshot *replaced = w->mailbox_snapshot;
    w->mailbox_snapshot = snap;
    pthread_mutex_unlock(&w->mailbox_lock);
    tg_snapshot_unref(replaced); /* a snapshot the worker never switched to */
    ev_async_send(w->loop, &w->wakeup);
}

void tg_worker_post_drain(struct tg_worker *w, uint64_t drain_timeout_ms)
{
    pthread_mutex_lock(&w->mailbox_lock);
    w->mailbox_drain = 1;
    w->drain_deadline_ms = tg_now_ms() + drain_timeout_ms;
    pthread_mutex_unlock(&w->mailbox_lock);
    ev_async_send(w->loop, &w->wakeup);
}
