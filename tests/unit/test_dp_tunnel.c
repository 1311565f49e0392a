/* test_dp_tunnel.c — the WebSocket relay (proxy/ws_tunnel.c) alone, over two socketpairs standing for the
 * client's and the backend's connections, on a real worker loop: frames (masked, fragmented, any opcode) pass
 * byte for byte both ways and are counted in the session's read-only view (proxy/sessions.c); the bytes queued
 * before the hand-over (the 101) go first; a proxy-initiated close waits for the frame in flight to end, then
 * sends its close frames (masked toward the backend) and ends both sides; the admitting credential's expiry
 * closes with 1008 "token expired"; a message over maxMessageBytes is refused with 1009 before any byte of it is
 * relayed; a backend that goes away gets the client a 1014; the drain closes with 1001. */
#include "clock.h"
#include "config/endpoint.h"
#include "loop/worker.h"
#include "proxy/sessions.h"
#include "proxy/ip_limit.h"
#include "proxy/ws_tunnel.h"
#include "tg_test.h"
#include "tg_test_net.h"
#include "ws_frame.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct rig {
    struct tg_worker w;
    struct tg_counters counters;
    struct tg_session_list sessions;
    struct tg_tunnel_env env;
    struct tg_proxy_cfg proxy;
    struct tg_route route;
    struct tg_endpoint *ep;
    int client_peer, backend_peer;  /* the test's ends */
    struct tg_tunnel *t;
};


static void run_ms(struct rig *r, int ms)
{
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    do {
        ev_run(r->w.loop, EVRUN_NOWAIT);
        usleep(1000);
    } while (tg_now_ms() < end);
}

/* Reads what arrives at fd within ms (non-blocking fd). */
static size_t drain(struct rig *r, int fd, uint8_t *out, size_t cap, int ms)
{
    size_t have = 0;
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    while (tg_now_ms() < end && have < cap) {
        ev_run(r->w.loop, EVRUN_NOWAIT);
        ssize_t n = read(fd, out + have, cap - have);
        if (n > 0)
            have += (size_t)n;
        else if (n == 0)
            break;
        else
            usleep(1000);
    }
    return have;
}

/* the client address and --max-connections-per-ip table the next rig_up uses */
static const char *rig_client_ip = "192.0.2.7";
static struct tg_ip_limit *rig_ip_limit;

static void rig_up(struct rig *r, const char *queued_to_client, const struct tg_credential *cred,
                   uint64_t max_message)
{
    memset(r, 0, sizeof *r);
    tg_worker_init(&r->w, 0);
    tg_session_list_init(&r->sessions);
    r->env = (struct tg_tunnel_env){
        .w = &r->w, .counters = &r->counters, .sessions = &r->sessions, .ip_limit = rig_ip_limit};
    char err[64];
    r->ep = tg_endpoint_intern("127.0.0.1", 9, err, sizeof err);
    r->proxy.id = "ns/chat";
    r->proxy.ws_idle_timeout_ms = 60000;
    r->proxy.ws_max_message_bytes = max_message;
    r->route.proxy = &r->proxy;
    r->route.environment = "prod";
    int cs[2], bs[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, cs);
    socketpair(AF_UNIX, SOCK_STREAM, 0, bs);
    nonblocking(cs[0]);
    nonblocking(cs[1]);
    nonblocking(bs[0]);
    nonblocking(bs[1]);
    r->client_peer = cs[1];
    r->backend_peer = bs[1];
    struct tg_conn client, backend;
    tg_conn_init(&client, cs[0], NULL, NULL);
    tg_conn_init(&backend, bs[0], NULL, NULL);
    if (queued_to_client) {
        client.out = tg_buf_get(&r->w.bufs);
        tg_buf_append(client.out, queued_to_client, strlen(queued_to_client));
    }
    struct tg_tunnel_setup setup = {
        .client = &client,
        .backend = &backend,
        .snap = NULL,
        .route = &r->route,
        .ep = r->ep,
        .ep_counted = 1,
        .credential = cred,
        .client_ip = rig_client_ip,
        .ip_limit = rig_ip_limit, /* the caller took the slot */
    };
    atomic_fetch_add(&r->ep->active, 1);
    r->t = tg_tunnel_start(&r->env, &setup);
    CHECK(r->t != NULL);
    CHECK_EQ_INT(client.fd, -1); /* moved */
    CHECK_EQ_INT(backend.fd, -1);
}

static void rig_down(struct rig *r)
{
    close(r->client_peer);
    close(r->backend_peer);
    run_ms(r, 20);
    tg_tunnels_destroy_all(&r->env);
    run_ms(r, 5);
    tg_session_list_destroy(&r->sessions);
    tg_worker_destroy(&r->w);
}

static size_t frame(uint8_t *out, enum tg_ws_opcode op, int fin, const char *payload, int masked)
{
    static const uint8_t mask[4] = {0x11, 0x22, 0x33, 0x44};
    return tg_ws_build_frame(out, op, fin, (const uint8_t *)payload, strlen(payload), masked ? mask : NULL);
}

/* The close code of the close frame at buf (0 when it is not one). */
static int close_code_of(const uint8_t *buf, size_t len)
{
    struct tg_ws_frame_header h;
    int hl = tg_ws_parse_frame_header(buf, len, &h);
    if (hl <= 0 || h.opcode != TG_WS_CLOSE || h.payload_len < 2 || len < (size_t)hl + 2)
        return 0;
    uint8_t b0 = buf[hl], b1 = buf[hl + 1];
    if (h.masked) {
        b0 ^= h.mask[0];
        b1 ^= h.mask[1];
    }
    return (b0 << 8) | b1;
}

static int view_count;
static uint64_t view_messages_c2b, view_bytes_b2c;
static void view(void *arg, const struct tg_session *s)
{
    view_count++;
    view_messages_c2b = atomic_load(&s->messages[TG_SESSION_C2B]);
    view_bytes_b2c = atomic_load(&s->bytes[TG_SESSION_B2C]);
    CHECK_EQ_STR(s->proxy->id, "ns/chat");
    CHECK_EQ_STR(s->environment, "prod");
    char ip[TG_IP_TEXT_MAX];
    tg_session_client_ip(s, ip);
    CHECK_EQ_STR(ip, "192.0.2.7");
}

static void test_relay_byte_for_byte(void)
{
    struct rig r;
    const char *switching = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    rig_up(&r, switching, NULL, 0);
    CHECK_EQ_INT(tg_session_list_count(&r.sessions), 1);
    CHECK_EQ_INT(atomic_load(&r.counters.ws_sessions_active), 1);
    uint8_t got[4096];
    /* the 101 queued before the hand-over reaches the client first */
    size_t n = drain(&r, r.client_peer, got, strlen(switching), 200);
    CHECK_EQ_INT(n, strlen(switching));
    CHECK(memcmp(got, switching, n) == 0);
    /* client → backend: a masked text message in two fragments, a ping, a binary message */
    uint8_t sent[1024];
    size_t len = 0;
    len += frame(sent + len, TG_WS_TEXT, 0, "hel", 1);
    len += frame(sent + len, TG_WS_PING, 1, "p", 1);
    len += frame(sent + len, TG_WS_CONT, 1, "lo", 1);
    len += frame(sent + len, TG_WS_BINARY, 1, "\x01\x02\x03", 1);
    /* written in two uneven pieces: the tracker sees a frame header split across reads */
    CHECK_EQ_INT(write(r.client_peer, sent, 3), 3);
    run_ms(&r, 5);
    CHECK_EQ_INT(write(r.client_peer, sent + 3, len - 3), (ssize_t)(len - 3));
    n = drain(&r, r.backend_peer, got, len, 300);
    CHECK_EQ_INT(n, len);
    CHECK(memcmp(got, sent, len) == 0);
    /* backend → client: unmasked */
    size_t blen = frame(sent, TG_WS_TEXT, 1, "world", 0);
    CHECK_EQ_INT(write(r.backend_peer, sent, blen), (ssize_t)blen);
    n = drain(&r, r.client_peer, got, blen, 300);
    CHECK_EQ_INT(n, blen);
    CHECK(memcmp(got, sent, blen) == 0);
    /* the admin's read-only view */
    view_count = 0;
    tg_session_list_each(&r.sessions, view, NULL);
    CHECK_EQ_INT(view_count, 1);
    CHECK_EQ_INT(view_messages_c2b, 2); /* the fragmented text and the binary message; pings are not counted */
    CHECK_EQ_INT(view_bytes_b2c, blen);
    CHECK_EQ_INT(atomic_load(&r.counters.ws_messages_c2b), 2);
    /* a peer-initiated close handshake: relayed both ways, then both sockets end */
    size_t clen = tg_ws_build_close(sent, 1000, "bye", (const uint8_t *)"\x01\x02\x03\x04");
    CHECK_EQ_INT(write(r.client_peer, sent, clen), (ssize_t)clen);
    n = drain(&r, r.backend_peer, got, clen, 300);
    CHECK_EQ_INT(close_code_of(got, n), 1000);
    size_t rlen = tg_ws_build_close(sent, 1000, "bye", NULL);
    CHECK_EQ_INT(write(r.backend_peer, sent, rlen), (ssize_t)rlen);
    n = drain(&r, r.client_peer, got, rlen, 300);
    CHECK_EQ_INT(close_code_of(got, n), 1000);
    shutdown(r.client_peer, SHUT_WR);
    shutdown(r.backend_peer, SHUT_WR);
    for (int i = 0; i < 300 && tg_session_list_count(&r.sessions) > 0; i++)
        run_ms(&r, 1);
    CHECK_EQ_INT(tg_session_list_count(&r.sessions), 0);
    CHECK_EQ_INT(atomic_load(&r.ep->active), 0);
    CHECK_EQ_INT(atomic_load(&r.counters.ws_sessions_active), 0);
    rig_down(&r);
}

static void test_proxy_close_at_frame_boundary(void)
{
    struct rig r;
    rig_up(&r, NULL, NULL, 0);
    uint8_t sent[256], got[512];
    size_t len = frame(sent, TG_WS_TEXT, 1, "0123456789abcdef", 1);
    /* half a frame is in flight when the proxy decides to close */
    CHECK_EQ_INT(write(r.client_peer, sent, 8), 8);
    size_t n = drain(&r, r.backend_peer, got, 8, 100);
    CHECK_EQ_INT(n, 8);
    tg_tunnel_close(r.t, TG_TUNNEL_TOKEN_REVOKED, TG_CLOSED_BY_PROXY);
    /* nothing is injected mid-frame: the backend gets the rest of the frame first, then the masked close */
    run_ms(&r, 10);
    CHECK_EQ_INT(read(r.backend_peer, got, sizeof got), -1);
    CHECK_EQ_INT(write(r.client_peer, sent + 8, len - 8), (ssize_t)(len - 8));
    /* a frame after the boundary is not relayed */
    uint8_t late[64];
    size_t llen = frame(late, TG_WS_TEXT, 1, "late", 1);
    CHECK_EQ_INT(write(r.client_peer, late, llen), (ssize_t)llen);
    n = drain(&r, r.backend_peer, got, sizeof got, 200);
    CHECK(n > len - 8);
    CHECK(memcmp(got, sent + 8, len - 8) == 0);
    struct tg_ws_frame_header h;
    CHECK(tg_ws_parse_frame_header(got + (len - 8), n - (len - 8), &h) > 0);
    CHECK(h.masked);
    CHECK_EQ_INT(close_code_of(got + (len - 8), n - (len - 8)), 1001);
    /* the client (at a boundary already) gets its close frame unmasked */
    n = drain(&r, r.client_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1008);
    CHECK(tg_ws_parse_frame_header(got, n, &h) > 0 && !h.masked);
    rig_down(&r);
}

static void test_token_expiry_closes(void)
{
    struct rig r;
    struct tg_credential cred;
    memset(&cred, 0, sizeof cred);
    cred.kind = TG_CRED_JWT;
    cred.expires_wall_ms = tg_wall_ms() + 80;
    rig_up(&r, NULL, &cred, 0);
    uint64_t t0 = tg_now_ms();
    uint8_t got[256];
    size_t n = 0;
    while (n == 0 && tg_now_ms() - t0 < 2000)
        n = drain(&r, r.client_peer, got, sizeof got, 20);
    uint64_t took = tg_now_ms() - t0;
    CHECK(took >= 70 && took < 1100);
    CHECK_EQ_INT(close_code_of(got, n), 1008);
    CHECK(n > 4 && memmem(got, n, "token expired", 13) != NULL);
    n = drain(&r, r.backend_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1001);
    rig_down(&r);
}

static void test_limits_and_lost_backend(void)
{
    struct rig r;
    rig_up(&r, NULL, NULL, 8);
    uint8_t sent[256], got[256];
    size_t len = frame(sent, TG_WS_TEXT, 1, "way too long", 1);
    CHECK_EQ_INT(write(r.client_peer, sent, len), (ssize_t)len);
    size_t n = drain(&r, r.backend_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1009); /* nothing of the message, only the close */
    n = drain(&r, r.client_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1009);
    rig_down(&r);

    rig_up(&r, NULL, NULL, 0);
    close(r.backend_peer);
    n = drain(&r, r.client_peer, got, sizeof got, 300);
    CHECK_EQ_INT(close_code_of(got, n), 1014);
    r.backend_peer = open("/dev/null", O_RDONLY); /* rig_down closes it */
    rig_down(&r);

    rig_up(&r, NULL, NULL, 0);
    tg_tunnels_drain(&r.env);
    n = drain(&r, r.client_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1001);
    n = drain(&r, r.backend_peer, got, sizeof got, 200);
    CHECK_EQ_INT(close_code_of(got, n), 1001);
    rig_down(&r);
}

/* The session keeps the client's address in binary (17 bytes): it reads back exactly as the handshake wrote it,
 * and the --max-connections-per-ip slot goes back under the same text, also for a text it cannot represent. */
static void test_client_address_and_ip_slot(void)
{
    static const char *exact[] = {"192.0.2.7", "2001:db8::7", "::ffff:192.0.2.7", "::1", ""};
    struct tg_session s;
    char back[TG_IP_TEXT_MAX];
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        CHECK_EQ_INT(tg_session_set_client_ip(&s, exact[i]), 0);
        tg_session_client_ip(&s, back);
        CHECK_EQ_STR(back, exact[i]);
    }
    CHECK_EQ_INT(tg_session_set_client_ip(&s, "2001:DB8::7"), -1); /* not inet_ntop's form */
    tg_session_client_ip(&s, back);
    CHECK_EQ_STR(back, "");
    CHECK_EQ_INT(tg_session_set_client_ip(&s, "not an address"), -1);
    /* IPv4 is stored without formatting it back: only inet_ntop's dotted quad may be accepted */
    static const char *not_ntop[] = {"01.2.3.4", "1.2.3", "1.2.3.04", "256.1.1.1", "1.2.3.4 ", "0x1.2.3.4"};
    for (size_t i = 0; i < sizeof not_ntop / sizeof not_ntop[0]; i++)
        CHECK_EQ_INT(tg_session_set_client_ip(&s, not_ntop[i]), -1);
    CHECK_EQ_INT(tg_session_set_client_ip(&s, "255.255.255.255"), 0);
    tg_session_client_ip(&s, back);
    CHECK_EQ_STR(back, "255.255.255.255");

    struct tg_ip_limit limit;
    tg_ip_limit_init(&limit, 4);
    static const char *held[] = {"198.51.100.9", "2001:DB8::7"};
    for (size_t i = 0; i < 2; i++) {
        struct rig r;
        CHECK_EQ_INT(tg_ip_limit_acquire(&limit, held[i]), 1);
        rig_client_ip = held[i];
        rig_ip_limit = &limit;
        rig_up(&r, NULL, NULL, 0);
        CHECK_EQ_INT(tg_ip_limit_count(&limit, held[i]), 1);
        close(r.client_peer); /* both peers go: the session ends and its slot goes back */
        close(r.backend_peer);
        for (int waited = 0; waited < 2000 && tg_session_list_count(&r.sessions) > 0; waited += 10)
            run_ms(&r, 10);
        CHECK_EQ_INT(tg_session_list_count(&r.sessions), 0);
        CHECK_EQ_INT(tg_ip_limit_count(&limit, held[i]), 0);
        r.client_peer = open("/dev/null", O_RDONLY); /* rig_down closes them */
        r.backend_peer = open("/dev/null", O_RDONLY);
        rig_down(&r);
        rig_client_ip = "192.0.2.7";
        rig_ip_limit = NULL;
    }
    tg_ip_limit_destroy(&limit);
}

int main(void)
{
    test_client_address_and_ip_slot();
    test_relay_byte_for_byte();
    test_proxy_close_at_frame_boundary();
    test_token_expiry_closes();
    test_limits_and_lost_backend();
    TG_TEST_MAIN_END();
}
