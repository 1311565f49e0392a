/* forwarder.c — one request proxied to an upstream (forwarder.h): the rewritten request head (hop-by-hop fields
 * removed, X-Forwarded-For/-Proto/-Host added, base path stripped, policy edits), the request body relayed as
 * received (Content-Length or chunked, bounded by the proxy's body limit), the response head checked and
 * rewritten, the response body relayed with backpressure (a side that cannot take more stops reads on the
 * other), keep-alive reuse of the upstream, one retry on a stale pooled connection, and TG_FORWARD_UPGRADED after
 * a valid 101 (the owner then moves both sockets into a tunnel). */
#include "proxy/forwarder.h"

#include "clock.h"
#include "log.h"
#include "proxy/balancer.h"
#include "proxy/ws_handshake.h"
#include "ws_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 §7.6.1: fields that belong to one connection, never forwarded. X-Forwarded-* are rewritten. */
static int is_hop_by_hop(struct tg_slice name)
{
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "te", "upgrade",
                                        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", NULL};
    for (size_t i = 0; names[i]; i++)
        if (tg_slice_eq_nocase(name, names[i]))
            return 1;
    return 0;
}

/* A field named by a token of any Connection field is hop-by-hop too. Called after is_hop_by_hop, so a field
 * named "keep-alive" or "upgrade" never gets here: unless the parser saw "close" or another token, no field is
 * named (skips a pass over the fields per field on nearly every request; issue 15, handshake path). */
static int named_by_connection(const struct tg_http_head *h, struct tg_slice name)
{
    if (!(h->connection_flags & (TG_CONN_CLOSE | TG_CONN_OTHER)))
        return 0;
    char lower[64];
    if (name.len >= sizeof lower)
        return 0;
    memcpy(lower, name.ptr, name.len);
    lower[name.len] = '\0';
    for (size_t i = 0; i < h->num_headers; i++)
        if (tg_slice_eq_nocase(h->headers[i].name, "connection") && tg_http_list_has_token(h->headers[i].value, lower))
            return 1;
    return 0;
}

/* A policy edit (set or remove) that names this field: the original field is not forwarded. */
static int edited(const struct tg_header_edit *edits, size_t n, struct tg_slice name)
{
    for (size_t i = 0; i < n; i++)
        if (tg_slice_eq_nocase(name, edits[i].name))
            return 1;
    return 0;
}

struct writer {
    char *p;
    size_t len, cap;
    int overflow;
};

static void put(struct writer *wr, const char *s, size_t n)
{
    if (wr->overflow || wr->len + n > wr->cap) {
        wr->overflow = 1;
        return;
    }
    if (n == 0) /* an empty slice may have no pointer at all */
        return;
    memcpy(wr->p + wr->len, s, n);
    wr->len += n;
}
static void puts_(struct writer *wr, const char *s) { put(wr, s, strlen(s)); }
static void put_slice(struct writer *wr, struct tg_slice s) { put(wr, s.ptr, s.len); }

static void put_edits(struct writer *wr, const struct tg_header_edit *edits, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (edits[i].remove)
            continue;
        puts_(wr, edits[i].name);
        puts_(wr, ": ");
        puts_(wr, edits[i].value);
        puts_(wr, "\r\n");
    }
}

/* Writes every field of the client's named name, comma-joined into one line (nothing when it has none).
 * Returns 1 when it wrote one. */
static int put_joined(struct writer *wr, const struct tg_http_head *h, const char *name, const char *label)
{
    int have = 0;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *fld = &h->headers[i];
        if (!tg_slice_eq_nocase(fld->name, name))
            continue;
        puts_(wr, have ? ", " : label);
        put_slice(wr, fld->value);
        have = 1;
    }
    return have;
}

/* X-Forwarded-For/-Proto/-Host and Forwarded (docs/operations.md "Trusted proxies"). From a peer in
 * --trusted-proxies the client's fields are kept and the peer is appended to X-Forwarded-For; from any other peer
 * (the default: the client is the edge) they are replaced: X-Forwarded-For is the peer, -Proto is http or https
 * (the client's connection), -Host
 * the request's authority, and a Forwarded field is dropped (a client cannot vouch for its own path). */
static void put_forwarding_fields(struct writer *wr, const struct tg_forwarder *f, const struct tg_http_head *h)
{
    int trusted = f->peer_trusted;
    if (trusted && put_joined(wr, h, "x-forwarded-for", "X-Forwarded-For: "))
        puts_(wr, ", ");
    else
        puts_(wr, "X-Forwarded-For: ");
    puts_(wr, f->peer_ip);
    puts_(wr, "\r\n");
    if (!trusted || !put_joined(wr, h, "x-forwarded-proto", "X-Forwarded-Proto: "))
        puts_(wr, f->client && f->client->tls ? "X-Forwarded-Proto: https" : "X-Forwarded-Proto: http");
    puts_(wr, "\r\n");
    if (trusted && put_joined(wr, h, "x-forwarded-host", "X-Forwarded-Host: ")) {
        puts_(wr, "\r\n");
    } else if (h->host.len) {
        puts_(wr, "X-Forwarded-Host: ");
        put_slice(wr, h->host);
        puts_(wr, "\r\n");
    }
    if (trusted && put_joined(wr, h, "forwarded", "Forwarded: "))
        puts_(wr, "\r\n");
}

/* RFC 9110 §9.2.2: the methods whose repetition has the effect of one request. */
int tg_method_idempotent(const char *method)
{
    static const char *const names[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(method, names[i]) == 0)
            return 1;
    return 0;
}

/* Builds the upstream request head into out. Returns its length, or -1 when it does not fit. */
static long build_request_head(const struct tg_forwarder *f, const struct tg_http_head *h, char *out, size_t cap)
{
    const struct tg_proxy_cfg *px = f->route->proxy;
    struct writer wr = {out, 0, cap, 0};
    put_slice(&wr, h->method);
    puts_(&wr, " ");
    if (wr.len + f->path.len + px->path_prefix_len + 2 > cap)
        return -1;
    long plen = tg_route_rewrite_path(px, f->path.ptr, f->path.len, out + wr.len, cap - wr.len);
    if (plen < 0)
        return -1;
    wr.len += (size_t)plen;
    puts_(&wr, " HTTP/1.1\r\n");
    /* RFC 9112 §3.2.2: Host is the request's authority (an absolute-form target's replaced the client's Host) */
    /* ... and an HTTP/1.0 request without one is sent with an empty Host, as §3.2 asks of a client whose target
     * URI has no authority (an HTTP/1.1 request must carry the field) */
    puts_(&wr, "Host: ");
    put_slice(&wr, h->host);
    puts_(&wr, "\r\n");
    put_forwarding_fields(&wr, f, h);
    const struct tg_header_edit *edits = f->policy ? f->policy->request_edits : NULL;
    size_t num_edits = f->policy ? f->policy->num_request_edits : 0;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *fld = &h->headers[i];
        if (is_hop_by_hop(fld->name) || named_by_connection(h, fld->name) || edited(edits, num_edits, fld->name) ||
            tg_slice_eq_nocase(fld->name, "host") || tg_slice_eq_nocase(fld->name, "forwarded"))
            continue;
        put_slice(&wr, fld->name);
        puts_(&wr, ": ");
        put_slice(&wr, fld->value);
        puts_(&wr, "\r\n");
    }
    put_edits(&wr, edits, num_edits);
    if (f->is_upgrade) {
        puts_(&wr, "Connection: Upgrade\r\nUpgrade: ");
        put_slice(&wr, h->upgrade);
        puts_(&wr, "\r\n");
    }
    puts_(&wr, "\r\n");
    if (wr.overflow)
        return -1;
    /* the fields added (Host, X-Forwarded-*) must not take the head over the field count a backend as strict as
     * our parser accepts: lines minus the request line and the empty line (found by fuzz_dp_forwarder_diff) */
    size_t lines = 0;
    for (size_t i = 0; i + 1 < wr.len; i++)
        lines += out[i] == '\r' && out[i + 1] == '\n';
    return lines - 2 > TG_HTTP_MAX_HEADERS ? -1 : (long)wr.len;
}

long tg_forwarder_build_head(const struct tg_forwarder *f, const struct tg_http_head *h, char *out, size_t cap)
{
    return build_request_head(f, h, out, cap);
}

/* Queues bytes of the request head on the upstream's output. */
static int queue_request_head(struct tg_forwarder *f, const char *head, size_t len)
{
    struct tg_upstream *up = f->up;
    if (!up->conn.out && !(up->conn.out = tg_buf_get(&f->env->w->bufs)))
        return -1;
    return tg_buf_append(up->conn.out, head, len);
}

static enum tg_forward_result fail(struct tg_forwarder *f, int status, const char *code, const char *message)
{
    tg_forwarder_release(f, 0);
    f->error.status = status;
    f->error.code = code;
    f->error.message = message;
    return TG_FORWARD_FAILED;
}

static void on_upstream_event(void *arg)
{
    struct tg_forwarder *f = arg;
    f->wake(f->owner);
}

static void attach(struct tg_forwarder *f, struct tg_upstream *up)
{
    tg_upstream_bind(up, on_upstream_event, f);
    f->up = up;
    f->progressed = 1;
}

void tg_forwarder_init(struct tg_forwarder *f, const struct tg_forward_env *env, struct tg_conn *client,
                       void (*wake)(void *owner), void *owner)
{
    memset(f, 0, sizeof *f);
    f->env = env;
    f->client = client;
    f->wake = wake;
    f->owner = owner;
}

void tg_forwarder_begin(struct tg_forwarder *f)
{
    const struct tg_forward_env *env = f->env;
    struct tg_conn *client = f->client;
    void (*wake)(void *) = f->wake;
    void *owner = f->owner;
    free(f->retry_head);
    memset(f, 0, sizeof *f);
    f->env = env;
    f->client = client;
    f->wake = wake;
    f->owner = owner;
}

enum tg_forward_result tg_forwarder_start(struct tg_forwarder *f, struct tg_http_head **head)
{
    struct tg_proxy_cfg *px = f->route->proxy;
    struct tg_endpoint *ep = tg_balancer_choose(px, f->env->w);
    if (!ep)
        return fail(f, 503, "upstream.no_endpoints", "the API proxy has no ready endpoints");
    f->endpoint = ep;
    /* the head is written straight into the buffer it will be sent from */
    struct tg_buf *out = tg_buf_get(&f->env->w->bufs);
    if (!out)
        return TG_FORWARD_ABORT;
    long len = build_request_head(f, *head, out->data, TG_BUF_SIZE);
    if (len < 0) {
        tg_buf_put(&f->env->w->bufs, out);
        return fail(f, 431, "request.headers_too_large", "the rewritten request head is over the limit");
    }
    out->tail = (uint32_t)len;
    /* the client's head leaves its buffer; what follows is body or the next pipelined request */
    tg_buf_consume(f->client->in, (*head)->head_len);
    free(*head);
    *head = NULL;
    struct tg_upstream *up = tg_upstream_acquire(f->env->pool, ep, px->tls);
    if (!up) {
        tg_buf_put(&f->env->w->bufs, out);
        tg_counter_add(&f->env->counters->upstream_connect_failures, 1);
        atomic_fetch_add_explicit(&ep->connect_failures, 1, memory_order_relaxed);
        return fail(f, 502, "upstream.connect_failed", "the backend could not be reached");
    }
    attach(f, up);
    if (!up->connecting && f->on_response_head) /* the clock is read only for a debug session's record */
        f->connected_ms = tg_now_ms();
    /* An idempotent request without a body (RFC 9110 §9.2.2) can be sent again on a fresh connection if a pooled
     * one turns out stale before any byte of a response arrived (upstream_failed). */
    if (up->reused && f->req_framing == TG_BODY_NONE && tg_method_idempotent(f->method) &&
        (f->retry_head = malloc((size_t)len)) != NULL) {
        memcpy(f->retry_head, out->data, (size_t)len);
        f->retry_head_len = (size_t)len;
    }
    if (!up->conn.out) {
        up->conn.out = out;
    } else {
        int rc = tg_buf_append(up->conn.out, out->data, (size_t)len);
        tg_buf_put(&f->env->w->bufs, out);
        if (rc != 0)
            return TG_FORWARD_ABORT;
    }
    return TG_FORWARD_BUSY;
}

void tg_forwarder_release(struct tg_forwarder *f, int reusable)
{
    free(f->retry_head);
    f->retry_head = NULL;
    struct tg_upstream *up = f->up;
    if (!up)
        return;
    f->up = NULL;
    tg_upstream_release(up, reusable);
}

struct tg_upstream *tg_forwarder_take_upstream(struct tg_forwarder *f)
{
    struct tg_upstream *up = f->up;
    f->up = NULL;
    return up;
}

int tg_forwarder_client_events(const struct tg_forwarder *f)
{
    /* response bytes still buffered (relay_response stops after a fixed number of rounds for fairness): resume
     * at once, the client socket being writable (level-triggered), or nothing would wake this exchange again */
    return f->up && f->resp_head_done && tg_buf_len(f->up->conn.in) > 0 ? EV_WRITE : 0;
}

/* The upstream failed before any response byte reached the client. Retries once on a fresh connection when the
 * failed one came from the pool (the backend may have closed it while idle), else fails with 502. */
static enum tg_forward_result upstream_failed(struct tg_forwarder *f, const char *why)
{
    struct tg_upstream *up = f->up;
    if (f->response_started)
        return TG_FORWARD_ABORT;
    if (up && up->reused && f->retry_head && !f->retried && !f->resp_head_done && tg_buf_len(up->conn.in) == 0) {
        struct tg_endpoint *ep = up->ep;
        char *retry_head = f->retry_head;
        f->retry_head = NULL; /* kept across the release */
        tg_forwarder_release(f, 0);
        f->retry_head = retry_head;
        f->retried = 1;
        const struct tg_upstream_tls *tls = f->route->proxy->tls;
        struct tg_upstream *fresh = tg_upstream_acquire(f->env->pool, ep, tls);
        while (fresh && fresh->reused) { /* the retry needs a new connection: the other idle ones are as suspect */
            tg_upstream_release(fresh, 0);
            fresh = tg_upstream_acquire(f->env->pool, ep, tls);
        }
        if (fresh) {
            attach(f, fresh);
            f->started_ms = tg_now_ms();
            if (queue_request_head(f, f->retry_head, f->retry_head_len) == 0) {
                /* wake up when the new connection can take the request (connected or connecting, it becomes
                 * writable), or the retry waits for its timeout */
                tg_conn_want(f->env->w->loop, &fresh->conn, EV_WRITE);
                return TG_FORWARD_BUSY;
            }
        }
    }
    tg_debug("upstream failed: %s", why);
    return fail(f, 502, "upstream.failed", why);
}

/* The TLS handshake with the backend failed (its certificate did not verify, it refused ours, it speaks no
 * TLS...): 502, counted and logged with the reason — never a retry in plain text. One line per second per endpoint
 * at most (a backend with a bad certificate fails every request), with the number of lines left out. */
static enum tg_forward_result tls_failed(struct tg_forwarder *f)
{
    const struct tg_proxy_cfg *px = f->route->proxy;
    struct tg_endpoint *ep = f->up->ep;
    tg_counter_add(&f->env->counters->upstream_tls_failures, 1);
    uint64_t now = tg_now_ms(), last = atomic_load_explicit(&ep->tls_log_ms, memory_order_relaxed);
    if ((last && now - last < 1000) ||
        !atomic_compare_exchange_strong_explicit(&ep->tls_log_ms, &last, now, memory_order_relaxed,
                                                 memory_order_relaxed)) {
        atomic_fetch_add_explicit(&ep->tls_log_left_out, 1, memory_order_relaxed);
    } else {
        tg_warn("proxy %s: TLS to backend %s (server name \"%s\") failed: %s (%llu similar lines left out)",
                px->id ? px->id : "?", ep->name,
                px->tls && px->tls->server_name[0] ? px->tls->server_name : "(none: IP verified)",
                tg_upstream_tls_error(),
                (unsigned long long)atomic_exchange_explicit(&ep->tls_log_left_out, 0, memory_order_relaxed));
    }
    return fail(f, 502, "upstream.tls_failed", "the TLS handshake with the backend failed");
}

enum tg_forward_result tg_forwarder_timeout(struct tg_forwarder *f)
{
    if (f->up && f->up->connecting) {
        atomic_fetch_add_explicit(&f->up->ep->connect_failures, 1, memory_order_relaxed);
        tg_counter_add(&f->env->counters->upstream_connect_failures, 1);
        return fail(f, 504, "upstream.connect_timeout", "connecting to the backend timed out");
    }
    if (!f->response_started)
        return fail(f, 504, "upstream.timeout", "the backend did not answer in time");
    return TG_FORWARD_ABORT;
}

enum tg_forward_result tg_forwarder_client_timeout(struct tg_forwarder *f)
{
    if (!f->response_started)
        return fail(f, 408, "request.timeout", "the request body did not arrive in time");
    return TG_FORWARD_ABORT;
}

/* ---- request body: client → upstream ---- */

/* After `written` of the `scanned` bytes at p were written: the scanner state for exactly those bytes (the
 * look-ahead when all went, else a re-scan of the written prefix from the state before). */
static void commit_scan(struct tg_chunked_scanner *sc, const struct tg_chunked_scanner *ahead, const char *p,
                        size_t written, size_t scanned)
{
    if (written == scanned) {
        *sc = *ahead;
    } else if (written > 0) {
        size_t again = 0;
        tg_chunked_scan(sc, p, written, &again);
    }
}

static enum tg_forward_result forward_request_body(struct tg_forwarder *f)
{
    struct tg_upstream *up = f->up;
    struct tg_conn *client = f->client;
    struct tg_buf_pool *bufs = &f->env->w->bufs;
    const struct tg_proxy_cfg *px = f->route->proxy;
    while (!f->req_done) {
        size_t avail = tg_buf_len(client->in);
        if (avail == 0) {
            if (client->in) {
                tg_buf_put(bufs, client->in);
                client->in = NULL;
            }
            if (!client->readable)
                return TG_FORWARD_BUSY;
            if (!(client->in = tg_buf_get(bufs)))
                return TG_FORWARD_ABORT;
            ssize_t n = tg_conn_read(client, tg_buf_end(client->in), tg_buf_room(client->in));
            if (n > 0) {
                client->in->tail += (uint32_t)n;
                continue;
            }
            if (n == TG_IO_AGAIN)
                return TG_FORWARD_BUSY;
            return TG_FORWARD_ABORT; /* the client went away in the middle of its body */
        }
        size_t n = avail;
        int done = 0;
        /* chunked: the scan runs ahead on a copy, kept only for the bytes actually written (a short write or a
         * full upstream must not have the scanner see the unwritten bytes twice) */
        struct tg_chunked_scanner ahead = f->req_chunks;
        if (f->req_framing == TG_BODY_LENGTH) {
            if (n >= f->req_body_left) {
                n = (size_t)f->req_body_left;
                done = 1;
            }
        } else {
            size_t consumed = 0;
            enum tg_chunked_result r = tg_chunked_scan(&ahead, tg_buf_start(client->in), avail, &consumed);
            if (r == TG_CHUNKED_BAD) {
                f->keep_alive = 0;
                return fail(f, 400, "request.bad_chunked_body", "the chunked request body is malformed");
            }
            n = consumed;
            done = r == TG_CHUNKED_DONE;
            if (px->max_request_body_bytes && ahead.body_bytes > px->max_request_body_bytes) {
                f->keep_alive = 0;
                return fail(f, 413, "request.body_too_large", "the request body is over this API proxy's limit");
            }
        }
        if (!up->conn.writable)
            return TG_FORWARD_BUSY;
        ssize_t written = tg_conn_write(&up->conn, tg_buf_start(client->in), n);
        if (written < 0)
            return upstream_failed(f, "the backend closed the connection while receiving the request body");
        if (f->req_framing == TG_BODY_CHUNKED)
            commit_scan(&f->req_chunks, &ahead, tg_buf_start(client->in), (size_t)written, n);
        tg_buf_consume(client->in, (size_t)written);
        f->req_body_bytes += (uint64_t)written;
        if (f->req_framing == TG_BODY_LENGTH)
            f->req_body_left -= (uint64_t)written;
        if ((size_t)written < n)
            return TG_FORWARD_BUSY; /* the upstream is full: stop reading the client until it drains */
        if (done)
            f->req_done = 1;
    }
    return TG_FORWARD_BUSY;
}

/* ---- response: upstream → client ---- */

static int queue_client_output(struct tg_forwarder *f, const char *p, size_t len)
{
    if (!f->client->out && !(f->client->out = tg_buf_get(&f->env->w->bufs)))
        return -1;
    return tg_buf_append(f->client->out, p, len);
}

/* Rewrites the response head for the client (hop-by-hop fields removed, Connection: close when needed). */
static int queue_response_head(struct tg_forwarder *f, const struct tg_http_head *h)
{
    /* written straight into the client's output buffer, after whatever is queued there (an interim 100) */
    if (!f->client->out && !(f->client->out = tg_buf_get(&f->env->w->bufs)))
        return -1;
    tg_buf_compact(f->client->out);
    struct writer wr = {tg_buf_end(f->client->out), 0, tg_buf_room(f->client->out), 0};
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", h->status);
    puts_(&wr, line);
    put_slice(&wr, h->reason);
    puts_(&wr, "\r\n");
    const struct tg_header_edit *edits = f->policy && h->status >= 200 ? f->policy->response_edits : NULL;
    size_t num_edits = f->policy && h->status >= 200 ? f->policy->num_response_edits : 0;
    /* RFC 9112 §6.3 item 3: with Transfer-Encoding, Content-Length is ignored, and an intermediary that forwards
     * the message must remove it (the body is relayed with its transfer coding) */
    int drop_length = tg_http_find_header(h, "transfer-encoding") != NULL;
    const char *ours = h->status >= 200 ? f->response_header : NULL;
    size_t ours_len = ours ? strcspn(ours, ":") : 0; /* its field name */
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *fld = &h->headers[i];
        if (is_hop_by_hop(fld->name) || named_by_connection(h, fld->name) || edited(edits, num_edits, fld->name))
            continue;
        if (ours && fld->name.len == ours_len && strncasecmp(fld->name.ptr, ours, ours_len) == 0)
            continue;
        if (f->dechunk && tg_slice_eq_nocase(fld->name, "transfer-encoding"))
            continue;
        if (drop_length && tg_slice_eq_nocase(fld->name, "content-length"))
            continue;
        put_slice(&wr, fld->name);
        puts_(&wr, ": ");
        put_slice(&wr, fld->value);
        puts_(&wr, "\r\n");
    }
    put_edits(&wr, edits, num_edits);
    if (ours)
        puts_(&wr, ours);
    if (h->status >= 200 && !f->keep_alive)
        puts_(&wr, "Connection: close\r\n");
    puts_(&wr, "\r\n");
    if (wr.overflow)
        return -1;
    f->client->out->tail += (uint32_t)wr.len;
    return 0;
}

static enum tg_forward_result complete_response(struct tg_forwarder *f)
{
    struct tg_upstream *up = f->up;
    /* back to the pool only when the exchange is over on it: the whole request went, the whole response came,
     * and nothing else is pending either way */
    int reusable = f->req_done && f->resp_keep_alive && f->resp_framing != TG_BODY_UNTIL_CLOSE &&
                   tg_buf_len(up->conn.in) == 0 && tg_buf_len(up->conn.out) == 0 && !up->conn.read_eof;
    if (!f->req_done)
        f->keep_alive = 0; /* the backend answered before the whole body arrived: the rest cannot be skipped */
    tg_forwarder_release(f, reusable);
    return TG_FORWARD_DONE;
}

/* A complete response head sits at the front of up->conn.in. */
static enum tg_forward_result handle_response_head(struct tg_forwarder *f, struct tg_http_head *h)
{
    struct tg_upstream *up = f->up;
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        /* interim responses (100 Continue, 103 Early Hints) are relayed and the real one follows; never to an
         * HTTP/1.0 client (RFC 9110 §15.2: a server must not send one to it) */
        if (!f->client_http10 && queue_response_head(f, h) != 0)
            return TG_FORWARD_ABORT;
        tg_buf_consume(up->conn.in, h->head_len);
        return TG_FORWARD_BUSY;
    }
    f->status = h->status;
    if (f->on_response_head)
        f->on_response_head(f->on_response_head_arg, h);
    if (h->status == 101) {
        if (!f->is_upgrade)
            return upstream_failed(f, "the backend switched protocols without being asked");
        if (!tg_ws_handshake_response_valid(h, f->ws_accept)) {
            free(f->retry_head); /* never retry a handshake the backend answered */
            f->retry_head = NULL;
            return upstream_failed(f, "the backend's WebSocket handshake answer is invalid");
        }
        /* relay the backend's 101 as is: its subprotocol and extension choices reach the client untouched */
        f->ws_rsv = 0;
        for (size_t i = 0; i < h->num_headers; i++)
            if (tg_slice_eq_nocase(h->headers[i].name, "sec-websocket-extensions"))
                f->ws_rsv |= tg_ws_extensions_rsv(h->headers[i].value.ptr, h->headers[i].value.len);
        if (queue_client_output(f, tg_buf_start(up->conn.in), h->head_len) != 0)
            return TG_FORWARD_ABORT;
        tg_buf_consume(up->conn.in, h->head_len);
        free(f->retry_head);
        f->retry_head = NULL;
        return TG_FORWARD_UPGRADED; /* the owner moves both sockets into a tunnel */
    }
    f->resp_head_done = 1;
    f->response_started = 1;
    f->resp_framing = h->framing;
    f->resp_body_left = h->framing == TG_BODY_LENGTH ? h->content_length : 0;
    f->resp_keep_alive = (unsigned char)h->keep_alive;
    if (h->framing == TG_BODY_UNTIL_CLOSE)
        f->keep_alive = 0;
    if (h->framing == TG_BODY_CHUNKED && f->client_http10) {
        /* RFC 9112 §7: chunked is HTTP/1.1; an HTTP/1.0 client gets the decoded body, delimited by the close */
        f->dechunk = 1;
        f->keep_alive = 0;
    }
    if (queue_response_head(f, h) != 0)
        return TG_FORWARD_ABORT;
    tg_buf_consume(up->conn.in, h->head_len);
    free(f->retry_head);
    f->retry_head = NULL;
    if (h->framing == TG_BODY_NONE || (h->framing == TG_BODY_LENGTH && h->content_length == 0))
        f->resp_done = 1;
    return TG_FORWARD_BUSY;
}

/* Decodes chunked bytes in[0..len) into out[0..cap): the chunk data only (sizes, extensions, trailers and
 * CRLFs dropped). *used: input bytes taken; *made: output bytes written. Stops when out is full. */
enum tg_chunked_result tg_dechunk(struct tg_chunked_scanner *sc, const char *in, size_t len, char *out, size_t cap,
                                  size_t *used, size_t *made)
{
    size_t i = 0, o = 0;
    enum tg_chunked_result r = TG_CHUNKED_MORE;
    while (i < len && o < cap) {
        uint64_t before = sc->body_bytes;
        size_t c = 0;
        r = tg_chunked_scan(sc, in + i, 1, &c);
        if (r == TG_CHUNKED_BAD)
            break;
        if (r == TG_CHUNKED_DONE) {
            i += c;
            break;
        }
        i++;
        if (sc->body_bytes == before)
            continue;
        out[o++] = in[i - 1]; /* a data byte: the rest of its chunk that is here goes at once */
        size_t k = len - i < cap - o ? len - i : cap - o;
        if (k > sc->remaining)
            k = (size_t)sc->remaining;
        if (k) {
            tg_chunked_scan(sc, in + i, k, &c);
            memcpy(out + o, in + i, k);
            i += k;
            o += k;
        }
    }
    *used = i;
    *made = o;
    return r;
}

/* The response body of an HTTP/1.0 client from a chunked backend response: decoded into the client's output. */
static enum tg_forward_result relay_dechunked(struct tg_forwarder *f)
{
    struct tg_conn *client = f->client;
    struct tg_upstream *up = f->up;
    if (!client->out && !(client->out = tg_buf_get(&f->env->w->bufs)))
        return TG_FORWARD_ABORT;
    tg_buf_compact(client->out);
    size_t used = 0, made = 0;
    enum tg_chunked_result r = tg_dechunk(&f->resp_chunks, tg_buf_start(up->conn.in), tg_buf_len(up->conn.in),
                                          tg_buf_end(client->out), tg_buf_room(client->out), &used, &made);
    if (r == TG_CHUNKED_BAD)
        return TG_FORWARD_ABORT;
    client->out->tail += (uint32_t)made;
    tg_buf_consume(up->conn.in, used);
    if (used)
        f->progressed = 1;
    if (r == TG_CHUNKED_DONE)
        f->resp_done = 1;
    int w = tg_conn_flush_buf(client, client->out);
    if (w < 0)
        return TG_FORWARD_ABORT;
    if (w == 1) {
        tg_buf_put(&f->env->w->bufs, client->out);
        client->out = NULL;
    }
    return TG_FORWARD_BUSY;
}

static enum tg_forward_result relay_response(struct tg_forwarder *f)
{
    struct tg_worker *w = f->env->w;
    struct tg_conn *client = f->client;
    for (int rounds = 0; rounds < 16 && !f->resp_done; rounds++) {
        struct tg_upstream *up = f->up;
        size_t avail = tg_buf_len(up->conn.in);
        if (f->resp_head_done && avail > 0) {
            size_t n = avail;
            int done = 0;
            struct tg_chunked_scanner ahead = f->resp_chunks; /* see commit_scan() */
            if (f->resp_framing == TG_BODY_LENGTH) {
                if (n >= f->resp_body_left) {
                    n = (size_t)f->resp_body_left;
                    done = 1;
                }
            } else if (f->dechunk) {
                enum tg_forward_result r = relay_dechunked(f);
                if (r != TG_FORWARD_BUSY)
                    return r;
                if (f->resp_done)
                    break;
                continue; /* more to read, or the client's output to drain first */
            } else if (f->resp_framing == TG_BODY_CHUNKED) {
                size_t consumed = 0;
                enum tg_chunked_result r = tg_chunked_scan(&ahead, tg_buf_start(up->conn.in), avail, &consumed);
                if (r == TG_CHUNKED_BAD)
                    return TG_FORWARD_ABORT;
                n = consumed;
                done = r == TG_CHUNKED_DONE;
            }
            ssize_t written;
            if (client->out) {
                /* the rewritten head is still queued: body bytes that fit join it, so head and body leave in
                 * one send(2); the rest follows once the head is out */
                tg_buf_compact(client->out);
                size_t room = tg_buf_room(client->out);
                written = (ssize_t)(n < room ? n : room);
                if (written == 0)
                    return TG_FORWARD_BUSY;
                tg_buf_append(client->out, tg_buf_start(up->conn.in), (size_t)written);
                int r = tg_conn_flush_buf(client, client->out);
                if (r < 0)
                    return TG_FORWARD_ABORT;
                if (r == 1) {
                    tg_buf_put(&w->bufs, client->out);
                    client->out = NULL;
                }
            } else {
                if (!client->writable)
                    return TG_FORWARD_BUSY;
                written = tg_conn_write(client, tg_buf_start(up->conn.in), n);
                if (written < 0)
                    return TG_FORWARD_ABORT;
            }
            if (written > 0)
                f->progressed = 1; /* progress toward a slow client counts as the exchange being alive */
            if (f->resp_framing == TG_BODY_CHUNKED)
                commit_scan(&f->resp_chunks, &ahead, tg_buf_start(up->conn.in), (size_t)written, n);
            tg_buf_consume(up->conn.in, (size_t)written);
            f->resp_body_bytes += (uint64_t)written;
            if (f->resp_framing == TG_BODY_LENGTH)
                f->resp_body_left -= (uint64_t)written;
            if ((size_t)written < n)
                return TG_FORWARD_BUSY;
            if (done)
                f->resp_done = 1;
            continue;
        }
        if (!f->resp_head_done && avail > 0) {
            struct tg_http_head *h = f->env->scratch_head; /* only used within this call */
            struct tg_slice method = {f->method, strlen(f->method)};
            enum tg_http_status st = tg_http1_parse_response(tg_buf_start(up->conn.in), avail,
                                                             f->env->max_head_bytes, method, h);
            if (st == TG_HTTP_OK) {
                enum tg_forward_result r = handle_response_head(f, h);
                if (r != TG_FORWARD_BUSY)
                    return r;
                if (!f->up)
                    return TG_FORWARD_BUSY; /* retried on a fresh connection */
                continue;
            }
            if (st != TG_HTTP_INCOMPLETE) {
                free(f->retry_head); /* a backend that answered is not retried */
                f->retry_head = NULL;
                return upstream_failed(f, "the backend's response is malformed");
            }
        }
        /* need more bytes from the upstream */
        if (up->conn.read_eof) {
            if (f->resp_head_done && f->resp_framing == TG_BODY_UNTIL_CLOSE) {
                f->resp_done = 1;
                break;
            }
            if (f->resp_head_done)
                return TG_FORWARD_ABORT; /* truncated response: the client must see the connection end */
            return upstream_failed(f, "the backend closed the connection without answering");
        }
        if (!up->conn.readable || client->out)
            return TG_FORWARD_BUSY;
        if (!up->conn.in && !(up->conn.in = tg_buf_get(&w->bufs)))
            return TG_FORWARD_ABORT;
        if (tg_buf_room(up->conn.in) == 0)
            tg_buf_compact(up->conn.in);
        if (tg_buf_room(up->conn.in) == 0)
            return upstream_failed(f, "the backend's response head is too large");
        ssize_t n = tg_conn_read(&up->conn, tg_buf_end(up->conn.in), tg_buf_room(up->conn.in));
        if (n > 0) {
            up->conn.in->tail += (uint32_t)n;
            f->progressed = 1; /* progress: the response timeout counts from the last read */
            continue;
        }
        if (n == TG_IO_AGAIN)
            return TG_FORWARD_BUSY;
        if (n < 0) {
            if (f->resp_head_done)
                return TG_FORWARD_ABORT;
            /* TLS 1.3: a backend that refuses our client certificate says so with an alert after our handshake
             * completed, i.e. here */
            if (tg_conn_ssl(&up->conn) && tg_tls_last_error_protocol())
                return tls_failed(f);
            return upstream_failed(f, "the backend reset the connection");
        }
        /* n == 0: EOF, handled at the top of the next round */
    }
    if (f->resp_done)
        return complete_response(f);
    return TG_FORWARD_BUSY;
}

/* The request is complete and the client is readable: a pipelined request is read ahead (kept for later), or
 * the client's end is noticed (the exchange is abandoned, as nginx does without proxy_ignore_client_abort). */
static enum tg_forward_result read_ahead(struct tg_forwarder *f)
{
    struct tg_conn *client = f->client;
    struct tg_buf_pool *bufs = &f->env->w->bufs;
    if (!client->in && !(client->in = tg_buf_get(bufs)))
        return TG_FORWARD_BUSY;
    ssize_t n = tg_conn_read(client, tg_buf_end(client->in), tg_buf_room(client->in));
    if (n > 0) {
        client->in->tail += (uint32_t)n;
        return TG_FORWARD_BUSY;
    }
    if (tg_buf_len(client->in) == 0) {
        tg_buf_put(bufs, client->in);
        client->in = NULL;
    }
    if (n == TG_IO_AGAIN)
        return TG_FORWARD_BUSY;
    return TG_FORWARD_ABORT;
}

enum tg_forward_result tg_forwarder_pump(struct tg_forwarder *f)
{
    struct tg_upstream *up = f->up;
    enum tg_forward_result r;
    if (!up)
        return TG_FORWARD_BUSY;
    if (up->connecting) {
        int c = tg_upstream_finish_connect(up);
        if (c == TG_IO_AGAIN) {
            tg_conn_want(f->env->w->loop, &up->conn, up->wait_events);
            return TG_FORWARD_BUSY;
        }
        if (c < 0 && up->tls_failed)
            return tls_failed(f);
        if (c < 0) {
            tg_counter_add(&f->env->counters->upstream_connect_failures, 1);
            atomic_fetch_add_explicit(&up->ep->connect_failures, 1, memory_order_relaxed);
            return fail(f, 502, "upstream.connect_failed", "the backend refused the connection");
        }
        f->progressed = 1; /* connected: the response timeout starts */
        if (f->on_response_head)
            f->connected_ms = tg_now_ms();
    }
    if (up->conn.out) {
        int w = tg_conn_flush_buf(&up->conn, up->conn.out);
        if (w < 0)
            return upstream_failed(f, "the backend closed the connection before the request was sent");
        if (w == 1) {
            tg_buf_put(&f->env->w->bufs, up->conn.out);
            up->conn.out = NULL;
        }
    }
    if (!up->conn.out && (r = forward_request_body(f)) != TG_FORWARD_BUSY)
        return r;
    if (f->req_done && f->client->readable && tg_buf_len(f->client->in) == 0 && (r = read_ahead(f)) != TG_FORWARD_BUSY)
        return r;
    if (f->up != up || up->connecting)
        return TG_FORWARD_BUSY; /* retried on a fresh connection: it pumps when it is writable */
    if ((r = relay_response(f)) != TG_FORWARD_BUSY)
        return r;
    if (f->up) {
        up = f->up;
        int events = 0;
        if (up->conn.out || (!f->req_done && tg_buf_len(f->client->in) > 0 && !up->conn.writable))
            events |= EV_WRITE;
        if (!f->resp_done && !f->client->out && !(f->resp_head_done && tg_buf_len(up->conn.in) > 0))
            events |= EV_READ;
        tg_conn_want(f->env->w->loop, &up->conn, events);
    }
    return TG_FORWARD_BUSY;
}
