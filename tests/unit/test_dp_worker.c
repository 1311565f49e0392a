/* test_dp_worker.c — the worker loop (loop/worker.c) driven through its hooks alone: values posted from another
 * thread reach on_post (a newer post replaces an untaken one, which drop_post releases), deferred frees run
 * before the loop sleeps, the wheel fires timers, the drain calls on_drain and ends the loop once is_idle says
 * so (or at its deadline), on_exit and the policies' slot_free run at the end. And the listener
 * (loop/listener.c): a real connection to 127.0.0.1 reaches on_accept with its peer address and TCP_NODELAY set
 * (inherited from the listener); stopped, it accepts nothing. */
#include "clock.h"
#include "loop/counters.h"
#include "loop/listener.h"
#include "loop/worker.h"
#include "tg_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct owner {
    int posts[8];
    int num_posts;
    int dropped;
    int drains;
    int idle;                       /* what is_idle answers */
    int idle_asked;
    int exits;
    int freed;
    int timer_fired;
    int slot_freed;
    struct tg_worker *w;
    struct tg_timer timer;
    struct tg_deferred deferred;
};

static void on_post(void *o, void *value)
{
    struct owner *ow = o;
    ow->posts[ow->num_posts++ % 8] = *(int *)value;
    free(value);
}
static void drop_post(void *value)
{
    (void)value;
    free(value);
}
static int dropped_total;
static void counting_drop(void *value)
{
    dropped_total++;
    free(value);
}
static void on_drain(void *o) { ((struct owner *)o)->drains++; }
static int is_idle(void *o)
{
    struct owner *ow = o;
    ow->idle_asked++;
    return ow->idle;
}
static void on_exit_hook(void *o) { ((struct owner *)o)->exits++; }
static void free_deferred(struct tg_deferred *d)
{
    struct owner *ow = (struct owner *)((char *)d - offsetof(struct owner, deferred));
    ow->freed++;
}
static void on_timer(struct tg_timer *t, uint64_t now_ms)
{
    struct owner *ow = (struct owner *)((char *)t - offsetof(struct owner, timer));
    ow->timer_fired++;
    /* freeing from inside a callback is deferred: it happens before the loop sleeps */
    tg_worker_defer_free(ow->w, &ow->deferred);
    ow->idle = 1;
    tg_worker_post_drain(ow->w, 5000);
}
static void slot_free(struct tg_worker *w, void *state) { ((struct owner *)state)->slot_freed++; }

static int *boxed(int v)
{
    int *p = malloc(sizeof *p);
    *p = v;
    return p;
}

static void *run_thread(void *arg)
{
    tg_worker_run(arg);
    return NULL;
}

static void test_hooks(void)
{
    struct tg_worker w;
    struct owner ow;
    memset(&ow, 0, sizeof ow);
    CHECK_EQ_INT(tg_worker_init(&w, 3), 0);
    CHECK_EQ_INT(w.id, 3);
    ow.w = &w;
    ow.deferred.free_fn = free_deferred;
    w.hooks = (struct tg_worker_hooks){.owner = &ow, .on_post = on_post, .drop_post = counting_drop,
                                       .on_drain = on_drain, .is_idle = is_idle, .on_exit = on_exit_hook};
    w.slots[TG_WORKER_SLOT_REDIS] = &ow;
    w.slot_free[TG_WORKER_SLOT_REDIS] = slot_free;
    /* two posts before the loop runs: the first is replaced (dropped), the second arrives */
    dropped_total = 0;
    tg_worker_post(&w, boxed(1));
    tg_worker_post(&w, boxed(2));
    CHECK_EQ_INT(dropped_total, 1);
    /* a timer 30 ms out: it defers a free, says idle and posts the drain */
    tg_timer_init(&ow.timer, on_timer);
    tg_timer_schedule(&w.wheel, &ow.timer, tg_now_ms() + 30);
    pthread_t th;
    uint64_t t0 = tg_now_ms();
    CHECK_EQ_INT(pthread_create(&th, NULL, run_thread, &w), 0);
    pthread_join(th, NULL);
    uint64_t took = tg_now_ms() - t0;
    CHECK_EQ_INT(ow.num_posts, 1);
    CHECK_EQ_INT(ow.posts[0], 2);
    CHECK_EQ_INT(ow.timer_fired, 1);
    CHECK(took >= 25 && took < 2000);
    CHECK_EQ_INT(ow.freed, 1);
    CHECK_EQ_INT(ow.drains, 1);
    CHECK(ow.idle_asked >= 1);
    CHECK_EQ_INT(ow.exits, 1);
    CHECK_EQ_INT(ow.slot_freed, 1);
    /* a post nobody takes is dropped by destroy */
    tg_worker_post(&w, boxed(9));
    tg_worker_destroy(&w);
    CHECK_EQ_INT(dropped_total, 2);
}

static void test_drain_deadline(void)
{
    /* an owner that never becomes idle: the drain ends at its deadline */
    struct tg_worker w;
    struct owner ow;
    memset(&ow, 0, sizeof ow);
    CHECK_EQ_INT(tg_worker_init(&w, 0), 0);
    w.hooks = (struct tg_worker_hooks){.owner = &ow, .on_post = on_post, .drop_post = drop_post,
                                       .on_drain = on_drain, .is_idle = is_idle, .on_exit = on_exit_hook};
    uint64_t t0 = tg_now_ms();
    tg_worker_post_drain(&w, 80);
    tg_worker_run(&w);
    uint64_t took = tg_now_ms() - t0;
    CHECK_EQ_INT(ow.drains, 1);
    CHECK_EQ_INT(ow.exits, 1);
    CHECK(took >= 75 && took < 2000);
    tg_worker_destroy(&w);
}

static void test_random(void)
{
    struct tg_worker w;
    CHECK_EQ_INT(tg_worker_init(&w, 1), 0);
    uint32_t a = tg_worker_random(&w), b = tg_worker_random(&w), c = tg_worker_random(&w);
    CHECK(a != b && b != c && a != 0);
    tg_worker_destroy(&w);
}

/* ---- listener ---- */

struct accepts {
    int count;
    int fds[8];
    char peer[64];
};

static void on_accept(void *owner, int fd, const struct sockaddr *peer)
{
    struct accepts *a = owner;
    if (a->count < 8)
        a->fds[a->count] = fd;
    a->count++;
    if (peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, a->peer, sizeof a->peer);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    return ntohs(sin.sin_port);
}

static void run_for(struct ev_loop *loop, int ms)
{
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    while (tg_now_ms() < end) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(2000);
    }
}

static void test_listener(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct accepts acc;
    memset(&acc, 0, sizeof acc);
    struct tg_listener l;
    CHECK_EQ_INT(tg_listener_open(&l, loop, "127.0.0.1:0", 7, on_accept, &acc), 0);
    _Atomic uint64_t errors = 0;
    l.accept_errors = &errors;
    int port = bound_port(l.fd);
    CHECK(port > 0);
    tg_listener_start(&l);
    int c1 = connect_to(port), c2 = connect_to(port);
    CHECK(c1 >= 0 && c2 >= 0);
    run_for(loop, 50);
    CHECK_EQ_INT(acc.count, 2);
    CHECK_EQ_STR(acc.peer, "127.0.0.1");
    /* the accepted sockets are the owner's: non-blocking, connected to the clients */
    CHECK_EQ_INT(write(c1, "x", 1), 1);
    char ch = 0;
    usleep(10000);
    CHECK_EQ_INT(read(acc.fds[0], &ch, 1) + read(acc.fds[1], &ch, 1), 0); /* one gets 1 byte, the other EAGAIN */
    CHECK_EQ_INT(ch, 'x');
    /* TCP_NODELAY is set once on the listener and inherited by every accepted socket (no setsockopt per
     * connection in http_server.c): without it, small replies would wait for Nagle */
    for (int i = 0; i < 2; i++) {
        int nodelay = 0;
        socklen_t nlen = sizeof nodelay;
        CHECK_EQ_INT(getsockopt(acc.fds[i], IPPROTO_TCP, TCP_NODELAY, &nodelay, &nlen), 0);
        CHECK_EQ_INT(nodelay, 1);
    }
    /* stopped: the kernel queues, nothing reaches the owner */
    tg_listener_stop(&l);
    int c3 = connect_to(port);
    run_for(loop, 30);
    CHECK_EQ_INT(acc.count, 2);
    CHECK_EQ_INT(errors, 0);
    tg_listener_close(&l);
    CHECK_EQ_INT(l.fd, -1);
    for (int i = 0; i < 2; i++)
        close(acc.fds[i]);
    close(c1);
    close(c2);
    if (c3 >= 0)
        close(c3);
    /* a bad address is refused with -1 */
    struct tg_listener bad;
    CHECK_EQ_INT(tg_listener_open(&bad, loop, "not-an-address", 0, on_accept, &acc), -1);
    ev_loop_destroy(loop);
}

/* Out of descriptors: the pending connection is accepted with the spare descriptor and closed (the client sees
 * its end at once instead of hanging), the error is counted, accepting pauses ~100 ms, then resumes. */
static void test_listener_emfile(void)
{
    struct ev_loop *loop = ev_loop_new(0);
    struct accepts acc;
    memset(&acc, 0, sizeof acc);
    struct tg_listener l;
    CHECK_EQ_INT(tg_listener_open(&l, loop, "127.0.0.1:0", 1, on_accept, &acc), 0);
    _Atomic uint64_t errors = 0;
    l.accept_errors = &errors;
    int port = bound_port(l.fd);
    tg_listener_start(&l);
    int c1 = socket(AF_INET, SOCK_STREAM, 0), c2 = socket(AF_INET, SOCK_STREAM, 0);
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    struct rlimit low = saved;
    low.rlim_cur = 256;
    CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fillers[256], nf = 0;
    for (int fd; nf < 256 && (fd = dup(0)) >= 0;)
        fillers[nf++] = fd;
    CHECK(dup(0) < 0 && errno == EMFILE);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    CHECK_EQ_INT(connect(c1, (struct sockaddr *)&sin, sizeof sin), 0);
    run_for(loop, 30);
    CHECK_EQ_INT(acc.count, 0);
    CHECK(errors >= 1);
    char ch;
    struct timeval tv = {1, 0};
    setsockopt(c1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(read(c1, &ch, 1) <= 0); /* shed: closed (EOF or reset), not left hanging */
    /* descriptors again: accepting resumes after the pause */
    for (int i = 0; i < nf; i++)
        close(fillers[i]);
    setrlimit(RLIMIT_NOFILE, &saved);
    CHECK_EQ_INT(connect(c2, (struct sockaddr *)&sin, sizeof sin), 0);
    run_for(loop, 200);
    CHECK_EQ_INT(acc.count, 1);
    if (acc.count == 1)
        close(acc.fds[0]);
    close(c1);
    close(c2);
    tg_listener_close(&l);
    ev_loop_destroy(loop);
}

int main(void)
{
    test_hooks();
    test_drain_deadline();
    test_random();
    test_listener();
    test_listener_emfile();
    TG_TEST_MAIN_END();
}
