/* snapshot.h — the immutable configuration the data plane runs on, built from the controller's JSON.
 *
 * tg_snapshot_build validates the whole document (docs/control-protocol.md) and either returns a complete,
 * immutable snapshot or a list of every error found — never half of one. A snapshot is reference-counted:
 * each worker holds one reference to its current snapshot, and each request or session holds one for as long
 * as it uses a proxy of it, so a swap never disturbs established connections. Built on the main thread
 * (endpoints are interned there); read-only from every thread afterwards.
 */
#ifndef TG_SNAPSHOT_H
#define TG_SNAPSHOT_H

#include "config/endpoint.h"
#include "policy/policy.h"
#include "strmap.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum tg_lb_policy { TG_LB_ROUND_ROBIN = 0, TG_LB_LEAST_CONNECTIONS, TG_LB_RANDOM };

struct tg_proxy_cfg {
    const char *id;                 /* "namespace/name" */
    const char **environments;
    size_t num_environments;
    const char *base_path;          /* "/chat", or "/" */
    size_t base_path_len;
    int strip_base_path;
    uint64_t max_request_body_bytes; /* 0 = unlimited */
    /* target */
    const char *path_prefix;        /* "" or "/prefix" */
    size_t path_prefix_len;
    struct tg_endpoint **endpoints;
    size_t num_endpoints;
    int tls_enabled;
    const char *tls_server_name;
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
    enum tg_lb_policy lb;
    _Atomic uint32_t rr_next;       /* round-robin cursor (shared by workers) */
    /* websocket */
    int ws_enabled;
    uint64_t ws_idle_timeout_ms;    /* 0 = none */
    uint64_t ws_max_lifetime_ms;    /* 0 = unlimited */
    uint64_t ws_max_message_bytes;  /* 0 = unlimited */
    /* policies, in order */
    struct tg_compiled_policy *policies;
    size_t num_policies;
};

/* One proxy as reachable through one group: the environment it is served under there. */
struct tg_route {
    struct tg_proxy_cfg *proxy;
    const char *environment;
};

struct tg_group_cfg {
    const char *id;
    const char **hostnames;
    size_t num_hostnames;
    const char **environments;
    size_t num_environments;
    struct tg_strmap routes_by_base_path; /* base path → struct tg_route* */
    struct tg_route *routes;
    size_t num_routes;
};

struct tg_snapshot {
    _Atomic long refs;
    uint64_t version;
    uint64_t applied_wall_ms;       /* set when swapped in */
    json_t *doc;                    /* the validated document (for GET /config); owns every string above */
    struct tg_group_cfg *groups;
    size_t num_groups;
    struct tg_proxy_cfg *proxies;
    size_t num_proxies;
    struct tg_strmap proxies_by_id; /* "namespace/name" → struct tg_proxy_cfg* */
    struct tg_strmap exact_hosts;   /* "api.example.com" → group */
    struct tg_strmap wildcard_hosts; /* ".ws.example.com" (the "*" removed) → group */
};

/* Validates doc and builds a snapshot (refs = 1, owned by the caller), taking a reference to doc. On any error
 * returns NULL and appends one string per problem ("proxies[2].basePath: must start with \"/\"") to errors. */
struct tg_snapshot *tg_snapshot_build(json_t *doc, json_t *errors);

static inline struct tg_snapshot *tg_snapshot_ref(struct tg_snapshot *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}
/* Drops a reference; the last one frees the snapshot (from any thread). NULL is fine. */
void tg_snapshot_unref(struct tg_snapshot *s);

/* The proxy with this id, or NULL. */
const struct tg_proxy_cfg *tg_snapshot_find_proxy(const struct tg_snapshot *s, const char *id);

/* The result of routing one request. */
struct tg_route_match {
    const struct tg_group_cfg *group;    /* NULL: no group for the host */
    const struct tg_route *route;        /* NULL: no proxy for the path */
};

/* Host (as in the Host header: may carry ":port", any case) and path (request-target in origin form, may carry
 * "?query") → group and route. Pure; see docs/control-protocol.md "Routing". */
struct tg_route_match tg_snapshot_route(const struct tg_snapshot *s, const char *host, size_t host_len,
                                        const char *path, size_t path_len);

/* Builds the path sent to the target: strip the base path when configured, then prepend the target's path
 * prefix. Writes a NUL-terminated result into out; returns its length or -1 when it does not fit. */
long tg_route_rewrite_path(const struct tg_proxy_cfg *proxy, const char *path, size_t path_len, char *out,
                           size_t out_size);

#endif
