/* snapshot.h — the immutable configuration the data plane runs on, built from the controller's JSON.
 *
 * tg_snapshot_build validates the whole document (docs/control-protocol.md) and either returns a complete,
 * immutable snapshot or a list of every error found — never half of one. A snapshot is reference-counted:
 * each worker holds one reference to its current snapshot, and each request or session holds one for as long
 * as it uses a proxy of it, so a swap never disturbs established connections. Built on the main thread
 * (endpoints are interned there); read-only from every thread afterwards. Routing on it is router.h.
 *
 * The configuration layer sits below the policies: a proxy's "policies" list is compiled through a table the
 * builder is given (struct tg_policy_compiler, filled by the process from the policy registry), and the snapshot
 * holds the result as an array of struct tg_compiled_policy, a type only the policy layer defines (policy.h).
 * So the snapshot stores and frees compiled policies without knowing what a policy is.
 */
#ifndef TG_SNAPSHOT_H
#define TG_SNAPSHOT_H

#include "config/endpoint.h"
#include "path_normalize.h"
#include "strmap.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct tg_compiled_policy; /* policy/policy.h */
struct tg_tls_certs;       /* config/tls_certs.h */
struct tg_upstream_tls;    /* config/upstream_tls.h */

enum tg_lb_policy { TG_LB_ROUND_ROBIN = 0, TG_LB_LEAST_CONNECTIONS, TG_LB_RANDOM };

struct tg_proxy_cfg {
    const char *id;                 /* "namespace/name" */
    const char **environments;
    size_t num_environments;
    const char *base_path;          /* "/chat", or "/" */
    size_t base_path_len;
    int strip_base_path;
    int forward_raw_path;           /* "forwardNormalizedPath": false — the target gets the path as received */
    int has_encoded_slashes;        /* "encodedSlashes" given: encoded_slashes overrides --encoded-slashes */
    enum tg_encoded_slashes encoded_slashes;
    uint64_t max_request_body_bytes; /* 0 = unlimited */
    /* target */
    const char *path_prefix;        /* "" or "/prefix" */
    size_t path_prefix_len;
    struct tg_endpoint **endpoints;
    size_t num_endpoints;
    struct tg_upstream_tls *tls;    /* TLS to the endpoints (interned with its profile); NULL: plain TCP */
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;
    enum tg_lb_policy lb;
    _Atomic uint32_t rr_next;       /* round-robin cursor (shared by workers) */
    /* websocket */
    int ws_enabled;
    uint64_t ws_idle_timeout_ms;    /* 0 = none */
    uint64_t ws_max_lifetime_ms;    /* 0 = unlimited */
    uint64_t ws_max_message_bytes;  /* 0 = unlimited */
    /* policies, in order (compiled by the tg_policy_compiler the snapshot was built with) */
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
    uint16_t https_redirect_port;   /* "httpsRedirect": plain-HTTP requests get 308 to https on it; 0: off */
    char *hsts_header;              /* "hsts": "Strict-Transport-Security: ...\r\n" for HTTPS answers, or NULL */
};

struct tg_snapshot {
    _Atomic long refs;
    uint64_t version;
    uint64_t applied_wall_ms;       /* set when swapped in */
    json_t *doc;                    /* the validated document (for GET /config); owns every string above */
    const struct tg_policy_compiler *policies; /* compiled the proxies' policy lists; frees them */
    struct tg_group_cfg *groups;
    size_t num_groups;
    struct tg_proxy_cfg *proxies;
    size_t num_proxies;
    struct tg_strmap proxies_by_id; /* "namespace/name" → struct tg_proxy_cfg* */
    struct tg_strmap exact_hosts;   /* "api.example.com" → group */
    struct tg_strmap wildcard_hosts; /* ".ws.example.com" (the "*" removed) → group */
    struct tg_tls_certs *tls;       /* the groups' certificates by SNI (tls_certs.h); never NULL once built */
};

/* How a proxy's "policies" array becomes compiled policies: given to tg_snapshot_build by its owner. */
struct tg_policy_compiler {
    /* Compiles list (a JSON value, path names it in errors: "proxies[2].policies") into a new array; *count
     * is its length. Every problem is reported through report(report_arg, text) — the snapshot is then
     * refused whole. May return NULL with *count 0 (empty list, or a reported failure). */
    struct tg_compiled_policy *(*compile)(const json_t *list, const char *path, size_t *count,
                                         void (*report)(void *report_arg, const char *text), void *report_arg);
    /* Frees what compile returned (count entries); NULL is fine. */
    void (*free)(struct tg_compiled_policy *list, size_t count);
};

/* Validates doc and builds a snapshot (refs = 1, owned by the caller), taking a reference to doc; policies is
 * how policy lists are compiled (NULL: a proxy with a non-empty "policies" list is an error). On any error
 * returns NULL and appends one string per problem ("proxies[2].basePath: must start with \"/\"") to errors. */
struct tg_snapshot *tg_snapshot_build(json_t *doc, const struct tg_policy_compiler *policies, json_t *errors);
/* The same, after prev (the snapshot in use, or NULL): a group TLS entry {"secret", "lastGood": true} takes the
 * certificate and key prev served for that Secret (config/tls_certs.h), so a Secret gone bad keeps its last good
 * certificate across a controller restart. doc is edited in place for that. */
struct tg_snapshot *tg_snapshot_build_next(json_t *doc, const struct tg_snapshot *prev,
                                           const struct tg_policy_compiler *policies, json_t *errors);

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

#endif
