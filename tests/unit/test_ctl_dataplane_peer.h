/* test_ctl_dataplane_peer.h — the data plane's side of the control socket for the controller's unit tests
 * (test_ctl_push.c, test_ctl_pipeline.c): a real Unix socket served on the test's own libev loop by
 * common/mini_http_server.h, answering GET /snapshot/version and PUT /snapshot as docs/control-protocol.md says
 * (200 {"applied"}, 409 for an older version, 400 {"errors"}), with scripted failures, a settable bootId and a
 * record of every PUT. Header-only (static functions), included by one test file each. */
#ifndef TG_TEST_CTL_DATAPLANE_PEER_H
#define TG_TEST_CTL_DATAPLANE_PEER_H

#include "clock.h"
#include "mini_http_server.h"
#include "tg_test.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PUTS 64

/* The data plane's side of the control socket. */
struct dp {
    struct tg_mini_server srv;
    int listening;
    char path[128];
    char boot[32];
    uint64_t applied;
    int script[16];                 /* statuses for the next PUTs (0 = the real answer) */
    size_t nscript, next;
    uint64_t conflict_applied;      /* a scripted 409 reports (and sets) this applied version */
    uint64_t put_versions[MAX_PUTS];
    uint64_t put_ms[MAX_PUTS];
    size_t nputs, npolls;
    char last_groups[256];          /* content of the last accepted PUT (groups, compact) */
    json_t *last_doc;               /* the last accepted PUT (owned) */
};

static inline void on_request(struct tg_mini_request *req, void *ctx)
{
    struct dp *d = ctx;
    char body[256];
    if (strcmp(req->method, "GET") == 0 && strcmp(req->path, "/snapshot/version") == 0) {
        d->npolls++;
        snprintf(body, sizeof body, "{\"applied\":%llu,\"appliedAt\":\"2026-01-01T00:00:00Z\",\"bootId\":\"%s\"}",
                 (unsigned long long)d->applied, d->boot);
        tg_mini_respond_json(req->conn, 200, body);
        return;
    }
    if (strcmp(req->method, "PUT") != 0 || strcmp(req->path, "/snapshot") != 0) {
        tg_mini_respond_json(req->conn, 404, "{\"errors\":[\"no such path\"]}");
        return;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(req->body, req->body_len, 0, &jerr);
    uint64_t v = (uint64_t)json_integer_value(json_object_get(doc, "version"));
    if (d->nputs < MAX_PUTS) {
        d->put_versions[d->nputs] = v;
        d->put_ms[d->nputs] = tg_now_ms();
    }
    d->nputs++;
    int status = d->next < d->nscript ? d->script[d->next++] : 0;
    if (status == 409 || (status == 0 && v <= d->applied)) {
        if (status == 409)
            d->applied = d->conflict_applied;
        snprintf(body, sizeof body, "{\"errors\":[\"version %llu is older than the applied version %llu\"],"
                 "\"applied\":%llu}", (unsigned long long)v, (unsigned long long)d->applied,
                 (unsigned long long)d->applied);
        tg_mini_respond_json(req->conn, 409, body);
    } else if (status == 400) {
        tg_mini_respond_json(req->conn, 400, "{\"errors\":[\"groups[0].hostnames: bad\"]}");
    } else if (status) {
        tg_mini_respond_json(req->conn, status, "{\"errors\":[\"busy\"]}");
    } else {
        d->applied = v;
        char *g = json_dumps(json_object_get(doc, "groups"), JSON_COMPACT);
        snprintf(d->last_groups, sizeof d->last_groups, "%s", g ? g : "");
        free(g);
        json_decref(d->last_doc);
        d->last_doc = json_incref(doc);
        snprintf(body, sizeof body, "{\"applied\":%llu}", (unsigned long long)v);
        tg_mini_respond_json(req->conn, 200, body);
    }
    json_decref(doc);
}

static inline void dp_listen(struct dp *d, struct ev_loop *loop)
{
    CHECK_EQ_INT(tg_mini_server_listen(&d->srv, loop, d->path, 1 << 20, on_request, d), 0);
    d->listening = 1;
}

static inline void dp_close(struct dp *d)
{
    if (d->listening)
        tg_mini_server_close(&d->srv);
    d->listening = 0;
    unlink(d->path);
    json_decref(d->last_doc);
    d->last_doc = NULL;
}

static inline void dp_script(struct dp *d, const int *statuses, size_t n)
{
    memcpy(d->script, statuses, n * sizeof *statuses);
    d->nscript = n;
    d->next = 0;
}

#endif
