/* test_dp_http_server.c — the inbound HTTP/1.1 server connection (proxy/http_server.c) fed over a socketpair (the
 * test plays the client) on a real worker loop, with a real snapshot and a real backend thread on 127.0.0.1:
 * the gateway's own answers (503 before any snapshot, 404 for an unknown host or path, 400 for malformed or
 * dot-segment requests, WebSocket handshake refusals 400/426, 408 when a head does not arrive in time), keep-alive
 * and pipelining, a request forwarded and its response relayed, the metrics hook (status, duration, the rejecting policy), a refusal of the policies
 * carrying the CORS edits (traffic_answer.h), and an upgrade handed over to a tunnel that appears in the session
 * list and relays frames. */
#include "clock.h"
#include "config/router.h"
#include "loop/worker.h"
#include "process/policy_compiler.h"
#include "proxy/http_server.h"
#include "proxy/sessions.h"
#include "proxy/upstream_pool.h"
#include "proxy/ws_tunnel.h"
#include "tg_test.h"
#include "ws_frame.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- a blocking backend thread: answers "ok <path>" with keep-alive, or switches to WebSocket and echoes ---- */

static int backend_listen, backend_port;
static pthread_mutex_t backend_lock = PTHREAD_MUTEX_INITIALIZER;
static char backend_last_head[4096];
static int backend_requests;

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[8192];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t head_len = (size_t)(end + 4 - buf);
        pthread_mutex_lock(&backend_lock);
        snprintf(backend_last_head, sizeof backend_last_head, "%.*s", (int)head_len, buf);
        backend_requests++;
        pthread_mutex_unlock(&backend_lock);
        char *key = strstr(buf, "Sec-WebSocket-Key: ");
        if (key && key < end) {
            key += 19;
            char accept[29];
            tg_ws_accept_for_key(key, (size_t)(strstr(key, "\r\n") - key), accept);
            char resp[256];
            int len = snprintf(resp, sizeof resp,
                               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\n\r\n",
                               accept);
            if (write(fd, resp, (size_t)len) != len)
                break;
            memmove(buf, buf + head_len, have - head_len);
            have -= head_len;
            for (;;) { /* echo each (small, masked) frame unmasked, as a server sends it (RFC 6455 §5.1) */
                while (have >= 6 && (buf[1] & 0x80) && (size_t)(buf[1] & 0x7f) < 126 &&
                       have >= 6 + (size_t)(buf[1] & 0x7f)) {
                    size_t plen = (size_t)(buf[1] & 0x7f);
                    char out[132];
                    out[0] = buf[0];
                    out[1] = (char)plen;
                    for (size_t i = 0; i < plen; i++)
                        out[2 + i] = (char)(buf[6 + i] ^ buf[2 + i % 4]);
                    if (write(fd, out, 2 + plen) != (ssize_t)(2 + plen))
                        break;
                    memmove(buf, buf + 6 + plen, have - 6 - plen);
                    have -= 6 + plen;
                }
                n = read(fd, buf, sizeof buf);
                if (n <= 0)
                    break;
                have = (size_t)n;
            }
            break;
        }
        char path[256];
        sscanf(buf, "%*s %255s", path);
        char resp[512];
        int len = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\nok %s",
                           strlen(path) + 3, path);
        if (write(fd, resp, (size_t)len) != len)
            break;
        memmove(buf, buf + head_len, have - head_len);
        have -= head_len;
    }
    close(fd);
    return NULL;
}

static void *backend_main(void *arg)
{
    for (;;) {
        int fd = accept(backend_listen, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_t th;
        pthread_create(&th, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(th);
    }
}

/* ---- the rig: one worker's server, pool and sessions ---- */

static struct tg_worker w;
static struct tg_counters counters;
static struct tg_upstream_pool pool;
static struct tg_session_list sessions;
static struct tg_tunnel_env tunnels;
static struct tg_proxy_settings settings;
static struct tg_http_server server;
static char counted[64][96];
static int num_counted;

static char last_rejection[128];

static void count_request(int worker, const struct tg_request_outcome *o)
{
    if (num_counted < 64)
        snprintf(counted[num_counted++], sizeof counted[0], "%s %d", o->proxy, o->status);
    if (o->proxy[0])
        CHECK(o->duration_ns > 0 && o->duration_ns < 5000000000ull); /* routed: timed from the complete head */
    if (o->rejected_by)
        snprintf(last_rejection, sizeof last_rejection, "%s %s", o->rejected_by, o->reject_code);
}

static const struct tg_metrics_hooks metrics_hooks = {.request_done = count_request};

static struct tg_snapshot *build_snapshot(void)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"version\":1,\"groups\":[{\"id\":\"t/main\",\"hostnames\":[\"gw.test\"],\"environments\":[\"prod\"]}],"
             "\"proxies\":["
             "{\"id\":\"t/api\",\"environments\":[\"prod\"],\"basePath\":\"/api\",\"target\":{\"endpoints\":"
             "[{\"address\":\"127.0.0.1\",\"port\":%d}]}},"
             "{\"id\":\"t/limited\",\"environments\":[\"prod\"],\"basePath\":\"/limited\",\"target\":{\"endpoints\":"
             "[{\"address\":\"127.0.0.1\",\"port\":%d}]},\"policies\":[{\"type\":\"cors\",\"allowOrigins\":[\"*\"]},"
             "{\"type\":\"quota\",\"limit\":1,\"intervalMs\":3600000,\"identifier\":\"client_ip\"}]}]}",
             backend_port, backend_port);
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    json_t *errors = json_array();
    struct tg_snapshot *s = tg_snapshot_build(doc, &tg_registered_policies, errors);
    if (!s)
        fprintf(stderr, "snapshot: %s\n", json_string_value(json_array_get(errors, 0)));
    json_decref(errors);
    json_decref(doc);
    return s;
}

/* A new inbound connection: returns the test's end of the socketpair. */
static int connect_client(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    struct sockaddr_in peer = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.44", &peer.sin_addr);
    tg_http_server_accept(&server, sv[0], (struct sockaddr *)&peer, NULL, NULL);
    return sv[1];
}

/* Runs the loop and collects what the client receives for ms (stops early once `until` appears, or at EOF). */
static size_t exchange(int fd, const char *send_text, char *out, size_t cap, const char *until, int ms)
{
    if (send_text && write(fd, send_text, strlen(send_text)) != (ssize_t)strlen(send_text))
        return 0;
    size_t have = 0;
    out[0] = '\0';
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    while (tg_now_ms() < end && have + 1 < cap) {
        ev_run(w.loop, EVRUN_NOWAIT);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1) <= 0)
            continue;
        ssize_t n = read(fd, out + have, cap - 1 - have);
        if (n <= 0) {
            out[have] = '\0';
            return have; /* EOF: the gateway closed */
        }
        have += (size_t)n;
        out[have] = '\0';
        if (until && strstr(out, until))
            break;
    }
    return have;
}

static int eof_within(int fd, int ms)
{
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    char c;
    while (tg_now_ms() < end) {
        ev_run(w.loop, EVRUN_NOWAIT);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1) > 0)
            return read(fd, &c, 1) == 0;
    }
    return 0;
}

static void test_own_answers(void)
{
    char got[8192];
    /* no snapshot yet: 503 */
    int fd = connect_client();
    exchange(fd, "GET /api HTTP/1.1\r\nHost: gw.test\r\n\r\n", got, sizeof got, "}}", 500);
    CHECK(strncmp(got, "HTTP/1.1 503 ", 13) == 0);
    CHECK(strstr(got, "\"code\":\"gateway.not_configured\"") != NULL);
    close(fd);

    server.snapshot = build_snapshot();
    CHECK(server.snapshot != NULL);
    /* unknown host, then unknown path, pipelined on one keep-alive connection: both answered, in order */
    fd = connect_client();
    exchange(fd, "GET / HTTP/1.1\r\nHost: other.test\r\n\r\nGET /nothing HTTP/1.1\r\nHost: gw.test\r\n\r\n", got,
             sizeof got, "routing.no_proxy", 500);
    char *first = strstr(got, "routing.no_group"), *second = strstr(got, "routing.no_proxy");
    CHECK(first != NULL && second != NULL && first < second);
    CHECK(strncmp(got, "HTTP/1.1 404 ", 13) == 0);
    CHECK(strstr(got, "Connection: close") == NULL);
    /* still usable: an encoded slash is refused with 400 and the connection closes */
    exchange(fd, "GET /api/%2f../admin HTTP/1.1\r\nHost: gw.test\r\n\r\n", got, sizeof got, "}}", 500);
    CHECK(strncmp(got, "HTTP/1.1 400 ", 13) == 0);
    CHECK(strstr(got, "request.encoded_slash") != NULL);
    CHECK(eof_within(fd, 500));
    close(fd);

    /* malformed (CL + TE): 400, closed */
    fd = connect_client();
    exchange(fd, "POST /api HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
             got, sizeof got, "}}", 500);
    CHECK(strncmp(got, "HTTP/1.1 400 ", 13) == 0);
    CHECK(strstr(got, "request.malformed") != NULL);
    close(fd);

    /* WebSocket handshakes: a bad key is 400, an old version 426 with the version we speak */
    fd = connect_client();
    exchange(fd, "GET /api HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n",
             got, sizeof got, "}}", 500);
    CHECK(strncmp(got, "HTTP/1.1 400 ", 13) == 0);
    CHECK(strstr(got, "websocket.bad_key") != NULL);
    close(fd);
    fd = connect_client();
    exchange(fd, "GET /api HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
             got, sizeof got, "}}", 500);
    CHECK(strncmp(got, "HTTP/1.1 426 ", 13) == 0);
    CHECK(strstr(got, "Sec-WebSocket-Version: 13\r\n") != NULL);
    close(fd);

    /* a head that does not arrive in time: 408 */
    fd = connect_client();
    exchange(fd, "GET /api HTTP/1.1\r\nHost: gw", got, sizeof got, "}}", 600);
    CHECK(strncmp(got, "HTTP/1.1 408 ", 13) == 0);
    close(fd);
}

static void test_forwarded(void)
{
    char got[8192];
    num_counted = 0;
    int fd = connect_client();
    exchange(fd, "GET /api/items HTTP/1.1\r\nHost: gw.test\r\n\r\n", got, sizeof got, "ok /items", 1000);
    CHECK(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(got, "ok /items") != NULL);
    pthread_mutex_lock(&backend_lock);
    CHECK(strstr(backend_last_head, "GET /items HTTP/1.1\r\n") == backend_last_head);
    CHECK(strstr(backend_last_head, "X-Forwarded-For: 192.0.2.44\r\n") != NULL);
    pthread_mutex_unlock(&backend_lock);
    /* keep-alive: the next request on the same connection, through the pooled upstream */
    exchange(fd, "GET /api/more HTTP/1.1\r\nHost: gw.test\r\n\r\n", got, sizeof got, "ok /more", 1000);
    CHECK(strstr(got, "ok /more") != NULL);
    CHECK(num_counted >= 2);
    CHECK_EQ_STR(counted[0], "t/api 200");
    close(fd);

    /* the policies refuse the second request (quota 1): a 429 that carries the CORS edit of the policy before */
    fd = connect_client();
    exchange(fd, "GET /limited HTTP/1.1\r\nHost: gw.test\r\nOrigin: https://x.test\r\n\r\n", got, sizeof got,
             "ok /", 1000);
    CHECK(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
    exchange(fd, "GET /limited HTTP/1.1\r\nHost: gw.test\r\nOrigin: https://x.test\r\n\r\n", got, sizeof got, "}}",
             1000);
    CHECK(strncmp(got, "HTTP/1.1 429 ", 13) == 0);
    CHECK(strstr(got, "Access-Control-Allow-Origin: *\r\n") != NULL);
    CHECK(strstr(got, "Retry-After: ") != NULL);
    CHECK_EQ_STR(counted[num_counted - 1], "t/limited 429");
    CHECK_EQ_STR(last_rejection, "quota quota.exceeded");
    close(fd);
}

static void test_upgrade_to_tunnel(void)
{
    char got[8192];
    int fd = connect_client();
    exchange(fd, "GET /api/ws HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
             got, sizeof got, "\r\n\r\n", 1000);
    CHECK(strncmp(got, "HTTP/1.1 101 ", 13) == 0);
    CHECK(strstr(got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    /* the connection left the server for a tunnel */
    CHECK_EQ_INT(tg_session_list_count(&sessions), 1);
    CHECK_EQ_INT(server.num_conns, 0);
    CHECK_EQ_INT(atomic_load(&counters.ws_sessions_active), 1);
    CHECK_EQ_STR(counted[num_counted - 1], "t/api 101");
    uint8_t frame[64];
    static const uint8_t mask[4] = {9, 8, 7, 6};
    size_t len = tg_ws_build_frame(frame, TG_WS_TEXT, 1, (const uint8_t *)"echo me", 7, mask);
    char echoed[256];
    CHECK_EQ_INT(write(fd, frame, len), (ssize_t)len);
    size_t n = exchange(fd, NULL, echoed, sizeof echoed, NULL, 300);
    uint8_t unmasked[64];
    size_t ulen = tg_ws_build_frame(unmasked, TG_WS_TEXT, 1, (const uint8_t *)"echo me", 7, NULL);
    CHECK_EQ_INT(n, ulen); /* the backend echoes it unmasked: relayed byte for byte both ways */
    CHECK(memcmp(echoed, unmasked, ulen) == 0);
    /* the drain: close 1001 to the client */
    tg_tunnels_drain(&tunnels);
    n = exchange(fd, NULL, echoed, sizeof echoed, NULL, 300);
    CHECK(n >= 4 && (uint8_t)echoed[0] == 0x88 && (((uint8_t)echoed[2] << 8) | (uint8_t)echoed[3]) == 1001);
    close(fd);
    for (int i = 0; i < 1500 && tg_session_list_count(&sessions) > 0; i++) {
        ev_run(w.loop, EVRUN_NOWAIT);
        usleep(1000);
    }
    CHECK_EQ_INT(tg_session_list_count(&sessions), 0);
}

int main(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    backend_listen = socket(AF_INET, SOCK_STREAM, 0);
    bind(backend_listen, (struct sockaddr *)&sin, sizeof sin);
    listen(backend_listen, 16);
    socklen_t sl = sizeof sin;
    getsockname(backend_listen, (struct sockaddr *)&sin, &sl);
    backend_port = ntohs(sin.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, backend_main, NULL);

    tg_worker_init(&w, 0);
    settings = (struct tg_proxy_settings){.listen_addr = "127.0.0.1:0", .max_head_bytes = 32768,
                                          .request_head_timeout_ms = 300, .keepalive_timeout_ms = 5000,
                                          .upstream_idle_timeout_ms = 5000, .upstream_pool_per_endpoint = 4};
    tg_upstream_pool_init(&pool, &w, settings.upstream_idle_timeout_ms, settings.upstream_pool_per_endpoint);
    tg_session_list_init(&sessions);
    tunnels = (struct tg_tunnel_env){.w = &w, .counters = &counters, .sessions = &sessions};
    tg_http_server_init(&server, &w, &settings, &counters, &pool, &tunnels);
    server.metrics = &metrics_hooks;

    test_own_answers();
    test_forwarded();
    test_upgrade_to_tunnel();

    tg_http_server_close_all(&server);
    tg_tunnels_destroy_all(&tunnels);
    tg_upstream_pool_close_all(&pool);
    ev_run(w.loop, EVRUN_NOWAIT);
    CHECK_EQ_INT(atomic_load(&counters.connections_active), 0);
    tg_snapshot_unref(server.snapshot);
    tg_upstream_pool_destroy(&pool);
    tg_session_list_destroy(&sessions);
    tg_worker_destroy(&w);
    shutdown(backend_listen, SHUT_RDWR);
    close(backend_listen);
    TG_TEST_MAIN_END();
}
