/* http_server.c — a worker's inbound HTTP/1.1 connections (http_server.h): reading and parsing request heads
 * (strict, bounded), keep-alive and pipelining, routing, the WebSocket handshake checks, the policy pipeline, the
 * gateway's own answers (with the response edits traffic_answer.h says they carry), timeouts, the hand-over of an
 * admitted request to the forwarder and of an upgraded connection to a tunnel, and the connection's end. */
#include "proxy/http_server.h"

#include "proxy/tls_frontend.h"

#include "clock.h"
#include "http_status.h"
#include "ip_cidr.h"
#include "log.h"
#include "path_normalize.h"
#include "policy/traffic/traffic_answer.h"
#include "proxy/analytics_record.h"
#include "proxy/debug_capture.h"
#include "proxy/error_response.h"
#include "proxy/ip_limit.h"
#include "proxy/request_metrics.h"
#include "proxy/ws_handshake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void on_conn_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_conn_timer(struct tg_timer *t, uint64_t now_ms);
static void on_upstream_wake(void *arg);
static void pump(struct tg_server_conn *c);
static void close_conn(struct tg_server_conn *c);
static void on_unpark(struct ev_loop *loop, ev_prepare *w, int revents);

const char *tg_server_state_str(enum tg_server_state s)
{
    static const char *const names[] = {"reading_head", "policies", "connecting", "forwarding", "closing", "done"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static void free_conn(struct tg_deferred *d)
{
    struct tg_server_conn *c = (struct tg_server_conn *)d;
    free(c->policy);
    free(c->req);
    free(c->fwd.retry_head);
    tg_debug_capture_free(c->debug);
    tg_analytics_capture_free(c->an);
    free(c->path_buf);
    free(c);
}

static void count_request(struct tg_server_conn *c, int status)
{
    struct tg_http_server *s = c->server;
    if (s->metrics)
        tg_request_metrics(s->metrics, s->w->id, c->fwd.route, status, c->request_started_ns, c->policy, &c->fwd);
    if (c->debug) {
        c->debug_handle = tg_debug_capture_end(c->debug, status, c->policy, &c->fwd);
        c->debug = NULL;
    }
    if (c->an)
        c->an = tg_analytics_end(c->an, status, c->policy, &c->fwd);
}

void tg_http_server_init(struct tg_http_server *s, struct tg_worker *w, const struct tg_proxy_settings *settings,
                         struct tg_counters *counters, struct tg_upstream_pool *pool,
                         const struct tg_tunnel_env *tunnels)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->settings = settings;
    s->counters = counters;
    s->tunnels = tunnels;
    s->forward.w = w;
    s->forward.pool = pool;
    s->forward.counters = counters;
    s->forward.scratch_head = &s->scratch_head;
    s->forward.max_head_bytes = settings->max_head_bytes;
    ev_prepare_init(&s->unpark, on_unpark);
    s->unpark.data = s;
}

/* ---- the buffer budget (--max-buffer-memory; docs/security.md "Limits") ----
 * The worker's share is B buffers of 32 KiB. What is in use or may be: the pool's buffers in use plus, for every
 * admitted exchange, its worst case (TG_EXCHANGE_BUFFERS: both sockets' in and out) — counted on top of what it
 * already holds, so the sum never underestimates an exchange. A request head may take a buffer while that sum
 * stays within B/2, and a complete head starts its exchange while it stays within B: so heads and exchanges never
 * hold more than B, and heads waiting can never take the room every exchange needs to finish (there is always room
 * for B/16 exchanges). Relayed WebSocket sessions count for the buffers they hold (only while a message is in
 * flight, 4 at most), not for a reservation: thousands of idle sessions must not shut HTTP out. Otherwise the
 * connection waits unread (TCP backpressure), parked, and is resumed oldest first (HAProxy's buffer wait queue). A
 * waiting connection holds no buffer; how many may wait is --max-connections' business. */
#define TG_EXCHANGE_BUFFERS 4

static size_t budget_used(const struct tg_http_server *s)
{
    return s->w->bufs.in_use + TG_EXCHANGE_BUFFERS * s->exchanges;
}

/* May a connection take need buffers of the budget now (1: a head buffer, within half; 4: an exchange)? */
static int budget_allows(const struct tg_http_server *s, size_t need)
{
    size_t b = s->settings->max_buffers_per_worker;
    if (!b)
        return 1;
    return budget_used(s) + need <= (need == 1 ? b / 2 : b);
}

static void park(struct tg_server_conn *c, unsigned char need)
{
    struct tg_http_server *s = c->server;
    if (c->parked)
        return;
    int q = need != 1;
    c->parked = 1;
    c->parked_need = need;
    c->park_next = NULL;
    c->park_prev = s->parked_tail[q];
    if (s->parked_tail[q])
        s->parked_tail[q]->park_next = c;
    else
        s->parked_head[q] = c;
    s->parked_tail[q] = c;
    tg_counter_add(&s->counters->buffer_waiting, 1);
    tg_counter_add(&s->counters->buffer_waits, 1);
    if (!ev_is_active(&s->unpark))
        ev_prepare_start(s->w->loop, &s->unpark);
    tg_debug("client %s waits for the buffer budget (%zu in use)", c->peer_ip, s->w->bufs.in_use);
}

static void unpark(struct tg_server_conn *c)
{
    struct tg_http_server *s = c->server;
    if (!c->parked)
        return;
    int q = c->parked_need != 1;
    if (c->park_prev)
        c->park_prev->park_next = c->park_next;
    else
        s->parked_head[q] = c->park_next;
    if (c->park_next)
        c->park_next->park_prev = c->park_prev;
    else
        s->parked_tail[q] = c->park_prev;
    c->park_next = c->park_prev = NULL;
    c->parked = 0;
    tg_counter_sub(&s->counters->buffer_waiting, 1);
}

/* Before the loop sleeps: resume the parked connections the budget has room for now, oldest first — complete
 * heads before heads still to be read (they hold a buffer each, and starting them is what frees the head half of
 * the budget: a waiting head never blocks an exchange that fits). */
static void on_unpark(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct tg_http_server *s = w->data;
    /* each round takes the queue's head out (a resumed connection that must wait again joins the exchange queue
     * or the tail, behind what this pass still resumes) or ends the pass: no round limit needed, and none wanted
     * (the loop may sleep next with nothing else to wake it) */
    for (int q = 1; q >= 0; q--)
        while (s->parked_head[q]) {
            struct tg_server_conn *c = s->parked_head[q];
            if (!budget_allows(s, c->parked_need))
                break;
            unpark(c);
            pump(c);
        }
    if (!s->parked_head[0] && !s->parked_head[1])
        ev_prepare_stop(loop, w);
}

/* The request of c is over (finished, closed, or now a session counted as one): its reservation goes. */
static void end_exchange(struct tg_server_conn *c)
{
    if (!c->in_exchange)
        return;
    c->in_exchange = 0;
    c->server->exchanges--;
}

/* The total deadline of a request body (--request-body-timeout): progress never moves it, so a client that
 * trickles a body cannot hold the exchange and its upstream connection forever. Returns the earlier of it and
 * deadline (0: none). */
static uint64_t body_deadline(const struct tg_server_conn *c, uint64_t deadline)
{
    uint64_t limit = c->server->settings->request_body_timeout_ms;
    if (!limit || c->fwd.req_done || !c->fwd.started_ms)
        return deadline;
    uint64_t d = c->fwd.started_ms + limit;
    return deadline && deadline < d ? deadline : d;
}

static void refresh_timer(struct tg_server_conn *c)
{
    const struct tg_proxy_settings *cfg = c->server->settings;
    const struct tg_route *route = c->fwd.route;
    uint64_t deadline = 0;
    switch (c->state) {
    case TG_SERVER_READING_HEAD:
        if (c->head_started_ms)
            deadline = c->head_started_ms + cfg->request_head_timeout_ms;
        else
            deadline = tg_now_ms() + cfg->keepalive_timeout_ms;
        break;
    case TG_SERVER_CONNECTING:
        deadline = c->fwd.started_ms + (route ? route->proxy->connect_timeout_ms : 5000);
        break;
    case TG_SERVER_FORWARDING:
        if (route && route->proxy->timeout_ms)
            deadline = tg_now_ms() + route->proxy->timeout_ms;
        deadline = body_deadline(c, deadline);
        break;
    case TG_SERVER_CLOSING:
        deadline = tg_now_ms() + 5000; /* a client that does not read its error answer */
        break;
    default:
        break;
    }
    if (deadline)
        tg_timer_schedule(&c->server->w->wheel, &c->timer, deadline);
    else
        tg_timer_cancel(&c->server->w->wheel, &c->timer);
}

/* Dotted quad of a (network-order) IPv4 address into out (≥ 16 bytes): inet_ntop's formatting through sprintf
 * was 4 % of a handshake (issue 15). */
static void ipv4_text(const struct in_addr *a, char *out)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    char *p = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '\0';
    }
}

static void peer_ip_text(const struct sockaddr *peer, char *out, size_t size)
{
    out[0] = '\0';
    if (peer->sa_family == AF_INET && size >= INET_ADDRSTRLEN)
        ipv4_text(&((const struct sockaddr_in *)peer)->sin_addr, out);
    else if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, out, (socklen_t)size);
}

/* The connection caps at accept (DESIGN.md --max-connections, --max-connections-per-ip): the worker's live
 * connections, relayed WebSocket sessions included, and the peer address's slots across the process. Over a cap
 * the socket is closed before anything is read from it. A peer in --trusted-proxies takes no slot here: every
 * client behind it shares its address, so its clients are counted per request instead (take_client_slot), as
 * nginx's limit_conn counts $remote_addr after realip and HAProxy tracks req.hdr_ip(X-Forwarded-For); the
 * proxy's own connections are bounded by --max-connections. Returns 1 when fd was shed; otherwise, when the
 * per-IP cap is on and the peer is not trusted, the connection holds a slot of ip (the peer's text form). */
static int over_connection_caps(struct tg_http_server *s, int fd, const char *ip, int trusted)
{
    size_t cap = s->settings->max_connections_per_worker;
    if (cap) {
        size_t live = s->num_conns + (s->tunnels ? tg_session_list_count(s->tunnels->sessions) : 0);
        if (live >= cap) {
            close(fd);
            return 1;
        }
    }
    if (s->settings->ip_limit && !trusted && !tg_ip_limit_acquire(s->settings->ip_limit, ip)) {
        close(fd);
        return 1;
    }
    return 0;
}

static void release_ip_slot(struct tg_server_conn *c)
{
    if (!c->ip_counted)
        return;
    tg_ip_limit_release(c->server->settings->ip_limit, c->slot_ip);
    c->ip_counted = 0;
}

void tg_http_server_accept(struct tg_http_server *s, int fd, const struct sockaddr *peer,
                           int (*secure)(struct tg_conn *conn, void *arg), void *secure_arg)
{
    char ip[46];
    peer_ip_text(peer, ip, sizeof ip);
    struct tg_ip peer_addr; /* --trusted-proxies: may this peer vouch for the client? */
    const struct tg_proxy_settings *cfg = s->settings;
    int trusted = cfg->num_trusted_proxies && tg_ip_parse(ip, strlen(ip), &peer_addr) == 0 &&
                  tg_cidr_list_match(cfg->trusted_proxies, cfg->num_trusted_proxies, &peer_addr);
    if (over_connection_caps(s, fd, ip, trusted))
        return;
    struct tg_server_conn *c = calloc(1, sizeof *c);
    if (!c) {
        if (cfg->ip_limit && !trusted)
            tg_ip_limit_release(cfg->ip_limit, ip);
        close(fd);
        return;
    }
    c->server = s; /* TCP_NODELAY: inherited from the listener (loop/listener.c) */
    c->deferred.free_fn = free_conn;
    tg_conn_init(&c->conn, fd, on_conn_io, c);
    /* a client sends its request (or its ClientHello) right after its connect completes, usually before this
     * worker got to accept it: read at once instead of registering the socket and waiting one loop iteration for
     * the readiness event (EAGAIN costs one recv, and the socket is then watched as before) */
    c->conn.readable = 1;
    tg_timer_init(&c->timer, on_conn_timer);
    tg_forwarder_init(&c->fwd, &s->forward, &c->conn, on_upstream_wake, c);
    memcpy(c->peer_ip, ip, sizeof c->peer_ip);
    c->peer_trusted = (unsigned char)trusted;
    if (cfg->ip_limit && !trusted) {
        memcpy(c->slot_ip, ip, sizeof c->slot_ip);
        c->ip_counted = 1;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->num_conns++;
    tg_counter_add(&s->counters->connections_accepted, 1);
    tg_counter_add(&s->counters->connections_active, 1);
    c->head_started_ms = tg_now_ms(); /* a new connection must deliver its first head in the head timeout */
    refresh_timer(c);
    if (secure && secure(&c->conn, secure_arg) != 0) {
        tg_warn("TLS: cannot set up a new connection (out of memory)");
        shutdown(fd, SHUT_RDWR); /* the connection reads EOF and closes through its own path */
    }
    pump(c);
}

/* Takes c out of the server and queues it for freeing (its socket is closed or moved). */
static void unlink_conn(struct tg_server_conn *c)
{
    struct tg_http_server *s = c->server;
    tg_timer_cancel(&s->w->wheel, &c->timer);
    unpark(c);
    end_exchange(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    s->num_conns--;
    c->state = TG_SERVER_DONE;
    tg_worker_defer_free(s->w, &c->deferred);
}

static void close_conn(struct tg_server_conn *c)
{
    if (c->state == TG_SERVER_DONE)
        return;
    struct tg_http_server *s = c->server;
    if (c->policy)
        tg_policy_pipeline_cancel(c->policy);
    tg_forwarder_release(&c->fwd, 0);
    tg_snapshot_unref(c->snap);
    c->snap = NULL;
    release_ip_slot(c);
    tg_conn_close(s->w->loop, &c->conn, &s->w->bufs);
    tg_counter_sub(&s->counters->connections_active, 1);
    unlink_conn(c);
}

/* Queues bytes on conn.out (taking a buffer if needed). Returns -1 when they do not fit. */
static int queue_output(struct tg_server_conn *c, const char *p, size_t len)
{
    if (!c->conn.out && !(c->conn.out = tg_buf_get(&c->server->w->bufs)))
        return -1;
    return tg_buf_append(c->conn.out, p, len);
}

/* Drops the parsed head of a request answered by the gateway itself (its bytes leave conn.in too, and a body
 * it announced makes the connection unusable for another request). */
static void drop_unforwarded_request(struct tg_server_conn *c)
{
    if (!c->req)
        return;
    if (c->conn.in && tg_buf_len(c->conn.in) >= c->req->head_len)
        tg_buf_consume(c->conn.in, c->req->head_len);
    free(c->req);
    c->req = NULL;
}

/* Ends the current request; the connection goes back to READING_HEAD (keep-alive) or closes. */
static void finish_request(struct tg_server_conn *c)
{
    drop_unforwarded_request(c);
    free(c->policy);
    c->policy = NULL;
    free(c->path_buf);
    c->path_buf = NULL;
    tg_snapshot_unref(c->snap);
    c->snap = NULL;
    int keep = c->fwd.keep_alive && c->fwd.req_done && !c->server->draining;
    tg_forwarder_release(&c->fwd, 0); /* nothing left to release after a complete exchange */
    end_exchange(c);
    if (c->peer_trusted)
        release_ip_slot(c); /* a trusted proxy's client holds its slot for one exchange */
    if (!keep) {
        c->fwd.route = NULL;
        c->state = TG_SERVER_CLOSING;
        refresh_timer(c);
        return;
    }
    /* reset the per-request state; pipelined bytes stay in conn.in */
    tg_forwarder_begin(&c->fwd);
    c->state = TG_SERVER_READING_HEAD;
    c->head_started_ms = tg_buf_len(c->conn.in) ? tg_now_ms() : 0;
    c->head_scanned = 0;
    refresh_timer(c);
}

/* Answers an error with the JSON body of DESIGN.md and closes afterwards unless keep is set. extra_headers is
 * NULL or "Name: value\r\n" lines. */
static void answer(struct tg_server_conn *c, int status, const char *code, const char *message,
                   const char *extra_headers, int keep)
{
    char response[2048];
    if (c->state == TG_SERVER_DONE)
        return;
    if (c->fwd.response_started) { /* the backend's response is already on its way: nothing else can be said */
        close_conn(c);
        return;
    }
    tg_forwarder_release(&c->fwd, 0);
    keep = keep && c->fwd.keep_alive && c->fwd.req_done && !c->server->draining;
    char with_hsts[1024];
    if (c->fwd.response_header) { /* HSTS over TLS (set once the group is known) */
        int w = snprintf(with_hsts, sizeof with_hsts, "%s%s", extra_headers ? extra_headers : "",
                         c->fwd.response_header);
        if (w > 0 && (size_t)w < sizeof with_hsts)
            extra_headers = with_hsts;
    }
    size_t n = tg_format_error_response(response, sizeof response, status, code, message, extra_headers, !keep);
    if (c->fwd.is_head) { /* a HEAD answer has the headers only */
        char *body = strstr(response, "\r\n\r\n");
        if (body)
            n = (size_t)(body + 4 - response);
    }
    c->fwd.status = status;
    count_request(c, status);
    tg_debug("answer %d %s to %s", status, code, c->peer_ip);
    if (queue_output(c, response, n) != 0) {
        close_conn(c);
        return;
    }
    if (keep) {
        finish_request(c);
        return;
    }
    c->state = TG_SERVER_CLOSING;
    refresh_timer(c);
    pump(c);
}

/* Answers without an error body (a CORS preflight answered by the gateway): status, no body. */
static void answer_empty(struct tg_server_conn *c, int status, const char *extra_headers)
{
    char response[1536];
    int keep = c->fwd.keep_alive && c->fwd.req_done && !c->server->draining;
    int n = snprintf(response, sizeof response, "HTTP/1.1 %d %s\r\n%s%s%s%s\r\n", status, tg_http_reason(status),
                     status == 204 || status == 304 ? "" : "Content-Length: 0\r\n", keep ? "" : "Connection: close\r\n",
                     extra_headers ? extra_headers : "", c->fwd.response_header ? c->fwd.response_header : "");
    c->fwd.status = status;
    count_request(c, status);
    if (n < 0 || (size_t)n >= sizeof response || queue_output(c, response, (size_t)n) != 0) {
        close_conn(c);
        return;
    }
    if (keep) {
        finish_request(c);
        return;
    }
    c->state = TG_SERVER_CLOSING;
    refresh_timer(c);
}

/* ---- the forwarder's results ---- */

/* After a valid 101: both sockets move into a tunnel, and this connection object is done. */
static void hand_over_to_tunnel(struct tg_server_conn *c)
{
    struct tg_http_server *s = c->server;
    struct tg_upstream *up = c->fwd.up;
    struct tg_tunnel_setup setup = {
        .client = &c->conn,
        .backend = &up->conn,
        .snap = c->snap,
        .route = c->fwd.route,
        .ep = up->ep,
        .ep_counted = up->counted_active,
        .credential = c->policy ? &c->policy->credential : NULL,
        .client_ip = c->client_ip, /* == slot_ip when ip_counted: the tunnel releases the slot by it */
        .ip_limit = c->ip_counted ? s->settings->ip_limit : NULL,
        .ws_rsv = c->fwd.ws_rsv,
        .draining = s->draining,
        .debug_handle = c->debug_handle,
        .analytics = c->an,
    };
    if (!tg_tunnel_start(s->tunnels, &setup)) {
        close_conn(c);
        return;
    }
    /* the HTTP-phase objects are done: their sockets and buffers live on in the tunnel, which also took the
     * snapshot reference and the endpoint's active count */
    c->snap = NULL;
    c->ip_counted = 0; /* the session holds the address's slot now */
    c->an = NULL;
    tg_upstream_hand_over(tg_forwarder_take_upstream(&c->fwd));
    unlink_conn(c);
}

/* Acts on what the forwarder returned. Returns -1 when the connection is gone (closed or handed over). */
static int on_forward_result(struct tg_server_conn *c, enum tg_forward_result r)
{
    switch (r) {
    case TG_FORWARD_BUSY:
        if (c->fwd.up) {
            enum tg_server_state s = c->fwd.up->connecting ? TG_SERVER_CONNECTING : TG_SERVER_FORWARDING;
            if (s != c->state || c->fwd.progressed) {
                c->state = s;
                c->fwd.progressed = 0;
                refresh_timer(c);
            }
        }
        return 0;
    case TG_FORWARD_DONE:
        count_request(c, c->fwd.status);
        finish_request(c);
        return 0;
    case TG_FORWARD_UPGRADED:
        count_request(c, 101);
        hand_over_to_tunnel(c);
        return -1;
    case TG_FORWARD_FAILED:
        answer(c, c->fwd.error.status, c->fwd.error.code, c->fwd.error.message, NULL, 0);
        return -1;
    case TG_FORWARD_ABORT:
    default:
        close_conn(c);
        return -1;
    }
}

static void start_forwarding(struct tg_server_conn *c)
{
    c->fwd.policy = c->policy;
    on_forward_result(c, tg_forwarder_start(&c->fwd, &c->req));
}

static void on_upstream_wake(void *arg) { pump(arg); }

/* ---- the request head ---- */

static void answer_parse_error(struct tg_server_conn *c, enum tg_http_status st)
{
    switch (st) {
    case TG_HTTP_HEAD_TOO_LARGE:
        answer(c, 431, "request.headers_too_large", "the request head is over the limit", NULL, 0);
        break;
    case TG_HTTP_TOO_MANY_HEADERS:
        answer(c, 431, "request.too_many_headers", "the request has too many header fields", NULL, 0);
        break;
    case TG_HTTP_BAD_VERSION:
        answer(c, 505, "request.bad_version", "only HTTP/1.0 and HTTP/1.1 are supported", NULL, 0);
        break;
    case TG_HTTP_BAD_CONNECTION: /* RFC 9110 §7.6.1: dropping what it names would change framing or routing */
        answer(c, 400, "request.bad_connection",
               "Connection names a framing, routing or handshake field", NULL, 0);
        break;
    case TG_HTTP_UNKNOWN_CODING: /* RFC 9112 §6.1: only chunked is implemented */
        answer(c, 501, "request.unknown_coding", "a transfer coding other than chunked is not implemented", NULL,
               0);
        break;
    default:
        answer(c, 400, "request.malformed", "the request is malformed or ambiguous", NULL, 0);
        break;
    }
}

/* The policies' verdict: go on to the backend, or answer. */
static void on_policies_done(struct tg_policy_ctx *ctx, void *arg)
{
    struct tg_server_conn *c = arg;
    switch (tg_policy_outcome(ctx)) {
    case TG_POLICY_OUTCOME_CONTINUE:
        start_forwarding(c);
        break;
    case TG_POLICY_OUTCOME_REJECT:
        tg_answer_carry_edits(ctx, ctx->extra_headers, sizeof ctx->extra_headers);
        /* a refused upgrade ends the connection; a refused plain request leaves it usable */
        answer(c, ctx->status, ctx->code, ctx->message, ctx->extra_headers, !c->fwd.is_upgrade);
        break;
    case TG_POLICY_OUTCOME_ANSWER:
        answer_empty(c, ctx->status, ctx->extra_headers);
        break;
    }
    if (!c->policies_sync && c->state != TG_SERVER_DONE)
        pump(c); /* an asynchronous verdict: nothing else drives the connection now */
}

/* --max-connections-per-ip behind a trusted proxy: the request's client (client_ip, from X-Forwarded-For) holds
 * a slot from its parsed head to the end of its exchange, or for a WebSocket session for the session's life.
 * Over the cap: 429 (the proxy's connection stays usable for its other clients). Returns -1 after answering. */
static int take_client_slot(struct tg_server_conn *c)
{
    struct tg_ip_limit *limit = c->server->settings->ip_limit;
    if (!limit || !c->peer_trusted || c->ip_counted)
        return 0;
    if (!tg_ip_limit_acquire(limit, c->client_ip)) {
        answer(c, 429, "limits.client_connections", "this client has too many connections open",
               "Retry-After: 1\r\n", 1);
        return -1;
    }
    memcpy(c->slot_ip, c->client_ip, sizeof c->slot_ip);
    c->ip_counted = 1;
    return 0;
}

/* The client of this request: the peer, or, from a peer in --trusted-proxies, the X-Forwarded-For entry
 * tg_client_address picks (the peer again when the field is missing or malformed: fail closed). */
static void set_client_ip(struct tg_server_conn *c, const struct tg_http_head *h)
{
    const struct tg_proxy_settings *cfg = c->server->settings;
    memcpy(c->client_ip, c->peer_ip, sizeof c->client_ip);
    if (!c->peer_trusted)
        return;
    const char *values[16];
    size_t lens[16], n = 0;
    for (size_t i = 0; i < h->num_headers && n < 16; i++)
        if (tg_slice_eq_nocase(h->headers[i].name, "x-forwarded-for")) {
            values[n] = h->headers[i].value.ptr;
            lens[n++] = h->headers[i].value.len;
        }
    struct tg_ip peer, client;
    if (tg_ip_parse(c->peer_ip, strlen(c->peer_ip), &peer) == 0 &&
        tg_client_address(&peer, cfg->trusted_proxies, cfg->num_trusted_proxies, values, lens, n, &client) ==
            TG_XFF_FORWARDED)
        tg_ip_format(&client, c->client_ip);
}

/* RFC 9112 §3.2: the target's form decides the authority and the path. An absolute-form authority replaces
 * Host (routing, policies and the forwarded Host all use it); the path is normalised (common/path_normalize) and
 * h->target then points at the normal form, so routing, every policy and the backend see the same path.
 * A path with "%2F"/"%5C" gets its DECODED normal form in h->target (what routing uses: the proxy, whose
 * encodedSlashes decides, is only known after routing) and *kept set to its normal form with them kept encoded
 * (malloc'd, the caller frees it; NULL when there is none or no encoded slash): see encoded_slashes().
 * Returns -1 after answering (the target is refused). */
static int target_and_path(struct tg_server_conn *c, struct tg_http_head *h, char **kept, size_t *kept_len)
{
    struct tg_forwarder *f = &c->fwd;
    struct tg_http_target t;
    enum tg_target_form form = tg_http_parse_target(h->method, h->target, &t);
    struct tg_slice path = h->target;
    int slash = 0; /* "/" + path: an absolute-form target with an empty path or one that starts with '?' */
    *kept = NULL;
    c->encoded_slash = 0;
    if (form == TG_TARGET_ABSOLUTE) {
        h->host = t.authority;
        path = t.path;
        slash = path.len == 0 || path.ptr[0] == '?';
    } else if (form != TG_TARGET_ORIGIN) { /* authority-form (CONNECT) and "*" are not proxied */
        answer(c, 400, "request.bad_target", "the request target is not an origin-form or absolute-form URI",
               NULL, 0);
        return -1;
    }
    size_t len = path.len + (size_t)slash;
    char *in = malloc(len + 1), *out = malloc(len + 1);
    if (!in || !out) {
        free(in);
        free(out);
        close_conn(c);
        return -1;
    }
    in[0] = '/';
    memcpy(in + slash, path.ptr, path.len);
    size_t n = 0;
    int encoded = tg_path_has_encoded_slash(in, len);
    enum tg_path_status st = tg_path_normalize(in, len, encoded ? TG_PATH_DECODE_ENCODED_SLASH : 0, out, len + 1, &n);
    if (st == TG_PATH_OK && encoded) {
        char *k = malloc(len + 1);
        if (k && tg_path_normalize(in, len, TG_PATH_ALLOW_ENCODED_SLASH, k, len + 1, kept_len) == TG_PATH_OK)
            *kept = k;
        else
            free(k); /* no kept form: a proxy in keep mode refuses it */
    }
    free(in);
    if (st != TG_PATH_OK) {
        free(out);
        if (st == TG_PATH_TOO_LONG)
            answer(c, 414, "request.target_too_long", "the normalised path does not fit", NULL, 0);
        else if (encoded) /* refused whatever any proxy opted into: it normalises in no mode */
            answer(c, 400, "request.encoded_slash", "the path has an encoded slash or backslash", NULL, 0);
        else
            answer(c, 400, "request.bad_path", "the path is not a valid origin-form path", NULL, 0);
        return -1;
    }
    c->encoded_slash = (unsigned char)encoded;
    free(c->path_buf);
    c->path_buf = out;
    c->raw_path = slash ? (struct tg_slice){out, n} : path; /* "?q" has no spelling of its own but "/?q" */
    h->target = (struct tg_slice){out, n};
    f->path = h->target;
    return 0;
}

/* A path with an encoded slash, routed (*m) by its decoded normal form: the proxy found decides by its
 * encodedSlashes (else --encoded-slashes; also when no proxy serves the path). reject: 400. decode: it goes on
 * decoded, as routed. keep: it goes on with "%2F"/"%5C" kept (h->target becomes kept, which this takes), but only
 * when that spelling routes to the same proxy too — a decoding backend (nginx) must not reach what the gateway
 * did not check, and the proxy judged must be the one routed to. Returns -1 after answering. */
static int encoded_slashes(struct tg_server_conn *c, struct tg_http_head *h, const struct tg_route_match *m,
                           char *kept, size_t kept_len)
{
    const struct tg_proxy_cfg *px = m->route ? m->route->proxy : NULL;
    enum tg_encoded_slashes mode = px && px->has_encoded_slashes ? px->encoded_slashes
                                                                 : c->server->settings->encoded_slashes;
    if (mode == TG_ENCODED_SLASHES_DECODE) {
        free(kept);
        return 0;
    }
    if (mode == TG_ENCODED_SLASHES_REJECT || !kept) {
        free(kept);
        answer(c, 400, "request.encoded_slash", "the path has an encoded slash or backslash", NULL, 0);
        return -1;
    }
    struct tg_route_match mk = tg_snapshot_route(c->server->snapshot, h->host.ptr, h->host.len, kept, kept_len);
    if (mk.route != m->route || mk.group != m->group) {
        free(kept);
        answer(c, 400, "request.encoded_slash", "the path routes elsewhere once its encoded slashes are decoded",
               NULL, 0);
        return -1;
    }
    if (c->raw_path.ptr == c->path_buf) /* "/?q" spelled "?q": it has no encoded slash, but stay correct */
        c->raw_path = (struct tg_slice){kept, kept_len};
    free(c->path_buf);
    c->path_buf = kept;
    h->target = (struct tg_slice){kept, kept_len};
    c->fwd.path = h->target;
    return 0;
}

/* The group's plain-HTTP redirect (opt-in, "httpsRedirect"): 308 to https://host[:port]/target, the target as
 * the client spelled it. ACME HTTP-01 challenges stay on plain HTTP (cert-manager answers them there). 1 when
 * answered. */
static int redirect_to_https(struct tg_server_conn *c, const struct tg_http_head *h, const struct tg_group_cfg *g)
{
    static const char acme[] = "/.well-known/acme-challenge/";
    if (!g->https_redirect_port || tg_tls_frontend_is_tls(&c->conn))
        return 0;
    if (c->raw_path.len >= sizeof acme - 1 && memcmp(c->raw_path.ptr, acme, sizeof acme - 1) == 0)
        return 0;
    size_t host_len = h->host.len;
    const char *colon = memrchr(h->host.ptr, ':', host_len);
    if (colon && memchr(colon, ']', host_len - (size_t)(colon - h->host.ptr)) == NULL)
        host_len = (size_t)(colon - h->host.ptr); /* the port of the plain listener goes */
    char port[8] = "";
    if (g->https_redirect_port != 443)
        snprintf(port, sizeof port, ":%u", (unsigned)g->https_redirect_port);
    char location[1280];
    int n = snprintf(location, sizeof location, "Location: https://%.*s%s%.*s\r\n", (int)host_len, h->host.ptr, port,
                     (int)c->raw_path.len, c->raw_path.ptr);
    if (n < 0 || (size_t)n >= sizeof location) {
        answer(c, 414, "request.target_too_long", "the target is too long to redirect to HTTPS", NULL, 0);
        return 1;
    }
    answer_empty(c, 308, location);
    return 1;
}

/* A complete head is at the front of conn.in: route it, check it, run the policies. */
static void process_request(struct tg_server_conn *c, struct tg_http_head *h)
{
    struct tg_forwarder *f = &c->fwd;
    c->request_started_ns = tg_now_ns();
    f->started_ms = c->request_started_ns / 1000000u;
    f->peer_ip = c->peer_ip;
    f->peer_trusted = c->peer_trusted;
    set_client_ip(c, h);
    f->keep_alive = (unsigned char)h->keep_alive;
    f->req_framing = h->framing;
    f->req_body_left = h->framing == TG_BODY_LENGTH ? h->content_length : 0;
    f->req_done = h->framing == TG_BODY_NONE || (h->framing == TG_BODY_LENGTH && h->content_length == 0);
    size_t mlen = h->method.len < sizeof f->method - 1 ? h->method.len : sizeof f->method - 1; /* (was a snprintf) */
    memcpy(f->method, h->method.ptr, mlen);
    f->method[mlen] = '\0';
    f->is_head = tg_slice_eq_nocase(h->method, "HEAD");
    f->is_upgrade = (unsigned char)tg_ws_handshake_requested(h);

    f->client_http10 = h->minor_version == 0;
    if (take_client_slot(c) != 0)
        return;
    char *kept = NULL;
    size_t kept_len = 0;
    if (target_and_path(c, h, &kept, &kept_len) != 0)
        return;
    struct tg_slice host = h->host;
    struct tg_snapshot *snap = c->server->snapshot;
    if (!snap) {
        free(kept);
        answer(c, 503, "gateway.not_configured", "the gateway has no configuration yet", NULL, 0);
        return;
    }
    struct tg_route_match m = tg_snapshot_route(snap, host.ptr, host.len, h->target.ptr, h->target.len);
    if (c->encoded_slash && encoded_slashes(c, h, &m, kept, kept_len) != 0)
        return;
    struct tg_slice path = h->target; /* what routing used is what every policy sees */
    if (!m.group) {
        answer(c, 404, "routing.no_group", "no environment group serves this host", NULL, 1);
        return;
    }
    if (redirect_to_https(c, h, m.group))
        return;
    if (m.group->hsts_header && tg_tls_frontend_is_tls(&c->conn)) /* RFC 6797 §7.2: never over plain HTTP */
        f->response_header = m.group->hsts_header;
    if (tg_tls_frontend_misdirected(&c->conn, snap, m.group)) {
        answer(c, 421, "routing.misdirected", "the Host names another group than the TLS server name", NULL, 1);
        return;
    }
    if (!m.route) {
        answer(c, 404, "routing.no_proxy", "no API proxy serves this path", NULL, 1);
        return;
    }
    c->snap = tg_snapshot_ref(snap);
    f->route = m.route;
    c->debug = tg_debug_capture_begin(c->server->debug, m.route, path, h, c->client_ip, f);
    c->an = tg_analytics_begin(c->server->analytics, m.group->id, m.route, host, path, c->client_ip, h->head_len);
    const struct tg_proxy_cfg *px = m.route->proxy;
    if (px->forward_raw_path) /* the opt-out: routed and checked on the normal form, forwarded as spelled */
        f->path = c->raw_path;

    if (f->is_upgrade) {
        if (!px->ws_enabled) {
            answer(c, 403, "websocket.disabled", "WebSockets are disabled for this API proxy", NULL, 0);
            return;
        }
        struct tg_ws_refusal why;
        if (tg_ws_handshake_check_request(h, f->ws_accept, &why) != 0) {
            answer(c, why.status, why.code, why.message, why.extra_headers, 0);
            return;
        }
    } else if (tg_ws_handshake_half(h)) {
        answer(c, 400, "websocket.bad_handshake", "Connection must contain the Upgrade token", NULL, 0);
        return;
    }
    if (px->max_request_body_bytes && h->framing == TG_BODY_LENGTH &&
        h->content_length > px->max_request_body_bytes) {
        answer(c, 413, "request.body_too_large", "the request body is over this API proxy's limit", NULL, 0);
        return;
    }
    c->state = TG_SERVER_POLICIES;
    if (px->num_policies == 0) {
        start_forwarding(c);
        return;
    }
    struct tg_policy_ctx *ctx = tg_policy_ctx_new();
    if (!ctx) {
        close_conn(c);
        return;
    }
    ctx->worker = c->server->w;
    ctx->request = h;
    ctx->proxy = px;
    ctx->environment = m.route->environment;
    ctx->client_ip = c->client_ip;
    ctx->is_upgrade = f->is_upgrade;
    ctx->now_wall_ms = tg_wall_ms();
    c->policy = ctx;
    c->policies_sync = 1;
    tg_policy_pipeline_start(ctx, on_policies_done, c);
    c->policies_sync = 0;
}

/* Reads and parses while no request is in progress. Returns -1 when the connection is gone. */
static int read_request_head(struct tg_server_conn *c)
{
    struct tg_http_server *s = c->server;
    struct tg_buf_pool *bufs = &s->w->bufs;
    size_t max_head = s->settings->max_head_bytes;
    if (c->parked) /* waits for the buffer budget: on_unpark resumes it */
        return 0;
    for (;;) {
        size_t have = tg_buf_len(c->conn.in);
        /* Re-parse only when new bytes can change the answer (a new line end, or the limit): a head trickling
         * in one byte at a time costs one scan per line, not one per byte. */
        if (have > 0 && (c->head_scanned == 0 ||
                         tg_http1_need_reparse(tg_buf_start(c->conn.in), c->head_scanned, have, max_head))) {
            struct tg_http_head *scratch = &s->scratch_head;
            enum tg_http_status st = tg_http1_parse_request(tg_buf_start(c->conn.in), have, max_head, scratch);
            c->head_scanned = (uint32_t)have;
            if (st == TG_HTTP_OK) {
                if (!budget_allows(s, TG_EXCHANGE_BUFFERS)) {
                    c->head_scanned = 0; /* parse it again when resumed */
                    park(c, TG_EXCHANGE_BUFFERS);
                    return 0;
                }
                struct tg_http_head *h = malloc(sizeof *h);
                if (!h) {
                    close_conn(c);
                    return -1;
                }
                *h = *scratch;
                c->head_started_ms = 0;
                c->head_scanned = 0;
                c->req = h; /* kept (with its bytes in conn.in) until the forwarder has built the upstream head */
                c->in_exchange = 1;
                s->exchanges++;
                process_request(c, h);
                return c->state == TG_SERVER_DONE ? -1 : 0;
            }
            if (st != TG_HTTP_INCOMPLETE) {
                answer_parse_error(c, st);
                return -1;
            }
        }
        if (!c->conn.readable) {
            if (c->conn.in && tg_buf_len(c->conn.in) == 0) { /* idle (e.g. after an exchange): hold no buffer */
                tg_buf_put(bufs, c->conn.in);
                c->conn.in = NULL;
            }
            return 0;
        }
        if (!c->conn.in && !budget_allows(s, 1)) {
            park(c, 1);
            return 0;
        }
        if (!c->conn.in && !(c->conn.in = tg_buf_get(bufs))) {
            close_conn(c);
            return -1;
        }
        if (tg_buf_room(c->conn.in) == 0)
            tg_buf_compact(c->conn.in); /* offsets are relative to the head's start: compaction keeps them */
        if (tg_buf_room(c->conn.in) == 0) {
            answer_parse_error(c, TG_HTTP_HEAD_TOO_LARGE);
            return -1;
        }
        ssize_t n = tg_conn_read(&c->conn, tg_buf_end(c->conn.in), tg_buf_room(c->conn.in));
        if (n > 0) {
            if (!c->head_started_ms) {
                c->head_started_ms = tg_now_ms();
                refresh_timer(c);
            }
            c->conn.in->tail += (uint32_t)n;
            continue;
        }
        if (n == TG_IO_AGAIN) {
            if (tg_buf_len(c->conn.in) == 0) { /* idle: hold no buffer */
                tg_buf_put(bufs, c->conn.in);
                c->conn.in = NULL;
            }
            return 0;
        }
        close_conn(c); /* EOF or error between requests (or mid-head): nothing to answer */
        return -1;
    }
}

/* Re-evaluates the connection after any event (reads, parses, writes, timers, state changes). */
static void pump(struct tg_server_conn *c)
{
    struct tg_worker *w = c->server->w;
    for (int rounds = 0; rounds < 64; rounds++) {
        enum tg_server_state before = c->state;
        /* output first: answers and relayed response bytes queued on conn.out */
        if (c->conn.out) {
            int r = tg_conn_flush_buf(&c->conn, c->conn.out);
            if (r < 0) {
                close_conn(c);
                return;
            }
            if (r == 1) {
                tg_buf_put(&w->bufs, c->conn.out);
                c->conn.out = NULL;
            }
        }
        switch (c->state) {
        case TG_SERVER_READING_HEAD:
            if (c->conn.out) /* a pipelined answer is still being written: read the next request after it */
                break;
            if (read_request_head(c) < 0)
                return;
            break;
        case TG_SERVER_CONNECTING:
        case TG_SERVER_FORWARDING:
            if (on_forward_result(c, tg_forwarder_pump(&c->fwd)) < 0)
                return;
            break;
        case TG_SERVER_CLOSING:
            if (!c->conn.out) {
                /* lingering close: stop writing, then close (RFC 9112 §9.6) */
                close_conn(c);
                return;
            }
            break;
        case TG_SERVER_POLICIES:
            break;
        case TG_SERVER_DONE:
            return;
        }
        if (c->state == before)
            break;
    }
    if (c->state == TG_SERVER_DONE)
        return;
    /* what to wait for */
    int events = 0;
    if (c->conn.out)
        events |= EV_WRITE;
    if (c->state == TG_SERVER_READING_HEAD && !c->conn.out && !c->parked)
        events |= EV_READ;
    /* While a request is forwarded the client stays watched for reading as long as nothing of it is buffered:
     * its body, a pipelined request (read ahead, parsed later), or its going away (which aborts the exchange).
     * Keeping the watcher also spares the epoll_ctl calls of stopping and restarting it per request. */
    if ((c->state == TG_SERVER_FORWARDING || c->state == TG_SERVER_CONNECTING) && tg_buf_len(c->conn.in) == 0)
        events |= EV_READ;
    /* a short write of relayed response bytes: resume when the socket drains */
    if (c->state == TG_SERVER_FORWARDING && (!c->conn.writable || tg_forwarder_client_events(&c->fwd)))
        events |= EV_WRITE;
    tg_conn_want(w->loop, &c->conn, events);
}

static void on_conn_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_server_conn *c = io->data;
    tg_conn_note_events(&c->conn, revents);
    pump(c);
}

static void on_conn_timer(struct tg_timer *t, uint64_t now_ms)
{
    struct tg_server_conn *c = (struct tg_server_conn *)((char *)t - offsetof(struct tg_server_conn, timer));
    switch (c->state) {
    case TG_SERVER_READING_HEAD:
        if (c->head_started_ms && tg_buf_len(c->conn.in) > 0) {
            answer(c, 408, "request.timeout", "the request head did not arrive in time", NULL, 0);
            return;
        }
        close_conn(c); /* idle keep-alive connection */
        return;
    case TG_SERVER_CONNECTING:
    case TG_SERVER_FORWARDING:
        tg_debug("client %s: timeout while %s", c->peer_ip, tg_server_state_str(c->state));
        if (c->state == TG_SERVER_FORWARDING && !c->fwd.req_done && body_deadline(c, 0) && now_ms >= body_deadline(c, 0)) {
            on_forward_result(c, tg_forwarder_client_timeout(&c->fwd));
            return;
        }
        on_forward_result(c, tg_forwarder_timeout(&c->fwd));
        return;
    default:
        close_conn(c);
        return;
    }
}

void tg_http_server_drain(struct tg_http_server *s)
{
    s->draining = 1;
    struct tg_server_conn *c = s->conns;
    while (c) {
        struct tg_server_conn *next = c->next;
        if (c->state == TG_SERVER_READING_HEAD && tg_buf_len(c->conn.in) == 0)
            close_conn(c);
        c = next;
    }
}

void tg_http_server_close_all(struct tg_http_server *s)
{
    ev_prepare_stop(s->w->loop, &s->unpark);
    while (s->conns)
        close_conn(s->conns);
}
