/* ip_cidr.c — strict address/CIDR parsing and matching, and the client address behind trusted proxies
 * (ip_cidr.h). */
#include "ip_cidr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Four decimal octets 0-255 separated by dots; no leading zeros, no sign, no spaces. */
static int parse_v4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= len || s[i] != '.')
                return -1;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0'))
            return -1;
        out[part] = (uint8_t)v;
    }
    return i == len ? 0 : -1;
}

int tg_ip_parse(const char *s, size_t len, struct tg_ip *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len >= TG_IP_TEXT_MAX)
        return -1;
    if (memchr(s, ':', len) == NULL) {
        if (parse_v4(s, len, out->addr) < 0)
            return -1;
        out->family = 4;
        return 0;
    }
    char buf[TG_IP_TEXT_MAX];
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
        if (!ok)
            return -1; /* no zone ids ("%eth0"), no brackets, no spaces */
        buf[i] = c;
    }
    buf[len] = '\0';
    uint8_t a[16];
    if (inet_pton(AF_INET6, buf, a) != 1)
        return -1;
    /* the dotted tail must be strict too (inet_pton's own check is lenient on some libcs) */
    const char *dot = memchr(s, '.', len);
    if (dot) {
        const char *colon = s + len;
        while (colon > s && colon[-1] != ':')
            colon--;
        uint8_t tail[4];
        if (parse_v4(colon, (size_t)(s + len - colon), tail) < 0)
            return -1;
    }
    if (memcmp(a, v4_mapped_prefix, 12) == 0) {
        memcpy(out->addr, a + 12, 4);
        out->family = 4;
    } else {
        memcpy(out->addr, a, 16);
        out->family = 6;
    }
    return 0;
}

int tg_cidr_parse(const char *s, struct tg_cidr *out, const char **why)
{
    static const char *bad_addr = "not an IPv4 or IPv6 address";
    memset(out, 0, sizeof *out);
    size_t len = strlen(s);
    const char *slash = memchr(s, '/', len);
    size_t addr_len = slash ? (size_t)(slash - s) : len;
    /* an IPv4-mapped IPv6 CIDR keeps its IPv6 prefix length until it is mapped below */
    int written_v6 = memchr(s, ':', addr_len) != NULL;
    if (tg_ip_parse(s, addr_len, &out->ip) < 0) {
        *why = bad_addr;
        return -1;
    }
    unsigned max = written_v6 ? 128 : 32;
    unsigned prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = len - addr_len - 1;
        if (n == 0 || n > 3 || (n > 1 && p[0] == '0')) {
            *why = "the prefix length must be a decimal number without leading zeros";
            return -1;
        }
        prefix = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9') {
                *why = "the prefix length must be a decimal number without leading zeros";
                return -1;
            }
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > max) {
            *why = written_v6 ? "the prefix length of an IPv6 CIDR is at most 128"
                              : "the prefix length of an IPv4 CIDR is at most 32";
            return -1;
        }
    }
    if (written_v6 && out->ip.family == 4) {
        /* ::ffff:a.b.c.d/N: an IPv4 CIDR when N covers the mapping prefix */
        if (prefix < 96) {
            *why = "an IPv6 CIDR that covers IPv4-mapped addresses must have a prefix of at least 96 (or use an "
                   "IPv4 CIDR)";
            return -1;
        }
        prefix -= 96;
    }
    out->prefix = (uint8_t)prefix;
    size_t bytes = out->ip.family == 4 ? 4 : 16;
    for (size_t bit = prefix; bit < bytes * 8; bit++) {
        if (out->ip.addr[bit / 8] & (0x80u >> (bit % 8))) {
            *why = "the address has bits set beyond the prefix length (write the network address, e.g. "
                   "10.0.0.0/8, or a /32 or /128 for one host)";
            return -1;
        }
    }
    return 0;
}

int tg_cidr_match(const struct tg_cidr *c, const struct tg_ip *ip)
{
    if (c->ip.family != ip->family)
        return 0;
    size_t full = c->prefix / 8;
    if (memcmp(c->ip.addr, ip->addr, full) != 0)
        return 0;
    unsigned rest = c->prefix % 8;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (c->ip.addr[full] & mask) == (ip->addr[full] & mask);
}

int tg_cidr_list_match(const struct tg_cidr *list, size_t n, const struct tg_ip *ip)
{
    for (size_t i = 0; i < n; i++)
        if (tg_cidr_match(&list[i], ip))
            return 1;
    return 0;
}

void tg_ip_format(const struct tg_ip *ip, char *out)
{
    if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->addr, out, TG_IP_TEXT_MAX))
        snprintf(out, TG_IP_TEXT_MAX, "?");
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

/* One X-Forwarded-For entry: an address, "v4:port" or "[v6]:port" (OWS already trimmed). */
static int parse_entry(const char *s, size_t len, struct tg_ip *out)
{
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return -1;
        size_t after = len - (size_t)(close - s) - 1;
        if (after > 0) {
            const char *p = close + 1;
            if (p[0] != ':' || after < 2 || after > 6)
                return -1;
            for (size_t i = 1; i < after; i++)
                if (p[i] < '0' || p[i] > '9')
                    return -1;
        }
        return tg_ip_parse(s + 1, (size_t)(close - s) - 1, out);
    }
    const char *colon = memchr(s, ':', len);
    if (colon && memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
        /* exactly one colon: IPv4 with a port */
        size_t plen = len - (size_t)(colon - s) - 1;
        if (plen == 0 || plen > 5)
            return -1;
        for (size_t i = 0; i < plen; i++)
            if (colon[1 + i] < '0' || colon[1 + i] > '9')
                return -1;
        if (tg_ip_parse(s, (size_t)(colon - s), out) < 0 || out->family != 4)
            return -1;
        return 0;
    }
    return tg_ip_parse(s, len, out);
}

enum tg_xff_result tg_client_address(const struct tg_ip *peer, const struct tg_cidr *trusted, size_t num_trusted,
                                     const char *const *values, const size_t *lens, size_t n, struct tg_ip *out)
{
    *out = *peer;
    if (!tg_cidr_list_match(trusted, num_trusted, peer))
        return TG_XFF_PEER;
    int seen = 0;
    /* right to left over the fields, and within each field over its comma-separated entries */
    for (size_t f = n; f-- > 0;) {
        const char *v = values[f];
        size_t end = lens[f];
        for (;;) {
            size_t start = end;
            while (start > 0 && v[start - 1] != ',')
                start--;
            size_t a = start, b = end;
            while (a < b && is_ows(v[a]))
                a++;
            while (b > a && is_ows(v[b - 1]))
                b--;
            if (a == b) {
                /* an empty list element (RFC 9110 §5.6.1 allows them); a wholly empty field too */
            } else {
                struct tg_ip ip;
                if (++seen > 64 || parse_entry(v + a, b - a, &ip) < 0)
                    return TG_XFF_MALFORMED;
                *out = ip;
                if (!tg_cidr_list_match(trusted, num_trusted, &ip))
                    return TG_XFF_FORWARDED;
            }
            if (start == 0)
                break;
            end = start - 1;
        }
    }
    return seen ? TG_XFF_FORWARDED : TG_XFF_PEER;
}
