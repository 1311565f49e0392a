/* ws_client.c — see ws_client.h. One connection = two ev_io watchers (read always on once connected, write only
 * after a short write), a handshake buffer that exists only during the opening handshake, and a receive side that
 * walks frame headers with tg_ws_parse_frame_header and skips payloads without copying them. */
#include "ws_client.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http1_parser.h"
#include "sock_send.h"
#include "ws_frame.h"

#define HS_CAP 8192              /* upgrade request / 101 response head limit */
#define READS_PER_WAKEUP 16      /* fairness across connections of one loop */
#define WRITE_IOV_MAX 64
#define WRITE_BYTES_MAX (256 * 1024)

static _Thread_local uint8_t rbuf[256 * 1024];
static int diag_budget = 8;      /* detailed failure lines printed per process */

static void on_io_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_io_write(struct ev_loop *loop, ev_io *w, int revents);

void tg_bench_conn_close(struct tg_bench_conn *c)
{
    if (c->state == TG_BC_NEW || c->state == TG_BC_CLOSED)
        return;
    ev_io_stop(c->loop, &c->rio);
    ev_io_stop(c->loop, &c->wio);
    close(c->fd);
    c->fd = -1;
    c->state = TG_BC_CLOSED;
    free(c->hs);
    c->hs = NULL;
}

void tg_bench_conn_dispose(struct tg_bench_conn *c)
{
    tg_bench_conn_close(c);
    free(c->frame);
    c->frame = NULL;
    c->frames_pending = 0;
}

static void do_fail(struct tg_bench_conn *c, const char *why)
{
    if (c->state == TG_BC_CLOSED)
        return;
    tg_bench_conn_close(c);
    if (c->ops->on_closed)
        c->ops->on_closed(c, why);
}

/* The server's FIN: the clean end of a close handshake we began, a failure otherwise. */
static void do_end(struct tg_bench_conn *c)
{
    if (!c->close_got) {
        do_fail(c, c->close_sent ? "closed before the close frame" : "connection closed by server");
        return;
    }
    tg_bench_conn_close(c);
    if (c->ops->on_closed)
        c->ops->on_closed(c, NULL);
}

void tg_bench_conn_send_close(struct tg_bench_conn *c)
{
    if (c->state != TG_BC_OPEN || c->close_sent)
        return;
    uint8_t frame[8], mask[4];
    static const uint8_t code[2] = {0x03, 0xe8}; /* 1000, normal closure */
    tg_bench_rand_fill(mask, sizeof mask);
    size_t n = tg_ws_build_frame(frame, TG_WS_CLOSE, 1, code, sizeof code, mask);
    /* 8 bytes on a socket with nothing queued: the send buffer takes them whole or the socket is broken */
    if (c->frames_pending > 0 || send(c->fd, frame, n, MSG_NOSIGNAL) != (ssize_t)n) {
        do_fail(c, "cannot send the close frame");
        return;
    }
    c->close_sent = 1;
}

int tg_bench_conn_set_message(struct tg_bench_conn *c, size_t payload_len)
{
    uint8_t *payload = malloc(payload_len ? payload_len : 1);
    uint8_t *frame = malloc(payload_len + 14);
    if (!payload || !frame) {
        free(payload);
        free(frame);
        return -1;
    }
    tg_bench_rand_fill(payload, payload_len);
    uint8_t mask[4];
    tg_bench_rand_fill(mask, sizeof mask);
    /* RFC 6455 §5.1: a client masks every frame it sends. */
    size_t n = tg_ws_build_frame(frame, TG_WS_BINARY, 1, payload, payload_len, mask);
    free(payload);
    free(c->frame);
    c->frame = frame;
    c->frame_len = n;
    c->frame_off = 0;
    return 0;
}

/* Writes pending frames until the socket would block; arms the write watcher only then (write first). */
static void do_flush(struct tg_bench_conn *c)
{
    while (c->frames_pending > 0) {
        struct iovec iov[WRITE_IOV_MAX];
        size_t first = c->frame_len - c->frame_off;
        iov[0].iov_base = c->frame + c->frame_off;
        iov[0].iov_len = first;
        int cnt = 1;
        size_t total = first;
        for (uint64_t k = 1; k < c->frames_pending && cnt < WRITE_IOV_MAX && total < WRITE_BYTES_MAX; k++) {
            iov[cnt].iov_base = c->frame;
            iov[cnt].iov_len = c->frame_len;
            cnt++;
            total += c->frame_len;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            do_fail(c, "write failed");
            return;
        }
        size_t left = (size_t)w;
        if (left < first) {
            c->frame_off += left;
            break;
        }
        left -= first;
        c->frames_pending--;
        c->frame_off = 0;
        uint64_t full = left / c->frame_len;
        c->frames_pending -= full;
        c->frame_off = left % c->frame_len;
        if ((size_t)w < total)
            break;
    }
    if (c->frames_pending > 0)
        ev_io_start(c->loop, &c->wio);
    else
        ev_io_stop(c->loop, &c->wio);
}

void tg_bench_conn_send(struct tg_bench_conn *c, uint64_t n)
{
    if (c->state != TG_BC_OPEN || !c->frame)
        return;
    c->frames_pending += n;
    if (!ev_is_active(&c->wio))
        do_flush(c);
}

/* Frame walk over received bytes (server → client frames are unmasked, RFC 6455 §5.1). Payloads are skipped. */
static void do_feed(struct tg_bench_conn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (c->payload_left > 0) {
            uint64_t take = len - off;
            if (take > c->payload_left)
                take = c->payload_left;
            c->payload_left -= take;
            if (c->cur_opcode < TG_WS_CLOSE) /* data frames only */
                c->msg_bytes += take;
            off += (size_t)take;
            if (c->payload_left > 0)
                continue;
        } else {
            size_t avail = len - off;
            if (avail > sizeof c->hdr - c->hdr_have)
                avail = sizeof c->hdr - c->hdr_have;
            memcpy(c->hdr + c->hdr_have, buf + off, avail);
            struct tg_ws_frame_header h;
            int r = tg_ws_parse_frame_header(c->hdr, c->hdr_have + avail, &h);
            if (r < 0) {
                do_fail(c, "invalid frame from server");
                return;
            }
            if (r == 0) {
                c->hdr_have += (uint8_t)avail;
                off += avail;
                continue;
            }
            if (h.masked) {
                do_fail(c, "masked frame from server");
                return;
            }
            off += (size_t)r - c->hdr_have;
            c->hdr_have = 0;
            c->cur_opcode = (uint8_t)h.opcode;
            c->cur_fin = (uint8_t)h.fin;
            c->payload_left = h.payload_len;
            if (c->payload_left > 0)
                continue;
        }
        /* a frame ended */
        if (c->cur_opcode == TG_WS_CLOSE) {
            if (!c->close_sent) {
                do_fail(c, "close frame from server");
                return;
            }
            c->close_got = 1; /* RFC 6455 §7.1.1: the server closes the TCP connection first */
            continue;
        }
        if (c->cur_opcode < TG_WS_CLOSE && c->cur_fin) {
            uint64_t bytes = c->msg_bytes;
            c->msg_bytes = 0;
            c->ops->on_message(c, bytes);
            if (c->state != TG_BC_OPEN)
                return;
        }
    }
}

static void do_send_handshake(struct tg_bench_conn *c)
{
    uint8_t raw[16];
    tg_bench_rand_fill(raw, sizeof raw);
    EVP_EncodeBlock((unsigned char *)c->key, raw, sizeof raw);
    c->hs = malloc(HS_CAP);
    if (!c->hs) {
        do_fail(c, "out of memory");
        return;
    }
    int n = snprintf(c->hs, HS_CAP,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     c->target->path, c->target->host, c->key, c->target->headers);
    if (n <= 0 || n >= HS_CAP) {
        do_fail(c, "upgrade request too long");
        return;
    }
    c->hs_len = (size_t)n;
    c->hs_off = 0;
    c->state = TG_BC_HANDSHAKE;
}

/* Writes the rest of the upgrade request; once written, the buffer is reused for the response. */
static void do_write_handshake(struct tg_bench_conn *c)
{
    enum tg_send_result r = tg_send_pending(c->fd, c->hs, c->hs_len, &c->hs_off);
    if (r == TG_SEND_AGAIN) {
        ev_io_start(c->loop, &c->wio);
        return;
    }
    if (r == TG_SEND_ERROR) {
        do_fail(c, "write failed");
        return;
    }
    ev_io_stop(c->loop, &c->wio);
    c->hs_len = 0; /* request done: hs now accumulates the response */
    ev_io_start(c->loop, &c->rio);
}

/* RFC 6455 §4.1 (client requirements on the server's handshake): 101, Upgrade: websocket, Connection: Upgrade,
 * Sec-WebSocket-Accept = base64(SHA-1(key + GUID)). Anything else fails the connection. */
static void do_read_handshake(struct tg_bench_conn *c)
{
    for (;;) {
        if (c->hs_len >= HS_CAP) {
            do_fail(c, "handshake response too large");
            return;
        }
        ssize_t n = recv(c->fd, c->hs + c->hs_len, HS_CAP - c->hs_len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            do_fail(c, "read failed during handshake");
            return;
        }
        if (n == 0) {
            do_fail(c, "closed during handshake");
            return;
        }
        c->hs_len += (size_t)n;
        struct tg_http_head head;
        struct tg_slice get = {"GET", 3};
        enum tg_http_status st = tg_http1_parse_response(c->hs, c->hs_len, HS_CAP, get, &head);
        if (st == TG_HTTP_INCOMPLETE)
            continue;
        if (st != TG_HTTP_OK) {
            do_fail(c, "malformed handshake response");
            return;
        }
        if (head.status != 101) {
            if (diag_budget > 0) {
                diag_budget--;
                fprintf(stderr, "tollgate-bench: upgrade refused with status %d\n", head.status);
            }
            do_fail(c, "upgrade refused");
            return;
        }
        const struct tg_http_header *acc = tg_http_find_header(&head, "Sec-WebSocket-Accept");
        char expect[29];
        tg_ws_accept_for_key(c->key, strlen(c->key), expect);
        if (!tg_http_list_has_token(head.upgrade, "websocket") || !(head.connection_flags & TG_CONN_UPGRADE) ||
            !acc || acc->value.len != 28 || memcmp(acc->value.ptr, expect, 28) != 0) {
            do_fail(c, "bad 101 response (Upgrade/Connection/Sec-WebSocket-Accept)");
            return;
        }
        size_t rest = c->hs_len - head.head_len;
        uint8_t carry[HS_CAP];
        memcpy(carry, c->hs + head.head_len, rest);
        free(c->hs);
        c->hs = NULL;
        c->state = TG_BC_OPEN;
        c->ops->on_open(c);
        if (c->state == TG_BC_OPEN && rest)
            do_feed(c, carry, rest);
        return;
    }
}

static void on_io_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tg_bench_conn *c = w->data;
    if (c->state == TG_BC_HANDSHAKE) {
        do_read_handshake(c);
        return;
    }
    for (int i = 0; i < READS_PER_WAKEUP && c->state == TG_BC_OPEN; i++) {
        ssize_t n = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                do_fail(c, "read failed");
            return;
        }
        if (n == 0) {
            do_end(c);
            return;
        }
        do_feed(c, rbuf, (size_t)n);
        if ((size_t)n < sizeof rbuf)
            return;
    }
}

static void on_io_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct tg_bench_conn *c = w->data;
    if (c->state == TG_BC_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            if (diag_budget > 0) {
                diag_budget--;
                fprintf(stderr, "tollgate-bench: connect: %s\n", strerror(err ? err : errno));
            }
            do_fail(c, "connect failed");
            return;
        }
        do_send_handshake(c);
        if (c->state == TG_BC_HANDSHAKE)
            do_write_handshake(c);
        return;
    }
    if (c->state == TG_BC_HANDSHAKE) {
        do_write_handshake(c);
        return;
    }
    if (c->state == TG_BC_OPEN)
        do_flush(c);
}

int tg_bench_conn_start(struct tg_bench_conn *c, struct ev_loop *loop, const struct tg_bench_target *target,
                        const struct tg_bench_conn_ops *ops, void *user)
{
    c->loop = loop;
    c->target = target;
    c->ops = ops;
    c->user = user;
    c->hdr_have = 0;
    c->payload_left = 0;
    c->msg_bytes = 0;
    c->frames_pending = 0;
    c->frame_off = 0;
    c->close_sent = c->close_got = 0;
    int fd = socket(target->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (const struct sockaddr *)&target->addr, target->addr_len) != 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    c->fd = fd;
    c->state = TG_BC_CONNECTING;
    ev_io_init(&c->rio, on_io_read, fd, EV_READ);
    ev_io_init(&c->wio, on_io_write, fd, EV_WRITE);
    c->rio.data = c;
    c->wio.data = c;
    ev_io_start(loop, &c->wio);
    return 0;
}
