/* ws_kernel_relay.c — user-space side of the kernel WebSocket relay (see ws_kernel_relay.h): the BPF object's
 * life (libbpf, loaded once from the copy embedded at build time), the slot pairs of the sockmap and the mmapped
 * per-socket state, counters collected from it, and the take-back handshake.
 *
 * Take-back (docs/performance.md, "Kernel relay"): user space sets kr_sock.handback on both sockets, then reads
 * how many bytes the kernel redirected toward each peer (kr_sock.bytes of the other socket). The verdict counts
 * a frame before it reads handback, user space sets handback before it reads the count (both full barriers), so
 * no frame can be redirected without being counted in what user space waits for. A peer has taken everything
 * when the bytes it was written since the offer (TCP_INFO bytes_acked + SIOCOUTQ, minus the same at the offer)
 * reach that count; only then may user space write to it, so nothing it writes overtakes a relayed frame. The
 * sockets stay in the sockmap, passing every byte to their own receive queues, until they are closed. */
#include "proxy/ws_kernel_relay.h"

#include "clock.h"
#include "log.h"
#include "proxy/ws_relay_abi.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* The BPF object, compiled from dataplane/bpf/ws_relay.bpf.c and embedded by the Makefile (build/gen). */
extern const unsigned char tg_ws_relay_bpf_obj[];
extern const size_t tg_ws_relay_bpf_obj_len;

#define KR_TICK_MS 1000u        /* counters reach /sessions at most this late */
#define KR_BACK_POLL_MS 1u      /* a take-back waiting for a peer to take its bytes looks again (next tick) */

struct tg_krelay_sess {
    struct tg_timer timer;
    struct tg_timer_wheel *wheel;
    void (*cb)(void *owner, enum tg_krelay_event ev);
    void *owner;
    uint32_t pair;              /* slots 2*pair (client), 2*pair+1 (backend) */
    int fd[2];                  /* client, backend */
    uint64_t cookie[2];
    uint64_t written0[2];       /* bytes each socket had been written at the offer */
    uint64_t back_started_ms;   /* a take-back is under way since (0: none) */
    unsigned char in_kernel;
};

static struct {
    int requested, on;
    struct bpf_object *obj;
    int socks_fd, cookies_fd, sockmap_fd;
    struct kr_sock *socks;      /* the mmapped kr_socks array */
    size_t socks_len;
    pthread_mutex_t lock;       /* the free list (sessions start on any worker) */
    uint32_t *free_pairs;
    uint32_t num_free;
    _Atomic uint64_t active, fallbacks;
    _Atomic int said_tls, said_full;
} kr = {.lock = PTHREAD_MUTEX_INITIALIZER, .socks_fd = -1, .cookies_fd = -1, .sockmap_fd = -1};

int tg_krelay_requested(void) { return kr.requested; }
uint64_t tg_krelay_sessions_active(void) { return atomic_load_explicit(&kr.active, memory_order_relaxed); }
uint64_t tg_krelay_fallbacks_total(void) { return atomic_load_explicit(&kr.fallbacks, memory_order_relaxed); }

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level; (void)fmt; (void)ap;
    return 0; /* the one reason that matters is logged by tg_krelay_setup */
}

static int load(char *why, size_t why_len)
{
    libbpf_set_print(quiet_libbpf);
    kr.obj = bpf_object__open_mem(tg_ws_relay_bpf_obj, tg_ws_relay_bpf_obj_len, NULL);
    if (!kr.obj) {
        snprintf(why, why_len, "opening the BPF object: %s", strerror(errno));
        kr.obj = NULL;
        return -1;
    }
    int err = bpf_object__load(kr.obj);
    if (err) {
        snprintf(why, why_len, "loading the BPF programs: %s", strerror(-err));
        return -1;
    }
    struct bpf_map *socks = bpf_object__find_map_by_name(kr.obj, "kr_socks");
    struct bpf_map *cookies = bpf_object__find_map_by_name(kr.obj, "kr_cookies");
    struct bpf_map *sockmap = bpf_object__find_map_by_name(kr.obj, "kr_sockmap");
    struct bpf_program *parser = bpf_object__find_program_by_name(kr.obj, "kr_parse");
    struct bpf_program *verdict = bpf_object__find_program_by_name(kr.obj, "kr_verdict");
    if (!socks || !cookies || !sockmap || !parser || !verdict) {
        snprintf(why, why_len, "the BPF object lacks a map or program");
        return -1;
    }
    kr.socks_fd = bpf_map__fd(socks);
    kr.cookies_fd = bpf_map__fd(cookies);
    kr.sockmap_fd = bpf_map__fd(sockmap);
    if (bpf_prog_attach(bpf_program__fd(parser), kr.sockmap_fd, BPF_SK_SKB_STREAM_PARSER, 0) ||
        bpf_prog_attach(bpf_program__fd(verdict), kr.sockmap_fd, BPF_SK_SKB_STREAM_VERDICT, 0)) {
        snprintf(why, why_len, "attaching the stream parser and verdict: %s", strerror(errno));
        return -1;
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t len = sizeof(struct kr_sock) * KR_MAX_SLOTS;
    kr.socks_len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
    void *m = mmap(NULL, kr.socks_len, PROT_READ | PROT_WRITE, MAP_SHARED, kr.socks_fd, 0);
    if (m == MAP_FAILED) {
        snprintf(why, why_len, "mapping the socket state: %s", strerror(errno));
        return -1;
    }
    kr.socks = m;
    kr.free_pairs = malloc(sizeof *kr.free_pairs * (KR_MAX_SLOTS / 2));
    if (!kr.free_pairs) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < KR_MAX_SLOTS / 2; i++)
        kr.free_pairs[i] = KR_MAX_SLOTS / 2 - 1 - i;
    kr.num_free = KR_MAX_SLOTS / 2;
    return 0;
}

int tg_krelay_setup(int requested)
{
    kr.requested = requested;
    if (!requested)
        return 0;
    char why[256] = "";
    if (load(why, sizeof why) < 0) {
        if (kr.socks) {
            munmap(kr.socks, kr.socks_len);
            kr.socks = NULL;
        }
        bpf_object__close(kr.obj); /* NULL-safe */
        kr.obj = NULL;
        tg_warn("kernel relay: off, every WebSocket session is relayed in user space (%s)", why);
        return 0;
    }
    kr.on = 1;
    tg_info("kernel relay: on (sockmap with a WebSocket frame parser; sessions move to it once established)");
    return 1;
}

static void fallback(_Atomic int *said, const char *why)
{
    atomic_fetch_add_explicit(&kr.fallbacks, 1, memory_order_relaxed);
    if (said && !atomic_exchange(said, 1))
        tg_info("kernel relay: %s stay in the user-space relay (said once)", why);
}

/* Bytes written to fd so far (sent and acked + still queued), or UINT64_MAX when unknown. Read in this order,
 * the sum never exceeds what was written when SIOCOUTQ was read (an ACK in between only lowers it). *gone is set
 * when the connection can no longer send (reset, or closed our way): nothing queued for it will ever be taken. */
static uint64_t written_total(int fd, int *gone)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    int outq = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < offsetof(struct tcp_info, tcpi_bytes_acked) + 8 ||
        ioctl(fd, SIOCOUTQ, &outq) < 0) {
        *gone = 1;
        return UINT64_MAX;
    }
    /* linux/bpf.h names the kernel's TCP states (netinet/tcp.h's clash with linux/tcp.h) */
    *gone = ti.tcpi_state != BPF_TCP_ESTABLISHED && ti.tcpi_state != BPF_TCP_CLOSE_WAIT;
    return ti.tcpi_bytes_acked + (uint64_t)outq;
}

static struct kr_sock *slot(uint32_t pair, int side) { return &kr.socks[pair * 2 + (uint32_t)side]; }

static void on_timer(struct tg_timer *t, uint64_t now_ms)
{
    struct tg_krelay_sess *k = (struct tg_krelay_sess *)((char *)t - offsetof(struct tg_krelay_sess, timer));
    if (k->back_started_ms && k->in_kernel) {
        if (tg_krelay_take_back(k, now_ms))
            k->cb(k->owner, TG_KRELAY_BACK);
        return;
    }
    if (k->in_kernel) {
        tg_timer_schedule(k->wheel, &k->timer, now_ms + KR_TICK_MS);
        k->cb(k->owner, TG_KRELAY_TICK);
    }
}

static void release_pair(uint32_t pair)
{
    pthread_mutex_lock(&kr.lock);
    kr.free_pairs[kr.num_free++] = pair;
    pthread_mutex_unlock(&kr.lock);
}

struct tg_krelay_sess *tg_krelay_offer(const struct tg_krelay_offer *o)
{
    if (!kr.requested)
        return NULL;
    if (!kr.on) {
        fallback(NULL, NULL); /* the load failure was logged */
        return NULL;
    }
    if (o->tls) {
        fallback(&kr.said_tls, "TLS sessions (no kTLS)");
        return NULL;
    }
    struct tg_krelay_sess *k = calloc(1, sizeof *k);
    if (!k) {
        fallback(NULL, NULL);
        return NULL;
    }
    pthread_mutex_lock(&kr.lock);
    int have = kr.num_free > 0;
    if (have)
        k->pair = kr.free_pairs[--kr.num_free];
    pthread_mutex_unlock(&kr.lock);
    if (!have) {
        free(k);
        fallback(&kr.said_full, "sessions past the sockmap's size");
        return NULL;
    }
    k->fd[0] = o->client_fd;
    k->fd[1] = o->backend_fd;
    for (int side = 0; side < 2; side++) {
        socklen_t len = sizeof k->cookie[side];
        int gone = 0;
        k->written0[side] = written_total(k->fd[side], &gone);
        if (getsockopt(k->fd[side], SOL_SOCKET, SO_COOKIE, &k->cookie[side], &len) < 0 ||
            k->written0[side] == UINT64_MAX || gone)
            goto fail;
    }
    for (int side = 0; side < 2; side++) {
        const struct tg_ws_tracker *tr = side == 0 ? o->c2b : o->b2c;
        struct kr_sock *s = slot(k->pair, side);
        memset(s, 0, sizeof *s);
        s->mask_rule = side == 0 ? KR_MASK_REQUIRED : KR_MASK_FORBIDDEN; /* RFC 6455 §5.1 */
        s->rsv_allowed = o->rsv & 7;
        s->max_message = o->max_message;
        s->owner = o->session_id;
        s->in_message = tr->in_message;
        s->message_bytes = tr->message_bytes;
        atomic_store((_Atomic unsigned int *)&s->active, 1);
        uint32_t key = k->pair * 2 + (uint32_t)side;
        if (bpf_map_update_elem(kr.cookies_fd, &k->cookie[side], &key, BPF_ANY) < 0)
            goto fail;
    }
    /* From the first update on, the kernel parses: the backend goes in first, so a frame the client sent
     * meanwhile finds its peer; a failure after that hands the session back (the sockets stay, passing). */
    for (int side = 1; side >= 0; side--) {
        uint32_t key = k->pair * 2 + (uint32_t)side;
        if (bpf_map_update_elem(kr.sockmap_fd, &key, &k->fd[side], BPF_ANY) < 0) {
            if (side == 1)
                goto fail;
            /* the backend is in, the client is not: the backend's frames found no peer and were passed to its
             * own receive queue, nothing was redirected; it stays passing until closed */
            for (int s2 = 0; s2 < 2; s2++)
                atomic_store((_Atomic unsigned int *)&slot(k->pair, s2)->handback, 1);
            k->wheel = o->wheel;
            tg_timer_init(&k->timer, on_timer);
            fallback(&kr.said_full, "sessions the sockmap refuses");
            return k;
        }
    }
    /* Bytes that arrived between user space's last read and the insert sit in the receive queue, and the
     * strparser only runs on the next data_ready: setting SO_RCVLOWAT (to its default, 1) makes TCP call
     * data_ready now when anything is queued (tcp_set_rcvlowat), so nothing waits for the peer's next packet. */
    for (int side = 0; side < 2; side++) {
        int one = 1;
        (void)setsockopt(k->fd[side], SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    }
    k->in_kernel = 1;
    atomic_fetch_add_explicit(&kr.active, 1, memory_order_relaxed);
    k->wheel = o->wheel;
    k->cb = o->cb;
    k->owner = o->owner;
    tg_timer_init(&k->timer, on_timer);
    tg_timer_schedule(k->wheel, &k->timer, tg_now_ms() + KR_TICK_MS);
    o->kr_slot1_out ? atomic_store(o->kr_slot1_out, k->pair * 2 + 1) : (void)0;
    tg_debug("kernel relay: session sockets %d/%d in slots %u/%u", k->fd[0], k->fd[1], k->pair * 2, k->pair * 2 + 1);
    return k;
fail:
    tg_debug("kernel relay: offer failed: %s", strerror(errno));
    for (int side = 0; side < 2; side++) {
        if (k->cookie[side])
            bpf_map_delete_elem(kr.cookies_fd, &k->cookie[side]);
        memset(slot(k->pair, side), 0, sizeof(struct kr_sock));
    }
    release_pair(k->pair);
    free(k);
    fallback(NULL, NULL);
    return NULL;
}

int tg_krelay_in_kernel(const struct tg_krelay_sess *k) { return k->in_kernel; }

int tg_krelay_has_input(const struct tg_krelay_sess *k)
{
    for (int side = 0; side < 2; side++) {
        char c;
        ssize_t n = recv(k->fd[side], &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 1;
    }
    return 0;
}

int tg_krelay_take_back(struct tg_krelay_sess *k, uint64_t now_ms)
{
    if (!k->in_kernel)
        return 1;
    if (!k->back_started_ms) {
        k->back_started_ms = now_ms ? now_ms : 1;
        for (int side = 0; side < 2; side++)
            atomic_store((_Atomic unsigned int *)&slot(k->pair, side)->handback, 1); /* seq_cst: a full barrier */
    }
    int drained = 1;
    for (int side = 0; side < 2 && drained; side++) {
        /* bytes the kernel redirected to this socket = what its peer's slot counted */
        uint64_t relayed = atomic_load((_Atomic unsigned long long *)&slot(k->pair, side ^ 1)->bytes);
        int gone = 0;
        uint64_t written = written_total(k->fd[side], &gone);
        if (!gone && written - k->written0[side] < relayed)
            drained = 0; /* (a peer that is gone takes nothing more: the tunnel finds out when it reads or writes) */
    }
    if (!drained) {
        /* a peer that never takes its bytes holds the session until the owner's own deadlines end it */
        tg_timer_schedule(k->wheel, &k->timer, now_ms + KR_BACK_POLL_MS);
        return 0;
    }
    k->in_kernel = 0;
    tg_debug("kernel relay: slots %u/%u back in user space (passing: %u/%u)", k->pair * 2, k->pair * 2 + 1,
             slot(k->pair, 0)->passing, slot(k->pair, 1)->passing);
    tg_timer_cancel(k->wheel, &k->timer);
    atomic_fetch_sub_explicit(&kr.active, 1, memory_order_relaxed);
    return 1;
}

void tg_krelay_collect(struct tg_krelay_sess *k, struct tg_krelay_counts *c)
{
    memset(c, 0, sizeof *c);
    uint64_t last_ns = 0;
    for (int side = 0; side < 2; side++) {
        struct kr_sock *s = slot(k->pair, side);
        uint64_t bytes = atomic_load((_Atomic unsigned long long *)&s->bytes);
        uint64_t messages = atomic_load((_Atomic unsigned long long *)&s->messages);
        uint64_t last = atomic_load((_Atomic unsigned long long *)&s->last_ns);
        c->bytes[side] = bytes - s->seen_bytes;
        c->messages[side] = messages - s->seen_messages;
        atomic_store((_Atomic unsigned long long *)&s->seen_bytes, bytes);
        atomic_store((_Atomic unsigned long long *)&s->seen_messages, messages);
        if (last > last_ns)
            last_ns = last;
    }
    c->last_activity_ms = last_ns / 1000000u; /* bpf_ktime_get_ns is CLOCK_MONOTONIC, as tg_now_ms */
}

void tg_krelay_pending(uint32_t kr_slot1, uint64_t session_id, uint64_t bytes[2], uint64_t messages[2],
                       uint64_t *last_activity_ms)
{
    bytes[0] = bytes[1] = messages[0] = messages[1] = 0;
    *last_activity_ms = 0;
    if (!kr.socks || kr_slot1 == 0 || kr_slot1 >= KR_MAX_SLOTS)
        return;
    for (int side = 0; side < 2; side++) {
        struct kr_sock *s = &kr.socks[kr_slot1 - 1 + (uint32_t)side];
        if (atomic_load((_Atomic unsigned long long *)&s->owner) != session_id)
            return;
        uint64_t last_ms = atomic_load((_Atomic unsigned long long *)&s->last_ns) / 1000000u;
        if (last_ms > *last_activity_ms)
            *last_activity_ms = last_ms;
        uint64_t b = atomic_load((_Atomic unsigned long long *)&s->bytes);
        uint64_t sb = atomic_load((_Atomic unsigned long long *)&s->seen_bytes);
        uint64_t m = atomic_load((_Atomic unsigned long long *)&s->messages);
        uint64_t sm = atomic_load((_Atomic unsigned long long *)&s->seen_messages);
        bytes[side] = b > sb ? b - sb : 0; /* a collect racing with this read shows up once, not twice */
        messages[side] = m > sm ? m - sm : 0;
    }
}

void tg_krelay_sync_trackers(const struct tg_krelay_sess *k, struct tg_ws_tracker *c2b, struct tg_ws_tracker *b2c)
{
    for (int side = 0; side < 2; side++) {
        const struct kr_sock *s = slot(k->pair, side);
        struct tg_ws_tracker *tr = side == 0 ? c2b : b2c;
        tr->in_message = (uint8_t)(s->in_message != 0);
        tr->message_bytes = s->message_bytes;
    }
}

void tg_krelay_set_limit(struct tg_krelay_sess *k, uint64_t max_message)
{
    for (int side = 0; side < 2; side++)
        atomic_store((_Atomic unsigned long long *)&slot(k->pair, side)->max_message, max_message);
}

void tg_krelay_release(struct tg_krelay_sess *k)
{
    if (!k)
        return;
    if (k->in_kernel)
        atomic_fetch_sub_explicit(&kr.active, 1, memory_order_relaxed);
    tg_timer_cancel(k->wheel, &k->timer);
    for (int side = 0; side < 2; side++) {
        uint32_t key = k->pair * 2 + (uint32_t)side;
        /* out of the map before the slot is reused (closing the socket would also remove it) */
        bpf_map_delete_elem(kr.sockmap_fd, &key);
        bpf_map_delete_elem(kr.cookies_fd, &k->cookie[side]);
        memset(slot(k->pair, side), 0, sizeof(struct kr_sock));
    }
    release_pair(k->pair);
    free(k);
}
