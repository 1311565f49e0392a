/* health.c — see health.h. Built on the project's small HTTP server (common/mini_http_server.h): bounded heads,
 * one request per connection, at most TG_HEALTH_MAX_CONNS at a time. */
#include "process/health.h"

#include "log.h"
#include "mini_http_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_health {
    struct tg_mini_server server;
    struct tg_health_handlers h;
};

static const char *const TEXT = "text/plain; charset=utf-8";

static void on_request(struct tg_mini_request *req, void *ctx)
{
    struct tg_health *hs = ctx;
    int healthz = strcmp(req->path, "/healthz") == 0, readyz = strcmp(req->path, "/readyz") == 0,
        metrics = strcmp(req->path, "/metrics") == 0;
    if (!healthz && !readyz && !metrics) {
        tg_mini_respond(req->conn, 404, TEXT, "not found\n", 10);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        tg_mini_respond(req->conn, 405, TEXT, "method not allowed\n", 19);
        return;
    }
    if (healthz) {
        tg_mini_respond(req->conn, 200, TEXT, "ok\n", 3);
    } else if (readyz) {
        if (hs->h.ready && hs->h.ready(hs->h.arg))
            tg_mini_respond(req->conn, 200, TEXT, "ready\n", 6);
        else
            tg_mini_respond(req->conn, 503, TEXT, "not ready: no snapshot acknowledged yet\n", 40);
    } else {
        char *body = NULL;
        size_t len = 0;
        if (!hs->h.metrics || hs->h.metrics(hs->h.arg, &body, &len) < 0) {
            tg_mini_respond(req->conn, 500, TEXT, "metrics unavailable\n", 20);
            return;
        }
        tg_mini_respond(req->conn, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
        free(body);
    }
}

struct tg_health *tg_health_new(struct ev_loop *loop, const char *addr, const struct tg_health_handlers *h,
                                char *err, size_t errlen)
{
    struct tg_health *hs = calloc(1, sizeof *hs);
    if (!hs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    hs->h = *h;
    /* ":9902" means all addresses, as the flag's documentation says */
    char spec[300];
    snprintf(spec, sizeof spec, "%s%s", addr[0] == ':' ? "0.0.0.0" : "", addr);
    if (!strchr(spec, ':') || strchr(spec, '/') ||
        tg_mini_server_listen(&hs->server, loop, spec, 0, on_request, hs) != 0) {
        snprintf(err, errlen, "--health %s: cannot listen (want ADDR:PORT)", addr);
        free(hs);
        return NULL;
    }
    hs->server.max_conns = TG_HEALTH_MAX_CONNS;
    return hs;
}

void tg_health_free(struct tg_health *hs)
{
    if (!hs)
        return;
    tg_mini_server_close(&hs->server);
    free(hs);
}
