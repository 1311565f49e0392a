/* backend.c — see backend.h. A connection starts in HTTP mode (requests parsed with tg_http1_parse_request, bodies
 * skipped by Content-Length or tg_chunked_scan, a "hello" answered to each), and switches to WebSocket mode after
 * a valid upgrade (RFC 6455 §4.2.1, §4.2.2). In WebSocket mode each client frame is echoed frame by frame: the
 * header re-encoded without a mask, the payload unmasked straight into the output queue (§5.3). Reading stops
 * while the output queue is above OUT_HIGH and resumes below OUT_LOW, so a slow reader bounds memory. */
#include "backend.h"

#include <errno.h>
#include <ev.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "http1_parser.h"
#include "sock_send.h"
#include "ws_frame.h"

#define IN_CAP (64 * 1024)          /* HTTP request bytes buffered (head limit 16 KiB) */
#define HEAD_MAX (16 * 1024)
#define OUT_HIGH (4 * 1024 * 1024)
#define OUT_LOW (256 * 1024)
#define OUT_KEEP (64 * 1024)        /* an empty output queue larger than this is given back */
#define READS_PER_WAKEUP 16
#define ACCEPTS_PER_WAKEUP 64

enum bconn_mode { MODE_HTTP, MODE_WS, MODE_CLOSING };

struct bthread {
    struct ev_loop *loop;
    int lfd;
    ev_io accept_io;
    ev_timer accept_pause; /* EMFILE: stop accepting for a moment instead of spinning */
    pthread_t tid;
};

struct bconn {
    struct bthread *th;
    ev_io rio, wio;
    int fd;
    enum bconn_mode mode;
    int dead;           /* close at the end of the current callback */
    int read_paused;    /* output above OUT_HIGH */
    int close_after_write;
    /* HTTP */
    char *in;
    size_t in_len;
    uint64_t body_left;
    int body_chunked;
    struct tg_chunked_scanner sc;
    /* output queue: bytes [out_off, out_len) of out */
    uint8_t *out;
    size_t out_off, out_len, out_cap;
    /* WebSocket receive state */
    uint8_t hdr[14];
    uint8_t hdr_have;
    uint8_t opcode, fin;
    uint8_t mask[4];
    unsigned mask_pos;
    uint64_t payload_left;
    uint8_t ctl[125];
    uint8_t ctl_len;
};

static _Thread_local uint8_t rbuf[256 * 1024];

static const char HELLO[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
static const char HELLO_CLOSE[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n";
static const char BAD_REQUEST[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char TOO_LARGE[] =
    "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void on_read(struct ev_loop *loop, ev_io *w, int revents);
static void on_write(struct ev_loop *loop, ev_io *w, int revents);

static void do_free(struct bconn *c)
{
    ev_io_stop(c->th->loop, &c->rio);
    ev_io_stop(c->th->loop, &c->wio);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Makes room for n more bytes at the end of the output queue; returns the write pointer or NULL. */
static uint8_t *do_reserve(struct bconn *c, size_t n)
{
    if (c->out_off > 0 && c->out_len + n > c->out_cap) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        uint8_t *p = realloc(c->out, cap);
        if (!p)
            return NULL;
        c->out = p;
        c->out_cap = cap;
    }
    return c->out + c->out_len;
}

static int do_append(struct bconn *c, const void *data, size_t n)
{
    uint8_t *p = do_reserve(c, n);
    if (!p)
        return -1;
    memcpy(p, data, n);
    c->out_len += n;
    return 0;
}

/* Writes the queue until the socket would block (write first; the write watcher only after a short write). */
static void do_flush(struct bconn *c)
{
    if (tg_send_pending(c->fd, c->out, c->out_len, &c->out_off) == TG_SEND_ERROR) {
        c->dead = 1;
        return;
    }
    size_t queued = c->out_len - c->out_off;
    if (queued == 0) {
        c->out_off = c->out_len = 0;
        if (c->out_cap > OUT_KEEP) {
            free(c->out);
            c->out = NULL;
            c->out_cap = 0;
        }
        ev_io_stop(c->th->loop, &c->wio);
        if (c->close_after_write) {
            c->dead = 1;
            return;
        }
    } else {
        ev_io_start(c->th->loop, &c->wio);
    }
    if (c->read_paused && queued < OUT_LOW && c->mode != MODE_CLOSING) {
        c->read_paused = 0;
        ev_io_start(c->th->loop, &c->rio);
    } else if (!c->read_paused && queued > OUT_HIGH) {
        c->read_paused = 1;
        ev_io_stop(c->th->loop, &c->rio);
    }
}

/* RFC 6455 §5.2 header for a server frame (never masked): FIN/RSV/opcode byte, then the shortest length form. */
static int do_put_header(struct bconn *c, uint8_t first_byte, uint64_t len)
{
    uint8_t h[10];
    size_t n;
    h[0] = first_byte;
    if (len < 126) {
        h[1] = (uint8_t)len;
        n = 2;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    return do_append(c, h, n);
}

/* Unmasks n payload bytes from src into dst (RFC 6455 §5.3: octet i XOR mask[i mod 4]), 8 bytes at a time. */
static void do_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t mask[4], unsigned pos)
{
    uint8_t m8[8];
    for (int i = 0; i < 8; i++)
        m8[i] = mask[(pos + (unsigned)i) & 3];
    uint64_t m;
    memcpy(&m, m8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= m;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[(pos + (unsigned)i) & 3];
}

static void do_ws_frame_end(struct bconn *c)
{
    if (c->opcode == TG_WS_PING) {
        if (do_put_header(c, 0x80 | TG_WS_PONG, c->ctl_len) != 0 || do_append(c, c->ctl, c->ctl_len) != 0)
            c->dead = 1;
    } else if (c->opcode == TG_WS_CLOSE) {
        /* §5.5.1: answer a close with a close (echoing the status code), then close the TCP connection. */
        if (do_put_header(c, 0x80 | TG_WS_CLOSE, c->ctl_len) != 0 || do_append(c, c->ctl, c->ctl_len) != 0) {
            c->dead = 1;
            return;
        }
        c->mode = MODE_CLOSING;
        c->close_after_write = 1;
        ev_io_stop(c->th->loop, &c->rio);
    }
}

static void do_ws_feed(struct bconn *c, const uint8_t *buf, size_t len)
{
    size_t off = 0;
    while (off < len && c->mode == MODE_WS && !c->dead) {
        if (c->payload_left > 0) {
            size_t take = len - off;
            if (take > c->payload_left)
                take = (size_t)c->payload_left;
            if (c->opcode >= TG_WS_CLOSE) {
                do_unmask(c->ctl + c->ctl_len, buf + off, take, c->mask, c->mask_pos);
                c->ctl_len += (uint8_t)take;
            } else {
                uint8_t *dst = do_reserve(c, take);
                if (!dst) {
                    c->dead = 1;
                    return;
                }
                do_unmask(dst, buf + off, take, c->mask, c->mask_pos);
                c->out_len += take;
            }
            c->mask_pos = (c->mask_pos + (unsigned)take) & 3;
            c->payload_left -= take;
            off += take;
            if (c->payload_left == 0)
                do_ws_frame_end(c);
            continue;
        }
        size_t avail = len - off;
        if (avail > sizeof c->hdr - c->hdr_have)
            avail = sizeof c->hdr - c->hdr_have;
        memcpy(c->hdr + c->hdr_have, buf + off, avail);
        struct tg_ws_frame_header h;
        int r = tg_ws_parse_frame_header(c->hdr, c->hdr_have + avail, &h);
        if (r == 0) {
            c->hdr_have += (uint8_t)avail;
            off += avail;
            continue;
        }
        if (r < 0 || !h.masked) { /* §5.1: a server closes on an unmasked client frame */
            c->dead = 1;
            return;
        }
        off += (size_t)r - c->hdr_have;
        c->hdr_have = 0;
        c->opcode = (uint8_t)h.opcode;
        c->fin = (uint8_t)h.fin;
        memcpy(c->mask, h.mask, 4);
        c->mask_pos = 0;
        c->payload_left = h.payload_len;
        c->ctl_len = 0;
        if (c->opcode < TG_WS_CLOSE &&
            do_put_header(c, (uint8_t)((h.fin ? 0x80 : 0) | (h.rsv << 4) | h.opcode), h.payload_len) != 0) {
            c->dead = 1;
            return;
        }
        if (c->payload_left == 0)
            do_ws_frame_end(c);
    }
}

/* RFC 6455 §4.2.1: GET, Upgrade: websocket, Connection: Upgrade, a valid 16-byte Sec-WebSocket-Key, version 13. */
static int is_ws_upgrade(const struct tg_http_head *h, const struct tg_http_header **key)
{
    if (!tg_slice_eq_nocase(h->method, "GET") || !(h->connection_flags & TG_CONN_UPGRADE) ||
        !tg_http_list_has_token(h->upgrade, "websocket"))
        return 0;
    const struct tg_http_header *k = tg_http_find_header(h, "Sec-WebSocket-Key");
    const struct tg_http_header *v = tg_http_find_header(h, "Sec-WebSocket-Version");
    if (!k || !v || !tg_ws_key_is_valid(k->value.ptr, k->value.len) || !tg_slice_eq_nocase(v->value, "13"))
        return 0;
    *key = k;
    return 1;
}

static void do_consume_in(struct bconn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void do_http_process(struct bconn *c)
{
    while (c->in_len > 0 && c->mode == MODE_HTTP && !c->dead && !c->close_after_write) {
        if (c->body_left > 0) {
            size_t take = c->in_len < c->body_left ? c->in_len : (size_t)c->body_left;
            c->body_left -= take;
            do_consume_in(c, take);
            continue;
        }
        if (c->body_chunked) {
            size_t used = 0;
            enum tg_chunked_result cr = tg_chunked_scan(&c->sc, c->in, c->in_len, &used);
            if (cr == TG_CHUNKED_BAD) {
                c->dead = 1;
                return;
            }
            do_consume_in(c, used);
            if (cr == TG_CHUNKED_DONE)
                c->body_chunked = 0;
            continue;
        }
        struct tg_http_head head;
        enum tg_http_status st = tg_http1_parse_request(c->in, c->in_len, HEAD_MAX, &head);
        if (st == TG_HTTP_INCOMPLETE)
            return;
        if (st != TG_HTTP_OK) {
            const char *ans = st == TG_HTTP_HEAD_TOO_LARGE || st == TG_HTTP_TOO_MANY_HEADERS ? TOO_LARGE : BAD_REQUEST;
            if (do_append(c, ans, strlen(ans)) != 0)
                c->dead = 1;
            c->close_after_write = 1;
            return;
        }
        const struct tg_http_header *key;
        if (is_ws_upgrade(&head, &key)) {
            char accept[29];
            char resp[256];
            tg_ws_accept_for_key(key->value.ptr, key->value.len, accept);
            int n = snprintf(resp, sizeof resp,
                             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: %s\r\n\r\n",
                             accept);
            if (do_append(c, resp, (size_t)n) != 0) {
                c->dead = 1;
                return;
            }
            c->mode = MODE_WS;
            size_t rest = c->in_len - head.head_len;
            char *in = c->in;
            c->in = NULL;
            c->in_len = 0;
            if (rest)
                do_ws_feed(c, (const uint8_t *)in + head.head_len, rest);
            free(in);
            return;
        }
        int keep = head.keep_alive;
        if (head.framing == TG_BODY_LENGTH)
            c->body_left = head.content_length;
        else if (head.framing == TG_BODY_CHUNKED) {
            memset(&c->sc, 0, sizeof c->sc);
            c->body_chunked = 1;
        }
        do_consume_in(c, head.head_len);
        const char *ans = keep ? HELLO : HELLO_CLOSE;
        if (do_append(c, ans, strlen(ans)) != 0) {
            c->dead = 1;
            return;
        }
        if (!keep)
            c->close_after_write = 1;
    }
}

static void on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bconn *c = w->data;
    for (int i = 0; i < READS_PER_WAKEUP && !c->dead && !c->read_paused && c->mode != MODE_CLOSING; i++) {
        uint8_t *dst;
        size_t cap;
        if (c->mode == MODE_HTTP) {
            if (!c->in && !(c->in = malloc(IN_CAP))) {
                c->dead = 1;
                break;
            }
            if (c->in_len == IN_CAP) { /* a head over HEAD_MAX is refused by the parser before this */
                c->dead = 1;
                break;
            }
            dst = (uint8_t *)c->in + c->in_len;
            cap = IN_CAP - c->in_len;
        } else {
            dst = rbuf;
            cap = sizeof rbuf;
        }
        ssize_t n = recv(c->fd, dst, cap, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = 1;
            break;
        }
        if (n == 0) {
            c->dead = 1;
            break;
        }
        if (c->mode == MODE_HTTP) {
            c->in_len += (size_t)n;
            do_http_process(c);
        } else {
            do_ws_feed(c, rbuf, (size_t)n);
        }
        if (!c->dead)
            do_flush(c);
        if ((size_t)n < cap)
            break;
    }
    if (c->dead)
        do_free(c);
}

static void on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bconn *c = w->data;
    do_flush(c);
    if (c->dead)
        do_free(c);
}

static void on_accept_pause_end(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct bthread *th = w->data;
    ev_io_start(loop, &th->accept_io);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bthread *th = w->data;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        int fd = accept4(th->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                fprintf(stderr, "tollgate-bench backend: accept: %s; pausing accepts\n", strerror(errno));
                ev_io_stop(loop, &th->accept_io);
                ev_timer_start(loop, &th->accept_pause);
            }
            return;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct bconn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            return;
        }
        c->th = th;
        c->fd = fd;
        ev_io_init(&c->rio, on_read, fd, EV_READ);
        ev_io_init(&c->wio, on_write, fd, EV_WRITE);
        c->rio.data = c->wio.data = c;
        ev_io_start(loop, &c->rio);
    }
}

static int do_listen(struct bthread *th, const char *addr)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (tg_bench_parse_addr(addr, &ss, &len) != 0) {
        fprintf(stderr, "tollgate-bench backend: bad --listen '%s'\n", addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0) {
        fprintf(stderr, "tollgate-bench backend: listen on %s: %s\n", addr, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    th->lfd = fd;
    th->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!th->loop) {
        close(fd);
        return -1;
    }
    ev_io_init(&th->accept_io, on_accept, fd, EV_READ);
    th->accept_io.data = th;
    ev_timer_init(&th->accept_pause, on_accept_pause_end, 0.1, 0.);
    th->accept_pause.data = th;
    ev_io_start(th->loop, &th->accept_io);
    return 0;
}

static void *thread_main(void *arg)
{
    struct bthread *th = arg;
    ev_run(th->loop, 0);
    return NULL;
}

int tg_bench_run_backend(const struct tg_bench_backend_opts *o)
{
    static struct bthread threads[64];
    if (o->threads < 1 || o->threads > 64) {
        fprintf(stderr, "tollgate-bench backend: --threads must be 1..64\n");
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    tg_bench_raise_nofile();
    for (long i = 0; i < o->threads; i++)
        if (do_listen(&threads[i], o->listen) != 0)
            return -1;
    fprintf(stderr, "tollgate-bench backend: listening on %s (%ld thread%s)\n", o->listen, o->threads,
            o->threads == 1 ? "" : "s");
    for (long i = 1; i < o->threads; i++)
        if (pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) != 0) {
            fprintf(stderr, "tollgate-bench backend: cannot start thread %ld\n", i);
            return -1;
        }
    thread_main(&threads[0]);
    return 0;
}
