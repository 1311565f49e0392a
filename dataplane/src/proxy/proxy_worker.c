/* proxy_worker.c — see proxy_worker.h: the worker hooks of the proxying layer. */
#include "proxy/proxy_worker.h"

#include "log.h"
#include "loop/tls_transport.h"
#include "proxy/tls_frontend.h"

static void on_accept(void *owner, int fd, const struct sockaddr *peer)
{
    struct tg_proxy_worker *pw = owner;
    tg_http_server_accept(&pw->server, fd, peer, NULL, NULL);
}

static int start_tls(struct tg_conn *conn, void *arg)
{
    struct tg_proxy_worker *pw = arg;
    return tg_tls_frontend_start(conn, &pw->server.snapshot, pw->counters);
}

static void on_accept_tls(void *owner, int fd, const struct sockaddr *peer)
{
    struct tg_proxy_worker *pw = owner;
    tg_tls_count_into(pw->counters); /* this thread's handshakes are this worker's */
    tg_http_server_accept(&pw->server, fd, peer, start_tls, pw); /* on TLS before it reads anything */
}

static void on_snapshot(void *owner, void *value)
{
    struct tg_proxy_worker *pw = owner;
    struct tg_snapshot *snap = value;
    struct tg_snapshot *old = pw->server.snapshot;
    pw->server.snapshot = snap; /* the post's reference becomes the worker's */
    tg_snapshot_unref(old);
    tg_tunnels_check_credentials(&pw->tunnels, snap);
    tg_tunnels_follow(&pw->tunnels, snap); /* sessions drop their old snapshot's reference */
    if (pw->hooks.snapshot_applied)
        pw->hooks.snapshot_applied(pw->hooks.owner, pw->w->id, snap->version);
}

static void drop_snapshot(void *value) { tg_snapshot_unref(value); }

static void on_drain(void *owner)
{
    struct tg_proxy_worker *pw = owner;
    tg_listener_stop(&pw->listener);
    tg_listener_stop(&pw->tls_listener);
    tg_http_server_drain(&pw->server);
    tg_tunnels_drain(&pw->tunnels);
    tg_upstream_pool_drain(&pw->pool);
}

static int is_idle(void *owner)
{
    struct tg_proxy_worker *pw = owner;
    return pw->server.num_conns == 0 && tg_session_list_count(&pw->sessions) == 0;
}

static void on_exit_loop(void *owner)
{
    struct tg_proxy_worker *pw = owner;
    tg_tunnels_destroy_all(&pw->tunnels);
    tg_http_server_close_all(&pw->server);
    tg_upstream_pool_close_all(&pw->pool);
    tg_listener_close(&pw->listener);
    tg_listener_close(&pw->tls_listener);
}

int tg_proxy_worker_init(struct tg_proxy_worker *pw, struct tg_worker *w, const struct tg_proxy_settings *settings,
                         struct tg_counters *counters, const struct tg_proxy_hooks *hooks)
{
    pw->w = w;
    pw->settings = settings;
    pw->counters = counters;
    pw->hooks = *hooks;
    tg_upstream_pool_init(&pw->pool, w, settings->upstream_idle_timeout_ms, settings->upstream_pool_per_endpoint);
    pw->pool.connect_times = &counters->upstream_connect;
    w->bufs.in_use_gauge = &counters->buffers_in_use;
    tg_session_list_init(&pw->sessions);
    pw->tunnels.w = w;
    pw->tunnels.counters = counters;
    pw->tunnels.sessions = &pw->sessions;
    pw->tunnels.debug = hooks->debug;
    pw->tunnels.metrics = hooks->metrics;
    pw->tunnels.ip_limit = settings->ip_limit; /* where sessions give their address's slot back */
    tg_http_server_init(&pw->server, w, settings, counters, &pw->pool, &pw->tunnels);
    pw->server.metrics = hooks->metrics;
    pw->server.debug = hooks->debug;
    pw->server.analytics = hooks->analytics;
    w->hooks = (struct tg_worker_hooks){
        .owner = pw,
        .on_post = on_snapshot,
        .drop_post = drop_snapshot,
        .on_drain = on_drain,
        .is_idle = is_idle,
        .on_exit = on_exit_loop,
    };
    if (tg_listener_open(&pw->listener, w->loop, settings->listen_addr, w->id, on_accept, pw) != 0)
        return -1;
    pw->listener.accept_errors = &counters->accept_errors;
    tg_listener_start(&pw->listener);
    pw->tls_listener.fd = pw->tls_listener.reserve_fd = -1;
    if (settings->tls_listen_addr) {
        if (tg_tls_frontend_init(settings->tls_default_host, settings->tls_ticket_keys_file,
                                 settings->tls_ticket_rotation_ms) != 0 ||
            tg_listener_open(&pw->tls_listener, w->loop, settings->tls_listen_addr, w->id, on_accept_tls, pw) != 0)
            return -1;
        pw->tls_listener.accept_errors = &counters->accept_errors;
        tg_listener_start(&pw->tls_listener);
    }
    return 0;
}

void tg_proxy_worker_post_snapshot(struct tg_proxy_worker *pw, struct tg_snapshot *snap)
{
    tg_worker_post(pw->w, tg_snapshot_ref(snap));
}

void tg_proxy_worker_destroy(struct tg_proxy_worker *pw)
{
    tg_snapshot_unref(pw->server.snapshot);
    pw->server.snapshot = NULL;
    tg_upstream_pool_destroy(&pw->pool);
    tg_session_list_destroy(&pw->sessions);
}
