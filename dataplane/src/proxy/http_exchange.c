/* http_exchange.c — one request proxied to an upstream: the rewritten request head (hop-by-hop fields removed,
 * X-Forwarded-For/-Proto/-Host added, base path stripped), the request body relayed as received (Content-Length
 * or chunked, bounded by the proxy's body limit), the response head checked and rewritten, the response body
 * relayed with backpressure (a side that cannot take more stops reads on the other), keep-alive reuse of the
 * upstream, one retry on a stale pooled connection, and the hand-over to ws_tunnel.c after a valid 101. */
#include "proxy/proxy.h"

#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A field named by a token of any Connection field is hop-by-hop too. */
static int named_by_connection(const struct tg_http_head *h, struct tg_slice name)
{
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

/* Builds the upstream request head into out. Returns its length, or -1 when it does not fit. */
static long build_request_head(const struct tg_client *c, char *out, size_t cap)
{
    const struct tg_http_head *h = c->req;
    const struct tg_proxy_cfg *px = c->route->proxy;
    struct writer wr = {out, 0, cap, 0};
    put_slice(&wr, h->method);
    puts_(&wr, " ");
    if (wr.len + c->path.len + px->path_prefix_len + 2 > cap)
        return -1;
    long plen = tg_route_rewrite_path(px, c->path.ptr, c->path.len, out + wr.len, cap - wr.len);
    if (plen < 0)
        return -1;
    wr.len += (size_t)plen;
    puts_(&wr, " HTTP/1.1\r\n");
    int have_xff = 0;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *f = &h->headers[i];
        if (tg_slice_eq_nocase(f->name, "x-forwarded-for")) {
            puts_(&wr, have_xff ? ", " : "X-Forwarded-For: ");
            put_slice(&wr, f->value);
            have_xff = 1;
        }
    }
    if (have_xff)
        puts_(&wr, ", ");
    else
        puts_(&wr, "X-Forwarded-For: ");
    puts_(&wr, c->peer_ip);
    puts_(&wr, "\r\nX-Forwarded-Proto: http\r\n");
    if (h->host.len) {
        puts_(&wr, "X-Forwarded-Host: ");
        put_slice(&wr, h->host);
        puts_(&wr, "\r\n");
    }
    const struct tg_header_edit *edits = c->policy ? c->policy->request_edits : NULL;
    size_t num_edits = c->policy ? c->policy->num_request_edits : 0;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *f = &h->headers[i];
        if (is_hop_by_hop(f->name) || named_by_connection(h, f->name) || edited(edits, num_edits, f->name))
            continue;
        put_slice(&wr, f->name);
        puts_(&wr, ": ");
        put_slice(&wr, f->value);
        puts_(&wr, "\r\n");
    }
    put_edits(&wr, edits, num_edits);
    if (c->is_upgrade) {
        puts_(&wr, "Connection: Upgrade\r\nUpgrade: ");
        put_slice(&wr, h->upgrade);
        puts_(&wr, "\r\n");
    }
    puts_(&wr, "\r\n");
    return wr.overflow ? -1 : (long)wr.len;
}

/* Queues the request head on up and, for a request that may be retried, keeps a copy. */
static int queue_request_head(struct tg_client *c, const char *head, size_t len)
{
    struct tg_upstream *up = c->up;
    if (!up->conn.out && !(up->conn.out = tg_buf_get(&c->w->bufs)))
        return -1;
    return tg_buf_append(up->conn.out, head, len);
}

static void attach_upstream(struct tg_client *c, struct tg_endpoint *ep)
{
    struct tg_upstream *up = tg_upstream_acquire(c->w, ep, c->route->proxy->connect_timeout_ms);
    if (!up) {
        tg_counter_add(&c->w->metrics->upstream_connect_failures, 1);
        atomic_fetch_add_explicit(&ep->connect_failures, 1, memory_order_relaxed);
        tg_client_answer(c, 502, "upstream.connect_failed", "the backend could not be reached", NULL, 0);
        return;
    }
    up->client = c;
    c->up = up;
    c->state = up->connecting ? TG_CLIENT_CONNECTING : TG_CLIENT_FORWARDING;
    tg_client_refresh_timer(c);
}

void tg_exchange_start(struct tg_client *c)
{
    struct tg_proxy_cfg *px = c->route->proxy;
    struct tg_endpoint *ep = tg_upstream_choose(c->w, px);
    if (!ep) {
        tg_client_answer(c, 503, "upstream.no_endpoints", "the API proxy has no ready endpoints", NULL, 0);
        return;
    }
    /* the head is written straight into the buffer it will be sent from */
    struct tg_buf *out = tg_buf_get(&c->w->bufs);
    if (!out) {
        tg_client_close(c);
        return;
    }
    long len = build_request_head(c, out->data, TG_BUF_SIZE);
    if (len < 0) {
        tg_buf_put(&c->w->bufs, out);
        tg_client_answer(c, 431, "request.headers_too_large", "the rewritten request head is over the limit", NULL,
                         0);
        return;
    }
    out->tail = (uint32_t)len;
    /* the client's head leaves conn.in; what follows is body or the next pipelined request */
    tg_buf_consume(c->conn.in, c->req->head_len);
    free(c->req);
    c->req = NULL;
    attach_upstream(c, ep);
    if (!c->up) {
        tg_buf_put(&c->w->bufs, out);
        return;
    }
    /* A request without a body can be sent again on a fresh connection if a pooled one turns out stale. */
    if (c->up->reused && c->req_framing == TG_BODY_NONE && (c->retry_head = malloc((size_t)len)) != NULL) {
        memcpy(c->retry_head, out->data, (size_t)len);
        c->retry_head_len = (size_t)len;
    }
    if (!c->up->conn.out) {
        c->up->conn.out = out;
    } else {
        int rc = tg_buf_append(c->up->conn.out, out->data, (size_t)len);
        tg_buf_put(&c->w->bufs, out);
        if (rc != 0)
            tg_client_close(c);
    }
}

void tg_exchange_release(struct tg_client *c, int reusable)
{
    struct tg_upstream *up = c->up;
    if (!up)
        return;
    c->up = NULL;
    up->client = NULL;
    tg_upstream_release(up, reusable);
}

/* The upstream failed before any response byte reached the client. Retries once on a fresh connection when the
 * failed one came from the pool (the backend may have closed it while idle), else answers 502. */
static void upstream_failed(struct tg_client *c, const char *why)
{
    struct tg_upstream *up = c->up;
    if (c->response_started) {
        tg_client_close(c);
        return;
    }
    if (up && up->reused && c->retry_head && !c->retried && !c->resp_head_done) {
        struct tg_endpoint *ep = up->ep;
        tg_exchange_release(c, 0);
        c->retried = 1;
        struct tg_upstream *fresh = tg_upstream_acquire(c->w, ep, c->route->proxy->connect_timeout_ms);
        while (fresh && fresh->reused) { /* the retry needs a new connection: the other idle ones are as suspect */
            tg_upstream_release(fresh, 0);
            fresh = tg_upstream_acquire(c->w, ep, c->route->proxy->connect_timeout_ms);
        }
        if (fresh) {
            fresh->client = c;
            c->up = fresh;
            c->state = fresh->connecting ? TG_CLIENT_CONNECTING : TG_CLIENT_FORWARDING;
            c->request_started_ms = tg_now_ms();
            tg_client_refresh_timer(c);
            if (queue_request_head(c, c->retry_head, c->retry_head_len) == 0) {
                /* callers unwind as if the client were gone: wake up when the new connection can take the
                 * request (connected or connecting, it becomes writable), or the retry waits for its timeout */
                tg_conn_want(c->w->loop, &fresh->conn, EV_WRITE);
                return;
            }
        }
    }
    tg_debug("upstream failed: %s", why);
    tg_client_answer(c, 502, "upstream.failed", why, NULL, 0);
}

void tg_exchange_on_timeout(struct tg_client *c)
{
    if (c->state == TG_CLIENT_CONNECTING) {
        if (c->up)
            atomic_fetch_add_explicit(&c->up->ep->connect_failures, 1, memory_order_relaxed);
        tg_counter_add(&c->w->metrics->upstream_connect_failures, 1);
        tg_client_answer(c, 504, "upstream.connect_timeout", "connecting to the backend timed out", NULL, 0);
    } else if (!c->response_started) {
        tg_client_answer(c, 504, "upstream.timeout", "the backend did not answer in time", NULL, 0);
    } else {
        tg_client_close(c);
    }
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

/* Returns -1 when the client was closed. */
static int forward_request_body(struct tg_client *c)
{
    struct tg_upstream *up = c->up;
    const struct tg_proxy_cfg *px = c->route->proxy;
    while (!c->req_done) {
        size_t avail = tg_buf_len(c->conn.in);
        if (avail == 0) {
            if (c->conn.in) {
                tg_buf_put(&c->w->bufs, c->conn.in);
                c->conn.in = NULL;
            }
            if (!c->conn.readable)
                return 0;
            if (!(c->conn.in = tg_buf_get(&c->w->bufs))) {
                tg_client_close(c);
                return -1;
            }
            ssize_t n = tg_conn_read(&c->conn, tg_buf_end(c->conn.in), tg_buf_room(c->conn.in));
            if (n > 0) {
                c->conn.in->tail += (uint32_t)n;
                continue;
            }
            if (n == TG_IO_AGAIN)
                return 0;
            tg_client_close(c); /* the client went away in the middle of its body */
            return -1;
        }
        size_t n = avail;
        int done = 0;
        /* chunked: the scan runs ahead on a copy, kept only for the bytes actually written (a short write or a
         * full upstream must not have the scanner see the unwritten bytes twice) */
        struct tg_chunked_scanner ahead = c->req_chunks;
        if (c->req_framing == TG_BODY_LENGTH) {
            if (n >= c->req_body_left) {
                n = (size_t)c->req_body_left;
                done = 1;
            }
        } else {
            size_t consumed = 0;
            enum tg_chunked_result r = tg_chunked_scan(&ahead, tg_buf_start(c->conn.in), avail, &consumed);
            if (r == TG_CHUNKED_BAD) {
                c->keep_alive = 0;
                tg_client_answer(c, 400, "request.bad_chunked_body", "the chunked request body is malformed", NULL, 0);
                return -1;
            }
            n = consumed;
            done = r == TG_CHUNKED_DONE;
            if (px->max_request_body_bytes && ahead.body_bytes > px->max_request_body_bytes) {
                c->keep_alive = 0;
                tg_client_answer(c, 413, "request.body_too_large", "the request body is over this API proxy's limit",
                                 NULL, 0);
                return -1;
            }
        }
        if (!up->conn.writable)
            return 0;
        ssize_t written = tg_conn_write(&up->conn, tg_buf_start(c->conn.in), n);
        if (written < 0) {
            upstream_failed(c, "the backend closed the connection while receiving the request body");
            return c->state == TG_CLIENT_DONE ? -1 : 0;
        }
        if (c->req_framing == TG_BODY_CHUNKED)
            commit_scan(&c->req_chunks, &ahead, tg_buf_start(c->conn.in), (size_t)written, n);
        tg_buf_consume(c->conn.in, (size_t)written);
        c->req_body_bytes += (uint64_t)written;
        if (c->req_framing == TG_BODY_LENGTH)
            c->req_body_left -= (uint64_t)written;
        if ((size_t)written < n)
            return 0; /* the upstream is full: stop reading the client until it drains */
        if (done)
            c->req_done = 1;
    }
    return 0;
}

/* ---- response: upstream → client ---- */

static int queue_client_output(struct tg_client *c, const char *p, size_t len)
{
    if (!c->conn.out && !(c->conn.out = tg_buf_get(&c->w->bufs)))
        return -1;
    return tg_buf_append(c->conn.out, p, len);
}

/* Rewrites the response head for the client (hop-by-hop fields removed, Connection: close when needed). */
static int queue_response_head(struct tg_client *c, const struct tg_http_head *h)
{
    /* written straight into the client's output buffer, after whatever is queued there (an interim 100) */
    if (!c->conn.out && !(c->conn.out = tg_buf_get(&c->w->bufs)))
        return -1;
    tg_buf_compact(c->conn.out);
    struct writer wr = {tg_buf_end(c->conn.out), 0, tg_buf_room(c->conn.out), 0};
    char line[64];
    snprintf(line, sizeof line, "HTTP/1.1 %d ", h->status);
    puts_(&wr, line);
    put_slice(&wr, h->reason);
    puts_(&wr, "\r\n");
    const struct tg_header_edit *edits = c->policy && h->status >= 200 ? c->policy->response_edits : NULL;
    size_t num_edits = c->policy && h->status >= 200 ? c->policy->num_response_edits : 0;
    /* RFC 9112 §6.3 item 3: with Transfer-Encoding, Content-Length is ignored, and an intermediary that forwards
     * the message must remove it (the body is relayed with its transfer coding) */
    int drop_length = tg_http_find_header(h, "transfer-encoding") != NULL;
    for (size_t i = 0; i < h->num_headers; i++) {
        const struct tg_http_header *f = &h->headers[i];
        if (is_hop_by_hop(f->name) || named_by_connection(h, f->name) || edited(edits, num_edits, f->name))
            continue;
        if (drop_length && tg_slice_eq_nocase(f->name, "content-length"))
            continue;
        put_slice(&wr, f->name);
        puts_(&wr, ": ");
        put_slice(&wr, f->value);
        puts_(&wr, "\r\n");
    }
    put_edits(&wr, edits, num_edits);
    if (h->status >= 200 && !c->keep_alive)
        puts_(&wr, "Connection: close\r\n");
    puts_(&wr, "\r\n");
    if (wr.overflow)
        return -1;
    c->conn.out->tail += (uint32_t)wr.len;
    return 0;
}

static void complete_response(struct tg_client *c)
{
    struct tg_upstream *up = c->up;
    int reusable = c->req_done && c->resp_keep_alive && c->resp_framing != TG_BODY_UNTIL_CLOSE &&
                   tg_buf_len(up->conn.in) == 0 && !up->conn.read_eof;
    if (!c->req_done)
        c->keep_alive = 0; /* the backend answered before the whole body arrived: the rest cannot be skipped */
    tg_metrics_count_request(c->w->id, c->route->proxy->id, c->status);
    tg_exchange_release(c, reusable);
    tg_client_finish_request(c);
}

/* A complete response head sits at the front of up->conn.in. Returns -1 when the client was closed. */
static int handle_response_head(struct tg_client *c, struct tg_http_head *h)
{
    struct tg_upstream *up = c->up;
    if (h->status >= 100 && h->status < 200 && h->status != 101) {
        /* interim responses (100 Continue, 103 Early Hints) are relayed and the real one follows */
        if (queue_response_head(c, h) != 0) {
            tg_client_close(c);
            return -1;
        }
        tg_buf_consume(up->conn.in, h->head_len);
        return 0;
    }
    c->status = h->status;
    if (h->status == 101) {
        if (!c->is_upgrade) {
            upstream_failed(c, "the backend switched protocols without being asked");
            return -1;
        }
        const struct tg_http_header *accept = tg_http_find_header(h, "sec-websocket-accept");
        if (!(h->connection_flags & TG_CONN_UPGRADE) || !tg_http_list_has_token(h->upgrade, "websocket") || !accept ||
            accept->value.len != 28 || memcmp(accept->value.ptr, c->ws_accept, 28) != 0) {
            free(c->retry_head); /* never retry a handshake the backend answered */
            c->retry_head = NULL;
            upstream_failed(c, "the backend's WebSocket handshake answer is invalid");
            return -1;
        }
        /* relay the backend's 101 as is: its subprotocol and extension choices reach the client untouched */
        if (queue_client_output(c, tg_buf_start(up->conn.in), h->head_len) != 0) {
            tg_client_close(c);
            return -1;
        }
        tg_buf_consume(up->conn.in, h->head_len);
        tg_metrics_count_request(c->w->id, c->route->proxy->id, 101);
        tg_tunnel_start(c);
        return -1; /* the client object is gone: the tunnel owns both sockets now */
    }
    c->resp_head_done = 1;
    c->response_started = 1;
    c->resp_framing = h->framing;
    c->resp_body_left = h->framing == TG_BODY_LENGTH ? h->content_length : 0;
    c->resp_keep_alive = (unsigned char)h->keep_alive;
    if (h->framing == TG_BODY_UNTIL_CLOSE)
        c->keep_alive = 0;
    if (queue_response_head(c, h) != 0) {
        tg_client_close(c);
        return -1;
    }
    tg_buf_consume(up->conn.in, h->head_len);
    free(c->retry_head);
    c->retry_head = NULL;
    if (h->framing == TG_BODY_NONE || (h->framing == TG_BODY_LENGTH && h->content_length == 0))
        c->resp_done = 1;
    return 0;
}

/* Returns -1 when the client was closed or handed to the tunnel. */
static int relay_response(struct tg_client *c)
{
    struct tg_worker *w = c->w;
    for (int rounds = 0; rounds < 16 && !c->resp_done; rounds++) {
        struct tg_upstream *up = c->up;
        size_t avail = tg_buf_len(up->conn.in);
        if (c->resp_head_done && avail > 0) {
            size_t n = avail;
            int done = 0;
            struct tg_chunked_scanner ahead = c->resp_chunks; /* see commit_scan() */
            if (c->resp_framing == TG_BODY_LENGTH) {
                if (n >= c->resp_body_left) {
                    n = (size_t)c->resp_body_left;
                    done = 1;
                }
            } else if (c->resp_framing == TG_BODY_CHUNKED) {
                size_t consumed = 0;
                enum tg_chunked_result r = tg_chunked_scan(&ahead, tg_buf_start(up->conn.in), avail, &consumed);
                if (r == TG_CHUNKED_BAD) {
                    tg_client_close(c);
                    return -1;
                }
                n = consumed;
                done = r == TG_CHUNKED_DONE;
            }
            ssize_t written;
            if (c->conn.out) {
                /* the rewritten head is still queued: body bytes that fit join it, so head and body leave in
                 * one send(2); the rest follows once the head is out */
                tg_buf_compact(c->conn.out);
                size_t room = tg_buf_room(c->conn.out);
                written = (ssize_t)(n < room ? n : room);
                if (written == 0)
                    return 0;
                tg_buf_append(c->conn.out, tg_buf_start(up->conn.in), (size_t)written);
                int r = tg_conn_flush_buf(&c->conn, c->conn.out);
                if (r < 0) {
                    tg_client_close(c);
                    return -1;
                }
                if (r == 1) {
                    tg_buf_put(&w->bufs, c->conn.out);
                    c->conn.out = NULL;
                }
            } else {
                if (!c->conn.writable)
                    return 0;
                written = tg_conn_write(&c->conn, tg_buf_start(up->conn.in), n);
                if (written < 0) {
                    tg_client_close(c);
                    return -1;
                }
            }
            if (written > 0)
                tg_client_refresh_timer(c); /* progress toward a slow client counts as the exchange being alive */
            if (c->resp_framing == TG_BODY_CHUNKED)
                commit_scan(&c->resp_chunks, &ahead, tg_buf_start(up->conn.in), (size_t)written, n);
            tg_buf_consume(up->conn.in, (size_t)written);
            if (c->resp_framing == TG_BODY_LENGTH)
                c->resp_body_left -= (uint64_t)written;
            if ((size_t)written < n)
                return 0;
            if (done)
                c->resp_done = 1;
            continue;
        }
        if (!c->resp_head_done && avail > 0) {
            struct tg_http_head *h = &w->scratch_head; /* only used within this call */
            struct tg_slice method = {c->method, strlen(c->method)};
            enum tg_http_status st = tg_http1_parse_response(tg_buf_start(up->conn.in), avail,
                                                             w->config->max_head_bytes, method, h);
            int rc = 0;
            if (st == TG_HTTP_OK)
                rc = handle_response_head(c, h);
            if (st == TG_HTTP_OK) {
                if (rc < 0)
                    return -1;
                continue;
            }
            if (st != TG_HTTP_INCOMPLETE) {
                free(c->retry_head); /* a backend that answered is not retried */
                c->retry_head = NULL;
                upstream_failed(c, "the backend's response is malformed");
                return -1;
            }
        }
        /* need more bytes from the upstream */
        if (up->conn.read_eof) {
            if (c->resp_head_done && c->resp_framing == TG_BODY_UNTIL_CLOSE) {
                c->resp_done = 1;
                break;
            }
            if (c->resp_head_done) {
                tg_client_close(c); /* truncated response: the client must see the connection end */
                return -1;
            }
            upstream_failed(c, "the backend closed the connection without answering");
            return -1;
        }
        if (!up->conn.readable || c->conn.out)
            return 0;
        if (!up->conn.in && !(up->conn.in = tg_buf_get(&w->bufs))) {
            tg_client_close(c);
            return -1;
        }
        if (tg_buf_room(up->conn.in) == 0)
            tg_buf_compact(up->conn.in);
        if (tg_buf_room(up->conn.in) == 0) {
            upstream_failed(c, "the backend's response head is too large");
            return -1;
        }
        ssize_t n = tg_conn_read(&up->conn, tg_buf_end(up->conn.in), tg_buf_room(up->conn.in));
        if (n > 0) {
            up->conn.in->tail += (uint32_t)n;
            tg_client_refresh_timer(c); /* progress: the response timeout counts from the last read */
            continue;
        }
        if (n == TG_IO_AGAIN)
            return 0;
        if (n < 0) {
            if (c->resp_head_done) {
                tg_client_close(c);
                return -1;
            }
            upstream_failed(c, "the backend reset the connection");
            return -1;
        }
        /* n == 0: EOF, handled at the top of the next round */
    }
    if (c->resp_done) {
        complete_response(c);
        return c->state == TG_CLIENT_DONE ? -1 : 0;
    }
    return 0;
}

/* The request is complete and the client is readable: a pipelined request is read ahead (kept for later), or
 * the client's end is noticed (the exchange is abandoned, as nginx does without proxy_ignore_client_abort).
 * Returns -1 when the client was closed. */
static int read_ahead(struct tg_client *c)
{
    if (!c->conn.in && !(c->conn.in = tg_buf_get(&c->w->bufs)))
        return 0;
    ssize_t n = tg_conn_read(&c->conn, tg_buf_end(c->conn.in), tg_buf_room(c->conn.in));
    if (n > 0) {
        c->conn.in->tail += (uint32_t)n;
        return 0;
    }
    if (tg_buf_len(c->conn.in) == 0) {
        tg_buf_put(&c->w->bufs, c->conn.in);
        c->conn.in = NULL;
    }
    if (n == TG_IO_AGAIN)
        return 0;
    tg_client_close(c);
    return -1;
}

int tg_exchange_pump(struct tg_client *c)
{
    struct tg_upstream *up = c->up;
    if (!up)
        return 0;
    if (c->state == TG_CLIENT_CONNECTING) {
        int r = tg_upstream_finish_connect(up);
        if (r == TG_IO_AGAIN) {
            tg_conn_want(c->w->loop, &up->conn, EV_WRITE);
            return 0;
        }
        if (r < 0) {
            tg_counter_add(&c->w->metrics->upstream_connect_failures, 1);
            atomic_fetch_add_explicit(&up->ep->connect_failures, 1, memory_order_relaxed);
            tg_client_answer(c, 502, "upstream.connect_failed", "the backend refused the connection", NULL, 0);
            return -1;
        }
        c->state = TG_CLIENT_FORWARDING;
        tg_client_refresh_timer(c);
    }
    if (up->conn.out) {
        int r = tg_conn_flush_buf(&up->conn, up->conn.out);
        if (r < 0) {
            upstream_failed(c, "the backend closed the connection before the request was sent");
            return -1;
        }
        if (r == 1) {
            tg_buf_put(&c->w->bufs, up->conn.out);
            up->conn.out = NULL;
        }
    }
    if (!up->conn.out && forward_request_body(c) < 0)
        return -1;
    if (c->req_done && c->conn.readable && tg_buf_len(c->conn.in) == 0 && read_ahead(c) < 0)
        return -1;
    if (c->state != TG_CLIENT_FORWARDING || c->up != up)
        return c->state == TG_CLIENT_DONE ? -1 : 0;
    if (relay_response(c) < 0)
        return -1;
    if (c->up) {
        int events = 0;
        if (up->conn.out || (!c->req_done && tg_buf_len(c->conn.in) > 0 && !up->conn.writable))
            events |= EV_WRITE;
        if (!c->resp_done && !c->conn.out && !(c->resp_head_done && tg_buf_len(up->conn.in) > 0))
            events |= EV_READ;
        tg_conn_want(c->w->loop, &up->conn, events);
    }
    return 0;
}
