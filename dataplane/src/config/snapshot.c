/* snapshot.c — validation of the snapshot document and construction of the immutable structures the data plane
 * runs on: proxies (targets, endpoints, WebSocket limits, compiled policy lists), groups and their host and
 * base-path maps (read by router.c). Strict: unknown fields, wrong types and out-of-range values are errors
 * (docs/control-protocol.md); every error is collected, and a snapshot is built whole or not at all. */
#include "config/snapshot.h"

#include "config/tls_certs.h"
#include "config/upstream_tls.h"
#include "host_port.h"
#include "json_util.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct build {
    json_t *errors;
    struct tg_snapshot *snap;
    const struct tg_policy_compiler *policies;
};

static void add_error(struct build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_error(struct build *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tg_json_errors_vappend(b->errors, fmt, ap);
    va_end(ap);
}

/* Reports every key of obj that is not in allowed (NULL-terminated). */
static void check_keys(struct build *b, const json_t *obj, const char *path, const char *const *allowed)
{
    tg_json_errors_unknown_keys(b->errors, obj, path, allowed);
}

/* json_util.h reads a JSON null as absent (the Kubernetes habit); the snapshot is strict: a null where a value
 * may stand is a value of the wrong type. */
static int strict(int found, const json_t *obj, const char *key)
{
    return found == TG_JSON_ABSENT && json_object_get(obj, key) ? TG_JSON_WRONG_TYPE : found;
}

static const char *get_string(struct build *b, const json_t *obj, const char *path, const char *key, int required)
{
    const char *v = NULL;
    int found = strict(tg_json_get_string(obj, key, SIZE_MAX, &v), obj, key);
    if (found == TG_JSON_ABSENT) {
        if (required)
            add_error(b, "%s.%s: required", path, key);
        return required ? NULL : "";
    }
    if (found != TG_JSON_FOUND) {
        add_error(b, "%s.%s: must be a string", path, key);
        return NULL;
    }
    return v;
}

static int get_uint(struct build *b, const json_t *obj, const char *path, const char *key, uint64_t dflt,
                    uint64_t max, uint64_t *out)
{
    json_int_t v = 0;
    json_int_t hi = max < (uint64_t)INT64_MAX ? (json_int_t)max : INT64_MAX; /* a JSON integer is at most that */
    int found = strict(tg_json_get_int(obj, key, 0, hi, &v), obj, key);
    if (found == TG_JSON_ABSENT) {
        *out = dflt;
        return 0;
    }
    if (found != TG_JSON_FOUND) {
        add_error(b, "%s.%s: must be an integer from 0 to %llu", path, key, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

static int get_bool(struct build *b, const json_t *obj, const char *path, const char *key, int dflt)
{
    int v = dflt;
    if (strict(tg_json_get_bool(obj, key, &v), obj, key) == TG_JSON_WRONG_TYPE) {
        add_error(b, "%s.%s: must be true or false", path, key);
        return dflt;
    }
    return v;
}

/* A string array (non-empty strings); returns a malloc'd array of pointers into the document. */
static const char **get_string_array(struct build *b, const json_t *obj, const char *path, const char *key,
                                     size_t *count, int required)
{
    *count = 0;
    json_t *arr = json_object_get(obj, key);
    if (!arr) {
        if (required)
            add_error(b, "%s.%s: required", path, key);
        return NULL;
    }
    if (!json_is_array(arr)) {
        add_error(b, "%s.%s: must be an array of strings", path, key);
        return NULL;
    }
    size_t n = json_array_size(arr);
    const char **out = calloc(n ? n : 1, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || json_string_length(v) == 0) {
            add_error(b, "%s.%s[%zu]: must be a non-empty string", path, key, i);
            continue;
        }
        out[(*count)++] = json_string_value(v);
    }
    return out;
}

/* "/" or "/seg(/seg)*", segments of visible ASCII except '?', '#', no "." or ".." segments, no "//". */
static int base_path_is_valid(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || p[0] != '/')
        return 0;
    if (len == 1)
        return 1;
    if (p[len - 1] == '/')
        return 0;
    const char *seg = p + 1;
    for (size_t i = 1; i <= len; i++) {
        if (i == len || p[i] == '/') {
            size_t seg_len = (size_t)(p + i - seg);
            if (seg_len == 0 || (seg_len == 1 && seg[0] == '.') || (seg_len == 2 && seg[0] == '.' && seg[1] == '.'))
                return 0;
            seg = p + i + 1;
            continue;
        }
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
            return 0;
    }
    return 1;
}

static void build_target(struct build *b, struct tg_proxy_cfg *px, const json_t *target, const char *path)
{
    static const char *const keys[] = {"pathPrefix", "endpoints", "tls", "connectTimeoutMs", "timeoutMs",
                                       "loadBalancing", NULL};
    check_keys(b, target, path, keys);
    px->path_prefix = get_string(b, target, path, "pathPrefix", 0);
    if (px->path_prefix && px->path_prefix[0] && px->path_prefix[0] != '/')
        add_error(b, "%s.pathPrefix: must be empty or start with \"/\"", path);
    if (!px->path_prefix)
        px->path_prefix = "";
    px->path_prefix_len = strlen(px->path_prefix);

    /* TLS first: its settings' digest is part of each endpoint's identity (endpoint.h) */
    json_t *tls = json_object_get(target, "tls");
    if (tls) {
        static const char *const tls_keys[] = {"enabled", "serverName", "caPem", "clientCertPem", "clientKeyPem",
                                               "insecureSkipVerify", "minVersion", "maxVersion", "ciphers",
                                               "cipherSuites", "crlPem", NULL};
        char tls_path[128];
        snprintf(tls_path, sizeof tls_path, "%s.tls", path);
        if (!json_is_object(tls)) {
            add_error(b, "%s: must be an object", tls_path);
        } else {
            check_keys(b, tls, tls_path, tls_keys);
            if (get_bool(b, tls, tls_path, "enabled", 0))
                px->tls = tg_upstream_tls_build(tls, tls_path, px->id, b->errors);
        }
    }
    const char *profile = px->tls ? px->tls->profile : NULL;

    json_t *eps = json_object_get(target, "endpoints");
    if (!json_is_array(eps)) {
        add_error(b, "%s.endpoints: required array", path);
    } else {
        size_t n = json_array_size(eps);
        px->endpoints = calloc(n ? n : 1, sizeof *px->endpoints);
        for (size_t i = 0; px->endpoints && i < n; i++) {
            json_t *ep = json_array_get(eps, i);
            char ep_path[160];
            snprintf(ep_path, sizeof ep_path, "%s.endpoints[%zu]", path, i);
            if (!json_is_object(ep)) {
                add_error(b, "%s: must be an object", ep_path);
                continue;
            }
            static const char *const ep_keys[] = {"address", "port", NULL};
            check_keys(b, ep, ep_path, ep_keys);
            const char *addr = get_string(b, ep, ep_path, "address", 1);
            json_t *port = json_object_get(ep, "port");
            if (!json_is_integer(port)) {
                add_error(b, "%s.port: required integer", ep_path);
                continue;
            }
            if (!addr)
                continue;
            char err[128];
            struct tg_endpoint *e = tg_endpoint_intern_tls(addr, (long)json_integer_value(port), profile, err,
                                                           sizeof err);
            if (!e) {
                add_error(b, "%s: %s", ep_path, err);
                continue;
            }
            px->endpoints[px->num_endpoints++] = e;
        }
    }

    uint64_t v;
    if (get_uint(b, target, path, "connectTimeoutMs", 5000, 3600000, &v) == 0)
        px->connect_timeout_ms = (uint32_t)(v ? v : 5000);
    if (get_uint(b, target, path, "timeoutMs", 60000, 86400000, &v) == 0)
        px->timeout_ms = (uint32_t)v;
    const char *lb = get_string(b, target, path, "loadBalancing", 0);
    if (lb && (!*lb || strcmp(lb, "roundRobin") == 0))
        px->lb = TG_LB_ROUND_ROBIN;
    else if (lb && strcmp(lb, "leastConnections") == 0)
        px->lb = TG_LB_LEAST_CONNECTIONS;
    else if (lb && strcmp(lb, "random") == 0)
        px->lb = TG_LB_RANDOM;
    else if (lb)
        add_error(b, "%s.loadBalancing: must be roundRobin, leastConnections or random", path);
}

static void report_policy_error(void *arg, const char *text) { add_error(arg, "%s", text); }

static void build_policies(struct build *b, struct tg_proxy_cfg *px, const json_t *list, const char *path)
{
    if (!list)
        return;
    if (!b->policies) {
        if (!json_is_array(list) || json_array_size(list) > 0)
            add_error(b, "%s: policies are not supported here", path);
        return;
    }
    px->policies = b->policies->compile(list, path, &px->num_policies, report_policy_error, b);
}

static void build_proxy(struct build *b, struct tg_proxy_cfg *px, const json_t *obj, size_t index)
{
    char path[64];
    snprintf(path, sizeof path, "proxies[%zu]", index);
    if (!json_is_object(obj)) {
        add_error(b, "%s: must be an object", path);
        return;
    }
    static const char *const keys[] = {"id", "environments", "basePath", "stripBasePath", "maxRequestBodyBytes",
                                       "target", "websocket", "policies", "forwardNormalizedPath",
                                       "encodedSlashes", NULL};
    check_keys(b, obj, path, keys);
    px->id = get_string(b, obj, path, "id", 1);
    px->environments = get_string_array(b, obj, path, "environments", &px->num_environments, 1);
    px->base_path = get_string(b, obj, path, "basePath", 1);
    if (px->base_path && !base_path_is_valid(px->base_path))
        add_error(b, "%s.basePath: \"%.128s\" must be \"/\" or /segments without a trailing \"/\", \".\" or \"..\"",
                  path, px->base_path);
    px->base_path_len = px->base_path ? strlen(px->base_path) : 0;
    px->strip_base_path = get_bool(b, obj, path, "stripBasePath", 1);
    px->forward_raw_path = !get_bool(b, obj, path, "forwardNormalizedPath", 1);
    const char *slashes = json_object_get(obj, "encodedSlashes") ? get_string(b, obj, path, "encodedSlashes", 1)
                                                                  : NULL; /* absent: --encoded-slashes */
    if (slashes && tg_encoded_slashes_parse(slashes, &px->encoded_slashes) != 0)
        add_error(b, "%s.encodedSlashes: must be \"reject\", \"keep\" or \"decode\"", path);
    px->has_encoded_slashes = slashes != NULL;
    get_uint(b, obj, path, "maxRequestBodyBytes", 0, UINT64_MAX >> 1, &px->max_request_body_bytes);

    char sub[96];
    json_t *target = json_object_get(obj, "target");
    snprintf(sub, sizeof sub, "%s.target", path);
    if (!json_is_object(target))
        add_error(b, "%s: required object", sub);
    else
        build_target(b, px, target, sub);

    px->ws_enabled = 1;
    px->ws_idle_timeout_ms = 300000;
    json_t *ws = json_object_get(obj, "websocket");
    snprintf(sub, sizeof sub, "%s.websocket", path);
    if (ws && !json_is_object(ws)) {
        add_error(b, "%s: must be an object", sub);
    } else if (ws) {
        static const char *const ws_keys[] = {"enabled", "idleTimeoutMs", "maxLifetimeMs", "maxMessageBytes", NULL};
        check_keys(b, ws, sub, ws_keys);
        px->ws_enabled = get_bool(b, ws, sub, "enabled", 1);
        get_uint(b, ws, sub, "idleTimeoutMs", 300000, 30ull * 86400000, &px->ws_idle_timeout_ms);
        get_uint(b, ws, sub, "maxLifetimeMs", 0, 365ull * 86400000, &px->ws_max_lifetime_ms);
        get_uint(b, ws, sub, "maxMessageBytes", 0, UINT64_MAX >> 1, &px->ws_max_message_bytes);
    }
    snprintf(sub, sizeof sub, "%s.policies", path);
    build_policies(b, px, json_object_get(obj, "policies"), sub);
}

static int proxy_in_environment(const struct tg_proxy_cfg *px, const char *env)
{
    for (size_t i = 0; i < px->num_environments; i++)
        if (strcmp(px->environments[i], env) == 0)
            return 1;
    return 0;
}

/* "httpsRedirect": {"port"} and "hsts": {"maxAgeSeconds", "includeSubDomains", "preload"} of a group ("tlsOptions"
 * is config/tls_certs.c's). */
static void build_group_https(struct build *b, struct tg_group_cfg *g, const json_t *obj, const char *path)
{
    char p[96];
    const json_t *redirect = json_object_get(obj, "httpsRedirect");
    if (redirect) {
        static const char *const keys[] = {"port", NULL};
        snprintf(p, sizeof p, "%s.httpsRedirect", path);
        uint64_t port = 443;
        if (!json_is_object(redirect)) {
            add_error(b, "%s: must be an object", p);
        } else {
            check_keys(b, redirect, p, keys);
            if (get_uint(b, redirect, p, "port", 443, 65535, &port) == 0 && port == 0)
                add_error(b, "%s.port: must be from 1 to 65535", p);
            g->https_redirect_port = (uint16_t)port;
        }
    }
    const json_t *hsts = json_object_get(obj, "hsts");
    if (hsts) {
        static const char *const keys[] = {"maxAgeSeconds", "includeSubDomains", "preload", NULL};
        snprintf(p, sizeof p, "%s.hsts", path);
        if (!json_is_object(hsts)) {
            add_error(b, "%s: must be an object", p);
            return;
        }
        check_keys(b, hsts, p, keys);
        uint64_t age = 0;
        if (get_uint(b, hsts, p, "maxAgeSeconds", 31536000, 1ull << 32, &age) != 0)
            return;
        int sub = get_bool(b, hsts, p, "includeSubDomains", 0), preload = get_bool(b, hsts, p, "preload", 0);
        char header[128];
        snprintf(header, sizeof header, "Strict-Transport-Security: max-age=%llu%s%s\r\n", (unsigned long long)age,
                 sub ? "; includeSubDomains" : "", preload ? "; preload" : "");
        g->hsts_header = strdup(header);
        if (!g->hsts_header)
            add_error(b, "%s: out of memory", p);
    }
}

static void build_group(struct build *b, struct tg_group_cfg *g, const json_t *obj, size_t index)
{
    char path[64];
    snprintf(path, sizeof path, "groups[%zu]", index);
    tg_strmap_init(&g->routes_by_base_path);
    if (!json_is_object(obj)) {
        add_error(b, "%s: must be an object", path);
        return;
    }
    static const char *const keys[] = {"id", "hostnames", "environments", "tls", "tlsOptions", "httpsRedirect",
                                       "hsts", NULL};
    check_keys(b, obj, path, keys);
    build_group_https(b, g, obj, path);
    g->id = get_string(b, obj, path, "id", 1);
    g->hostnames = get_string_array(b, obj, path, "hostnames", &g->num_hostnames, 1);
    g->environments = get_string_array(b, obj, path, "environments", &g->num_environments, 1);
    json_t *tls = json_object_get(obj, "tls");
    if (tls && !json_is_array(tls))
        add_error(b, "%s.tls: must be an array", path);

    struct tg_snapshot *s = b->snap;
    for (size_t i = 0; i < g->num_hostnames; i++) {
        const char *h = g->hostnames[i];
        if (!tg_host_name_ok(h, 1)) {
            add_error(b, "%s.hostnames[%zu]: \"%.128s\" is not a lower-case DNS name or \"*.\" wildcard", path, i, h);
            continue;
        }
        int wildcard = h[0] == '*';
        struct tg_strmap *map = wildcard ? &s->wildcard_hosts : &s->exact_hosts;
        const char *key = wildcard ? h + 1 : h;
        if (tg_strmap_get(map, key, strlen(key)))
            add_error(b, "%s.hostnames[%zu]: \"%.128s\" is already claimed by another group", path, i, h);
        else
            tg_strmap_put(map, key, strlen(key), g, NULL);
    }
}

/* Attaches to each group the proxies deployed to its environments; a base path claimed twice is an error. */
static void link_routes(struct build *b)
{
    struct tg_snapshot *s = b->snap;
    for (size_t gi = 0; gi < s->num_groups; gi++) {
        struct tg_group_cfg *g = &s->groups[gi];
        g->routes = calloc(s->num_proxies ? s->num_proxies : 1, sizeof *g->routes);
        if (!g->routes)
            return;
        for (size_t pi = 0; pi < s->num_proxies; pi++) {
            struct tg_proxy_cfg *px = &s->proxies[pi];
            const char *env = NULL;
            for (size_t e = 0; e < g->num_environments && !env; e++)
                if (proxy_in_environment(px, g->environments[e]))
                    env = g->environments[e];
            if (!env || !px->base_path)
                continue;
            struct tg_route *r = &g->routes[g->num_routes];
            r->proxy = px;
            r->environment = env;
            struct tg_route *other = tg_strmap_get(&g->routes_by_base_path, px->base_path, px->base_path_len);
            if (other) {
                add_error(b, "proxies[%zu].basePath: \"%.128s\" is claimed by %s too in group %s", pi, px->base_path,
                          other->proxy->id ? other->proxy->id : "?", g->id ? g->id : "?");
                continue;
            }
            tg_strmap_put(&g->routes_by_base_path, px->base_path, px->base_path_len, r, NULL);
            g->num_routes++;
        }
    }
}

/* Reports ids seen twice; fills map (id → the object's address via obj_at) when given. */
static void check_unique_ids(struct build *b, const char *list, size_t n, const char *(*id_at)(struct tg_snapshot *, size_t),
                             struct tg_strmap *index, void *(*obj_at)(struct tg_snapshot *, size_t))
{
    struct tg_strmap seen;
    tg_strmap_init(&seen);
    for (size_t i = 0; i < n; i++) {
        const char *id = id_at(b->snap, i);
        if (!id)
            continue;
        if (tg_strmap_get(&seen, id, strlen(id))) {
            add_error(b, "%s[%zu].id: \"%.128s\" appears more than once", list, i, id);
        } else {
            tg_strmap_put(&seen, id, strlen(id), (void *)id, NULL);
            if (index)
                tg_strmap_put(index, id, strlen(id), obj_at(b->snap, i), NULL);
        }
    }
    tg_strmap_free(&seen);
}
static const char *group_id_at(struct tg_snapshot *s, size_t i) { return s->groups[i].id; }
static const char *proxy_id_at(struct tg_snapshot *s, size_t i) { return s->proxies[i].id; }
static void *proxy_at(struct tg_snapshot *s, size_t i) { return &s->proxies[i]; }

const struct tg_proxy_cfg *tg_snapshot_find_proxy(const struct tg_snapshot *s, const char *id)
{
    return s ? tg_strmap_get(&s->proxies_by_id, id, strlen(id)) : NULL;
}

static void free_snapshot(struct tg_snapshot *s)
{
    for (size_t i = 0; i < s->num_groups; i++) {
        struct tg_group_cfg *g = &s->groups[i];
        free(g->hostnames);
        free(g->environments);
        free(g->routes);
        free(g->hsts_header);
        tg_strmap_free(&g->routes_by_base_path);
    }
    for (size_t i = 0; i < s->num_proxies; i++) {
        struct tg_proxy_cfg *px = &s->proxies[i];
        free(px->environments);
        free(px->endpoints);
        tg_upstream_tls_free(px->tls);
        if (px->policies && s->policies)
            s->policies->free(px->policies, px->num_policies);
    }
    free(s->groups);
    free(s->proxies);
    tg_strmap_free(&s->proxies_by_id);
    tg_strmap_free(&s->exact_hosts);
    tg_strmap_free(&s->wildcard_hosts);
    tg_tls_certs_free(s->tls);
    json_decref(s->doc);
    free(s);
}

void tg_snapshot_unref(struct tg_snapshot *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        free_snapshot(s);
}

struct tg_snapshot *tg_snapshot_build(json_t *doc, const struct tg_policy_compiler *policies, json_t *errors)
{
    return tg_snapshot_build_next(doc, NULL, policies, errors);
}

struct tg_snapshot *tg_snapshot_build_next(json_t *doc, const struct tg_snapshot *prev,
                                           const struct tg_policy_compiler *policies, json_t *errors)
{
    struct build b = {.errors = errors, .policies = policies};
    size_t errors_before = json_array_size(errors);
    if (!json_is_object(doc)) {
        add_error(&b, "snapshot: must be a JSON object");
        return NULL;
    }
    struct tg_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        add_error(&b, "snapshot: out of memory");
        return NULL;
    }
    atomic_init(&s->refs, 1);
    s->doc = json_incref(doc);
    s->policies = policies;
    tg_strmap_init(&s->proxies_by_id);
    tg_strmap_init(&s->exact_hosts);
    tg_strmap_init(&s->wildcard_hosts);
    b.snap = s;

    static const char *const keys[] = {"version", "generatedAt", "groups", "proxies", "tlsDefault", NULL};
    check_keys(&b, doc, "snapshot", keys);
    json_t *version = json_object_get(doc, "version");
    if (!json_is_integer(version) || json_integer_value(version) < 1)
        add_error(&b, "snapshot.version: required integer >= 1");
    else
        s->version = (uint64_t)json_integer_value(version);

    json_t *proxies = json_object_get(doc, "proxies");
    json_t *groups = json_object_get(doc, "groups");
    if (json_is_array(groups)) /* "lastGood" markers: what prev served for their Secret, or nothing */
        tg_tls_certs_keep_last_good(groups, prev ? json_object_get(prev->doc, "groups") : NULL);
    tg_tls_certs_keep_last_good_default(doc, prev ? prev->doc : NULL);
    if (!json_is_array(proxies))
        add_error(&b, "snapshot.proxies: required array");
    if (!json_is_array(groups))
        add_error(&b, "snapshot.groups: required array");
    if (json_is_array(proxies)) {
        size_t n = json_array_size(proxies);
        s->proxies = calloc(n ? n : 1, sizeof *s->proxies);
        s->num_proxies = s->proxies ? n : 0;
        for (size_t i = 0; i < s->num_proxies; i++)
            build_proxy(&b, &s->proxies[i], json_array_get(proxies, i), i);
        check_unique_ids(&b, "proxies", s->num_proxies, proxy_id_at, &s->proxies_by_id, proxy_at);
    }
    if (json_is_array(groups)) {
        size_t n = json_array_size(groups);
        s->groups = calloc(n ? n : 1, sizeof *s->groups);
        s->num_groups = s->groups ? n : 0;
        for (size_t i = 0; i < s->num_groups; i++)
            build_group(&b, &s->groups[i], json_array_get(groups, i), i);
        check_unique_ids(&b, "groups", s->num_groups, group_id_at, NULL, NULL);
    }
    if (json_array_size(errors) == errors_before)
        link_routes(&b);
    if (json_array_size(errors) == errors_before)
        s->tls = tg_tls_certs_build(groups, json_object_get(doc, "tlsDefault"), errors);
    if (json_array_size(errors) != errors_before) {
        free_snapshot(s);
        return NULL;
    }
    return s;
}
