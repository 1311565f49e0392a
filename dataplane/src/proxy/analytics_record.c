/* analytics_record.c — see analytics_record.h: analytics JSON lines built on the worker thread. */
#include "proxy/analytics_record.h"

#include "clock.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tg_analytics_capture {
    const struct tg_analytics_hooks *hooks;
    json_t *rec;            /* the fields known so far */
    uint64_t started_us;
    uint64_t head_len;
};

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static json_t *str_n(const char *p, size_t n)
{
    json_t *v = json_stringn(p, n);
    return v ? v : json_string("");
}

struct tg_analytics_capture *tg_analytics_begin(const struct tg_analytics_hooks *hooks, const char *group_id,
                                                const struct tg_route *route, struct tg_slice host,
                                                struct tg_slice path, const char *client_ip, size_t head_len)
{
    if (!hooks || !hooks->emit)
        return NULL;
    struct tg_analytics_capture *cap = calloc(1, sizeof *cap);
    if (!cap)
        return NULL;
    size_t plen = 0;
    while (plen < path.len && path.ptr[plen] != '?' && plen < 2048)
        plen++;
    cap->hooks = hooks;
    cap->started_us = mono_us();
    cap->head_len = head_len;
    cap->rec = json_pack("{s:s,s:s,s:s,s:o,s:o,s:s}", "environment", route->environment, "group",
                         group_id ? group_id : "", "proxy", route->proxy->id, "host",
                         str_n(host.ptr, host.len < 256 ? host.len : 256), "path", str_n(path.ptr, plen), "clientIp",
                         client_ip ? client_ip : "");
    if (!cap->rec) {
        free(cap);
        return NULL;
    }
    return cap;
}

void tg_analytics_capture_free(struct tg_analytics_capture *cap)
{
    if (!cap)
        return;
    json_decref(cap->rec);
    free(cap);
}

static void emit(struct tg_analytics_capture *cap, const char *type)
{
    char when[40];
    tg_format_rfc3339(tg_wall_ms(), when, sizeof when);
    json_object_set_new(cap->rec, "type", json_string(type));
    json_object_set_new(cap->rec, "time", json_string(when));
    char *text = json_dumps(cap->rec, JSON_COMPACT);
    if (text) {
        size_t n = strlen(text);
        char *line = realloc(text, n + 2);
        if (line) {
            line[n] = '\n';
            line[n + 1] = '\0';
            cap->hooks->emit(cap->hooks->owner, line, n + 1);
        } else {
            free(text);
        }
    }
    tg_analytics_capture_free(cap);
}

struct tg_analytics_capture *tg_analytics_end(struct tg_analytics_capture *cap, int status,
                                              const struct tg_policy_ctx *policy, const struct tg_forwarder *fwd)
{
    if (!cap)
        return NULL;
    uint64_t now = mono_us();
    json_t *r = cap->rec;
    json_object_set_new(r, "status", json_integer(status));
    uint64_t policy_us = 0;
    const char *app = "", *key_id = "", *subject = "";
    if (policy) {
        for (size_t i = 0; i < policy->num_trace; i++)
            policy_us += policy->trace[i].micros;
        if (policy->num_trace && strcmp(policy->trace[policy->num_trace - 1].result, "continue") != 0) {
            json_object_set_new(r, "rejectedBy", json_string(policy->trace[policy->num_trace - 1].name));
            json_object_set_new(r, "rejectReason", json_string(policy->code[0] ? policy->code : "answered"));
        }
        if (policy->credential.kind != TG_CRED_NONE) {
            key_id = policy->credential.id;
            subject = policy->credential.subject;
        }
        app = policy->app;
    }
    json_object_set_new(r, "app", json_string(app[0] ? app : subject));
    json_object_set_new(r, "keyId", json_string(key_id));
    json_object_set_new(r, "subject", json_string(subject));
    json_object_set_new(r, "endpoint", fwd->endpoint ? json_string(fwd->endpoint->name) : json_null());
    json_t *lat = json_pack("{s:f,s:f}", "totalMs", (double)(now - cap->started_us) / 1000.0, "policiesMs",
                            (double)policy_us / 1000.0);
    if (fwd->endpoint && fwd->started_ms)
        json_object_set_new(lat, "targetMs", json_real((double)(tg_now_ms() - fwd->started_ms)));
    json_object_set_new(r, "latency", lat);
    uint64_t request_bytes = cap->head_len + fwd->req_body_bytes;
    json_object_set_new(r, "requestBytes", json_integer((json_int_t)request_bytes));
    json_object_set_new(r, "responseBodyBytes", json_integer((json_int_t)fwd->resp_body_bytes));
    if (status == 101)
        return cap; /* the session's record, written when it ends */
    emit(cap, "http");
    return NULL;
}

void tg_analytics_session_end(struct tg_analytics_capture *cap, const struct tg_session *s, uint64_t duration_ms,
                              unsigned close_code, const char *closed_by)
{
    if (!cap)
        return;
    json_t *r = cap->rec;
    uint64_t m[2], b[2];
    for (int d = 0; d < 2; d++) {
        m[d] = atomic_load_explicit(&s->messages[d], memory_order_relaxed);
        b[d] = atomic_load_explicit(&s->bytes[d], memory_order_relaxed);
    }
    json_object_set_new(r, "messages", json_pack("{s:I,s:I}", "clientToBackend", (json_int_t)m[0],
                                                 "backendToClient", (json_int_t)m[1]));
    json_object_set_new(r, "bytes", json_pack("{s:I,s:I}", "clientToBackend", (json_int_t)b[0], "backendToClient",
                                              (json_int_t)b[1]));
    json_object_set_new(r, "durationMs", json_integer((json_int_t)duration_ms));
    json_object_set_new(r, "closeCode", json_integer((json_int_t)close_code));
    json_object_set_new(r, "closedBy", json_string(closed_by));
    emit(cap, "websocket");
}
