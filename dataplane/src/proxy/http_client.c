/* http_client.c — a client connection of the data plane up to the point it is proxied: reading and parsing
 * request heads (strict, bounded), keep-alive and pipelining, routing, the WebSocket handshake checks of
 * RFC 6455 §4.2.1, the policy pipeline, the gateway's own error answers, timeouts and the connection's end.
 * The forwarding itself is http_exchange.c; after a 101 the connection belongs to ws_tunnel.c. */
#include "proxy/proxy.h"

#include "clock.h"
#include "log.h"
#include "ws_frame.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents);
static void on_client_timer(struct tg_timer *t, uint64_t now_ms);

const char *tg_client_state_str(enum tg_client_state s)
{
    static const char *const names[] = {"reading_head", "policies", "connecting", "forwarding", "closing", "done"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

static void free_client(struct tg_deferred *d)
{
    struct tg_client *c = (struct tg_client *)d;
    free(c->policy);
    free(c->req);
    free(c->retry_head);
    free(c);
}

void tg_client_accept(struct tg_worker *w, int fd, const struct sockaddr *peer)
{
    struct tg_client *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->w = w;
    c->deferred.free_fn = free_client;
    tg_conn_init(&c->conn, fd, on_client_io, c);
    c->conn.readable = 0; /* wait for the first bytes: an accepted socket rarely has them yet */
    tg_timer_init(&c->timer, on_client_timer);
    if (peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, c->peer_ip, sizeof c->peer_ip);
    else if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, c->peer_ip, sizeof c->peer_ip);
    c->next = w->clients;
    if (w->clients)
        w->clients->prev = c;
    w->clients = c;
    w->num_clients++;
    tg_counter_add(&w->metrics->connections_accepted, 1);
    tg_counter_add(&w->metrics->connections_active, 1);
    c->head_started_ms = tg_now_ms(); /* a new connection must deliver its first head in the head timeout */
    tg_client_refresh_timer(c);
    tg_client_pump(c);
}

void tg_client_refresh_timer(struct tg_client *c)
{
    const struct tg_dataplane_config *cfg = c->w->config;
    uint64_t deadline = 0;
    switch (c->state) {
    case TG_CLIENT_READING_HEAD:
        if (c->head_started_ms)
            deadline = c->head_started_ms + cfg->request_head_timeout_ms;
        else
            deadline = tg_now_ms() + cfg->keepalive_timeout_ms;
        break;
    case TG_CLIENT_CONNECTING:
        deadline = c->request_started_ms + (c->route ? c->route->proxy->connect_timeout_ms : 5000);
        break;
    case TG_CLIENT_FORWARDING:
        if (c->route && c->route->proxy->timeout_ms)
            deadline = tg_now_ms() + c->route->proxy->timeout_ms;
        break;
    case TG_CLIENT_CLOSING:
        deadline = tg_now_ms() + 5000; /* a client that does not read its error answer */
        break;
    default:
        break;
    }
    if (deadline)
        tg_timer_schedule(&c->w->wheel, &c->timer, deadline);
    else
        tg_timer_cancel(&c->w->wheel, &c->timer);
}

static void on_client_timer(struct tg_timer *t, uint64_t now_ms)
{
    struct tg_client *c = (struct tg_client *)((char *)t - offsetof(struct tg_client, timer));
    switch (c->state) {
    case TG_CLIENT_READING_HEAD:
        if (c->head_started_ms && tg_buf_len(c->conn.in) > 0) {
            tg_client_answer(c, 408, "request.timeout", "the request head did not arrive in time", NULL, 0);
            return;
        }
        tg_client_close(c); /* idle keep-alive connection */
        return;
    case TG_CLIENT_CONNECTING:
    case TG_CLIENT_FORWARDING:
        tg_debug("client %s: timeout while %s", c->peer_ip, tg_client_state_str(c->state));
        tg_exchange_on_timeout(c);
        return;
    default:
        tg_client_close(c);
        return;
    }
}

static void unlink_client(struct tg_client *c)
{
    struct tg_worker *w = c->w;
    tg_timer_cancel(&w->wheel, &c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    w->num_clients--;
    c->state = TG_CLIENT_DONE;
    tg_worker_defer_free(w, &c->deferred);
}

void tg_client_detach(struct tg_client *c)
{
    tg_snapshot_unref(c->snap);
    c->snap = NULL;
    unlink_client(c);
}

void tg_client_close(struct tg_client *c)
{
    if (c->state == TG_CLIENT_DONE)
        return;
    struct tg_worker *w = c->w;
    if (c->policy)
        tg_policy_pipeline_cancel(c->policy);
    if (c->up)
        tg_exchange_release(c, 0);
    tg_snapshot_unref(c->snap);
    c->snap = NULL;
    tg_conn_close(w->loop, &c->conn, &w->bufs);
    tg_counter_sub(&w->metrics->connections_active, 1);
    unlink_client(c);
}

/* Queues bytes on conn.out (taking a buffer if needed). Returns -1 when they do not fit. */
static int queue_output(struct tg_client *c, const char *p, size_t len)
{
    if (!c->conn.out && !(c->conn.out = tg_buf_get(&c->w->bufs)))
        return -1;
    return tg_buf_append(c->conn.out, p, len);
}

void tg_client_answer(struct tg_client *c, int status, const char *code, const char *message,
                      const char *extra_headers, int keep)
{
    char response[2048];
    if (c->state == TG_CLIENT_DONE)
        return;
    if (c->response_started) { /* the backend's response is already on its way: nothing else can be said */
        tg_client_close(c);
        return;
    }
    if (c->up)
        tg_exchange_release(c, 0);
    keep = keep && c->keep_alive && c->req_done && !c->w->draining;
    size_t n = tg_format_error_response(response, sizeof response, status, code, message, extra_headers, !keep);
    if (c->is_head) { /* a HEAD answer has the headers only */
        char *body = strstr(response, "\r\n\r\n");
        if (body)
            n = (size_t)(body + 4 - response);
    }
    c->status = status;
    tg_metrics_count_request(c->w->id, c->route ? c->route->proxy->id : "", status);
    tg_debug("answer %d %s to %s", status, code, c->peer_ip);
    if (queue_output(c, response, n) != 0) {
        tg_client_close(c);
        return;
    }
    if (keep) {
        tg_client_finish_request(c);
        return;
    }
    c->state = TG_CLIENT_CLOSING;
    tg_client_refresh_timer(c);
    tg_client_pump(c);
}

/* Drops the parsed head of a request answered by the gateway itself (its bytes leave conn.in too, and a body
 * it announced makes the connection unusable for another request). */
static void drop_unforwarded_request(struct tg_client *c)
{
    if (!c->req)
        return;
    if (c->conn.in && tg_buf_len(c->conn.in) >= c->req->head_len)
        tg_buf_consume(c->conn.in, c->req->head_len);
    free(c->req);
    c->req = NULL;
}

void tg_client_answer_empty(struct tg_client *c, int status, const char *extra_headers)
{
    char response[1536];
    int keep = c->keep_alive && c->req_done && !c->w->draining;
    int n = snprintf(response, sizeof response, "HTTP/1.1 %d %s\r\n%s%s%s\r\n", status, tg_http_reason(status),
                     status == 204 || status == 304 ? "" : "Content-Length: 0\r\n", keep ? "" : "Connection: close\r\n",
                     extra_headers ? extra_headers : "");
    c->status = status;
    tg_metrics_count_request(c->w->id, c->route ? c->route->proxy->id : "", status);
    if (n < 0 || (size_t)n >= sizeof response || queue_output(c, response, (size_t)n) != 0) {
        tg_client_close(c);
        return;
    }
    if (keep) {
        tg_client_finish_request(c);
        return;
    }
    c->state = TG_CLIENT_CLOSING;
    tg_client_refresh_timer(c);
}

void tg_client_finish_request(struct tg_client *c)
{
    drop_unforwarded_request(c);
    free(c->policy);
    c->policy = NULL;
    tg_snapshot_unref(c->snap);
    c->snap = NULL;
    c->route = NULL;
    free(c->retry_head);
    c->retry_head = NULL;
    int keep = c->keep_alive && c->req_done && !c->w->draining;
    if (!keep) {
        c->state = TG_CLIENT_CLOSING;
        tg_client_refresh_timer(c);
        return;
    }
    /* reset the per-request state; pipelined bytes stay in conn.in */
    c->state = TG_CLIENT_READING_HEAD;
    c->is_head = c->is_upgrade = c->response_started = c->retried = 0;
    c->req_framing = TG_BODY_NONE;
    c->req_body_left = c->req_body_bytes = 0;
    memset(&c->req_chunks, 0, sizeof c->req_chunks);
    c->req_done = 0;
    c->resp_head_done = c->resp_done = c->resp_keep_alive = 0;
    c->resp_body_left = 0;
    memset(&c->resp_chunks, 0, sizeof c->resp_chunks);
    c->status = 0;
    c->head_started_ms = tg_buf_len(c->conn.in) ? tg_now_ms() : 0;
    c->head_scanned = 0;
    tg_client_refresh_timer(c);
}

/* ---- the request head ---- */

static int header_value_is(const struct tg_http_head *h, const char *name, const char *value)
{
    const struct tg_http_header *f = tg_http_find_header(h, name);
    return f && tg_slice_eq_nocase(f->value, value);
}

/* RFC 6455 §4.2.1: what a server must check in the opening handshake. Returns 0 or answers and returns -1. */
static int check_websocket_handshake(struct tg_client *c, const struct tg_http_head *h)
{
    if (!tg_slice_eq_nocase(h->method, "GET")) {
        tg_client_answer(c, 400, "websocket.bad_method", "a WebSocket handshake must use GET", NULL, 0);
        return -1;
    }
    if (h->minor_version != 1) {
        tg_client_answer(c, 400, "websocket.bad_version", "a WebSocket handshake needs HTTP/1.1", NULL, 0);
        return -1;
    }
    const struct tg_http_header *version = tg_http_find_header(h, "sec-websocket-version");
    if (!version || !tg_slice_eq_nocase(version->value, "13")) {
        tg_client_answer(c, 426, "websocket.unsupported_version", "only Sec-WebSocket-Version 13 is supported",
                         "Sec-WebSocket-Version: 13\r\n", 0);
        return -1;
    }
    const struct tg_http_header *key = tg_http_find_header(h, "sec-websocket-key");
    if (!key || !tg_ws_key_is_valid(key->value.ptr, key->value.len)) {
        tg_client_answer(c, 400, "websocket.bad_key", "Sec-WebSocket-Key must be base64 of 16 bytes", NULL, 0);
        return -1;
    }
    if (h->framing != TG_BODY_NONE) {
        tg_client_answer(c, 400, "websocket.unexpected_body", "a WebSocket handshake carries no body", NULL, 0);
        return -1;
    }
    tg_ws_accept_for_key(key->value.ptr, key->value.len, c->ws_accept);
    return 0;
}

static void answer_parse_error(struct tg_client *c, enum tg_http_status st)
{
    switch (st) {
    case TG_HTTP_HEAD_TOO_LARGE:
        tg_client_answer(c, 431, "request.headers_too_large", "the request head is over the limit", NULL, 0);
        break;
    case TG_HTTP_TOO_MANY_HEADERS:
        tg_client_answer(c, 431, "request.too_many_headers", "the request has too many header fields", NULL, 0);
        break;
    case TG_HTTP_BAD_VERSION:
        tg_client_answer(c, 505, "request.bad_version", "only HTTP/1.0 and HTTP/1.1 are supported", NULL, 0);
        break;
    default:
        tg_client_answer(c, 400, "request.malformed", "the request is malformed or ambiguous", NULL, 0);
        break;
    }
}

/* 1 when the path (up to '?') has a "." or ".." segment, also percent-encoded ("%2e", "%2E"). Such paths are
 * refused rather than normalised: routing and the backend must never see different paths (path confusion across
 * base paths, RFC 3986 §5.2.4). */
static int has_dot_segment(struct tg_slice path)
{
    size_t end = path.len;
    const char *q = memchr(path.ptr, '?', path.len);
    if (q)
        end = (size_t)(q - path.ptr);
    size_t i = 0;
    while (i < end) {
        if (path.ptr[i] != '/') {
            i++;
            continue;
        }
        size_t j = i + 1, dots = 0, other = 0;
        while (j < end && path.ptr[j] != '/') {
            if (path.ptr[j] == '.') {
                dots++;
                j++;
            } else if (j + 2 < end && path.ptr[j] == '%' && path.ptr[j + 1] == '2' &&
                       (path.ptr[j + 2] == 'e' || path.ptr[j + 2] == 'E')) {
                dots++;
                j += 3;
            } else {
                other = 1;
                j++;
            }
        }
        if (!other && (dots == 1 || dots == 2))
            return 1;
        i = j;
    }
    return 0;
}

/* The policies' verdict: go on to the backend, or answer. */
/* Appends the response edits the policies made so far (CORS headers, rate-limit headers) to an answer's
 * headers, so a browser can read the gateway's own refusals too. */
static void add_response_edits(const struct tg_policy_ctx *ctx, char *headers, size_t size)
{
    size_t len = strlen(headers);
    for (size_t i = 0; i < ctx->num_response_edits; i++) {
        const struct tg_header_edit *e = &ctx->response_edits[i];
        if (e->remove || strcasestr(headers, e->name))
            continue; /* the answer's own field of that name wins */
        int n = snprintf(headers + len, size - len, "%s: %s\r\n", e->name, e->value);
        if (n < 0 || (size_t)n >= size - len) {
            headers[len] = '\0';
            return;
        }
        len += (size_t)n;
    }
}

static void on_policies_done(struct tg_policy_ctx *ctx, void *arg)
{
    struct tg_client *c = arg;
    switch (tg_policy_outcome(ctx)) {
    case TG_POLICY_OUTCOME_CONTINUE:
        tg_exchange_start(c);
        break;
    case TG_POLICY_OUTCOME_REJECT:
        add_response_edits(ctx, ctx->extra_headers, sizeof ctx->extra_headers);
        /* a refused upgrade ends the connection; a refused plain request leaves it usable */
        tg_client_answer(c, ctx->status, ctx->code, ctx->message, ctx->extra_headers, !c->is_upgrade);
        break;
    case TG_POLICY_OUTCOME_ANSWER:
        tg_client_answer_empty(c, ctx->status, ctx->extra_headers);
        break;
    }
    if (!c->policies_sync && c->state != TG_CLIENT_DONE)
        tg_client_pump(c); /* an asynchronous verdict: nothing else drives the client now */
}

/* A complete head is at the front of conn.in: route it, check it, run the policies. */
static void process_request(struct tg_client *c, struct tg_http_head *h)
{
    c->request_started_ms = tg_now_ms();
    c->keep_alive = (unsigned char)h->keep_alive;
    c->req_framing = h->framing;
    c->req_body_left = h->framing == TG_BODY_LENGTH ? h->content_length : 0;
    c->req_done = h->framing == TG_BODY_NONE || (h->framing == TG_BODY_LENGTH && h->content_length == 0);
    snprintf(c->method, sizeof c->method, "%.*s", (int)(h->method.len < 15 ? h->method.len : 15), h->method.ptr);
    c->is_head = tg_slice_eq_nocase(h->method, "HEAD");
    c->is_upgrade = (h->connection_flags & TG_CONN_UPGRADE) && tg_http_list_has_token(h->upgrade, "websocket");

    /* RFC 9112 §3.2.2: an absolute-form target's authority wins over Host */
    struct tg_slice host = h->host, path = h->target;
    if (path.len > 7 && (strncasecmp(path.ptr, "http://", 7) == 0 || strncasecmp(path.ptr, "https://", 8) == 0)) {
        size_t skip = path.ptr[4] == ':' ? 7 : 8;
        const char *auth = path.ptr + skip, *end = path.ptr + path.len;
        const char *slash = auth;
        while (slash < end && *slash != '/' && *slash != '?')
            slash++;
        host.ptr = auth;
        host.len = (size_t)(slash - auth);
        path.ptr = slash;
        path.len = (size_t)(end - slash);
        if (path.len == 0 || path.ptr[0] != '/') {
            tg_client_answer(c, 400, "request.bad_target", "an absolute-form target needs a path", NULL, 0);
            return;
        }
    }
    if (has_dot_segment(path)) {
        tg_client_answer(c, 400, "request.bad_path", "the path has \".\" or \"..\" segments", NULL, 0);
        return;
    }
    c->path = path;
    struct tg_snapshot *snap = c->w->snapshot;
    if (!snap) {
        tg_client_answer(c, 503, "gateway.not_configured", "the gateway has no configuration yet", NULL, 0);
        return;
    }
    struct tg_route_match m = tg_snapshot_route(snap, host.ptr, host.len, path.ptr, path.len);
    if (!m.group) {
        tg_client_answer(c, 404, "routing.no_group", "no environment group serves this host", NULL, 1);
        return;
    }
    if (!m.route) {
        tg_client_answer(c, 404, "routing.no_proxy", "no API proxy serves this path", NULL, 1);
        return;
    }
    c->snap = tg_snapshot_ref(snap);
    c->route = m.route;
    const struct tg_proxy_cfg *px = m.route->proxy;

    if (c->is_upgrade) {
        if (!px->ws_enabled) {
            tg_client_answer(c, 403, "websocket.disabled", "WebSockets are disabled for this API proxy", NULL, 0);
            return;
        }
        if (check_websocket_handshake(c, h) != 0)
            return;
    } else if (header_value_is(h, "upgrade", "websocket")) {
        /* Upgrade: websocket without the Connection token: a broken handshake, not plain HTTP */
        tg_client_answer(c, 400, "websocket.bad_handshake", "Connection must contain the Upgrade token", NULL, 0);
        return;
    }
    if (px->max_request_body_bytes && h->framing == TG_BODY_LENGTH &&
        h->content_length > px->max_request_body_bytes) {
        tg_client_answer(c, 413, "request.body_too_large", "the request body is over this API proxy's limit", NULL,
                         0);
        return;
    }
    c->state = TG_CLIENT_POLICIES;
    if (px->num_policies == 0) {
        tg_exchange_start(c);
        return;
    }
    struct tg_policy_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        tg_client_close(c);
        return;
    }
    ctx->worker = c->w;
    ctx->request = h;
    ctx->proxy = px;
    ctx->environment = m.route->environment;
    ctx->client_ip = c->peer_ip;
    ctx->is_upgrade = c->is_upgrade;
    ctx->now_wall_ms = tg_wall_ms();
    c->policy = ctx;
    c->policies_sync = 1;
    tg_policy_pipeline_start(ctx, on_policies_done, c);
    c->policies_sync = 0;
}

/* Reads and parses while no request is in progress. Returns -1 when the client is gone. */
static int read_request_head(struct tg_client *c)
{
    struct tg_worker *w = c->w;
    for (;;) {
        size_t have = tg_buf_len(c->conn.in);
        /* Re-parse only when new bytes can change the answer (a new line end, or the limit): a head trickling
         * in one byte at a time costs one scan per line, not one per byte. */
        if (have > 0 && (c->head_scanned == 0 ||
                         tg_http1_need_reparse(tg_buf_start(c->conn.in), c->head_scanned, have,
                                               w->config->max_head_bytes))) {
            struct tg_http_head *scratch = &w->scratch_head;
            enum tg_http_status st = tg_http1_parse_request(tg_buf_start(c->conn.in), have,
                                                            w->config->max_head_bytes, scratch);
            c->head_scanned = (uint32_t)have;
            if (st == TG_HTTP_OK) {
                struct tg_http_head *h = malloc(sizeof *h);
                if (!h) {
                    tg_client_close(c);
                    return -1;
                }
                *h = *scratch;
                c->head_started_ms = 0;
                c->head_scanned = 0;
                c->req = h; /* kept (with its bytes in conn.in) until the exchange has built the upstream head */
                process_request(c, h);
                return c->state == TG_CLIENT_DONE ? -1 : 0;
            }
            if (st != TG_HTTP_INCOMPLETE) {
                answer_parse_error(c, st);
                return -1;
            }
        }
        if (!c->conn.readable)
            return 0;
        if (!c->conn.in && !(c->conn.in = tg_buf_get(&w->bufs))) {
            tg_client_close(c);
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
                tg_client_refresh_timer(c);
            }
            c->conn.in->tail += (uint32_t)n;
            continue;
        }
        if (n == TG_IO_AGAIN) {
            if (tg_buf_len(c->conn.in) == 0) { /* idle: hold no buffer */
                tg_buf_put(&w->bufs, c->conn.in);
                c->conn.in = NULL;
            }
            return 0;
        }
        tg_client_close(c); /* EOF or error between requests (or mid-head): nothing to answer */
        return -1;
    }
}

void tg_client_pump(struct tg_client *c)
{
    struct tg_worker *w = c->w;
    for (int rounds = 0; rounds < 64; rounds++) {
        enum tg_client_state before = c->state;
        /* output first: answers and relayed response bytes queued on conn.out */
        if (c->conn.out) {
            int r = tg_conn_flush_buf(&c->conn, c->conn.out);
            if (r < 0) {
                tg_client_close(c);
                return;
            }
            if (r == 1) {
                tg_buf_put(&w->bufs, c->conn.out);
                c->conn.out = NULL;
            }
        }
        switch (c->state) {
        case TG_CLIENT_READING_HEAD:
            if (c->conn.out) /* a pipelined answer is still being written: read the next request after it */
                break;
            if (read_request_head(c) < 0)
                return;
            break;
        case TG_CLIENT_CONNECTING:
        case TG_CLIENT_FORWARDING:
            if (tg_exchange_pump(c) < 0)
                return;
            break;
        case TG_CLIENT_CLOSING:
            if (!c->conn.out) {
                /* lingering close: stop writing, then close (RFC 9112 §9.6) */
                tg_client_close(c);
                return;
            }
            break;
        case TG_CLIENT_POLICIES:
            break;
        case TG_CLIENT_DONE:
            return;
        }
        if (c->state == before)
            break;
    }
    if (c->state == TG_CLIENT_DONE)
        return;
    /* what to wait for */
    int events = 0;
    if (c->conn.out)
        events |= EV_WRITE;
    if (c->state == TG_CLIENT_READING_HEAD && !c->conn.out)
        events |= EV_READ;
    /* While a request is forwarded the client stays watched for reading as long as nothing of it is buffered:
     * its body, a pipelined request (read ahead, parsed later), or its going away (which aborts the exchange).
     * Keeping the watcher also spares the epoll_ctl calls of stopping and restarting it per request. */
    if ((c->state == TG_CLIENT_FORWARDING || c->state == TG_CLIENT_CONNECTING) && tg_buf_len(c->conn.in) == 0)
        events |= EV_READ;
    /* a short write of relayed response bytes: resume when the socket drains; response bytes still buffered
     * (relay_response stops after a fixed number of rounds for fairness): resume at once, the socket being
     * writable (level-triggered), or nothing would ever wake this exchange up again */
    if (c->state == TG_CLIENT_FORWARDING &&
        (!c->conn.writable || (c->up && c->resp_head_done && tg_buf_len(c->up->conn.in) > 0)))
        events |= EV_WRITE;
    tg_conn_want(w->loop, &c->conn, events);
}

static void on_client_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_client *c = io->data;
    tg_conn_note_events(&c->conn, revents);
    tg_client_pump(c);
}

void tg_clients_drain(struct tg_worker *w)
{
    struct tg_client *c = w->clients;
    while (c) {
        struct tg_client *next = c->next;
        if (c->state == TG_CLIENT_READING_HEAD && tg_buf_len(c->conn.in) == 0)
            tg_client_close(c);
        c = next;
    }
}
