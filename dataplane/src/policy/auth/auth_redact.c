/* auth_redact.c — redaction of requests (auth_redact.h): which fields, query parameters and subprotocol entries
 * carry credentials for a proxy (asking its verifyApiKey / oauthV2 policies), and the loggable copies of a
 * request target, a field value and a whole request head. */
#include "policy/auth/auth_redact.h"

#include "policy/auth/auth_location.h"
#include "policy/policy.h"
#include "policy/request_query.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

extern const struct tg_policy_type tg_policy_verify_api_key, tg_policy_oauth_v2;

/* The strongest answer of the proxy's auth policies for (kind, name): 0, 1, or 2 (a subprotocol marker). */
static int policies_read(const struct tg_proxy_cfg *px, int kind, const char *name, size_t len)
{
    int best = 0;
    for (size_t i = 0; px && i < px->num_policies; i++) {
        const struct tg_compiled_policy *p = &px->policies[i];
        int r = 0;
        if (p->type == &tg_policy_verify_api_key)
            r = tg_verify_api_key_reads(p->state, kind, name, len);
        else if (p->type == &tg_policy_oauth_v2)
            r = tg_oauth_v2_reads(p->state, kind, name, len);
        if (r > best)
            best = r;
    }
    return best;
}

static int name_in(const char *const *list, const char *name, size_t len, int nocase)
{
    for (size_t i = 0; list[i]; i++)
        if (strlen(list[i]) == len && (nocase ? strncasecmp(list[i], name, len) : memcmp(list[i], name, len)) == 0)
            return 1;
    return 0;
}

int tg_auth_is_credential_header(const struct tg_proxy_cfg *px, const char *name, size_t len)
{
    static const char *const always[] = {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                                         NULL};
    return name_in(always, name, len, 1) || policies_read(px, TG_LOC_HEADER, name, len) != 0;
}

int tg_auth_is_credential_query(const struct tg_proxy_cfg *px, const char *name, size_t len)
{
    static const char *const always[] = {"apikey", "api_key", "access_token", NULL};
    return name_in(always, name, len, 1) || policies_read(px, TG_LOC_QUERY, name, len) != 0;
}

size_t tg_auth_redact_subprotocols(const struct tg_proxy_cfg *px, const char *value, size_t len, char *out,
                                   size_t out_size)
{
    size_t o = 0;
    int next_is_token = 0;
    if (!out_size)
        return 0;
    for (const char *p = value, *end = value + len; p < end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p)), *e_end = comma ? comma : end, *e = p;
        while (e < e_end && (*e == ' ' || *e == '\t'))
            e++;
        const char *t = e_end;
        while (t > e && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        p = comma ? comma + 1 : end;
        size_t el = (size_t)(t - e);
        const char *shown = e;
        size_t shown_len = el;
        int r = policies_read(px, TG_LOC_SUBPROTOCOL, e, el);
        if (next_is_token || r == 1) {
            shown = "[redacted]";
            shown_len = 10;
        }
        next_is_token = r == 2 && !next_is_token;
        size_t need = (o ? 2 : 0) + shown_len;
        if (o + need + 1 > out_size)
            break;
        if (o) {
            memcpy(out + o, ", ", 2);
            o += 2;
        }
        memcpy(out + o, shown, shown_len);
        o += shown_len;
    }
    out[o] = '\0';
    return o;
}

/* ---- loggable copies ---------------------------------------------------------------------------------- */

struct out {
    char *p;
    size_t size, len;
};

static void put(struct out *o, const char *p, size_t n)
{
    size_t room = o->size - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->p + o->len, p, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static int query_name_is_credential(const struct tg_proxy_cfg *px, struct tg_slice name)
{
    char decoded[272];
    long n = tg_query_decode(name, decoded, sizeof decoded);
    if (n >= 0)
        return tg_auth_is_credential_query(px, decoded, (size_t)n);
    return tg_auth_is_credential_query(px, name.ptr, name.len); /* undecodable: as received */
}

static void put_target(struct out *o, const struct tg_proxy_cfg *px, struct tg_slice target)
{
    const char *p = target.ptr, *end = target.ptr + target.len;
    const char *q = target.len ? memchr(p, '?', target.len) : NULL;
    const char *path_end = q ? q : end;
    /* absolute-form (RFC 9112 §3.2.2): "scheme://[userinfo@]host[:port]/path" */
    const char *sep = NULL;
    for (const char *s = p; s + 3 <= path_end && *s != '/'; s++)
        if (s[0] == ':' && s[1] == '/' && s[2] == '/') {
            sep = s + 3;
            break;
        }
    if (sep) {
        const char *auth_end = sep;
        while (auth_end < path_end && *auth_end != '/')
            auth_end++;
        const char *at = NULL;
        for (const char *s = sep; s < auth_end; s++)
            if (*s == '@')
                at = s;
        if (at) {
            put(o, p, (size_t)(sep - p));
            puts_(o, TG_REDACTED);
            p = at;
        }
    }
    put(o, p, (size_t)(path_end - p));
    if (!q)
        return;
    puts_(o, "?");
    size_t pos = 0;
    struct tg_query_pair pair;
    int first = 1;
    while (tg_query_next(target, &pos, &pair)) {
        if (!first)
            puts_(o, "&");
        first = 0;
        put(o, pair.name.ptr, pair.name.len);
        if (!pair.has_value)
            continue;
        puts_(o, "=");
        if (pair.value.len && query_name_is_credential(px, pair.name))
            puts_(o, TG_REDACTED);
        else
            put(o, pair.value.ptr, pair.value.len);
    }
}

size_t tg_redact_target(const struct tg_proxy_cfg *px, struct tg_slice target, char *out, size_t out_size)
{
    if (!out_size)
        return 0;
    struct out o = {out, out_size, 0};
    out[0] = '\0';
    put_target(&o, px, target);
    return o.len;
}

size_t tg_redact_url(const char *url, char *out, size_t out_size)
{
    if (!out_size)
        return 0;
    struct out o = {out, out_size, 0};
    out[0] = '\0';
    size_t len = strcspn(url, "?#");
    put_target(&o, NULL, (struct tg_slice){url, len}); /* userinfo */
    if (url[len] == '?')
        puts_(&o, "?" TG_REDACTED);
    return o.len;
}

static void put_header_value(struct out *o, const struct tg_proxy_cfg *px, struct tg_slice name,
                             struct tg_slice value)
{
    if (tg_slice_eq_nocase(name, "sec-websocket-protocol")) {
        o->len += tg_auth_redact_subprotocols(px, value.ptr, value.len, o->p + o->len, o->size - o->len);
        return;
    }
    if (!tg_auth_is_credential_header(px, name.ptr, name.len)) {
        put(o, value.ptr, value.len);
        return;
    }
    if (tg_slice_eq_nocase(name, "authorization") || tg_slice_eq_nocase(name, "proxy-authorization")) {
        /* RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]: the scheme stays */
        size_t w = 0;
        while (w < value.len && value.ptr[w] != ' ')
            w++;
        if (w < value.len) {
            put(o, value.ptr, w);
            puts_(o, " ");
        }
    }
    puts_(o, TG_REDACTED);
}

size_t tg_redact_header_value(const struct tg_proxy_cfg *px, struct tg_slice name, struct tg_slice value,
                              char *out, size_t out_size)
{
    if (!out_size)
        return 0;
    struct out o = {out, out_size, 0};
    out[0] = '\0';
    put_header_value(&o, px, name, value);
    return o.len;
}

size_t tg_redact_request(const struct tg_proxy_cfg *px, const struct tg_http_head *req, char *out,
                         size_t out_size)
{
    if (!out_size)
        return 0;
    struct out o = {out, out_size, 0};
    out[0] = '\0';
    put(&o, req->method.ptr, req->method.len);
    puts_(&o, " ");
    put_target(&o, px, req->target);
    puts_(&o, req->minor_version ? " HTTP/1.1" : " HTTP/1.0");
    for (size_t i = 0; i < req->num_headers; i++) {
        const struct tg_http_header *f = &req->headers[i];
        puts_(&o, " | ");
        put(&o, f->name.ptr, f->name.len);
        puts_(&o, ": ");
        put_header_value(&o, px, f->name, f->value);
    }
    return o.len;
}
