/* policy_cors.c — the cors policy (Fetch standard, "CORS protocol"): preflights answered by the gateway,
 * Access-Control-* fields on the responses to allowed origins, and WebSocket upgrades from other origins
 * refused (browsers send Origin on WebSocket handshakes but apply no CORS check to them, RFC 6455 §10.2: the
 * server must).
 *
 * Snapshot (docs/policy-traffic.md):
 *   {"type":"cors","allowOrigins":["https://app.example.com","https://" "*.example.com"],
 *    "allowMethods":["GET","POST"],"allowHeaders":["content-type"],"exposeHeaders":["x-request-id"],
 *    "allowCredentials":false,"maxAge":600}
 * allowOrigins is required; allowMethods defaults to GET, HEAD, POST; maxAge absent: no Access-Control-Max-Age.
 *
 * A request without Origin passes untouched (not a browser, or same-origin navigation). With Origin:
 *   - preflight (OPTIONS with Access-Control-Request-Method): origin not allowed → 403 cors.origin_not_allowed;
 *     method not in allowMethods → 403 cors.method_not_allowed; a requested header not in allowHeaders
 *     (case-insensitive) → 403 cors.headers_not_allowed; otherwise 204 with Access-Control-Allow-Origin,
 *     -Allow-Methods, -Allow-Headers (the requested ones), -Allow-Credentials, -Max-Age and Vary — nothing
 *     reaches the backend;
 *   - WebSocket upgrade from an origin not allowed → 403 cors.origin_not_allowed;
 *   - other requests from an allowed origin get Access-Control-Allow-Origin (the origin, or "*" for the "*"
 *     pattern without credentials), Vary: Origin, -Allow-Credentials and -Expose-Headers as response edits;
 *     from other origins they pass without them (the browser then keeps the response from the page). */
#include "policy/policy.h"

#include "cors_origin.h"
#include "header_rules.h"
#include "policy/traffic/traffic_answer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ORIGINS 64
#define MAX_HEADERS 64
#define MAX_REQUESTED_HEADERS_LEN 512
#define EDIT_VALUE_MAX TG_EDIT_VALUE_MAX

struct cors_state {
    struct tg_origin_pattern origins[MAX_ORIGINS];
    size_t num_origins;
    int any;                         /* "*" is among the origins */
    char methods[8][8];
    size_t num_methods;
    char methods_joined[64];
    char headers[MAX_HEADERS][257];  /* lower case */
    size_t num_headers;
    char expose_joined[EDIT_VALUE_MAX + 1];
    int credentials;
    long max_age;                    /* -1: none */
};

static void cors_free(void *p) { free(p); }

/* A string array field: NULL (absent) is allowed; -1 after writing a reason. */
static int string_array(const json_t *spec, const char *name, size_t max, const json_t **out, char *err,
                        size_t err_size)
{
    if (tg_policy_array_field(spec, "", name, max, "strings", out, err, err_size) < 0)
        return -1;
    const json_t *v = *out;
    if (!v)
        return 0;
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) {
        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e)) {
            snprintf(err, err_size, "%s[%zu]: must be a string", name, i);
            return -1;
        }
    }
    return 0;
}

static void *cors_compile(const json_t *spec, char *err, size_t err_size, int *failed)
{
    static const char *const fields[] = {"allowOrigins",     "allowMethods", "allowHeaders", "exposeHeaders",
                                         "allowCredentials", "maxAge",       NULL};
    static const char *const known_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", NULL};
    struct cors_state *st = tg_policy_state_new(sizeof *st, err, err_size);
    if (!st || tg_policy_only_fields(spec, fields, "", err, err_size) < 0)
        goto fail;
    json_t *v;
    const json_t *origins, *methods, *headers, *expose;
    if (string_array(spec, "allowOrigins", MAX_ORIGINS, &origins, err, err_size) < 0 ||
        string_array(spec, "allowMethods", 8, &methods, err, err_size) < 0 ||
        string_array(spec, "allowHeaders", MAX_HEADERS, &headers, err, err_size) < 0 ||
        string_array(spec, "exposeHeaders", MAX_HEADERS, &expose, err, err_size) < 0)
        goto fail;
    if (!origins || json_array_size(origins) == 0) {
        snprintf(err, err_size, "allowOrigins: must list at least one origin");
        goto fail;
    }
    size_t i;
    json_array_foreach(origins, i, v) {
        const char *why = NULL;
        if (tg_origin_pattern_parse(json_string_value(v), &st->origins[i], &why) < 0) {
            snprintf(err, err_size, "allowOrigins[%zu]: %s", i, why);
            goto fail;
        }
        st->any |= st->origins[i].any;
    }
    st->num_origins = json_array_size(origins);
    const json_t *cred = json_object_get(spec, "allowCredentials");
    if (cred && !json_is_boolean(cred)) {
        snprintf(err, err_size, "allowCredentials: must be a boolean");
        goto fail;
    }
    st->credentials = json_is_true(cred);
    if (st->credentials && st->any) {
        snprintf(err, err_size, "allowCredentials: cannot be used with the origin \"*\" (Fetch standard)");
        goto fail;
    }
    if (!methods) {
        static const char *const defaults[] = {"GET", "HEAD", "POST"};
        for (i = 0; i < 3; i++)
            snprintf(st->methods[i], sizeof st->methods[i], "%s", defaults[i]);
        st->num_methods = 3;
    } else {
        json_array_foreach(methods, i, v) {
            const char *m = json_string_value(v);
            size_t k = 0;
            while (known_methods[k] && strcmp(known_methods[k], m) != 0)
                k++;
            if (!known_methods[k]) {
                snprintf(err, err_size, "allowMethods[%zu]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
                         i);
                goto fail;
            }
            snprintf(st->methods[st->num_methods++], sizeof st->methods[0], "%s", m);
        }
    }
    size_t o = 0;
    for (i = 0; i < st->num_methods; i++)
        o += (size_t)snprintf(st->methods_joined + o, sizeof st->methods_joined - o, "%s%s", i ? ", " : "",
                              st->methods[i]);
    if (headers) {
        json_array_foreach(headers, i, v) {
            const char *h = json_string_value(v);
            if (!tg_http_token_ok(h, strlen(h), 256)) {
                snprintf(err, err_size, "allowHeaders[%zu]: must be a header name", i);
                goto fail;
            }
            for (size_t k = 0; h[k]; k++)
                st->headers[i][k] = (char)(h[k] >= 'A' && h[k] <= 'Z' ? h[k] + 32 : h[k]);
        }
        st->num_headers = json_array_size(headers);
    }
    if (expose) {
        o = 0;
        json_array_foreach(expose, i, v) {
            const char *h = json_string_value(v);
            if (!tg_http_token_ok(h, strlen(h), 256)) {
                snprintf(err, err_size, "exposeHeaders[%zu]: must be a header name", i);
                goto fail;
            }
            int n = snprintf(st->expose_joined + o, sizeof st->expose_joined - o, "%s%s", i ? ", " : "", h);
            if (n < 0 || (size_t)n >= sizeof st->expose_joined - o) {
                snprintf(err, err_size, "exposeHeaders: together at most %d characters", EDIT_VALUE_MAX);
                goto fail;
            }
            o += (size_t)n;
        }
    }
    const json_t *max_age = json_object_get(spec, "maxAge");
    st->max_age = -1;
    if (max_age) {
        if (!json_is_integer(max_age) || json_integer_value(max_age) < 0 || json_integer_value(max_age) > 86400) {
            snprintf(err, err_size, "maxAge: must be an integer from 0 to 86400 (seconds)");
            goto fail;
        }
        st->max_age = (long)json_integer_value(max_age);
    }
    return st;
fail:
    cors_free(st);
    *failed = 1;
    return NULL;
}

static int origin_allowed(const struct cors_state *st, struct tg_slice origin)
{
    for (size_t i = 0; i < st->num_origins; i++)
        if (tg_origin_pattern_match(&st->origins[i], origin.ptr, origin.len))
            return 1;
    return 0;
}

/* Checks every name of Access-Control-Request-Headers against allowHeaders and writes them (lower case,
 * ", "-separated) into out. 0, or -1 when one is not allowed or the list is malformed or too long. */
static int check_requested_headers(const struct cors_state *st, struct tg_slice v, char *out, size_t out_size)
{
    size_t o = 0;
    out[0] = '\0';
    if (v.len > MAX_REQUESTED_HEADERS_LEN)
        return -1;
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < v.len && v.ptr[i] != ',' && v.ptr[i] != ' ' && v.ptr[i] != '\t')
            i++;
        size_t len = i - start;
        if (len == 0)
            break;
        if (!tg_http_token_ok(v.ptr + start, len, 256))
            return -1;
        int found = 0;
        for (size_t k = 0; k < st->num_headers && !found; k++)
            found = strlen(st->headers[k]) == len && strncasecmp(st->headers[k], v.ptr + start, len) == 0;
        if (!found)
            return -1;
        if (o + len + 3 >= out_size)
            return -1;
        if (o) {
            out[o++] = ',';
            out[o++] = ' ';
        }
        for (size_t k = 0; k < len; k++) {
            char c = v.ptr[start + k];
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        out[o] = '\0';
    }
    return 0;
}

static void answer_preflight(struct tg_policy_ctx *ctx, const struct cors_state *st, struct tg_slice origin,
                             const struct tg_http_header *method)
{
    if (origin.len > EDIT_VALUE_MAX || !origin_allowed(st, origin)) {
        tg_policy_reject(ctx, 403, "cors.origin_not_allowed", "this origin may not use this API", NULL);
        return;
    }
    int method_ok = 0;
    for (size_t i = 0; i < st->num_methods && !method_ok; i++)
        method_ok = method->value.len == strlen(st->methods[i]) &&
                    memcmp(method->value.ptr, st->methods[i], method->value.len) == 0; /* methods are case-sensitive */
    if (!method_ok) {
        tg_policy_reject(ctx, 403, "cors.method_not_allowed", "this method is not allowed for cross-origin requests",
                         NULL);
        return;
    }
    char requested[MAX_REQUESTED_HEADERS_LEN + 8] = "";
    const struct tg_http_header *acrh = tg_http_find_header(ctx->request, "access-control-request-headers");
    if (acrh && check_requested_headers(st, acrh->value, requested, sizeof requested) < 0) {
        tg_policy_reject(ctx, 403, "cors.headers_not_allowed",
                         "a requested header is not allowed for cross-origin requests", NULL);
        return;
    }
    char h[sizeof ctx->extra_headers];
    size_t o = 0;
    int star = st->any && !st->credentials;
    o += (size_t)snprintf(h + o, sizeof h - o, "Access-Control-Allow-Origin: %.*s\r\n", star ? 1 : (int)origin.len,
                          star ? "*" : origin.ptr);
    o += (size_t)snprintf(h + o, sizeof h - o, "Access-Control-Allow-Methods: %s\r\n", st->methods_joined);
    if (requested[0] && o < sizeof h)
        o += (size_t)snprintf(h + o, sizeof h - o, "Access-Control-Allow-Headers: %s\r\n", requested);
    if (st->credentials && o < sizeof h)
        o += (size_t)snprintf(h + o, sizeof h - o, "Access-Control-Allow-Credentials: true\r\n");
    if (st->max_age >= 0 && o < sizeof h)
        o += (size_t)snprintf(h + o, sizeof h - o, "Access-Control-Max-Age: %ld\r\n", st->max_age);
    if (o < sizeof h)
        snprintf(h + o, sizeof h - o, "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers\r\n");
    tg_policy_answer(ctx, 204, h);
}

static void cors_run(struct tg_policy_ctx *ctx, void *state)
{
    const struct cors_state *st = state;
    const struct tg_http_header *origin = tg_http_find_header(ctx->request, "origin");
    if (!origin) {
        tg_policy_continue(ctx);
        return;
    }
    const struct tg_http_header *acrm = tg_http_find_header(ctx->request, "access-control-request-method");
    if (acrm && ctx->request->method.len == 7 && memcmp(ctx->request->method.ptr, "OPTIONS", 7) == 0) {
        answer_preflight(ctx, st, origin->value, acrm);
        return;
    }
    /* the origin is echoed in a response edit: one that does not fit is treated as not allowed */
    int allowed = origin->value.len <= EDIT_VALUE_MAX && origin_allowed(st, origin->value);
    if (!allowed) {
        if (ctx->is_upgrade)
            tg_traffic_reject(ctx, 403, "cors.origin_not_allowed", "WebSocket connections from this origin are not "
                                                                   "allowed", NULL);
        else
            tg_policy_continue(ctx);
        return;
    }
    char value[EDIT_VALUE_MAX + 1];
    if (st->any && !st->credentials) {
        tg_policy_set_response_header(ctx, "Access-Control-Allow-Origin", "*");
    } else {
        snprintf(value, sizeof value, "%.*s", (int)origin->value.len, origin->value.ptr);
        tg_policy_set_response_header(ctx, "Access-Control-Allow-Origin", value);
        tg_policy_set_response_header(ctx, "Vary", "Origin");
    }
    if (st->credentials)
        tg_policy_set_response_header(ctx, "Access-Control-Allow-Credentials", "true");
    if (st->expose_joined[0])
        tg_policy_set_response_header(ctx, "Access-Control-Expose-Headers", st->expose_joined);
    tg_policy_continue(ctx);
}

const struct tg_policy_type tg_policy_cors = {
    .name = "cors",
    .compile = cors_compile,
    .run = cors_run,
    .free_state = cors_free,
};
