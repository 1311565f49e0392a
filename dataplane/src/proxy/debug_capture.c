/* debug_capture.c — see debug_capture.h: a debug session's transaction records, built on the worker thread
 * only for requests a live session wants, always from redacted copies (auth_redact.h). */
#include "proxy/debug_capture.h"

#include "clock.h"
#include "policy/auth/auth_redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RECORDED_HEADERS 64
#define MAX_VALUE 512

struct tg_debug_capture {
    const struct tg_debug_hooks *hooks;
    const struct tg_proxy_cfg *proxy;
    uint64_t mask;
    uint64_t started_us;
    uint64_t response_head_us;
    json_t *txn;
    json_t *response_headers;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static json_t *slice_string(struct tg_slice s)
{
    json_t *v = json_stringn(s.ptr, s.len);
    return v ? v : json_string("");
}

/* headers as a list of {name, value}, each value redacted for px; at most MAX_RECORDED_HEADERS */
static json_t *redacted_headers(const struct tg_proxy_cfg *px, const struct tg_http_head *h)
{
    json_t *list = json_array();
    char value[MAX_VALUE];
    for (size_t i = 0; i < h->num_headers && i < MAX_RECORDED_HEADERS; i++) {
        tg_redact_header_value(px, h->headers[i].name, h->headers[i].value, value, sizeof value);
        json_t *v = json_string(value);
        json_array_append_new(list, json_pack("{s:o,s:o}", "name", slice_string(h->headers[i].name), "value",
                                              v ? v : json_string("")));
    }
    return list;
}

static void on_response_head(void *arg, const struct tg_http_head *h)
{
    struct tg_debug_capture *cap = arg;
    if (cap->response_headers)
        return; /* the final head only (interim 1xx heads come first and are not kept) */
    if (h->status >= 100 && h->status < 200 && h->status != 101)
        return;
    cap->response_head_us = mono_us();
    cap->response_headers = redacted_headers(cap->proxy, h);
}

struct tg_debug_capture *tg_debug_capture_begin(const struct tg_debug_hooks *hooks, const struct tg_route *route,
                                                struct tg_slice path, const struct tg_http_head *req,
                                                const char *client_ip, struct tg_forwarder *fwd)
{
    if (!hooks || !hooks->active || atomic_load_explicit(hooks->active, memory_order_relaxed) == 0)
        return NULL;
    const struct tg_proxy_cfg *px = route->proxy;
    uint64_t mask = hooks->wants(hooks->owner, route->environment, px->id, path, req, client_ip);
    if (!mask)
        return NULL;
    struct tg_debug_capture *cap = calloc(1, sizeof *cap);
    if (!cap)
        return NULL;
    cap->hooks = hooks;
    cap->proxy = px;
    cap->mask = mask;
    cap->started_us = mono_us();
    char target[2048], when[40];
    tg_redact_target(px, path, target, sizeof target);
    tg_format_rfc3339(tg_wall_ms(), when, sizeof when);
    json_t *request = json_pack("{s:o,s:s,s:s,s:o}", "method", slice_string(req->method), "path", target,
                                "version", req->minor_version ? "HTTP/1.1" : "HTTP/1.0", "headers",
                                redacted_headers(px, req));
    cap->txn = json_pack("{s:s,s:s,s:s,s:s,s:o}", "time", when, "environment", route->environment, "proxy", px->id,
                         "clientIp", client_ip ? client_ip : "", "request", request);
    if (!cap->txn) {
        free(cap);
        return NULL;
    }
    fwd->on_response_head = on_response_head;
    fwd->on_response_head_arg = cap;
    return cap;
}

void tg_debug_capture_free(struct tg_debug_capture *cap)
{
    if (!cap)
        return;
    json_decref(cap->txn);
    json_decref(cap->response_headers);
    free(cap);
}

uint64_t tg_debug_capture_end(struct tg_debug_capture *cap, int status, const struct tg_policy_ctx *policy,
                              const struct tg_forwarder *fwd)
{
    if (!cap)
        return 0;
    uint64_t now = mono_us();
    json_t *txn = cap->txn;
    json_object_set_new(txn, "status", json_integer(status));
    json_t *policies = json_array();
    uint64_t policy_us = 0;
    for (size_t i = 0; policy && i < policy->num_trace; i++) {
        json_t *p = json_pack("{s:s,s:s,s:I}", "name", policy->trace[i].name, "result", policy->trace[i].result,
                              "micros", (json_int_t)policy->trace[i].micros);
        policy_us += policy->trace[i].micros;
        if (i + 1 == policy->num_trace && strcmp(policy->trace[i].result, "continue") != 0)
            json_object_set_new(p, "reason", json_string(policy->code[0] ? policy->code : policy->trace[i].result));
        json_array_append_new(policies, p);
    }
    json_object_set_new(txn, "policies", policies);
    json_object_set_new(txn, "endpoint", fwd->endpoint ? json_string(fwd->endpoint->name) : json_null());
    json_object_set_new(txn, "responseHeaders", cap->response_headers ? cap->response_headers : json_array());
    cap->response_headers = NULL;
    json_t *timings = json_pack("{s:I,s:I}", "totalMicros", (json_int_t)(now - cap->started_us), "policiesMicros",
                                (json_int_t)policy_us);
    if (fwd->endpoint && fwd->connected_ms)
        json_object_set_new(timings, "connectMillis",
                            json_integer((json_int_t)(fwd->connected_ms >= fwd->started_ms ? fwd->connected_ms - fwd->started_ms : 0)));
    if (cap->response_head_us)
        json_object_set_new(timings, "targetMicros", json_integer((json_int_t)(cap->response_head_us - cap->started_us)));
    json_object_set_new(txn, "timings", timings);
    int open = status == 101;
    if (open)
        json_object_set_new(txn, "state", json_string("open"));
    cap->txn = NULL;
    uint64_t handle = cap->hooks->record(cap->hooks->owner, cap->mask, txn, open);
    tg_debug_capture_free(cap);
    return handle;
}

void tg_debug_capture_ws_closed(const struct tg_debug_hooks *hooks, uint64_t handle, const struct tg_session *s,
                                uint64_t duration_ms, unsigned close_code, const char *closed_by)
{
    if (!hooks || !handle)
        return;
    uint64_t messages[2], bytes[2];
    for (int d = 0; d < 2; d++) {
        messages[d] = atomic_load_explicit(&s->messages[d], memory_order_relaxed);
        bytes[d] = atomic_load_explicit(&s->bytes[d], memory_order_relaxed);
    }
    json_t *ws = json_pack("{s:I,s:{s:I,s:I},s:{s:I,s:I},s:i,s:s}", "durationMs", (json_int_t)duration_ms,
                           "messages", "clientToBackend", (json_int_t)messages[0], "backendToClient",
                           (json_int_t)messages[1], "bytes", "clientToBackend", (json_int_t)bytes[0],
                           "backendToClient", (json_int_t)bytes[1], "closeCode", (int)close_code, "closedBy",
                           closed_by);
    if (ws)
        hooks->complete(hooks->owner, handle, ws);
}
