/* cors_origin.c — CORS origin parsing and allowOrigins matching (cors_origin.h). */
#include "cors_origin.h"

#include "ip_cidr.h"

#include <string.h>
#include <strings.h>

static int set_why(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return -1;
}

static int is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* A DNS name (labels of 1-63 letters, digits and hyphens, not starting or ending with a hyphen) or an IPv4
 * literal. A wildcard "*." prefix is handled by the caller. */
static int check_dns_host(const char *h, size_t len)
{
    if (len == 0 || len > 253)
        return -1;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (!is_host_char(c))
            return -1;
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return -1;
            label = 0;
        } else {
            if ((label == 0 && c == '-') || ++label > 63)
                return -1;
        }
    }
    return label == 0 || h[len - 1] == '-' ? -1 : 0;
}

int tg_origin_parse(const char *s, size_t len, struct tg_origin *out, const char **why)
{
    memset(out, 0, sizeof *out);
    size_t i;
    if (len >= 8 && strncasecmp(s, "https://", 8) == 0) {
        out->https = 1;
        i = 8;
    } else if (len >= 7 && strncasecmp(s, "http://", 7) == 0) {
        i = 7;
    } else {
        return set_why(why, "an origin starts with http:// or https://");
    }
    const char *h = s + i;
    size_t rest = len - i, hlen;
    if (rest > 0 && h[0] == '[') {
        const char *close = memchr(h, ']', rest);
        if (!close)
            return set_why(why, "an IPv6 host must be in brackets");
        hlen = (size_t)(close - h) + 1;
        struct tg_ip ip;
        if (tg_ip_parse(h + 1, hlen - 2, &ip) < 0 || ip.family != 6)
            return set_why(why, "not an IPv6 address in brackets");
    } else {
        hlen = 0;
        while (hlen < rest && h[hlen] != ':')
            hlen++;
        if (check_dns_host(h, hlen) < 0)
            return set_why(why, "the host must be a DNS name or an IP address (no path, query or userinfo)");
    }
    if (hlen >= sizeof out->host)
        return set_why(why, "the host is too long");
    for (size_t k = 0; k < hlen; k++) {
        char c = h[k];
        out->host[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out->host[hlen] = '\0';
    const char *p = h + hlen;
    size_t plen = rest - hlen;
    if (plen > 0) {
        if (p[0] != ':' || plen < 2 || plen > 6 || (plen > 2 && p[1] == '0'))
            return set_why(why, "the port must be a number from 1 to 65535 after a colon");
        unsigned long v = 0;
        for (size_t k = 1; k < plen; k++) {
            if (p[k] < '0' || p[k] > '9')
                return set_why(why, "the port must be a number from 1 to 65535 after a colon");
            v = v * 10 + (unsigned long)(p[k] - '0');
        }
        if (v == 0 || v > 65535)
            return set_why(why, "the port must be a number from 1 to 65535 after a colon");
        if (v != (out->https ? 443u : 80u))
            out->port = (uint16_t)v;
    }
    return 0;
}

int tg_origin_pattern_parse(const char *s, struct tg_origin_pattern *out, const char **why)
{
    memset(out, 0, sizeof *out);
    if (strcmp(s, "*") == 0) {
        out->any = 1;
        return 0;
    }
    size_t len = strlen(s);
    const char *star = strchr(s, '*');
    if (!star)
        return tg_origin_parse(s, len, &out->origin, why);
    /* SCHEME "://" "*." SUFFIX [":" PORT]: parse it with the "*." removed, then check the suffix has two labels */
    size_t scheme_len = (size_t)(star - s);
    if (!((scheme_len == 8 && strncasecmp(s, "https://", 8) == 0) ||
          (scheme_len == 7 && strncasecmp(s, "http://", 7) == 0)) ||
        star[1] != '.' || strchr(star + 1, '*'))
        return set_why(why, "a wildcard origin is scheme://*.domain, e.g. https://*.example.com");
    char buf[300];
    if (len - 2 >= sizeof buf)
        return set_why(why, "the origin is too long");
    memcpy(buf, s, scheme_len);
    memcpy(buf + scheme_len, star + 2, len - scheme_len - 2);
    size_t blen = len - 2;
    if (tg_origin_parse(buf, blen, &out->origin, why) < 0)
        return -1;
    if (out->origin.host[0] == '[' || !strchr(out->origin.host, '.'))
        return set_why(why, "a wildcard origin needs a domain of at least two labels after \"*.\"");
    out->wildcard = 1;
    return 0;
}

int tg_origin_pattern_match(const struct tg_origin_pattern *p, const char *origin, size_t len)
{
    if (p->any)
        return 1;
    struct tg_origin o;
    if (tg_origin_parse(origin, len, &o, NULL) < 0)
        return 0; /* "null" and anything malformed */
    if (o.https != p->origin.https || o.port != p->origin.port)
        return 0;
    if (!p->wildcard)
        return strcmp(o.host, p->origin.host) == 0;
    size_t hl = strlen(o.host), sl = strlen(p->origin.host);
    return hl > sl + 1 && o.host[hl - sl - 1] == '.' && strcmp(o.host + hl - sl, p->origin.host) == 0 &&
           o.host[0] != '[';
}
