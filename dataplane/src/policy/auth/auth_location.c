/* auth_location.c — where the authentication policies find a credential (auth_location.h): parsing the
 * "header:" / "query:" / "subprotocol:" location specs, and reading each kind from a request — a header's value
 * ("Bearer " removed from Authorization), a query parameter decoded by request_query.h, and the subprotocol
 * convention parsed here from every Sec-WebSocket-Protocol field. */
#include "policy/auth/auth_location.h"

#include "policy/request_query.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
    /* RFC 9110 §5.6.2 tchar */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int tg_cred_location_parse(const char *spec, int allow_subprotocol, struct tg_cred_location *out, char *err,
                           size_t err_size)
{
    memset(out, 0, sizeof *out);
    size_t prefix;
    if (strncmp(spec, "header:", 7) == 0) {
        out->kind = TG_LOC_HEADER;
        prefix = 7;
    } else if (strncmp(spec, "query:", 6) == 0) {
        out->kind = TG_LOC_QUERY;
        prefix = 6;
    } else if (allow_subprotocol && strncmp(spec, "subprotocol:", 12) == 0) {
        out->kind = TG_LOC_SUBPROTOCOL;
        prefix = 12;
    } else {
        snprintf(err, err_size, "\"%.64s\" must be %s", spec,
                 allow_subprotocol ? "\"header:NAME\", \"query:NAME\" or \"subprotocol:PREFIX\""
                                   : "\"header:NAME\" or \"query:NAME\"");
        return -1;
    }
    size_t n = strlen(spec + prefix);
    if (n == 0 || n > 256) {
        snprintf(err, err_size, "\"%.64s\": the name must have 1 to 256 characters", spec);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_tchar((unsigned char)spec[prefix + i])) {
            snprintf(err, err_size, "\"%.64s\": the name must consist of token characters (RFC 9110 §5.6.2)", spec);
            return -1;
        }
    }
    memcpy(out->spec, spec, prefix + n + 1);
    out->name = out->spec + prefix;
    return 0;
}

int tg_cred_locations_compile(const json_t *spec, const char *field, int allow_subprotocol,
                              struct tg_cred_location out[TG_CRED_MAX_LOCATIONS], size_t *n, char *err,
                              size_t err_size)
{
    const json_t *from = json_object_get(spec, field);
    if (!json_is_array(from) || json_array_size(from) == 0 || json_array_size(from) > TG_CRED_MAX_LOCATIONS) {
        snprintf(err, err_size, "%s: must be an array of 1 to %d locations", field, TG_CRED_MAX_LOCATIONS);
        return -1;
    }
    size_t i;
    json_t *v;
    json_array_foreach(from, i, v) {
        char why[192];
        if (!json_is_string(v) || tg_cred_location_parse(json_string_value(v), allow_subprotocol, &out[i], why,
                                                         sizeof why)) {
            snprintf(err, err_size, "%s[%zu]: %s", field, i, json_is_string(v) ? why : "must be a string");
            return -1;
        }
    }
    *n = json_array_size(from);
    return 0;
}

/* Appends one entry to the comma-separated rest list; -1 when it does not fit. */
static int append_rest(char *rest, size_t rest_size, size_t *used, const char *p, size_t len)
{
    size_t need = (*used ? 2 : 0) + len;
    if (*used + need + 1 > rest_size)
        return -1;
    if (*used) {
        memcpy(rest + *used, ", ", 2);
        *used += 2;
    }
    memcpy(rest + *used, p, len);
    *used += len;
    rest[*used] = '\0';
    return 0;
}

static long read_subprotocol(const struct tg_http_head *req, const char *prefix, char *out, size_t out_size,
                             char *rest, size_t rest_size)
{
    size_t plen = strlen(prefix), used = 0;
    int prefix_is_sep = plen && prefix[plen - 1] == '.';
    long found = 0;
    int take_next = 0, overflow = 0, bad = 0;
    if (rest && rest_size)
        rest[0] = '\0';
    for (size_t h = 0; h < req->num_headers; h++) {
        const struct tg_http_header *f = &req->headers[h];
        if (!tg_slice_eq_nocase(f->name, "sec-websocket-protocol"))
            continue;
        const char *p = f->value.ptr, *end = f->value.ptr + f->value.len;
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *e_end = comma ? comma : end, *e = p;
            while (e < e_end && (*e == ' ' || *e == '\t'))
                e++;
            const char *t = e_end;
            while (t > e && (t[-1] == ' ' || t[-1] == '\t'))
                t--;
            size_t len = (size_t)(t - e);
            p = comma ? comma + 1 : end;
            if (len == 0)
                continue;
            const char *tok = NULL;
            size_t tok_len = 0;
            if (found == 0 && take_next) {
                tok = e;
                tok_len = len;
                take_next = 0;
            } else if (found == 0 && !prefix_is_sep && len == plen && memcmp(e, prefix, plen) == 0) {
                take_next = 1; /* the marker: the token is the next entry */
                continue;
            } else if (found == 0 && len > plen && memcmp(e, prefix, plen) == 0 &&
                       (prefix_is_sep || e[plen] == '.')) {
                tok = e + plen + (prefix_is_sep ? 0 : 1);
                tok_len = len - plen - (prefix_is_sep ? 0 : 1);
            }
            if (tok) {
                if (tok_len == 0 || tok_len + 1 > out_size) {
                    bad = 1;
                    found = -1;
                    continue;
                }
                memcpy(out, tok, tok_len);
                out[tok_len] = '\0';
                found = (long)tok_len;
                continue;
            }
            if (rest && append_rest(rest, rest_size, &used, e, len) < 0)
                overflow = 1;
        }
    }
    if (take_next && found == 0)
        return -1; /* a marker with no token after it */
    if (bad)
        return -1;
    if (overflow && found > 0)
        return -2;
    return found;
}

/* A header location: the whole value, or for Authorization the token after "Bearer " (other schemes hold no
 * bearer token: 0). */
static long read_header(const struct tg_http_head *req, const char *name, char *out, size_t out_size)
{
    const struct tg_http_header *f = tg_http_find_header(req, name);
    if (!f || f->value.len == 0)
        return 0;
    struct tg_slice v = f->value;
    if (strcasecmp(name, "authorization") == 0) {
        if (v.len < 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
            return 0; /* another scheme (Basic, ...) carries no bearer token */
        v.ptr += 7;
        v.len -= 7;
        while (v.len && v.ptr[0] == ' ') {
            v.ptr++;
            v.len--;
        }
    }
    if (v.len == 0 || v.len + 1 > out_size)
        return -1;
    memcpy(out, v.ptr, v.len);
    out[v.len] = '\0';
    return (long)v.len;
}

long tg_cred_location_read(const struct tg_http_head *req, const struct tg_cred_location *loc, char *out,
                           size_t out_size, char *rest, size_t rest_size)
{
    switch (loc->kind) {
    case TG_LOC_SUBPROTOCOL:
        return read_subprotocol(req, loc->name, out, out_size, rest, rest_size);
    case TG_LOC_QUERY: {
        struct tg_query_pair pair;
        if (!tg_query_find(req->target, loc->name, &pair))
            return 0;
        long n = tg_query_decode(pair.value, out, out_size);
        return n < 0 ? -1 : n; /* "?apikey=" (empty) counts as absent */
    }
    case TG_LOC_HEADER:
    default:
        return read_header(req, loc->name, out, out_size);
    }
}

int tg_cred_locations_repeated(const struct tg_http_head *req, const struct tg_cred_location *locs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct tg_cred_location *loc = &locs[i];
        size_t seen = 0;
        if (loc->kind == TG_LOC_HEADER) {
            for (size_t j = 0; j < req->num_headers; j++)
                if (tg_slice_eq_nocase(req->headers[j].name, loc->name))
                    seen++;
        } else if (loc->kind == TG_LOC_QUERY) {
            struct tg_query_pair pair;
            size_t pos = 0;
            char name[272];
            while (tg_query_next(req->target, &pos, &pair)) {
                long len = tg_query_decode(pair.name, name, sizeof name);
                if (len >= 0 && strlen(loc->name) == (size_t)len && memcmp(name, loc->name, (size_t)len) == 0)
                    seen++;
            }
        }
        if (seen > 1)
            return 1;
    }
    return 0;
}
