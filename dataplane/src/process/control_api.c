/* control_api.c — the control socket (docs/control-protocol.md): PUT /snapshot validates a snapshot whole,
 * hands it to every worker and answers once every worker has switched; GET /snapshot/version tells a controller
 * what is applied and which process (bootId) applied it. */
#include "process/dataplane.h"
#include "process/policy_compiler.h"

#include "clock.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tg_dataplane_apply(struct tg_dataplane *dp, json_t *doc, json_t *errors, int *conflict)
{
    uint64_t t0 = tg_now_ns();
    *conflict = 0;
    struct tg_snapshot *snap = tg_snapshot_build_next(doc, dp->current, &tg_registered_policies, errors);
    if (!snap) {
        tg_metrics_snapshot_failed(1, (tg_now_ns() - t0) / 1000u);
        return 0;
    }
    if (snap->version < dp->applied_version) {
        char text[160];
        snprintf(text, sizeof text, "version %llu is older than the applied version %llu",
                 (unsigned long long)snap->version, (unsigned long long)dp->applied_version);
        json_array_append_new(errors, json_string(text));
        *conflict = 1;
        tg_snapshot_unref(snap);
        tg_metrics_snapshot_failed(1, (tg_now_ns() - t0) / 1000u);
        return 0;
    }
    snap->applied_wall_ms = tg_wall_ms();
    for (int i = 0; i < dp->num_workers; i++)
        tg_proxy_worker_post_snapshot(&dp->proxies[i], snap);
    tg_snapshot_unref(dp->current);
    dp->current = snap;
    dp->applied_version = snap->version;
    dp->applied_wall_ms = snap->applied_wall_ms;
    uint64_t micros = (tg_now_ns() - t0) / 1000u;
    tg_metrics_set_snapshot(snap->version, snap->applied_wall_ms, micros);
    tg_info("snapshot %llu applied: %zu groups, %zu proxies (%llu ms)", (unsigned long long)snap->version,
            snap->num_groups, snap->num_proxies, (unsigned long long)(micros / 1000u));
    return snap->version;
}

/* Called on a worker thread when it switched to a snapshot. */
void tg_control_worker_applied(void *owner, int worker, uint64_t version)
{
    struct tg_dataplane *dp = owner;
    atomic_store(&dp->acked[worker], version);
    ev_async_send(dp->loop, &dp->acks);
}

static int all_workers_at(struct tg_dataplane *dp, uint64_t version)
{
    for (int i = 0; i < dp->num_workers; i++)
        if (atomic_load(&dp->acked[i]) < version)
            return 0;
    return 1;
}

static void answer_applied(void *conn, uint64_t version)
{
    char body[64];
    snprintf(body, sizeof body, "{\"applied\":%llu}", (unsigned long long)version);
    tg_mini_respond_json(conn, 200, body);
}

void tg_control_on_acks(struct ev_loop *loop, ev_async *a, int revents)
{
    struct tg_dataplane *dp = a->data;
    struct tg_pending_apply **pp = &dp->pending;
    while (*pp) {
        struct tg_pending_apply *p = *pp;
        if (all_workers_at(dp, p->version)) {
            answer_applied(p->conn, p->version);
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

void tg_control_on_abandon(struct tg_mini_request *req, void *ctx)
{
    struct tg_dataplane *dp = ctx;
    for (struct tg_pending_apply **pp = &dp->pending; *pp;) {
        struct tg_pending_apply *p = *pp;
        if (p->conn == req->conn) { /* the snapshot stays applied; only the answer is given up */
            tg_warn("control: the answer for snapshot %llu was given up (the connection timed out before every "
                    "worker switched)", (unsigned long long)p->version);
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

static void respond_errors(void *conn, int status, json_t *errors, uint64_t applied)
{
    json_t *body = json_pack("{s:O}", "errors", errors);
    if (status == 409)
        json_object_set_new(body, "applied", json_integer((json_int_t)applied));
    char *text = json_dumps(body, JSON_COMPACT);
    tg_mini_respond_json(conn, status, text ? text : "{\"errors\":[]}");
    free(text);
    json_decref(body);
}

void tg_control_handle(struct tg_mini_request *req, void *ctx)
{
    struct tg_dataplane *dp = ctx;
    if (strcmp(req->path, "/snapshot/version") == 0 && strcmp(req->method, "GET") == 0) {
        char applied_at[40] = "";
        if (dp->applied_wall_ms)
            tg_format_rfc3339(dp->applied_wall_ms, applied_at, sizeof applied_at);
        char body[256];
        snprintf(body, sizeof body, "{\"applied\":%llu,\"appliedAt\":\"%s\",\"bootId\":\"%s\"}",
                 (unsigned long long)dp->applied_version, applied_at, dp->boot_id);
        tg_mini_respond_json(req->conn, 200, body);
        return;
    }
    if (strcmp(req->path, "/snapshot") == 0 && (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0)) {
        json_error_t jerr;
        json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
        json_t *errors = json_array();
        if (!doc) {
            char text[300];
            snprintf(text, sizeof text, "snapshot: invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
                     jerr.text);
            json_array_append_new(errors, json_string(text));
            tg_metrics_snapshot_failed(0, 0);
            respond_errors(req->conn, 400, errors, 0);
            json_decref(errors);
            return;
        }
        int conflict = 0;
        uint64_t version = tg_dataplane_apply(dp, doc, errors, &conflict);
        json_decref(doc);
        if (!version) {
            tg_warn("snapshot rejected: %zu error(s), first: %s", json_array_size(errors),
                    json_string_value(json_array_get(errors, 0)));
            respond_errors(req->conn, conflict ? 409 : 400, errors, dp->applied_version);
            json_decref(errors);
            return;
        }
        json_decref(errors);
        if (all_workers_at(dp, version)) {
            answer_applied(req->conn, version);
            return;
        }
        struct tg_pending_apply *p = calloc(1, sizeof *p);
        if (!p) {
            answer_applied(req->conn, version);
            return;
        }
        p->conn = req->conn;
        p->version = version;
        p->next = dp->pending;
        dp->pending = p;
        return;
    }
    tg_mini_respond_json(req->conn, 404, "{\"errors\":[\"unknown control endpoint\"]}");
}
