/* conn.h — one TCP socket of the data plane and the transport beneath it.
 *
 * A tg_conn is a socket plus its libev watcher, its lazily-taken buffers and the transport ops it reads and
 * writes through (plain TCP today; TLS plugs in as a second ops table without touching the protocols above).
 * Protocol layers (HTTP/1 server connection, forwarder, WebSocket tunnel) drive conns through tg_conn_read /
 * tg_conn_write and declare what they wait for with tg_conn_want(); they never call read(2)/write(2) themselves.
 * A conn changes owner by being moved (tg_conn_move): the socket, its buffers and its flags go, the watcher is
 * re-created in the new place with the new owner's callback.
 */
#ifndef TG_CONN_H
#define TG_CONN_H

#include "buf.h"

#include <ev.h>
#include <stddef.h>
#include <sys/types.h>

struct tg_conn;

/* Transport ops (Redis ConnectionType / HAProxy xprt style). Return values follow read(2)/write(2), except that
 * "would block" is TG_IO_AGAIN and a peer that closed is 0 for reads. */
#define TG_IO_AGAIN (-2)
struct tg_transport {
    const char *name;
    ssize_t (*read)(struct tg_conn *c, void *buf, size_t len);
    ssize_t (*write)(struct tg_conn *c, const void *buf, size_t len);
    void (*shutdown_write)(struct tg_conn *c);
    void (*close)(struct tg_conn *c);
};
extern const struct tg_transport tg_transport_plain;

struct tg_conn {
    ev_io io;                   /* io.data = the protocol object owning this conn */
    const struct tg_transport *tp;
    void *tls;                  /* the transport's state (an SSL *, loop/tls_transport.h); NULL for plain TCP */
    struct tg_buf *in;          /* bytes read and not yet consumed (NULL while none) */
    struct tg_buf *out;         /* bytes to write (NULL while none) */
    int fd;
    /* one byte of flags (88 bytes in all: a relayed session holds two conns, docs/performance.md) */
    unsigned readable : 1;      /* the last event said readable and no read has hit EAGAIN since */
    unsigned writable : 1;      /* the last write did not hit EAGAIN */
    unsigned read_eof : 1;      /* the peer closed its side (read returned 0) */
    unsigned write_shut : 1;    /* we shut our write side */
    unsigned io_error : 1;      /* a read or write failed (ECONNRESET, EPIPE...) */
};

/* Prepares c for fd (non-blocking already) with callback cb and owner data; not started yet. */
void tg_conn_init(struct tg_conn *c, int fd, void (*cb)(struct ev_loop *, ev_io *, int), void *owner);
/* Sets the events libev watches for (EV_READ | EV_WRITE, or 0), touching libev only when they change. */
void tg_conn_want(struct ev_loop *loop, struct tg_conn *c, int events);
/* Records readiness from a watcher callback's revents. */
static inline void tg_conn_note_events(struct tg_conn *c, int revents)
{
    if (revents & EV_READ)
        c->readable = 1;
    if (revents & EV_WRITE)
        c->writable = 1;
}
/* Reads into buf; sets read_eof / io_error / clears readable as appropriate. Returns bytes (>0), 0 at EOF,
 * TG_IO_AGAIN, or -1 on error. */
ssize_t tg_conn_read(struct tg_conn *c, void *buf, size_t len);
/* Writes from buf; returns bytes written (≥0, possibly short: then writable is cleared) or -1 on error. */
ssize_t tg_conn_write(struct tg_conn *c, const void *buf, size_t len);
/* Writes as much of b as possible, consuming what was written. Returns 1 when b is empty, 0 when bytes
 * remain (wait for EV_WRITE), -1 on error. */
int tg_conn_flush_buf(struct tg_conn *c, struct tg_buf *b);
/* Moves src (socket, buffers, readiness flags) into dst, whose watcher calls cb with owner; src is left closed
 * (fd -1, no buffers) and its watcher stopped. */
void tg_conn_move(struct ev_loop *loop, struct tg_conn *dst, struct tg_conn *src,
                  void (*cb)(struct ev_loop *, ev_io *, int), void *owner);
/* 1 when closing c now cannot reset the connection: no byte the peer sent waits unread in the kernel (a close(2)
 * over unread input sends RST instead of FIN, RFC 2525 §2.17, and the peer may lose what it has not read yet).
 * Plain TCP only, one ioctl(SIOCINQ); 0 for TLS (records may wait in the library too) or when the check fails. */
int tg_conn_input_drained(const struct tg_conn *c);
/* Stops the watcher, returns both buffers to pool, closes the socket. Idempotent. */
void tg_conn_close(struct ev_loop *loop, struct tg_conn *c, struct tg_buf_pool *pool);

#endif
