/* mini_http_server.c — see mini_http_server.h. Uses the project's strict HTTP/1.1 parser. */
#include "mini_http_server.h"

#include "http1_parser.h"
#include "http_status.h"
#include "log.h"
#include "net_listen.h"
#include "sock_send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MINI_MAX_HEAD 16384

struct mini_conn {
    struct tg_mini_server *server;
    int fd;
    ev_io io;
    ev_timer timeout;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    int answered;
    int handed;               /* the handler has the request (it answers now or later) */
    struct tg_mini_request req;
};

static void conn_free(struct mini_conn *c)
{
    c->server->num_conns--;
    ev_io_stop(c->server->loop, &c->io);
    ev_timer_stop(c->server->loop, &c->timeout);
    close(c->fd);
    free(c->in);
    free(c->out);
    free((void *)c->req.body);
    free(c);
}

static void on_conn_io(struct ev_loop *loop, ev_io *io, int revents);

static void start_writing(struct mini_conn *c)
{
    ev_io_stop(c->server->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(c->server->loop, &c->io);
}

void tg_mini_respond(void *conn, int status, const char *content_type, const char *body, size_t body_len)
{
    struct mini_conn *c = conn;
    if (c->answered)
        return;
    c->answered = 1;
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                        "Connection: close\r\n\r\n",
                     status, tg_http_reason(status), content_type ? content_type : "text/plain", body_len);
    c->out = malloc((size_t)n + body_len);
    if (c->out) { /* out of memory: nothing is written and the connection just closes (never freed here) */
        memcpy(c->out, head, (size_t)n);
        if (body_len)
            memcpy(c->out + n, body, body_len);
        c->out_len = (size_t)n + body_len;
    }
    start_writing(c);
}

void tg_mini_respond_json(void *conn, int status, const char *json)
{
    tg_mini_respond(conn, status, "application/json", json, strlen(json));
}

static void copy_slice(char *dst, size_t size, struct tg_slice s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Returns 1 when a whole request is in, 0 when more is needed, -1 (after answering) on a bad request. */
static int try_parse(struct mini_conn *c)
{
    struct tg_http_head *h = malloc(sizeof *h);
    if (!h)
        return -1;
    enum tg_http_status st = tg_http1_parse_request(c->in, c->in_len, MINI_MAX_HEAD, h);
    if (st == TG_HTTP_INCOMPLETE) {
        free(h);
        return 0;
    }
    if (st != TG_HTTP_OK || h->framing == TG_BODY_CHUNKED) {
        free(h);
        tg_mini_respond_json(c, st == TG_HTTP_OK ? 411 : 400,
                             "{\"errors\":[\"malformed request (chunked bodies are not accepted: send Content-Length)\"]}");
        return -1;
    }
    size_t body_len = h->framing == TG_BODY_LENGTH ? (size_t)h->content_length : 0;
    if (body_len > c->server->max_body) {
        free(h);
        tg_mini_respond_json(c, 413, "{\"errors\":[\"body too large\"]}");
        return -1;
    }
    if (c->in_len < h->head_len + body_len) {
        size_t need = h->head_len + body_len;
        if (need > c->in_cap) {
            char *grown = realloc(c->in, need);
            if (!grown) {
                free(h);
                return -1;
            }
            c->in = grown;
            c->in_cap = need;
        }
        free(h);
        return 0;
    }
    copy_slice(c->req.method, sizeof c->req.method, h->method);
    char target[2048];
    copy_slice(target, sizeof target, h->target);
    char *q = strchr(target, '?');
    if (q) {
        *q = '\0';
        snprintf(c->req.query, sizeof c->req.query, "%.1023s", q + 1);
    }
    snprintf(c->req.path, sizeof c->req.path, "%.1023s", target);
    const struct tg_http_header *auth = tg_http_find_header(h, "Authorization");
    c->req.authorization[0] = '\0';
    if (auth && auth->value.len < sizeof c->req.authorization)
        copy_slice(c->req.authorization, sizeof c->req.authorization, auth->value);
    char *body = malloc(body_len + 1);
    if (!body) {
        free(h);
        return -1;
    }
    memcpy(body, c->in + h->head_len, body_len);
    body[body_len] = '\0';
    c->req.body = body;
    c->req.body_len = body_len;
    c->req.conn = c;
    free(h);
    return 1;
}

static void on_conn_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct mini_conn *c = io->data;
    if (c->answered) {
        if (tg_send_pending(c->fd, c->out, c->out_len, &c->out_off) == TG_SEND_AGAIN)
            return;
        conn_free(c); /* all sent, or the client is gone */
        return;
    }
    for (;;) {
        if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap * 2 : 4096;
            if (cap > c->server->max_body + MINI_MAX_HEAD)
                cap = c->server->max_body + MINI_MAX_HEAD;
            if (cap <= c->in_len) {
                tg_mini_respond_json(c, 413, "{\"errors\":[\"request too large\"]}");
                return;
            }
            char *grown = realloc(c->in, cap);
            if (!grown) {
                conn_free(c);
                return;
            }
            c->in = grown;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0) {
            conn_free(c);
            return;
        }
        c->in_len += (size_t)n;
    }
    int r = try_parse(c);
    if (r < 0) {
        if (!c->answered)
            conn_free(c);
        return;
    }
    if (r == 1) {
        ev_io_stop(loop, &c->io); /* no more reading; the handler answers now or later */
        c->handed = 1;
        c->server->handler(&c->req, c->server->ctx);
    }
}

static void on_conn_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mini_conn *c = t->data;
    if (!c->answered) {
        /* a handler still holding the request (a PUT /snapshot waiting for the workers) lets go of it first: the
         * connection is freed once the 408 is written, and a later answer must not reach it */
        if (c->handed && c->server->on_abandon)
            c->server->on_abandon(&c->req, c->server->ctx);
        tg_mini_respond_json(c, 408, "{\"errors\":[\"request timeout\"]}");
        ev_timer_set(&c->timeout, 5., 0.); /* a client that does not read the 408 */
        ev_timer_start(loop, &c->timeout);
    } else
        conn_free(c);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tg_mini_server *s = io->data;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (s->max_conns && s->num_conns >= s->max_conns) {
            close(fd); /* over the cap: shed (admin and health clients retry) */
            continue;
        }
        struct mini_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        c->server = s;
        c->fd = fd;
        s->num_conns++;
        ev_io_init(&c->io, on_conn_io, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
        ev_timer_init(&c->timeout, on_conn_timeout, s->timeout_ms ? s->timeout_ms / 1000. : 30., 0.);
        c->timeout.data = c;
        ev_timer_start(loop, &c->timeout);
    }
}

int tg_mini_server_listen(struct tg_mini_server *s, struct ev_loop *loop, const char *where, size_t max_body,
                          tg_mini_handler handler, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->handler = handler;
    s->ctx = ctx;
    s->max_body = max_body;
    char err[300];
    if (strncmp(where, "unix:", 5) == 0)
        s->fd = tg_listen_unix(where + 5, 64, err, sizeof err);
    else if (strchr(where, '/') || !strchr(where, ':'))
        s->fd = tg_listen_unix(where, 64, err, sizeof err); /* a path; ADDR:PORT has a colon and no slash */
    else
        s->fd = tg_listen_tcp(where, 64, 0, err, sizeof err);
    if (s->fd < 0) {
        tg_error("%s", err);
        return -1;
    }
    ev_io_init(&s->accept_io, on_accept, s->fd, EV_READ);
    s->accept_io.data = s;
    ev_io_start(loop, &s->accept_io);
    return 0;
}

void tg_mini_server_close(struct tg_mini_server *s)
{
    if (s->fd >= 0) {
        ev_io_stop(s->loop, &s->accept_io);
        close(s->fd);
        s->fd = -1;
    }
}
