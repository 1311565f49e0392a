/* router.c — routing of one request on a snapshot (router.h): Host → environment group (exact name, else the
 * longest "*." wildcard), then the longest base path on a segment boundary within the group, and the path
 * rewrite toward the target. Pure functions over the snapshot's immutable maps; no allocation. */
#include "config/router.h"

#include <ctype.h>
#include <string.h>

static const struct tg_group_cfg *find_group(const struct tg_snapshot *s, const char *host, size_t len)
{
    char lower[256];
    /* strip ":port" (and IPv6 brackets are not DNS names, so they never match a group) */
    const char *colon = memchr(host, ':', len);
    if (colon && host[0] != '[')
        len = (size_t)(colon - host);
    if (len > 0 && host[len - 1] == '.')
        len--; /* a fully-qualified "api.example.com." is the same host */
    if (len == 0 || len >= sizeof lower)
        return NULL;
    for (size_t i = 0; i < len; i++)
        lower[i] = (char)tolower((unsigned char)host[i]);
    const struct tg_group_cfg *g = tg_strmap_get(&s->exact_hosts, lower, len);
    if (g)
        return g;
    /* longest wildcard first: for a.b.example.com try ".b.example.com", ".example.com", ".com" */
    for (size_t i = 0; i < len; i++) {
        if (lower[i] != '.')
            continue;
        g = tg_strmap_get(&s->wildcard_hosts, lower + i, len - i);
        if (g)
            return g;
    }
    return NULL;
}

struct tg_route_match tg_snapshot_route(const struct tg_snapshot *s, const char *host, size_t host_len,
                                        const char *path, size_t path_len)
{
    struct tg_route_match m = {find_group(s, host, host_len), NULL};
    if (!m.group)
        return m;
    const char *q = memchr(path, '?', path_len);
    size_t len = q ? (size_t)(q - path) : path_len;
    if (len == 0 || path[0] != '/')
        return m;
    /* Try the path itself, then each shorter prefix ending before a '/', then "/". */
    for (;;) {
        const struct tg_route *r = tg_strmap_get(&m.group->routes_by_base_path, path, len);
        if (r) {
            m.route = r;
            return m;
        }
        if (len <= 1)
            break;
        while (len > 1 && path[len - 1] != '/')
            len--;
        if (len > 1)
            len--; /* drop the '/' itself: "/chat/" → "/chat" */
        else
            len = 1; /* "/" */
    }
    return m;
}

long tg_route_rewrite_path(const struct tg_proxy_cfg *px, const char *path, size_t path_len, char *out,
                           size_t out_size)
{
    const char *rest = path;
    size_t rest_len = path_len;
    if (px->strip_base_path && px->base_path_len > 1 && path_len >= px->base_path_len) {
        rest = path + px->base_path_len;
        rest_len = path_len - px->base_path_len;
    }
    /* rest now starts with '/' or '?', or is empty. "/chat" → "/"; "/chat?x" → "/?x"; with a target prefix
     * "/p": "/chat" → "/p", "/chat?x" → "/p?x", "/chat/a" → "/p/a". */
    int add_slash = px->path_prefix_len == 0 && (rest_len == 0 || rest[0] == '?');
    size_t total = px->path_prefix_len + (size_t)add_slash + rest_len;
    if (total + 1 > out_size)
        return -1;
    memcpy(out, px->path_prefix, px->path_prefix_len);
    size_t o = px->path_prefix_len;
    if (add_slash)
        out[o++] = '/';
    memcpy(out + o, rest, rest_len);
    o += rest_len;
    out[o] = '\0';
    return (long)o;
}
