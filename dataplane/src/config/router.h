/* router.h — which API proxy serves a request, on a snapshot built by snapshot.c: the Host header (or SNI)
 * selects the environment group (exact beats wildcard, longer wildcard beats shorter), the longest base path on
 * a path-segment boundary selects the proxy within the group's environments (docs/control-protocol.md
 * "Routing"); and the path the target receives (base path stripped, target prefix added). */
#ifndef TG_ROUTER_H
#define TG_ROUTER_H

#include "config/snapshot.h"

#include <stddef.h>

/* The result of routing one request. */
struct tg_route_match {
    const struct tg_group_cfg *group;    /* NULL: no group for the host */
    const struct tg_route *route;        /* NULL: no proxy for the path */
};

/* Host (as in the Host header: may carry ":port", any case) and path (request-target in origin form, may carry
 * "?query") → group and route. Pure. */
struct tg_route_match tg_snapshot_route(const struct tg_snapshot *s, const char *host, size_t host_len,
                                        const char *path, size_t path_len);

/* Builds the path sent to the target: strip the base path when configured, then prepend the target's path
 * prefix. Writes a NUL-terminated result into out; returns its length or -1 when it does not fit. */
long tg_route_rewrite_path(const struct tg_proxy_cfg *proxy, const char *path, size_t path_len, char *out,
                           size_t out_size);

#endif
