/* demo_conn.c — the demo backend's connections: reading into a lazily taken input buffer, handing the bytes to
 * the HTTP or WebSocket code by mode, the output queue (written before the loop sleeps, watched for
 * writability only after a short write), backpressure (no reads while more than DEMO_OUT_HIGH bytes wait),
 * closing with a linger, and freeing closed connections at a safe point of the loop.
 */
#include "demo.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "sock_send.h"

#define OUT_MIN_CAP ((size_t)16 * 1024)
#define FLUSH_ROUNDS 4

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);
static void on_timer(struct ev_loop *loop, ev_timer *w, int revents);

struct demo_conn *demo_conn_new(struct demo_server *srv, int fd)
{
    struct demo_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    c->fd = fd;
    c->mode = DEMO_HTTP_HEAD;
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_init(&c->timer, on_timer);
    c->rio.data = c->wio.data = c->timer.data = c;
    c->all_next = srv->all;
    if (srv->all)
        srv->all->all_prev = c;
    srv->all = c;
    srv->n_conns++;
    ev_io_start(srv->loop, &c->rio);
    return c;
}

size_t demo_conn_out_pending(const struct demo_conn *c)
{
    return c->out_len - c->out_off;
}

/* Puts c on the list handled before the loop sleeps (flush, then re-examine). */
static void schedule(struct demo_conn *c)
{
    if (c->pending || c->dead)
        return;
    c->pending = 1;
    c->pending_next = c->srv->pending;
    c->srv->pending = c;
}

int demo_conn_send(struct demo_conn *c, const void *data, size_t len)
{
    if (c->dead || c->shut_wr)
        return 0;
    if (len == 0)
        return 0;
    if (c->out_len + len > c->out_cap && c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : OUT_MIN_CAP;
        while (cap < c->out_len + len)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (!p) {
            tg_warn("out of memory queueing %zu bytes; closing connection", len);
            demo_conn_close(c);
            return -1;
        }
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    schedule(c);
    return 0;
}

static int mode_reads(enum demo_mode m)
{
    return m == DEMO_HTTP_HEAD || m == DEMO_HTTP_BODY || m == DEMO_WS || m == DEMO_CLOSING;
}

/* Sets the watchers from the state: read while the mode takes input, the input buffer has room and the
 * output queue is under the high-water mark (backpressure); watch writability while output waits and the
 * connection is not about to be flushed anyway. */
static void update_io(struct demo_conn *c)
{
    if (c->dead)
        return;
    struct ev_loop *loop = c->srv->loop;
    int want_read = !c->eof && mode_reads(c->mode) && c->in_len < DEMO_IN_CAP &&
                    demo_conn_out_pending(c) <= DEMO_OUT_HIGH;
    int want_write = demo_conn_out_pending(c) > 0 && !c->pending;
    if (want_read && !ev_is_active(&c->rio))
        ev_io_start(loop, &c->rio);
    else if (!want_read && ev_is_active(&c->rio))
        ev_io_stop(loop, &c->rio);
    if (want_write && !ev_is_active(&c->wio))
        ev_io_start(loop, &c->wio);
    else if (!want_write && ev_is_active(&c->wio))
        ev_io_stop(loop, &c->wio);
}

/* Hands the buffered input to the code of the current mode until it stops taking bytes. */
static void process(struct demo_conn *c)
{
    size_t off = 0;
    while (!c->dead && off < c->in_len && demo_conn_out_pending(c) <= DEMO_OUT_HIGH) {
        uint8_t *p = c->in + off;
        size_t n = c->in_len - off, used = 0;
        enum demo_mode before = c->mode;
        switch (c->mode) {
        case DEMO_HTTP_HEAD:
            used = demo_http_on_head(c, p, n);
            break;
        case DEMO_HTTP_BODY:
            used = demo_http_on_body(c, p, n);
            break;
        case DEMO_WS:
            used = demo_ws_on_data(c, p, n);
            break;
        case DEMO_CLOSING:
            used = n; /* nothing more is answered: discard */
            break;
        case DEMO_HTTP_SLOW:
        case DEMO_HTTP_BIG:
            break;
        }
        if (used == 0 && c->mode == before)
            break;
        off += used;
    }
    if (c->dead)
        return;
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    if (c->in_len == 0 && c->in) {
        free(c->in);
        c->in = NULL;
    }
}

static void on_eof(struct demo_conn *c)
{
    c->eof = 1;
    /* Answers already queued (a client may half-close after its last request) are still written. */
    if (demo_conn_out_pending(c) > 0 || c->mode == DEMO_HTTP_SLOW || c->mode == DEMO_HTTP_BIG)
        demo_conn_close_after_flush(c);
    else
        demo_conn_close(c);
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct demo_conn *c = w->data;
    if (!c->in) {
        c->in = malloc(DEMO_IN_CAP);
        if (!c->in) {
            demo_conn_close(c);
            return;
        }
    }
    if (c->in_len >= DEMO_IN_CAP) {
        update_io(c);
        return;
    }
    ssize_t n = recv(c->fd, c->in + c->in_len, DEMO_IN_CAP - c->in_len, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        demo_conn_close(c);
        return;
    }
    if (n == 0) {
        if (c->in_len == 0) {
            free(c->in);
            c->in = NULL;
        }
        on_eof(c);
        update_io(c);
        return;
    }
    c->in_len += (size_t)n;
    process(c);
    update_io(c);
}

/* Writes as much of the queue as the socket takes. */
static void flush(struct demo_conn *c)
{
    enum tg_send_result r = tg_send_pending(c->fd, c->out, c->out_len, &c->out_off);
    if (r == TG_SEND_AGAIN)
        return;
    if (r == TG_SEND_ERROR) {
        demo_conn_close(c); /* EPIPE, ECONNRESET: the peer is gone */
        return;
    }
    free(c->out); /* an empty queue holds no memory */
    c->out = NULL;
    c->out_off = c->out_len = c->out_cap = 0;
}

/* After a flush: finish closing, refill a /big body, resume pipelined or backpressured input, set watchers. */
static void after_flush(struct demo_conn *c)
{
    if (c->dead)
        return;
    if (c->mode == DEMO_HTTP_BIG && demo_conn_out_pending(c) < DEMO_BIG_LOW)
        demo_http_produce(c);
    if (c->in_len > 0 && demo_conn_out_pending(c) <= DEMO_OUT_HIGH)
        process(c);
    if (c->dead)
        return;
    if (c->mode == DEMO_CLOSING && demo_conn_out_pending(c) == 0 && !c->shut_wr) {
        /* Shut the write side, then drain what the peer still sends until it closes or the linger ends, so
         * unread request bytes do not turn our close into a reset that destroys the answer. */
        shutdown(c->fd, SHUT_WR);
        c->shut_wr = 1;
        if (c->eof) {
            demo_conn_close(c);
            return;
        }
        ev_timer_stop(c->srv->loop, &c->timer);
        ev_timer_set(&c->timer, DEMO_LINGER_MS / 1000.0, 0.);
        ev_timer_start(c->srv->loop, &c->timer);
    }
    update_io(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct demo_conn *c = w->data;
    flush(c);
    after_flush(c);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct demo_conn *c = w->data;
    if (c->mode == DEMO_HTTP_SLOW) {
        demo_http_on_timer(c);
        demo_conn_kick(c);
    } else {
        demo_conn_close(c); /* linger over */
    }
}

void demo_conn_close_after_flush(struct demo_conn *c)
{
    if (c->dead)
        return;
    c->mode = DEMO_CLOSING;
    schedule(c);
}

void demo_conn_kick(struct demo_conn *c)
{
    schedule(c);
}

static void release(struct demo_conn *c)
{
    free(c->in);
    free(c->out);
    demo_http_request_reset(&c->req);
    demo_ws_release(c);
    free(c);
}

void demo_conn_close(struct demo_conn *c)
{
    if (c->dead)
        return;
    c->dead = 1;
    struct demo_server *srv = c->srv;
    ev_io_stop(srv->loop, &c->rio);
    ev_io_stop(srv->loop, &c->wio);
    ev_timer_stop(srv->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        srv->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    srv->n_conns--;
    c->dead_next = srv->dead;
    srv->dead = c;
    if (c->chat_id)
        chat_leave(&srv->chat, c); /* tells the others; c is dead so it gets nothing */
}

void demo_conn_before_sleep(struct demo_server *srv)
{
    /* Write first (Redis' beforeSleep habit): queues filled during this iteration are written now; only what
     * the socket did not take is left to the write watcher. A few rounds let a flush's follow-up (the next
     * pipelined answer, more of a /big body) go out too; what remains after that waits for writability. */
    for (int round = 0; round < FLUSH_ROUNDS && srv->pending; round++) {
        struct demo_conn *list = srv->pending;
        srv->pending = NULL;
        while (list) {
            struct demo_conn *c = list;
            list = c->pending_next;
            c->pending = 0;
            c->pending_next = NULL;
            if (c->dead)
                continue;
            flush(c);
            after_flush(c);
        }
    }
    while (srv->pending) {
        struct demo_conn *c = srv->pending;
        srv->pending = c->pending_next;
        c->pending = 0;
        c->pending_next = NULL;
        if (!c->dead && !ev_is_active(&c->wio))
            ev_io_start(srv->loop, &c->wio); /* on_write re-examines it next iteration */
    }
    while (srv->dead) {
        struct demo_conn *c = srv->dead;
        srv->dead = c->dead_next;
        release(c);
    }
}

void demo_conn_close_all(struct demo_server *srv)
{
    /* Shutting down: WebSocket peers get close 1001 (RFC 6455 §7.4.1 "going away"), written if the socket
     * takes it now; nobody is waited for. */
    for (struct demo_conn *c = srv->all; c; c = c->all_next)
        if (c->mode == DEMO_WS) {
            demo_ws_going_away(c);
            flush(c);
        }
    while (srv->all)
        demo_conn_close(srv->all);
    demo_conn_before_sleep(srv);
}
