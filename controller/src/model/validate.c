/* validate.c — see validate.h. */
#include "model/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <time.h>

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Checks the label s[0..n). */
static const char *check_label(const char *s, size_t n)
{
    if (n == 0)
        return "empty label";
    if (n > 63)
        return "a label is longer than 63 characters";
    for (size_t i = 0; i < n; i++)
        if (!is_lower_alnum(s[i]) && s[i] != '-')
            return "only lower-case letters, digits and '-' are allowed in a label";
    if (s[0] == '-' || s[n - 1] == '-')
        return "a label must start and end with a letter or digit";
    return NULL;
}

const char *tg_check_dns_label(const char *s)
{
    return check_label(s, strlen(s));
}

const char *tg_check_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0)
        return "must not be empty";
    if (len > 253)
        return "must be at most 253 characters";
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        const char *err = check_label(p, n);
        if (err)
            return err;
        if (!dot)
            return NULL;
        p = dot + 1;
    }
}

const char *tg_normalize_hostname(const char *in, int allow_wildcard, char *out)
{
    size_t len = strlen(in);
    if (len == 0)
        return "must not be empty";
    if (len > 253)
        return "must be at most 253 characters";
    for (size_t i = 0; i <= len; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    const char *name = out;
    if (out[0] == '*') {
        if (!allow_wildcard)
            return "wildcards are not allowed here";
        if (out[1] != '.')
            return "a wildcard must be a whole leading label (\"*.example.com\")";
        name = out + 2;
    }
    if (strchr(name, '*'))
        return "a wildcard is only allowed as the whole first label";
    if (name[strlen(name) - 1] == '.')
        return "must not end with a dot";
    return tg_check_dns_subdomain(name);
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 §3.3 pchar plus "/": unreserved / pct-encoded / sub-delims / ":" / "@". */
static int is_path_char(char c)
{
    if (isalnum((unsigned char)c))
        return 1;
    return strchr("-._~!$&'()*+,;=:@/", c) != NULL && c != '\0';
}

const char *tg_check_base_path(const char *p)
{
    size_t len = strlen(p);
    if (len == 0 || p[0] != '/')
        return "must start with \"/\"";
    if (len > TG_MAX_PATH_LEN)
        return "is longer than 1024 characters";
    if (len == 1)
        return NULL;
    if (p[len - 1] == '/')
        return "must not end with \"/\" (except the root \"/\")";
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '%') {
            if (!is_hex(p[i + 1]) || !is_hex(p[i + 2]))
                return "has a malformed percent-encoding";
            i += 2;
            continue;
        }
        if (!is_path_char(p[i]))
            return "has a character that is not allowed in a path (query, fragment, space or control)";
    }
    /* segments after each "/" */
    const char *seg = p + 1;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if (n == 0)
            return "must not contain \"//\"";
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return "must not contain \".\" or \"..\" segments";
        if (!slash)
            return NULL;
        seg = slash + 1;
    }
}

int tg_is_ip_literal(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

const char *tg_parse_target_url(const char *url, char *address, int *port, char *prefix)
{
    int https = strncmp(url, "https://", 8) == 0;
    if (!https && strncmp(url, "http://", 7) != 0)
        return "must start with http:// or https://";
    const char *auth = url + (https ? 8 : 7);
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    if (*rest == '?' || *rest == '#')
        return "must not have a query or fragment";
    if (memchr(auth, '@', alen))
        return "must not contain user information";
    if (alen == 0)
        return "has no host";
    char host[256];
    const char *port_str = NULL;
    size_t port_len = 0;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (!close)
            return "has an unterminated IPv6 literal";
        size_t hlen = (size_t)(close - auth - 1);
        if (hlen >= sizeof host)
            return "has a host that is too long";
        memcpy(host, auth + 1, hlen);
        host[hlen] = '\0';
        unsigned char buf[16];
        if (inet_pton(AF_INET6, host, buf) != 1)
            return "has an invalid IPv6 literal";
        const char *after = close + 1;
        if (after < auth + alen) {
            if (*after != ':')
                return "has garbage after the IPv6 literal";
            port_str = after + 1;
            port_len = (size_t)(auth + alen - port_str);
        }
    } else {
        const char *colon = memchr(auth, ':', alen);
        size_t hlen = colon ? (size_t)(colon - auth) : alen;
        if (hlen == 0 || hlen >= sizeof host)
            return "has no host or one that is too long";
        memcpy(host, auth, hlen);
        host[hlen] = '\0';
        if (colon) {
            port_str = colon + 1;
            port_len = (size_t)(auth + alen - port_str);
        }
        unsigned char buf[4];
        if (strcmp(host, "localhost") == 0)
            strcpy(host, "127.0.0.1");
        else if (inet_pton(AF_INET, host, buf) != 1)
            return "host must be an IP literal or localhost (host names are not resolved; use target.service)";
    }
    int pv = https ? 443 : 80;
    if (port_str) {
        if (port_len == 0 || port_len > 5)
            return "has an invalid port";
        pv = 0;
        for (size_t i = 0; i < port_len; i++) {
            if (port_str[i] < '0' || port_str[i] > '9')
                return "has an invalid port";
            pv = pv * 10 + (port_str[i] - '0');
        }
        if (pv < 1 || pv > 65535)
            return "has a port outside 1-65535";
    }
    size_t plen = strlen(rest);
    if (plen > TG_MAX_PATH_LEN)
        return "has a path longer than 1024 characters";
    char path[TG_MAX_PATH_LEN + 1];
    memcpy(path, rest, plen + 1);
    while (plen > 1 && path[plen - 1] == '/')
        path[--plen] = '\0';
    if (plen > 0 && strcmp(path, "/") != 0) {
        const char *err = tg_check_base_path(path);
        if (err)
            return "has an invalid path (no \"//\", \".\" or \"..\" segments, only path characters)";
    } else {
        path[0] = '\0';
    }
    strcpy(address, host);
    *port = pv;
    strcpy(prefix, path);
    return NULL;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int tg_parse_rfc3339(const char *s, int64_t *sec, int32_t *nsec)
{
    int Y, M, D, h, m, sc;
    if (strlen(s) < 20 || digits(s, 4, &Y) < 0 || s[4] != '-' || digits(s + 5, 2, &M) < 0 || s[7] != '-' ||
        digits(s + 8, 2, &D) < 0 || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) < 0 ||
        s[13] != ':' || digits(s + 14, 2, &m) < 0 || s[16] != ':' || digits(s + 17, 2, &sc) < 0)
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || m > 59 || sc > 60)
        return -1;
    int leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
    if (M == 2 && D == 29 && !leap)
        return -1;
    const char *p = s + 19;
    int32_t ns = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                ns = ns * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 9; nd++)
            ns *= 10;
    }
    int offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) < 0 || p[3] != ':' || digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
        offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sc > 59 ? 59 : sc;
    *sec = (int64_t)timegm(&tm) - offset;
    *nsec = ns;
    return 0;
}
