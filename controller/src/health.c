/* health.c — see health.h. A connection reads one request head (8 KiB max, 5 s deadline), answers and
 * closes. Small answers are written in one go; /metrics may need a few writes (writable watcher). */
#include "health.h"

#include "http1_parser.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX 8192

struct conn {
    struct tg_health *hs;
    int fd;
    ev_io io;
    ev_timer timer;
    char in[HEAD_MAX];
    size_t in_len;
    char *out;
    size_t out_len, out_off;
    int in_use;
};

struct tg_health {
    struct ev_loop *loop;
    int fd;
    ev_io accept_io;
    struct tg_health_handlers h;
    struct conn conns[TG_HEALTH_MAX_CONNS];
};

static void conn_close(struct conn *c)
{
    ev_io_stop(c->hs->loop, &c->io);
    ev_timer_stop(c->hs->loop, &c->timer);
    close(c->fd);
    free(c->out);
    c->out = NULL;
    c->in_use = 0;
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn_close(w->data);
}

static void flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_stop(c->hs->loop, &c->io);
            ev_io_set(&c->io, c->fd, EV_WRITE);
            ev_io_start(c->hs->loop, &c->io);
            return;
        }
        break;
    }
    conn_close(c);
}

static void respond(struct conn *c, int status, const char *reason, const char *ctype, const char *body, size_t len)
{
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
                      "Cache-Control: no-store\r\n\r\n",
                      status, reason, ctype, len);
    c->out = malloc((size_t)hl + len);
    if (!c->out) {
        conn_close(c);
        return;
    }
    memcpy(c->out, head, (size_t)hl);
    memcpy(c->out + hl, body, len);
    c->out_len = (size_t)hl + len;
    c->out_off = 0;
    flush(c);
}

static void route(struct conn *c, const struct tg_http_head *req)
{
    const char *text = "text/plain; charset=utf-8";
    int is_get = tg_slice_eq_nocase(req->method, "GET") || tg_slice_eq_nocase(req->method, "HEAD");
    size_t plen = req->target.len;
    const char *q = memchr(req->target.ptr, '?', plen);
    if (q)
        plen = (size_t)(q - req->target.ptr);
    struct tg_slice path = {req->target.ptr, plen};
    int healthz = tg_slice_eq_nocase(path, "/healthz"), readyz = tg_slice_eq_nocase(path, "/readyz"),
        metrics = tg_slice_eq_nocase(path, "/metrics");
    if (!healthz && !readyz && !metrics) {
        respond(c, 404, "Not Found", text, "not found\n", 10);
        return;
    }
    if (!is_get) {
        respond(c, 405, "Method Not Allowed", text, "method not allowed\n", 19);
        return;
    }
    if (healthz) {
        respond(c, 200, "OK", text, "ok\n", 3);
    } else if (readyz) {
        if (c->hs->h.ready && c->hs->h.ready(c->hs->h.arg))
            respond(c, 200, "OK", text, "ready\n", 6);
        else
            respond(c, 503, "Service Unavailable", text, "not ready: no snapshot acknowledged yet\n", 40);
    } else {
        char *body = NULL;
        size_t len = 0;
        if (!c->hs->h.metrics || c->hs->h.metrics(c->hs->h.arg, &body, &len) < 0) {
            respond(c, 500, "Internal Server Error", text, "metrics unavailable\n", 20);
            return;
        }
        respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, len);
        free(body);
    }
}

static void on_conn_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    if (c->out) {
        flush(c);
        return;
    }
    for (;;) {
        if (c->in_len >= sizeof c->in) {
            respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10);
            return;
        }
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_close(c); /* EOF or error before a complete request */
        return;
    }
    struct tg_http_head *req = malloc(sizeof *req);
    if (!req) {
        conn_close(c);
        return;
    }
    enum tg_http_status st = tg_http1_parse_request(c->in, c->in_len, sizeof c->in, req);
    if (st == TG_HTTP_OK)
        route(c, req);
    else if (st == TG_HTTP_HEAD_TOO_LARGE || st == TG_HTTP_TOO_MANY_HEADERS)
        respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10);
    else if (st != TG_HTTP_INCOMPLETE)
        respond(c, 400, "Bad Request", "text/plain", "bad request\n", 12);
    free(req);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tg_health *hs = w->data;
    for (;;) {
        int fd = accept4(hs->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or EMFILE & co: try again on the next readiness */
        struct conn *c = NULL;
        for (int i = 0; i < TG_HEALTH_MAX_CONNS; i++)
            if (!hs->conns[i].in_use) {
                c = &hs->conns[i];
                break;
            }
        if (!c) {
            close(fd); /* shed load: health checks retry */
            continue;
        }
        memset(c, 0, sizeof *c);
        c->hs = hs;
        c->fd = fd;
        c->in_use = 1;
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->timer, on_conn_timeout, 5., 0.);
        c->timer.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_start(loop, &c->timer);
    }
}

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT". */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return -1;
    char host[64];
    size_t hlen = (size_t)(colon - addr);
    if (hlen >= sizeof host)
        return -1;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            return -1;
        *len = sizeof *s6;
        return 0;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    if (hlen == 0)
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return -1;
    *len = sizeof *s4;
    return 0;
}

struct tg_health *tg_health_new(struct ev_loop *loop, const char *addr, const struct tg_health_handlers *h,
                                char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(addr, &ss, &sl) < 0) {
        snprintf(err, errlen, "--health %s: expected ADDR:PORT with an IP address", addr);
        return NULL;
    }
    struct tg_health *hs = calloc(1, sizeof *hs);
    if (!hs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    hs->loop = loop;
    hs->h = *h;
    hs->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (hs->fd < 0 || setsockopt(hs->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(hs->fd, (struct sockaddr *)&ss, sl) < 0 || listen(hs->fd, 64) < 0) {
        snprintf(err, errlen, "--health %s: %s", addr, strerror(errno));
        if (hs->fd >= 0)
            close(hs->fd);
        free(hs);
        return NULL;
    }
    ev_io_init(&hs->accept_io, on_accept, hs->fd, EV_READ);
    hs->accept_io.data = hs;
    ev_io_start(loop, &hs->accept_io);
    return hs;
}

void tg_health_free(struct tg_health *hs)
{
    if (!hs)
        return;
    for (int i = 0; i < TG_HEALTH_MAX_CONNS; i++)
        if (hs->conns[i].in_use)
            conn_close(&hs->conns[i]);
    ev_io_stop(hs->loop, &hs->accept_io);
    close(hs->fd);
    free(hs);
}
