/* test_dp_forwarder.c — proxy/forwarder.c driven alone through its interface: the inbound side is a socketpair
 * (the test plays the client), the upstream a real listening socket on 127.0.0.1 (the test plays the backend),
 * the worker's loop is run by the test and upstream events come back through the wake callback. Checked: the
 * rewritten request head (hop-by-hop fields gone, X-Forwarded-*, base path stripped, target prefix, policy
 * edits), the response relayed with its head rewritten and the result DONE with a reusable upstream; a valid 101
 * gives UPGRADED and an invalid Sec-WebSocket-Accept FAILED 502; no endpoints gives FAILED 503; a refused connect
 * FAILED 502; the owner's timeout FAILED 504; a client gone in the middle of a response ABORT. */
#include "clock.h"
#include "config/endpoint.h"
#include "loop/worker.h"
#include "proxy/forwarder.h"
#include "proxy/upstream_pool.h"
#include "tg_test.h"
#include "tg_test_net.h"
#include "ws_frame.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct rig {
    struct tg_worker w;
    struct tg_upstream_pool pool;
    struct tg_counters counters;
    struct tg_http_head scratch;
    struct tg_forward_env env;
    struct tg_proxy_cfg proxy;
    struct tg_endpoint *eps[1];
    struct tg_route route;
    struct tg_conn client;          /* the forwarder's inbound connection */
    int client_peer;                /* the test's end of it */
    int listen_fd, port;
    struct tg_forwarder f;
    enum tg_forward_result last;
    int wakes;
};

static void on_wake(void *owner)
{
    struct rig *r = owner;
    r->wakes++;
    enum tg_forward_result res = tg_forwarder_pump(&r->f);
    if (res != TG_FORWARD_BUSY)
        r->last = res;
}

static void rig_up(struct rig *r, const char *base_path, const char *prefix)
{
    memset(r, 0, sizeof *r);
    tg_worker_init(&r->w, 0);
    tg_upstream_pool_init(&r->pool, &r->w, 60000, 4);
    r->env = (struct tg_forward_env){&r->w, &r->pool, &r->counters, &r->scratch, 32768};
    r->listen_fd = listen_local(&r->port);
    char err[64];
    r->eps[0] = tg_endpoint_intern("127.0.0.1", r->port, err, sizeof err);
    r->proxy.id = "ns/api";
    r->proxy.base_path = base_path;
    r->proxy.base_path_len = strlen(base_path);
    r->proxy.strip_base_path = 1;
    r->proxy.path_prefix = prefix;
    r->proxy.path_prefix_len = strlen(prefix);
    r->proxy.endpoints = r->eps;
    r->proxy.num_endpoints = 1;
    r->proxy.connect_timeout_ms = 1000;
    r->route.proxy = &r->proxy;
    r->route.environment = "prod";
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    tg_conn_init(&r->client, sv[0], NULL, NULL);
    r->client_peer = sv[1];
    tg_forwarder_init(&r->f, &r->env, &r->client, on_wake, r);
}

static void rig_down(struct rig *r)
{
    tg_forwarder_release(&r->f, 0);
    tg_conn_close(r->w.loop, &r->client, &r->w.bufs);
    close(r->client_peer);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    tg_upstream_pool_close_all(&r->pool);
    ev_run(r->w.loop, EVRUN_NOWAIT);
    tg_upstream_pool_destroy(&r->pool);
    tg_worker_destroy(&r->w);
}

/* Puts request into the inbound buffer (as the server connection would have read it) and fills in the
 * request's attributes from its parsed head; returns the head (malloc'd, as the server hands it over). */
static struct tg_http_head *request(struct rig *r, const char *text)
{
    tg_forwarder_begin(&r->f);
    if (!r->client.in)
        r->client.in = tg_buf_get(&r->w.bufs);
    tg_buf_append(r->client.in, text, strlen(text));
    struct tg_http_head *h = malloc(sizeof *h);
    CHECK_EQ_INT(tg_http1_parse_request(tg_buf_start(r->client.in), tg_buf_len(r->client.in), 32768, h), TG_HTTP_OK);
    r->f.route = &r->route;
    r->f.peer_ip = "192.0.2.9";
    r->f.path = h->target;
    snprintf(r->f.method, sizeof r->f.method, "%.*s", (int)h->method.len, h->method.ptr);
    r->f.keep_alive = (unsigned char)h->keep_alive;
    r->f.req_framing = h->framing;
    r->f.req_body_left = h->framing == TG_BODY_LENGTH ? h->content_length : 0;
    r->f.req_done = h->framing == TG_BODY_NONE;
    r->f.started_ms = tg_now_ms();
    r->last = TG_FORWARD_BUSY;
    return h;
}

/* Runs the loop until the forwarder returned something other than BUSY, or ms pass. */
static void run_until_result(struct rig *r, int ms)
{
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    while (r->last == TG_FORWARD_BUSY && tg_now_ms() < end) {
        ev_run(r->w.loop, EVRUN_NOWAIT);
        usleep(500);
    }
}

/* Reads from a blocking-or-not fd until text ends with "\r\n\r\n" (a head) or ms pass. */
static size_t read_head(struct rig *r, int fd, char *out, size_t cap, int ms)
{
    size_t have = 0;
    uint64_t end = tg_now_ms() + (uint64_t)ms;
    out[0] = '\0';
    while (tg_now_ms() < end && have + 1 < cap) {
        ev_run(r->w.loop, EVRUN_NOWAIT);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1) <= 0)
            continue;
        ssize_t n = read(fd, out + have, cap - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        out[have] = '\0';
        if (strstr(out, "\r\n\r\n"))
            break;
    }
    return have;
}

static void test_get_relayed(void)
{
    struct rig r;
    rig_up(&r, "/api", "/v1");
    struct tg_policy_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    tg_policy_set_request_header(&ctx, "x-env", "prod");
    tg_policy_remove_request_header(&ctx, "x-api-key");
    tg_policy_set_response_header(&ctx, "x-served-by", "tollgate");
    struct tg_http_head *h = request(&r, "GET /api/items?id=3 HTTP/1.1\r\nHost: gw.example\r\nConnection: keep-alive, x-hop\r\n"
                                         "X-Hop: 1\r\nX-Api-Key: secret\r\nX-Forwarded-For: 10.0.0.1\r\nAccept: */*\r\n\r\n");
    r.f.policy = &ctx;
    enum tg_forward_result res = tg_forwarder_start(&r.f, &h);
    CHECK_EQ_INT(res, TG_FORWARD_BUSY);
    CHECK(h == NULL); /* the head was forwarded: freed, its bytes gone from the inbound buffer */
    CHECK_EQ_INT(tg_buf_len(r.client.in), 0);
    CHECK(r.f.up != NULL);
    CHECK_EQ_INT(atomic_load(&r.eps[0]->active), 1);
    int backend = accept(r.listen_fd, NULL, NULL);
    CHECK(backend >= 0);
    /* the loop connects and sends the rewritten head */
    ev_run(r.w.loop, EVRUN_NOWAIT);
    on_wake(&r);
    char head[4096];
    read_head(&r, backend, head, sizeof head, 1000);
    CHECK(strncmp(head, "GET /v1/items?id=3 HTTP/1.1\r\n", 29) == 0);
    /* the peer is not a trusted proxy: the client's X-Forwarded-For is replaced, never appended to */
    CHECK(strstr(head, "X-Forwarded-For: 192.0.2.9\r\n") != NULL);
    CHECK(strstr(head, "10.0.0.1") == NULL);
    CHECK(strstr(head, "X-Forwarded-Proto: http\r\n") != NULL);
    CHECK(strstr(head, "X-Forwarded-Host: gw.example\r\n") != NULL);
    CHECK(strstr(head, "x-env: prod\r\n") != NULL);
    CHECK(strstr(head, "Accept: */*\r\n") != NULL);
    CHECK(strstr(head, "X-Api-Key") == NULL);  /* removed by a policy edit */
    CHECK(strstr(head, "X-Hop") == NULL);      /* named by Connection: hop-by-hop */
    CHECK(strstr(head, "Connection") == NULL);
    /* the backend answers; the response reaches the client rewritten, and the exchange is DONE */
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\nX-Served-By: backend\r\n\r\nhello";
    CHECK_EQ_INT(write(backend, resp, strlen(resp)), (ssize_t)strlen(resp));
    run_until_result(&r, 1000);
    CHECK_EQ_INT(r.last, TG_FORWARD_DONE);
    CHECK_EQ_INT(r.f.status, 200);
    CHECK(r.f.up == NULL);
    CHECK_EQ_INT(atomic_load(&r.eps[0]->active), 0);
    CHECK_EQ_INT(r.pool.idle_counts[r.eps[0]->index], 1); /* kept for the next request */
    char got[4096];
    ssize_t n = read(r.client_peer, got, sizeof got - 1);
    CHECK(n > 0);
    got[n > 0 ? n : 0] = '\0';
    CHECK(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0);
    CHECK(strstr(got, "Keep-Alive") == NULL);
    CHECK(strstr(got, "x-served-by: tollgate\r\n") != NULL);
    CHECK(strstr(got, "X-Served-By: backend") == NULL); /* the policy's edit replaces the backend's field */
    CHECK(strstr(got, "\r\n\r\nhello") != NULL);

    /* the next request reuses the pooled connection */
    h = request(&r, "GET /api HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\nClose: named\r\n\r\n");
    r.f.policy = NULL;
    CHECK_EQ_INT(tg_forwarder_start(&r.f, &h), TG_FORWARD_BUSY);
    CHECK(r.f.up && r.f.up->reused);
    on_wake(&r);
    read_head(&r, backend, head, sizeof head, 1000);
    CHECK(strncmp(head, "GET /v1 HTTP/1.1\r\n", 18) == 0);
    CHECK(strstr(head, "Close: named") == NULL); /* a field named "close" is named by "Connection: close" */
    const char *resp2 = "HTTP/1.1 204 No Content\r\n\r\n";
    CHECK_EQ_INT(write(backend, resp2, strlen(resp2)), (ssize_t)strlen(resp2));
    run_until_result(&r, 1000);
    CHECK_EQ_INT(r.last, TG_FORWARD_DONE);
    /* a head without a body stays queued on the inbound connection: flushing it is the owner's job */
    CHECK(r.client.out != NULL);
    CHECK_EQ_INT(tg_conn_flush_buf(&r.client, r.client.out), 1);
    n = read(r.client_peer, got, sizeof got - 1);
    got[n > 0 ? n : 0] = '\0';
    CHECK(strstr(got, "HTTP/1.1 204 No Content\r\n") == got);
    CHECK(strstr(got, "Connection: close\r\n") != NULL); /* the client asked to close */
    close(backend);
    rig_down(&r);
}

static void test_upgrade(void)
{
    struct rig r;
    rig_up(&r, "/", "");
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    for (int valid = 1; valid >= 0; valid--) {
        struct tg_http_head *h = request(&r, "GET /chat HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                                             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        r.f.is_upgrade = 1;
        tg_ws_accept_for_key(key, strlen(key), r.f.ws_accept);
        CHECK_EQ_INT(tg_forwarder_start(&r.f, &h), TG_FORWARD_BUSY);
        int backend = accept(r.listen_fd, NULL, NULL);
        on_wake(&r);
        char head[4096];
        read_head(&r, backend, head, sizeof head, 1000);
        CHECK(strstr(head, "Connection: Upgrade\r\nUpgrade: websocket\r\n") != NULL);
        CHECK(strstr(head, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n") != NULL);
        char resp[256];
        snprintf(resp, sizeof resp,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: %s\r\n\r\n",
                 valid ? "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" : "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        CHECK_EQ_INT(write(backend, resp, strlen(resp)), (ssize_t)strlen(resp));
        run_until_result(&r, 1000);
        if (valid) {
            CHECK_EQ_INT(r.last, TG_FORWARD_UPGRADED);
            CHECK_EQ_INT(r.f.status, 101);
            /* the backend's 101 is queued for the client as is; the upstream is the owner's to move */
            CHECK(r.client.out && tg_buf_len(r.client.out) == strlen(resp));
            CHECK(r.f.up != NULL);
            struct tg_upstream *up = tg_forwarder_take_upstream(&r.f);
            CHECK(r.f.up == NULL);
            tg_upstream_release(up, 0);
            tg_buf_put(&r.w.bufs, r.client.out);
            r.client.out = NULL;
        } else {
            CHECK_EQ_INT(r.last, TG_FORWARD_FAILED);
            CHECK_EQ_INT(r.f.error.status, 502);
            CHECK_EQ_STR(r.f.error.code, "upstream.failed");
            CHECK(r.f.up == NULL);
        }
        close(backend);
    }
    rig_down(&r);
}

static void test_failures(void)
{
    struct rig r;
    rig_up(&r, "/", "");
    /* no endpoints: 503 at once, the head stays with the owner */
    r.proxy.num_endpoints = 0;
    struct tg_http_head *h = request(&r, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n");
    CHECK_EQ_INT(tg_forwarder_start(&r.f, &h), TG_FORWARD_FAILED);
    CHECK_EQ_INT(r.f.error.status, 503);
    CHECK_EQ_STR(r.f.error.code, "upstream.no_endpoints");
    CHECK(h != NULL);
    free(h);
    tg_buf_consume(r.client.in, tg_buf_len(r.client.in));
    r.proxy.num_endpoints = 1;

    /* the owner's deadline passes before the backend answers: 504 */
    h = request(&r, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n");
    CHECK_EQ_INT(tg_forwarder_start(&r.f, &h), TG_FORWARD_BUSY);
    int backend = accept(r.listen_fd, NULL, NULL);
    for (int i = 0; i < 200 && r.f.up && r.f.up->connecting; i++) {
        ev_run(r.w.loop, EVRUN_NOWAIT);
        on_wake(&r);
        usleep(500);
    }
    enum tg_forward_result res = tg_forwarder_timeout(&r.f);
    CHECK_EQ_INT(res, TG_FORWARD_FAILED);
    CHECK_EQ_INT(r.f.error.status, 504);
    CHECK_EQ_STR(r.f.error.code, "upstream.timeout");
    CHECK(r.f.up == NULL);
    close(backend);

    /* a response cut short after its head went out: ABORT (the client must see the end) */
    h = request(&r, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n");
    CHECK_EQ_INT(tg_forwarder_start(&r.f, &h), TG_FORWARD_BUSY);
    backend = accept(r.listen_fd, NULL, NULL);
    on_wake(&r);
    char head[1024];
    read_head(&r, backend, head, sizeof head, 1000);
    const char *part = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some";
    CHECK_EQ_INT(write(backend, part, strlen(part)), (ssize_t)strlen(part));
    for (int i = 0; i < 100 && !r.f.response_started; i++) {
        ev_run(r.w.loop, EVRUN_NOWAIT);
        usleep(500);
    }
    CHECK(r.f.response_started);
    close(backend);
    run_until_result(&r, 1000);
    CHECK_EQ_INT(r.last, TG_FORWARD_ABORT);
    CHECK_EQ_INT(tg_forwarder_timeout(&r.f), TG_FORWARD_ABORT); /* nothing can be answered any more */
    tg_forwarder_release(&r.f, 0);

    /* a refused connect: 502 (at once or from the pump) */
    close(r.listen_fd);
    r.listen_fd = -1;
    tg_upstream_pool_close_all(&r.pool);
    h = request(&r, "GET / HTTP/1.1\r\nHost: gw\r\n\r\n");
    res = tg_forwarder_start(&r.f, &h);
    if (res == TG_FORWARD_BUSY) {
        on_wake(&r);
        run_until_result(&r, 1000);
        res = r.last;
    }
    CHECK_EQ_INT(res, TG_FORWARD_FAILED);
    CHECK_EQ_INT(r.f.error.status, 502);
    CHECK_EQ_STR(r.f.error.code, "upstream.connect_failed");
    CHECK(atomic_load(&r.counters.upstream_connect_failures) >= 1);
    free(h);
    rig_down(&r);
}

/* tg_dechunk: the data only, whatever the split and however small the output room */
static void test_dechunk(void)
{
    static const char body[] = "5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
    size_t len = sizeof body - 1, end = len - 4;
    for (size_t split = 1; split <= len; split++) {
        for (size_t room = 1; room <= 12; room += 11) {
            struct tg_chunked_scanner sc;
            memset(&sc, 0, sizeof sc);
            char out[64];
            size_t o = 0, i = 0;
            enum tg_chunked_result r = TG_CHUNKED_MORE;
            for (int rounds = 0; rounds < 200 && r != TG_CHUNKED_DONE && i < len; rounds++) {
                size_t avail = (i < split ? split : len) - i;
                size_t used = 0, made = 0, cap = room < sizeof out - o ? room : sizeof out - o;
                r = tg_dechunk(&sc, body + i, avail, out + o, cap, &used, &made);
                CHECK(r != TG_CHUNKED_BAD);
                i += used;
                o += made;
            }
            CHECK_EQ_INT(r, TG_CHUNKED_DONE);
            CHECK_EQ_INT(i, end); /* the next message is left alone */
            CHECK_EQ_INT(o, 11);
            CHECK(memcmp(out, "hello world", 11) == 0);
        }
    }
    struct tg_chunked_scanner sc;
    memset(&sc, 0, sizeof sc);
    char out[16];
    size_t used = 0, made = 0;
    CHECK_EQ_INT(tg_dechunk(&sc, "5\nhello", 8, out, sizeof out, &used, &made), TG_CHUNKED_BAD);
    CHECK(tg_method_idempotent("GET") && tg_method_idempotent("PUT") && tg_method_idempotent("DELETE"));
    CHECK(!tg_method_idempotent("POST") && !tg_method_idempotent("PATCH") && !tg_method_idempotent("get"));
}

int main(void)
{
    test_dechunk();
    test_get_relayed();
    test_upgrade();
    test_failures();
    TG_TEST_MAIN_END();
}
