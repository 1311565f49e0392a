/* conn.c — see conn.h; also the plain-TCP transport. */
#include "loop/conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t plain_read(struct tg_conn *c, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? TG_IO_AGAIN : -1;
    }
}

static ssize_t plain_write(struct tg_conn *c, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? TG_IO_AGAIN : -1;
    }
}

static void plain_shutdown_write(struct tg_conn *c) { shutdown(c->fd, SHUT_WR); }
static void plain_close(struct tg_conn *c) { close(c->fd); }

const struct tg_transport tg_transport_plain = {
    .name = "tcp",
    .read = plain_read,
    .write = plain_write,
    .shutdown_write = plain_shutdown_write,
    .close = plain_close,
};

void tg_conn_init(struct tg_conn *c, int fd, void (*cb)(struct ev_loop *, ev_io *, int), void *owner)
{
    c->fd = fd;
    c->tp = &tg_transport_plain;
    c->tls = NULL;
    c->in = c->out = NULL;
    c->readable = c->writable = 1; /* optimistic: try before waiting (write first, watch after a short write) */
    c->read_eof = c->write_shut = c->io_error = 0;
    ev_io_init(&c->io, cb, fd, 0);
    c->io.data = owner;
}

void tg_conn_want(struct ev_loop *loop, struct tg_conn *c, int events)
{
    if (c->fd < 0)
        return;
    int current = ev_is_active(&c->io) ? (c->io.events & (EV_READ | EV_WRITE)) : 0;
    if (current == events)
        return;
    if (ev_is_active(&c->io))
        ev_io_stop(loop, &c->io);
    if (events) {
        /* ev_io_modify, not ev_io_set: the descriptor is the one the watcher was set up with, and ev_io_set would
         * tell libev it may be a new file (EV__IOFDSET), making it re-add the descriptor to epoll even when the
         * mask did not change in the end (a failing EPOLL_CTL_ADD, EEXIST) */
        ev_io_modify(&c->io, events);
        ev_io_start(loop, &c->io);
    }
}

ssize_t tg_conn_read(struct tg_conn *c, void *buf, size_t len)
{
    ssize_t n = c->tp->read(c, buf, len);
    if (n > 0 && (size_t)n < len) {
        /* A short read drained the socket: wait for the next readiness event instead of paying a read(2) that
         * would only say EAGAIN (level-triggered epoll reports any bytes that arrive meanwhile). A transport
         * with its own buffering (TLS) must keep readable set while it holds decrypted bytes. */
        c->readable = 0;
    } else if (n <= 0) {
        c->readable = 0;
        if (n == 0)
            c->read_eof = 1;
        else if (n != TG_IO_AGAIN)
            c->io_error = 1;
    }
    return n;
}

ssize_t tg_conn_write(struct tg_conn *c, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    ssize_t n = c->tp->write(c, buf, len);
    if (n == TG_IO_AGAIN) {
        c->writable = 0;
        return 0;
    }
    if (n < 0) {
        c->io_error = 1;
        return -1;
    }
    if ((size_t)n < len)
        c->writable = 0;
    return n;
}

int tg_conn_flush_buf(struct tg_conn *c, struct tg_buf *b)
{
    while (tg_buf_len(b) > 0) {
        if (!c->writable)
            return 0;
        ssize_t n = tg_conn_write(c, tg_buf_start(b), tg_buf_len(b));
        if (n < 0)
            return -1;
        tg_buf_consume(b, (size_t)n);
    }
    return 1;
}

void tg_conn_move(struct ev_loop *loop, struct tg_conn *dst, struct tg_conn *src,
                  void (*cb)(struct ev_loop *, ev_io *, int), void *owner)
{
    ev_io_stop(loop, &src->io);
    *dst = *src;
    /* the watcher is copied, not set up anew: the socket stays registered with epoll, and a fresh ev_io_set
     * would make libev re-add it when dst starts (EPOLL_CTL_ADD failing with EEXIST, two per WebSocket
     * handshake: client and upstream move into the tunnel). Stopped and restarted on the same descriptor
     * with the same events within one loop iteration, libev makes no system call at all. */
    ev_init(&dst->io, cb);
    ev_io_modify(&dst->io, 0);
    dst->io.data = owner;
    src->fd = -1;
    src->in = src->out = NULL;
}

int tg_conn_input_drained(const struct tg_conn *c)
{
    /* SIOCINQ (FIONREAD) counts the data bytes not yet read, a received FIN excluded (tcp_inq): exactly what
     * decides between FIN and RST at close(2). Cheaper than a recv(MSG_PEEK), which would need a buffer and tell
     * the same thing. */
    int unread = 0;
    if (c->fd < 0 || c->tp != &tg_transport_plain || ioctl(c->fd, SIOCINQ, &unread) != 0)
        return 0;
    return unread == 0;
}

void tg_conn_close(struct ev_loop *loop, struct tg_conn *c, struct tg_buf_pool *pool)
{
    if (c->fd < 0)
        return;
    ev_io_stop(loop, &c->io);
    c->tp->close(c);
    c->fd = -1;
    tg_buf_put(pool, c->in);
    tg_buf_put(pool, c->out);
    c->in = c->out = NULL;
}
