/* test_dp_conn.c — loop/conn.c over a real socketpair: reads and writes through the plain transport, the
 * readiness flags a protocol layer relies on (readable cleared by a short read or EAGAIN, writable cleared by a
 * short write, read_eof, io_error), flushing a buffer across a full socket, tg_conn_want's watcher, moving a
 * conn to a new owner, close returning the buffers to the pool, and tg_conn_input_drained over TCP (unread
 * bytes: no; a FIN alone: yes). */
#include "loop/conn.h"
#include "tg_test.h"
#include "tg_test_net.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int events_seen;
static void *owner_seen;

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    events_seen |= revents;
    owner_seen = io->data;
}


static void test_read_write_flags(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblocking(sv[0]);
    struct tg_conn c;
    int owner;
    tg_conn_init(&c, sv[0], on_io, &owner);
    CHECK(c.readable && c.writable && !c.read_eof && c.tp == &tg_transport_plain);
    char buf[64];
    /* nothing there: EAGAIN clears readable */
    CHECK_EQ_INT(tg_conn_read(&c, buf, sizeof buf), TG_IO_AGAIN);
    CHECK(!c.readable && !c.read_eof && !c.io_error);
    /* a short read (fewer bytes than asked) also clears readable: the socket is drained */
    CHECK_EQ_INT(write(sv[1], "hello", 5), 5);
    c.readable = 1;
    CHECK_EQ_INT(tg_conn_read(&c, buf, sizeof buf), 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(!c.readable);
    /* a full read keeps it */
    CHECK_EQ_INT(write(sv[1], "abcd", 4), 4);
    c.readable = 1;
    CHECK_EQ_INT(tg_conn_read(&c, buf, 4), 4);
    CHECK(c.readable);
    /* writes go through; an empty write is 0 */
    CHECK_EQ_INT(tg_conn_write(&c, "xyz", 3), 3);
    CHECK_EQ_INT(read(sv[1], buf, sizeof buf), 3);
    CHECK_EQ_INT(tg_conn_write(&c, "", 0), 0);
    /* the peer closes: read returns 0 and read_eof is set */
    close(sv[1]);
    c.readable = 1;
    CHECK_EQ_INT(tg_conn_read(&c, buf, sizeof buf), 0);
    CHECK(c.read_eof && !c.readable);
    /* writing to a closed peer fails: io_error */
    CHECK_EQ_INT(tg_conn_write(&c, "x", 1), -1);
    CHECK(c.io_error);
    struct tg_buf_pool pool;
    tg_buf_pool_init(&pool, 4, 0);
    struct ev_loop *loop = ev_loop_new(0);
    tg_conn_close(loop, &c, &pool);
    CHECK_EQ_INT(c.fd, -1);
    tg_conn_close(loop, &c, &pool); /* idempotent */
    ev_loop_destroy(loop);
    tg_buf_pool_destroy(&pool);
}

static void test_flush_across_full_socket(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblocking(sv[0]);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    struct tg_buf_pool pool;
    tg_buf_pool_init(&pool, 4, 0);
    struct tg_conn c;
    tg_conn_init(&c, sv[0], on_io, NULL);
    struct tg_buf *b = tg_buf_get(&pool);
    static char payload[TG_BUF_SIZE];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)('a' + i % 26);
    CHECK_EQ_INT(tg_buf_append(b, payload, sizeof payload), 0);
    /* the socket takes part of it: 0 = bytes remain, writable cleared */
    int r = tg_conn_flush_buf(&c, b);
    CHECK_EQ_INT(r, 0);
    CHECK(!c.writable);
    CHECK(tg_buf_len(b) > 0 && tg_buf_len(b) < sizeof payload);
    /* while not writable, nothing is tried */
    size_t left = tg_buf_len(b);
    CHECK_EQ_INT(tg_conn_flush_buf(&c, b), 0);
    CHECK_EQ_INT(tg_buf_len(b), left);
    /* the reader drains; the loop says writable; the rest goes, byte for byte */
    struct ev_loop *loop = ev_loop_new(0);
    static char got[TG_BUF_SIZE];
    size_t have = 0;
    while (have < sizeof got) {
        ssize_t n = read(sv[1], got + have, sizeof got - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        if (tg_buf_len(b) > 0) {
            events_seen = 0;
            tg_conn_want(loop, &c, EV_WRITE);
            ev_run(loop, EVRUN_NOWAIT);
            tg_conn_note_events(&c, events_seen);
            if (tg_conn_flush_buf(&c, b) < 0)
                break;
        }
    }
    CHECK_EQ_INT(have, sizeof payload);
    CHECK(memcmp(got, payload, sizeof payload) == 0);
    CHECK_EQ_INT(tg_buf_len(b), 0);
    tg_buf_put(&pool, b);
    tg_conn_close(loop, &c, &pool);
    close(sv[1]);
    ev_loop_destroy(loop);
    tg_buf_pool_destroy(&pool);
}

static void test_want_move_close(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblocking(sv[0]);
    struct ev_loop *loop = ev_loop_new(0);
    struct tg_buf_pool pool;
    tg_buf_pool_init(&pool, 4, 0);
    int first, second;
    struct tg_conn a, b;
    tg_conn_init(&a, sv[0], on_io, &first);
    tg_conn_want(loop, &a, EV_READ);
    CHECK(ev_is_active(&a.io));
    CHECK_EQ_INT(write(sv[1], "ping", 4), 4);
    events_seen = 0;
    owner_seen = NULL;
    ev_run(loop, EVRUN_NOWAIT);
    CHECK(events_seen & EV_READ);
    CHECK(owner_seen == &first);
    tg_conn_want(loop, &a, 0);
    CHECK(!ev_is_active(&a.io));
    /* a buffer and flags travel with the move; the old place is left closed */
    a.in = tg_buf_get(&pool);
    a.in->tail += (uint32_t)tg_conn_read(&a, tg_buf_end(a.in), tg_buf_room(a.in));
    tg_conn_move(loop, &b, &a, on_io, &second);
    CHECK_EQ_INT(a.fd, -1);
    CHECK(a.in == NULL && a.out == NULL);
    CHECK_EQ_INT(b.fd, sv[0]);
    CHECK_EQ_INT(tg_buf_len(b.in), 4);
    CHECK(!ev_is_active(&b.io));
    CHECK_EQ_INT(write(sv[1], "pong", 4), 4);
    tg_conn_want(loop, &b, EV_READ);
    events_seen = 0;
    owner_seen = NULL;
    ev_run(loop, EVRUN_NOWAIT);
    CHECK(owner_seen == &second);
    tg_conn_note_events(&b, events_seen);
    char pong[8];
    CHECK_EQ_INT(tg_conn_read(&b, pong, 4), 4); /* (unread bytes would make the close a reset) */
    /* close returns the buffer and closes the socket: the peer sees EOF */
    size_t in_use = pool.in_use;
    tg_conn_close(loop, &b, &pool);
    CHECK_EQ_INT(pool.in_use, in_use - 1);
    char buf[8];
    CHECK_EQ_INT(read(sv[1], buf, sizeof buf), 0);
    close(sv[1]);
    tg_conn_close(loop, &a, &pool); /* the moved-from conn: nothing to do */
    ev_loop_destroy(loop);
    tg_buf_pool_destroy(&pool);
}

/* What decides between FIN and RST at close(2): unread data bytes in the kernel, not a received FIN. */
static void test_input_drained(void)
{
    int port = 0;
    int lfd = listen_local(&port);
    CHECK(lfd >= 0);
    int cfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    CHECK(connect(cfd, (struct sockaddr *)&sin, sizeof sin) == 0);
    int sfd = accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    struct tg_conn c;
    tg_conn_init(&c, sfd, on_io, NULL);
    CHECK_EQ_INT(tg_conn_input_drained(&c), 1); /* nothing sent */
    CHECK_EQ_INT(write(cfd, "abc", 3), 3);
    usleep(20000); /* loopback: the bytes are in sfd's receive queue */
    CHECK_EQ_INT(tg_conn_input_drained(&c), 0);
    char buf[8];
    CHECK_EQ_INT(read(sfd, buf, sizeof buf), 3);
    CHECK_EQ_INT(tg_conn_input_drained(&c), 1);
    CHECK(shutdown(cfd, SHUT_WR) == 0); /* a FIN alone is no unread data */
    usleep(20000);
    CHECK_EQ_INT(tg_conn_input_drained(&c), 1);
    struct tg_conn tls_like = c;
    static const struct tg_transport other = {.name = "other"};
    tls_like.tp = &other; /* a transport with state of its own: never "drained" */
    CHECK_EQ_INT(tg_conn_input_drained(&tls_like), 0);
    close(sfd);
    close(cfd);
    close(lfd);
}

int main(void)
{
    test_read_write_flags();
    test_flush_across_full_socket();
    test_want_move_close();
    test_input_drained();
    TG_TEST_MAIN_END();
}
