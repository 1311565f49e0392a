/* test_dp_control_api.c — the control socket (process/control_api.c on common/mini_http_server.c) when a
 * PUT /snapshot cannot be answered in time: the worker is initialised but its loop never runs, so it never
 * acknowledges; the control connection times out (408) and is freed; a late acknowledgement must then not touch
 * the freed connection (before the fix: a heap use-after-free under ASan, and the pending entry left behind). */
#include "process/dataplane.h"
#include "tg_test.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Runs the main loop until fd has an answer (or ms pass); returns what was read. */
static size_t loop_until_answer(struct ev_loop *loop, int fd, char *out, size_t size, int ms)
{
    size_t len = 0;
    for (int i = 0; i < ms; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1) == 1) {
            ssize_t n = recv(fd, out + len, size - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
        }
    }
    out[len] = '\0';
    return len;
}

int main(void)
{
    static struct tg_dataplane dp_storage;
    struct tg_dataplane *dp = &dp_storage;
    struct tg_proxy_settings settings = {.listen_addr = "127.0.0.1:0", .max_head_bytes = 32768,
                                         .request_head_timeout_ms = 5000, .keepalive_timeout_ms = 5000,
                                         .upstream_idle_timeout_ms = 5000, .upstream_pool_per_endpoint = 4};
    dp->config.proxy = settings;
    dp->num_workers = 1;
    dp->loop = ev_loop_new(EVFLAG_AUTO);
    tg_metrics_init(1);
    dp->workers = calloc(1, sizeof *dp->workers);
    dp->proxies = calloc(1, sizeof *dp->proxies);
    const struct tg_proxy_hooks hooks = {.owner = dp, .snapshot_applied = tg_control_worker_applied};
    CHECK_EQ_INT(tg_worker_init(&dp->workers[0], 0), 0);
    CHECK_EQ_INT(tg_proxy_worker_init(&dp->proxies[0], &dp->workers[0], &dp->config.proxy, tg_metrics_shard(0), &hooks),
                 0);
    ev_async_init(&dp->acks, tg_control_on_acks);
    dp->acks.data = dp;
    ev_async_start(dp->loop, &dp->acks);

    char path[64];
    snprintf(path, sizeof path, "/tmp/tg-control-test-%d.sock", (int)getpid());
    CHECK_EQ_INT(tg_mini_server_listen(&dp->control, dp->loop, path, 1u << 20, tg_control_handle, dp), 0);
    dp->control.on_abandon = tg_control_on_abandon;
    dp->control.timeout_ms = 200;

    const char *body = "{\"version\":7,\"groups\":[],\"proxies\":[]}";
    char req[256];
    int n = snprintf(req, sizeof req, "PUT /snapshot HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(body),
                     body);
    int fd = connect_unix(path);
    CHECK(fd >= 0);
    CHECK_EQ_INT(send(fd, req, (size_t)n, 0), n);
    char answer[1024];
    loop_until_answer(dp->loop, fd, answer, sizeof answer, 1000);
    CHECK(strncmp(answer, "HTTP/1.1 408", 12) == 0); /* no worker switched: the connection timed out */
    CHECK(dp->applied_version == 7);                  /* the snapshot itself stays applied */
    CHECK(dp->pending == NULL);                       /* and nobody waits to answer the freed connection */
    close(fd);
    for (int i = 0; i < 50; i++) /* the connection is freed */
        ev_run(dp->loop, EVRUN_NOWAIT);
    CHECK_EQ_INT(dp->control.num_conns, 0);

    /* the late acknowledgement: nothing to answer (before the fix, answer_applied wrote to freed memory) */
    tg_control_worker_applied(dp, 0, 7);
    for (int i = 0; i < 50; i++) {
        ev_run(dp->loop, EVRUN_NOWAIT);
        usleep(1000);
    }

    /* a PUT that is acknowledged in time is still answered 200 */
    body = "{\"version\":8,\"groups\":[],\"proxies\":[]}";
    n = snprintf(req, sizeof req, "PUT /snapshot HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    fd = connect_unix(path);
    CHECK_EQ_INT(send(fd, req, (size_t)n, 0), n);
    for (int i = 0; i < 20; i++)
        ev_run(dp->loop, EVRUN_NOWAIT);
    tg_control_worker_applied(dp, 0, 8);
    loop_until_answer(dp->loop, fd, answer, sizeof answer, 1000);
    CHECK(strncmp(answer, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(answer, "{\"applied\":8}") != NULL);
    close(fd);
    for (int i = 0; i < 50; i++)
        ev_run(dp->loop, EVRUN_NOWAIT);

    tg_mini_server_close(&dp->control);
    unlink(path);
    tg_proxy_worker_destroy(&dp->proxies[0]);
    tg_worker_destroy(&dp->workers[0]);
    tg_snapshot_unref(dp->current);
    free(dp->proxies);
    free(dp->workers);
    ev_loop_destroy(dp->loop);
    TG_TEST_MAIN_END();
}
