/* test_dp_proxy_worker.c — the proxying layer's per-worker object (proxy/proxy_worker.c) on a real worker thread:
 * the listener on 127.0.0.1 hands connections to the inbound server, a posted snapshot is swapped in on the
 * worker's thread and reported through the snapshot_applied hook (an untaken one is dropped), answered requests
 * reach the metrics hooks' request_done, and the drain closes the idle keep-alive connection and ends the loop. */
#include "clock.h"
#include "loop/worker.h"
#include "process/policy_compiler.h"
#include "proxy/proxy_worker.h"
#include "tg_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static _Atomic uint64_t applied_version;
static _Atomic int applied_worker = -1;
static _Atomic int requests_counted;
static char last_counted[96];

static void snapshot_applied(void *owner, int worker, uint64_t version)
{
    CHECK(owner == &applied_version);
    atomic_store(&applied_worker, worker);
    atomic_store(&applied_version, version);
}

static void count_request(int worker, const struct tg_request_outcome *o)
{
    snprintf(last_counted, sizeof last_counted, "%d '%s' '%s' %d", worker, o->environment, o->proxy, o->status);
    atomic_fetch_add(&requests_counted, 1);
}

static const struct tg_metrics_hooks metrics_hooks = {.request_done = count_request};

static struct tg_snapshot *snapshot(int version)
{
    char text[256];
    snprintf(text, sizeof text,
             "{\"version\":%d,\"groups\":[{\"id\":\"t/g\",\"hostnames\":[\"gw.test\"],\"environments\":[\"prod\"]}],"
             "\"proxies\":[]}",
             version);
    json_t *doc = json_loads(text, 0, NULL);
    json_t *errors = json_array();
    struct tg_snapshot *s = tg_snapshot_build(doc, &tg_registered_policies, errors);
    json_decref(errors);
    json_decref(doc);
    return s;
}

static void *run(void *arg)
{
    tg_worker_run(arg);
    return NULL;
}

static int wait_for(_Atomic uint64_t *v, uint64_t want, int ms)
{
    for (int i = 0; i < ms && atomic_load(v) != want; i++)
        usleep(1000);
    return atomic_load(v) == want;
}

int main(void)
{
    struct tg_worker w;
    struct tg_proxy_worker pw;
    struct tg_counters counters;
    memset(&counters, 0, sizeof counters);
    struct tg_proxy_settings settings = {.listen_addr = "127.0.0.1:0", .max_head_bytes = 32768,
                                         .request_head_timeout_ms = 5000, .keepalive_timeout_ms = 5000,
                                         .upstream_idle_timeout_ms = 5000, .upstream_pool_per_endpoint = 4};
    struct tg_proxy_hooks hooks = {.owner = &applied_version, .snapshot_applied = snapshot_applied,
                                   .metrics = &metrics_hooks};
    CHECK_EQ_INT(tg_worker_init(&w, 2), 0);
    CHECK_EQ_INT(tg_proxy_worker_init(&pw, &w, &settings, &counters, &hooks), 0);
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(pw.listener.fd, (struct sockaddr *)&sin, &len);

    /* two posts before the thread runs: the first is dropped (its reference released), the second applied */
    struct tg_snapshot *s1 = snapshot(1), *s2 = snapshot(2);
    tg_proxy_worker_post_snapshot(&pw, s1);
    tg_proxy_worker_post_snapshot(&pw, s2);
    CHECK_EQ_INT(atomic_load(&s1->refs), 1); /* the worker's reference to s1 was dropped */
    tg_snapshot_unref(s1);
    pthread_t th;
    pthread_create(&th, NULL, run, &w);
    CHECK(wait_for(&applied_version, 2, 2000));
    CHECK_EQ_INT(atomic_load(&applied_worker), 2);
    CHECK_EQ_INT(atomic_load(&s2->refs), 2); /* ours and the worker's */

    /* a request through the listener: routed on the applied snapshot (group, no proxy: 404), counted */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ_INT(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    const char *req = "GET /x HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    CHECK_EQ_INT(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    char got[2048] = "";
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 2000) == 1) {
        ssize_t n = read(fd, got, sizeof got - 1);
        got[n > 0 ? n : 0] = '\0';
    }
    CHECK(strncmp(got, "HTTP/1.1 404 ", 13) == 0);
    CHECK(strstr(got, "routing.no_proxy") != NULL);
    CHECK_EQ_INT(atomic_load(&requests_counted), 1);
    CHECK_EQ_STR(last_counted, "2 '' '' 404");
    CHECK_EQ_INT(atomic_load(&counters.connections_accepted), 1);

    /* the drain: the idle keep-alive connection is closed, the loop ends without waiting for the deadline */
    uint64_t t0 = tg_now_ms();
    tg_worker_post_drain(&w, 5000);
    p.revents = 0;
    char c;
    CHECK(poll(&p, 1, 2000) == 1 && read(fd, &c, 1) == 0);
    pthread_join(th, NULL);
    CHECK(tg_now_ms() - t0 < 2000);
    CHECK_EQ_INT(atomic_load(&counters.connections_active), 0);
    close(fd);
    tg_proxy_worker_destroy(&pw);
    tg_worker_destroy(&w);
    CHECK_EQ_INT(atomic_load(&s2->refs), 1);
    tg_snapshot_unref(s2);
    TG_TEST_MAIN_END();
}
