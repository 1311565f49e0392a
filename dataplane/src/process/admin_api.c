/* admin_api.c — the admin listener of DESIGN.md: GET /healthz, /readyz (200 once a snapshot is in force),
 * /metrics (Prometheus text), /config (version and summary of the live snapshot), /sessions (live WebSocket
 * sessions as JSON). Runs on the main thread; reads worker state only through locks and atomics: the sessions
 * through each worker's read-only session list (proxy/sessions.h). */
#include "process/dataplane.h"

#include "clock.h"
#include "config/upstream_tls.h"
#include "process/console.h"
#include "proxy/ws_kernel_relay.h"
#include "proxy/sessions.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void respond_json_value(void *conn, int status, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    tg_mini_respond_json(conn, status, text ? text : "{}");
    free(text);
    json_decref(value);
}

/* A proxy's TLS toward its backend as /config shows it: the name, verification, client certificate, revocation
 * check, version range and cipher lists when set (docs/operations.md) — never key material or the PEM texts. */
static json_t *upstream_tls_view(const struct tg_upstream_tls *t)
{
    json_t *v = json_pack("{s:s,s:b,s:b,s:b,s:s,s:s}", "serverName", t->server_name, "verify", t->verify,
                          "clientCertificate", t->client_cert, "crlCheck", t->crl_check, "minVersion",
                          tg_tls_protocol_version_name(t->protocol.min_version), "maxVersion",
                          tg_tls_protocol_version_name(t->protocol.max_version));
    if (v && t->protocol.ciphers)
        json_object_set_new(v, "ciphers", json_string(t->protocol.ciphers));
    if (v && t->protocol.cipher_suites)
        json_object_set_new(v, "cipherSuites", json_string(t->protocol.cipher_suites));
    return v;
}

static json_t *string_list(const char **items, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(items[i]));
    return arr;
}

static json_t *config_summary(const struct tg_dataplane *dp)
{
    const struct tg_snapshot *s = dp->current;
    json_t *out = json_object();
    json_object_set_new(out, "version", json_integer((json_int_t)dp->applied_version));
    char when[40] = "";
    if (dp->applied_wall_ms)
        tg_format_rfc3339(dp->applied_wall_ms, when, sizeof when);
    json_object_set_new(out, "appliedAt", json_string(when));
    json_object_set_new(out, "bootId", json_string(dp->boot_id));
    json_t *groups = json_array(), *proxies = json_array();
    for (size_t i = 0; s && i < s->num_groups; i++) {
        const struct tg_group_cfg *g = &s->groups[i];
        json_t *routes = json_array();
        for (size_t r = 0; r < g->num_routes; r++)
            json_array_append_new(routes, json_pack("{s:s,s:s,s:s}", "basePath", g->routes[r].proxy->base_path, "proxy",
                                                    g->routes[r].proxy->id, "environment", g->routes[r].environment));
        json_array_append_new(groups, json_pack("{s:s,s:o,s:o,s:o}", "id", g->id, "hostnames",
                                                string_list(g->hostnames, g->num_hostnames), "environments",
                                                string_list(g->environments, g->num_environments), "routes", routes));
    }
    for (size_t i = 0; s && i < s->num_proxies; i++) {
        const struct tg_proxy_cfg *px = &s->proxies[i];
        json_t *eps = json_array();
        for (size_t e = 0; e < px->num_endpoints; e++)
            json_array_append_new(eps, json_string(px->endpoints[e]->name));
        json_t *policies = json_array();
        for (size_t p = 0; p < px->num_policies; p++)
            json_array_append_new(policies, json_string(px->policies[p].type->name));
        json_array_append_new(proxies, json_pack("{s:s,s:s,s:o,s:o,s:o,s:b}", "id", px->id, "basePath", px->base_path,
                                                 "environments", string_list(px->environments, px->num_environments),
                                                 "endpoints", eps, "policies", policies, "websocket",
                                                 px->ws_enabled));
        if (px->tls) /* what the backend connection does, never its key material (docs/tls.md "Origination") */
            json_object_set_new(json_array_get(proxies, json_array_size(proxies) - 1), "tls",
                                upstream_tls_view(px->tls));
    }
    json_object_set_new(out, "groups", groups);
    json_object_set_new(out, "proxies", proxies);
    return out;
}

struct sessions_view {
    json_t *list;
    int worker;
    uint64_t now_ms; /* monotonic, for idleMs */
};

static void add_session(void *arg, const struct tg_session *s)
{
    struct sessions_view *v = arg;
    if (json_array_size(v->list) >= 100000)
        return;
    char id[32], started[40], client[TG_IP_TEXT_MAX];
    snprintf(id, sizeof id, "%llu", (unsigned long long)s->id);
    tg_session_client_ip(s, client);
    tg_format_rfc3339(s->started_wall_ms, started, sizeof started);
    /* a kernel-relayed session (--kernel-relay): what the BPF map counted since the session last collected */
    uint64_t kb[2], km[2], kernel_last;
    tg_krelay_pending(atomic_load_explicit(&s->kr_slot1, memory_order_relaxed), s->id, kb, km, &kernel_last);
    json_t *messages = json_pack(
        "{s:I,s:I}", "clientToBackend",
        (json_int_t)(atomic_load_explicit(&s->messages[TG_SESSION_C2B], memory_order_relaxed) + km[0]),
        "backendToClient", (json_int_t)(atomic_load_explicit(&s->messages[TG_SESSION_B2C], memory_order_relaxed) + km[1]));
    json_t *bytes = json_pack(
        "{s:I,s:I}", "clientToBackend",
        (json_int_t)(atomic_load_explicit(&s->bytes[TG_SESSION_C2B], memory_order_relaxed) + kb[0]),
        "backendToClient", (json_int_t)(atomic_load_explicit(&s->bytes[TG_SESSION_B2C], memory_order_relaxed) + kb[1]));
    uint64_t last = atomic_load_explicit(&s->last_activity_ms, memory_order_relaxed);
    if (kernel_last > last)
        last = kernel_last; /* the kernel relayed since the tunnel last collected */
    json_array_append_new(v->list, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:i,s:I}", "id", id, "environment",
                                             s->environment, "proxy", s->proxy->id, "client", client,
                                             "endpoint", s->ep->name, "startedAt", started, "messages", messages,
                                             "bytes", bytes, "worker", v->worker, "idleMs",
                                             (json_int_t)(v->now_ms > last ? v->now_ms - last : 0)));
}

static json_t *sessions_list(struct tg_dataplane *dp)
{
    struct sessions_view v = {json_array(), 0, tg_now_ms()};
    for (int i = 0; i < dp->num_workers; i++) {
        v.worker = i;
        tg_session_list_each(tg_proxy_worker_sessions(&dp->proxies[i]), add_session, &v);
    }
    return json_pack("{s:o}", "sessions", v.list);
}

void tg_admin_handle(struct tg_mini_request *req, void *ctx)
{
    struct tg_dataplane *dp = ctx;
    if (strncmp(req->path, "/debug/", 7) == 0) {
        tg_debug_api_handle(&dp->debug, req);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        tg_mini_respond_json(req->conn, 405, "{\"error\":{\"status\":405,\"code\":\"admin.method\",\"message\":\"GET only\"}}");
        return;
    }
    if (strcmp(req->path, "/healthz") == 0) {
        tg_mini_respond(req->conn, 200, "text/plain", "ok\n", 3);
    } else if (strcmp(req->path, "/readyz") == 0) {
        if (dp->current && !dp->stopping)
            tg_mini_respond(req->conn, 200, "text/plain", "ready\n", 6);
        else
            tg_mini_respond(req->conn, 503, "text/plain", dp->stopping ? "stopping\n" : "no snapshot yet\n",
                            dp->stopping ? 9 : 16);
    } else if (strcmp(req->path, "/metrics") == 0) {
        struct tg_metrics_text text = {0};
        tg_metrics_render(&text);
        tg_metrics_append_process(dp, &text);
        tg_metrics_append_loop(dp, &text);
        tg_mini_respond(req->conn, 200, "text/plain; version=0.0.4", text.data ? text.data : "",
                        text.data ? text.len : 0);
        free(text.data);
    } else if (strcmp(req->path, "/config") == 0) {
        respond_json_value(req->conn, 200, config_summary(dp));
    } else if (strcmp(req->path, "/sessions") == 0) {
        respond_json_value(req->conn, 200, sessions_list(dp));
    } else if (!tg_console_handle(req, dp)) { /* GET /routes, /console/ (process/console.c) */
        tg_mini_respond_json(req->conn, 404, "{\"error\":{\"status\":404,\"code\":\"admin.not_found\",\"message\":\"unknown admin endpoint\"}}");
    }
}
