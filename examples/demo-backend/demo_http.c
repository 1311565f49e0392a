/* demo_http.c — the demo backend's HTTP/1.1 side: request heads (parsed by common/http1_parser), bodies
 * (Content-Length or chunked, counted and discarded), the routes, and the answers:
 *   WebSocket upgrade (any path)      → demo_ws.c
 *   GET /chat/, /chat/index.html      → the chat page;  /chat → 301 /chat/
 *   /status/NNN                       → that status (200..599)
 *   /slow?ms=N                        → the JSON echo after N ms
 *   /big?bytes=N                      → N bytes of "abcdefghijklmnop" repeated, produced as the queue drains
 *   anything else                     → JSON echo {"backend","method","path","query","target","headers",
 *                                        "bodyBytes","httpVersion"}
 * Keep-alive and pipelining: requests are answered one after the other, in order; a pipelined request waits
 * in the input buffer while an earlier answer is delayed (/slow) or still being produced (/big).
 */
#include "demo.h"
#include "http_status.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BIG_CHUNK ((size_t)64 * 1024)

static const char big_pattern[] = "abcdefghijklmnop";

void demo_http_request_reset(struct demo_request *req)
{
    free(req->method);
    free(req->target);
    if (req->headers)
        json_decref(req->headers);
    memset(req, 0, sizeof *req);
}

/* RFC 9110 §6.4.1: 1xx, 204 and 304 answers carry no content (and 1xx/204 no Content-Length). */
static int status_has_body(int status)
{
    return !(status < 200 || status == 204 || status == 304);
}

/* Queues the status line and header section. length < 0: no Content-Length. */
static void send_head(struct demo_conn *c, int status, const char *content_type, const char *extra,
                      long long length)
{
    char head[1024];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nX-Backend: %s\r\n", status, tg_http_reason(status),
                     c->srv->name);
    if (content_type && n > 0 && (size_t)n < sizeof head)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Type: %s\r\n", content_type);
    if (length >= 0 && n > 0 && (size_t)n < sizeof head)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %lld\r\n", length);
    if (n > 0 && (size_t)n < sizeof head) {
        if (!c->req.keep_alive)
            n += snprintf(head + n, sizeof head - (size_t)n, "Connection: close\r\n");
        else if (c->req.minor_version == 0)
            n += snprintf(head + n, sizeof head - (size_t)n, "Connection: keep-alive\r\n");
    }
    if (n <= 0 || (size_t)n >= sizeof head) {
        demo_conn_close(c);
        return;
    }
    demo_conn_send(c, head, (size_t)n);
    if (extra)
        demo_conn_send(c, extra, strlen(extra));
    demo_conn_send(c, "\r\n", 2);
}

/* The answer is complete: next request on a persistent connection, or close. */
static void finish(struct demo_conn *c)
{
    int keep = c->req.keep_alive;
    demo_http_request_reset(&c->req);
    if (c->dead)
        return;
    if (keep && !c->eof)
        c->mode = DEMO_HTTP_HEAD;
    else
        demo_conn_close_after_flush(c);
}

void demo_http_respond(struct demo_conn *c, int status, const char *content_type, const char *extra_headers,
                       const void *body, size_t body_len)
{
    int with_body = status_has_body(status);
    send_head(c, status, with_body ? content_type : NULL, extra_headers, with_body ? (long long)body_len : -1);
    if (with_body && !c->req.is_head && body_len)
        demo_conn_send(c, body, body_len);
    finish(c);
}

/* Answers an error and closes (the request may not have been read to its end). */
static void respond_error(struct demo_conn *c, int status, const char *message)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"backend\":\"%s\",\"error\":{\"status\":%d,\"message\":\"%s\"}}\n",
                     c->srv->name, status, message);
    c->req.keep_alive = 0;
    demo_http_respond(c, status, "application/json", NULL, body, n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
}

/* A JSON string for bytes that may not be UTF-8: jansson refuses invalid UTF-8, so such bytes become '?'. */
static json_t *json_bytes(const char *p, size_t len)
{
    json_t *s = json_stringn(p, len);
    if (s)
        return s;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)((unsigned char)p[i] < 0x80 ? p[i] : '?');
    s = json_stringn(copy, len);
    free(copy);
    return s;
}

static json_t *headers_json(const struct tg_http_head *head)
{
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < head->num_headers; i++) {
        const struct tg_http_header *h = &head->headers[i];
        char lname[256];
        size_t nl = h->name.len;
        if (nl > sizeof lname - 1)
            nl = sizeof lname - 1;
        for (size_t k = 0; k < nl; k++)
            lname[k] = (char)tolower((unsigned char)h->name.ptr[k]);
        lname[nl] = '\0';
        json_t *prev = json_object_get(obj, lname);
        json_t *val;
        if (prev) {
            /* RFC 9110 §5.3: repeated fields combine into one comma-separated list. */
            size_t pl = json_string_length(prev);
            char *joined = malloc(pl + 2 + h->value.len + 1);
            if (!joined)
                continue;
            memcpy(joined, json_string_value(prev), pl);
            memcpy(joined + pl, ", ", 2);
            memcpy(joined + pl + 2, h->value.ptr, h->value.len);
            joined[pl + 2 + h->value.len] = '\0';
            val = json_bytes(joined, pl + 2 + h->value.len);
            free(joined);
        } else {
            val = json_bytes(h->value.ptr, h->value.len);
        }
        if (val)
            json_object_set_new(obj, lname, val);
    }
    return obj;
}

static void split_target(const char *target, const char **path, size_t *path_len, const char **query)
{
    const char *q = strchr(target, '?');
    *path = target;
    *path_len = q ? (size_t)(q - target) : strlen(target);
    *query = q ? q + 1 : "";
}

static int path_is(const char *path, size_t len, const char *literal)
{
    return len == strlen(literal) && memcmp(path, literal, len) == 0;
}

/* Finds name=DIGITS in a query string; -1 when absent, -2 when not a number within max. */
static long long query_number(const char *query, const char *name, long long max)
{
    size_t nl = strlen(name);
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            long long v = 0;
            size_t i = nl + 1;
            if (i == len)
                return -2;
            for (; i < len; i++) {
                if (p[i] < '0' || p[i] > '9')
                    return -2;
                v = v * 10 + (p[i] - '0');
                if (v > max)
                    return -2;
            }
            return v;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

static void respond_echo(struct demo_conn *c)
{
    const char *path, *query;
    size_t path_len;
    split_target(c->req.target, &path, &path_len, &query);
    json_t *o = json_object();
    if (!o) {
        demo_conn_close(c);
        return;
    }
    json_object_set_new(o, "backend", json_string(c->srv->name));
    json_object_set_new(o, "method", json_bytes(c->req.method, strlen(c->req.method)));
    json_object_set_new(o, "path", json_bytes(path, path_len));
    json_object_set_new(o, "query", json_bytes(query, strlen(query)));
    json_object_set_new(o, "target", json_bytes(c->req.target, strlen(c->req.target)));
    json_object_set_new(o, "httpVersion", json_string(c->req.minor_version ? "1.1" : "1.0"));
    json_object_set(o, "headers", c->req.headers);
    json_object_set_new(o, "bodyBytes", json_integer((json_int_t)c->req.body_bytes));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text) {
        demo_conn_close(c);
        return;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves the NUL after the text: reuse it as the line end */
    demo_http_respond(c, 200, "application/json", NULL, text, len + 1);
    free(text);
}

void demo_http_produce(struct demo_conn *c)
{
    static uint8_t chunk[BIG_CHUNK];
    if (!chunk[0])
        for (size_t i = 0; i < sizeof chunk; i++)
            chunk[i] = (uint8_t)big_pattern[i % 16]; /* 16 divides BIG_CHUNK: the pattern runs on unbroken */
    while (!c->dead && c->req.big_left > 0 && demo_conn_out_pending(c) < DEMO_BIG_LOW) {
        size_t n = c->req.big_left < BIG_CHUNK ? (size_t)c->req.big_left : BIG_CHUNK;
        if (demo_conn_send(c, chunk, n) < 0)
            return;
        c->req.big_left -= n;
    }
    if (!c->dead && c->req.big_left == 0)
        finish(c);
}

void demo_http_on_timer(struct demo_conn *c)
{
    respond_echo(c);
}

/* "NNN" → NNN; -1 when not exactly three digits. */
static int parse_status(const char *p, size_t len)
{
    if (len != 3)
        return -1;
    int v = 0;
    for (size_t i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* The request (head and body) is in: route it. */
static void dispatch(struct demo_conn *c)
{
    const char *path, *query;
    size_t path_len;
    split_target(c->req.target, &path, &path_len, &query);
    int get = strcmp(c->req.method, "GET") == 0 || c->req.is_head;

    if (get && (path_is(path, path_len, "/chat/") || path_is(path, path_len, "/chat/index.html"))) {
        size_t len;
        const char *html = chat_page_html(&len);
        demo_http_respond(c, 200, "text/html; charset=utf-8", "Cache-Control: no-cache\r\n", html, len);
        return;
    }
    if (get && path_is(path, path_len, "/chat")) {
        static const char body[] = "moved to /chat/\n";
        demo_http_respond(c, 301, "text/plain", "Location: /chat/\r\n", body, sizeof body - 1);
        return;
    }
    if (path_len > 8 && memcmp(path, "/status/", 8) == 0) {
        int status = parse_status(path + 8, path_len - 8);
        if (status < 200 || status > 599) {
            respond_error(c, 400, "status must be 200..599");
            return;
        }
        char body[256];
        int n = snprintf(body, sizeof body, "{\"backend\":\"%s\",\"status\":%d}\n", c->srv->name, status);
        demo_http_respond(c, status, "application/json", NULL, body, n > 0 ? (size_t)n : 0);
        return;
    }
    if (path_is(path, path_len, "/slow")) {
        long long ms = query_number(query, "ms", DEMO_MAX_SLOW_MS);
        if (ms == -2) {
            respond_error(c, 400, "ms must be 0..600000");
            return;
        }
        if (ms < 0)
            ms = 1000;
        c->mode = DEMO_HTTP_SLOW;
        ev_timer_stop(c->srv->loop, &c->timer);
        ev_timer_set(&c->timer, (double)ms / 1000.0, 0.);
        ev_timer_start(c->srv->loop, &c->timer);
        return;
    }
    if (path_is(path, path_len, "/big")) {
        long long bytes = query_number(query, "bytes", (long long)DEMO_MAX_BIG_BYTES);
        if (bytes < 0) {
            respond_error(c, 400, "bytes=N is required (0..2^40)");
            return;
        }
        send_head(c, 200, "application/octet-stream", NULL, bytes);
        if (c->dead)
            return;
        c->req.big_left = c->req.is_head ? 0 : (uint64_t)bytes;
        c->mode = DEMO_HTTP_BIG;
        demo_http_produce(c);
        return;
    }
    respond_echo(c);
}

static char *slice_dup(struct tg_slice s)
{
    char *p = malloc(s.len + 1);
    if (p) {
        memcpy(p, s.ptr, s.len);
        p[s.len] = '\0';
    }
    return p;
}

/* RFC 9110 §10.1.1: a client that sent "Expect: 100-continue" may wait for an interim 100 before sending the
 * body; every body is welcome here, so say so at once. */
static void send_continue(struct demo_conn *c, const struct tg_http_head *head)
{
    const struct tg_http_header *expect = tg_http_find_header(head, "expect");
    if (expect && head->minor_version >= 1 && tg_slice_eq_nocase(expect->value, "100-continue")) {
        static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n";
        demo_conn_send(c, interim, sizeof interim - 1);
    }
}

size_t demo_http_on_head(struct demo_conn *c, uint8_t *buf, size_t len)
{
    struct tg_http_head head;
    enum tg_http_status st = tg_http1_parse_request((const char *)buf, len, DEMO_MAX_HEAD, &head);
    switch (st) {
    case TG_HTTP_OK:
        break;
    case TG_HTTP_INCOMPLETE:
        if (len < DEMO_IN_CAP)
            return 0;
        respond_error(c, 431, "request head too large");
        return len;
    case TG_HTTP_HEAD_TOO_LARGE:
    case TG_HTTP_TOO_MANY_HEADERS:
        respond_error(c, 431, "request head too large");
        return len;
    case TG_HTTP_BAD_VERSION:
        respond_error(c, 505, "HTTP version not supported");
        return len;
    case TG_HTTP_BAD:
    default:
        respond_error(c, 400, "malformed request");
        return len;
    }

    demo_http_request_reset(&c->req);
    struct demo_request *req = &c->req;
    req->method = slice_dup(head.method);
    req->target = slice_dup(head.target);
    req->headers = headers_json(&head);
    if (!req->method || !req->target || !req->headers) {
        demo_conn_close(c);
        return len;
    }
    req->minor_version = head.minor_version;
    req->keep_alive = head.keep_alive;
    req->is_head = strcmp(req->method, "HEAD") == 0;
    req->framing = head.framing;
    tg_debug("%s %s", req->method, req->target);

    /* RFC 6455 §4.2.1 / RFC 9110 §7.8: an upgrade to websocket; other upgrade offers are ignored. */
    if ((head.connection_flags & TG_CONN_UPGRADE) && head.upgrade.len &&
        tg_http_list_has_token(head.upgrade, "websocket")) {
        if (head.framing != TG_BODY_NONE) {
            respond_error(c, 400, "an upgrade request has no body");
            return len;
        }
        const char *path, *query;
        size_t path_len;
        split_target(req->target, &path, &path_len, &query);
        demo_ws_handshake(c, &head, path, path_len);
        return head.head_len;
    }

    switch (head.framing) {
    case TG_BODY_LENGTH:
        req->body_left = head.content_length;
        if (req->body_left == 0)
            break;
        c->mode = DEMO_HTTP_BODY;
        send_continue(c, &head);
        return head.head_len;
    case TG_BODY_CHUNKED:
        memset(&req->chunked, 0, sizeof req->chunked);
        c->mode = DEMO_HTTP_BODY;
        send_continue(c, &head);
        return head.head_len;
    case TG_BODY_NONE:
    case TG_BODY_UNTIL_CLOSE:
    default:
        break;
    }
    dispatch(c);
    return head.head_len;
}

size_t demo_http_on_body(struct demo_conn *c, uint8_t *buf, size_t len)
{
    struct demo_request *req = &c->req;
    if (req->framing == TG_BODY_CHUNKED) {
        size_t consumed = 0;
        enum tg_chunked_result r = tg_chunked_scan(&req->chunked, (const char *)buf, len, &consumed);
        if (r == TG_CHUNKED_BAD) {
            respond_error(c, 400, "malformed chunked body");
            return len;
        }
        req->body_bytes = req->chunked.body_bytes;
        if (r == TG_CHUNKED_DONE)
            dispatch(c);
        return consumed;
    }
    size_t n = req->body_left < len ? (size_t)req->body_left : len;
    req->body_left -= n;
    req->body_bytes += n;
    if (req->body_left == 0)
        dispatch(c);
    return n;
}
