/* uhttp.c — see uhttp.h. States of the one request: IDLE → CONNECTING (non-blocking connect pending) →
 * SENDING (request bytes left) → RECEIVING (until the response is complete or EOF) → IDLE. Completion always
 * goes through finish(), which resets the client before calling back (so the callback may start again). */
#include "publish/uhttp.h"

#include "http1_parser.h"
#include "sock_send.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum state { ST_IDLE = 0, ST_CONNECTING, ST_SENDING, ST_RECEIVING };

struct tg_uhttp {
    struct ev_loop *loop;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    enum state state;
    int fd;
    ev_io io;
    ev_timer timer;
    char method[16];
    char *out;            /* request bytes */
    size_t out_len, out_off;
    char *in;             /* response bytes */
    size_t in_len, in_cap;
    tg_uhttp_cb cb;
    void *arg;
    char pending_error[600]; /* a failure found while starting, reported from the loop (never re-entrantly) */
};

struct tg_uhttp *tg_uhttp_new(struct ev_loop *loop, const char *socket_path)
{
    if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return NULL;
    struct tg_uhttp *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->fd = -1;
    strcpy(c->path, socket_path);
    return c;
}

static void reset(struct tg_uhttp *c)
{
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->timer);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    c->state = ST_IDLE;
}

void tg_uhttp_free(struct tg_uhttp *c)
{
    if (!c)
        return;
    reset(c);
    free(c);
}

int tg_uhttp_busy(const struct tg_uhttp *c)
{
    return c->state != ST_IDLE;
}

/* Resets, then reports. The response buffer is detached first so the callback may start a new request. */
static void finish(struct tg_uhttp *c, int status, const char *body, size_t len, const char *error)
{
    char *in = c->in;
    c->in = NULL;
    tg_uhttp_cb cb = c->cb;
    void *arg = c->arg;
    reset(c);
    cb(arg, status, body ? body : "", len, error);
    free(in);
}

/* Decodes a chunked body that tg_chunked_scan already validated: sizes, data, CRLFs (RFC 9112 §7.1). */
static size_t dechunk(char *p, size_t len)
{
    size_t r = 0, w = 0;
    while (r < len) {
        size_t size = 0;
        while (r < len && p[r] != ';' && p[r] != '\r') {
            char ch = p[r++];
            size = size * 16 + (size_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
        }
        while (r < len && p[r] != '\n')
            r++;
        r++;
        if (size == 0)
            break;
        memmove(p + w, p + r, size);
        w += size;
        r += size + 2;
    }
    p[w] = '\0';
    return w;
}

/* Checks whether the response is complete; finishes when it is (or at EOF). */
static void check_response(struct tg_uhttp *c, int eof)
{
    struct tg_http_head *head = malloc(sizeof *head);
    if (!head) {
        finish(c, -1, NULL, 0, "out of memory");
        return;
    }
    struct tg_slice m = {c->method, strlen(c->method)};
    enum tg_http_status st = tg_http1_parse_response(c->in, c->in_len, 16384, m, head);
    if (st == TG_HTTP_INCOMPLETE) {
        free(head);
        if (eof)
            finish(c, -1, NULL, 0, "connection closed before a complete response");
        return;
    }
    if (st != TG_HTTP_OK) {
        free(head);
        finish(c, -1, NULL, 0, "malformed HTTP response");
        return;
    }
    char *body = c->in + head->head_len;
    size_t have = c->in_len - head->head_len;
    int status = head->status;
    switch (head->framing) {
    case TG_BODY_NONE:
        free(head);
        body[0] = '\0';
        finish(c, status, body, 0, NULL);
        return;
    case TG_BODY_LENGTH:
        if (have >= head->content_length) {
            size_t n = (size_t)head->content_length;
            free(head);
            body[n] = '\0';
            finish(c, status, body, n, NULL);
        } else {
            free(head);
            if (eof)
                finish(c, -1, NULL, 0, "connection closed inside the response body");
        }
        return;
    case TG_BODY_UNTIL_CLOSE:
        free(head);
        if (eof) {
            body[have] = '\0';
            finish(c, status, body, have, NULL);
        }
        return;
    case TG_BODY_CHUNKED: {
        free(head);
        struct tg_chunked_scanner sc = {0};
        size_t consumed = 0;
        enum tg_chunked_result r = tg_chunked_scan(&sc, body, have, &consumed);
        if (r == TG_CHUNKED_BAD) {
            finish(c, -1, NULL, 0, "malformed chunked response body");
        } else if (r == TG_CHUNKED_DONE) {
            size_t n = dechunk(body, consumed);
            finish(c, status, body, n, NULL);
        } else if (eof) {
            finish(c, -1, NULL, 0, "connection closed inside the response body");
        }
        return;
    }
    }
    free(head);
}

static void on_readable(struct tg_uhttp *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < 4096 + 1) {
            size_t ncap = c->in_cap ? c->in_cap * 2 : 8192;
            if (ncap > TG_UHTTP_MAX_RESPONSE + 16384) {
                finish(c, -1, NULL, 0, "response too large");
                return;
            }
            char *n = realloc(c->in, ncap);
            if (!n) {
                finish(c, -1, NULL, 0, "out of memory");
                return;
            }
            c->in = n;
            c->in_cap = ncap;
        }
        ssize_t got = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
        if (got > 0) {
            c->in_len += (size_t)got;
            c->in[c->in_len] = '\0';
            continue;
        }
        if (got == 0) {
            check_response(c, 1);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            check_response(c, 0);
            return;
        }
        finish(c, -1, NULL, 0, strerror(errno));
        return;
    }
}

static void on_writable(struct tg_uhttp *c)
{
    enum tg_send_result r = tg_send_pending(c->fd, c->out, c->out_len, &c->out_off);
    if (r == TG_SEND_AGAIN)
        return; /* wait for writability */
    if (r == TG_SEND_ERROR) {
        finish(c, -1, NULL, 0, errno ? strerror(errno) : "short write");
        return;
    }
    c->state = ST_RECEIVING;
    ev_io_stop(c->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ);
    ev_io_start(c->loop, &c->io);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tg_uhttp *c = w->data;
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            char msg[600];
            snprintf(msg, sizeof msg, "connect %s: %s", c->path, strerror(err));
            finish(c, -1, NULL, 0, msg);
            return;
        }
        c->state = ST_SENDING;
    }
    if (c->state == ST_SENDING)
        on_writable(c);
    else if (c->state == ST_RECEIVING)
        on_readable(c);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tg_uhttp *c = w->data;
    char msg[sizeof c->pending_error];
    snprintf(msg, sizeof msg, "%s", c->pending_error[0] ? c->pending_error : "timed out");
    c->pending_error[0] = '\0';
    finish(c, -1, NULL, 0, msg);
}

int tg_uhttp_request(struct tg_uhttp *c, const char *method, const char *path, const char *body, size_t len,
                     double timeout_s, tg_uhttp_cb cb, void *arg)
{
    if (c->state != ST_IDLE)
        return -1;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->method, sizeof c->method, "%s", method);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: tollgate\r\nUser-Agent: tollgate-controller\r\n"
                      "Accept: application/json\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, len ? "Content-Type: application/json\r\n" : "", len);
    c->out = malloc((size_t)hl + len + 1);
    if (!c->out)
        goto fail_sync;
    memcpy(c->out, head, (size_t)hl);
    if (len)
        memcpy(c->out + hl, body, len);
    c->out_len = (size_t)hl + len;
    c->out_off = 0;

    c->pending_error[0] = '\0';
    ev_timer_init(&c->timer, on_timeout, timeout_s, 0.);
    c->timer.data = c;
    c->state = ST_CONNECTING;
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(c->pending_error, sizeof c->pending_error, "socket: %s", strerror(errno));
        goto fail_async;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, c->path);
    ev_io_init(&c->io, on_io, c->fd, EV_WRITE);
    c->io.data = c;
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        c->state = ST_SENDING;
    } else if (errno != EINPROGRESS && errno != EAGAIN) {
        snprintf(c->pending_error, sizeof c->pending_error, "connect %s: %s", c->path, strerror(errno));
        goto fail_async;
    }
    ev_timer_start(c->loop, &c->timer);
    ev_io_start(c->loop, &c->io);
    return 0;
fail_async:
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->loop, &c->timer);
    return 0;
fail_sync:
    c->out = NULL;
    return -1;
}
