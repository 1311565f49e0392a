/* host_port.c — "HOST:PORT" parsing (host_port.h). */
#include "host_port.h"

#include <arpa/inet.h>
#include <string.h>

int tg_host_port_parse(const char *s, char *host, uint16_t *port, const char **why)
{
    size_t len = strlen(s);
    const char *colon;
    const char *h;
    size_t hlen;
    if (len > 0 && s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            *why = "an IPv6 address must be written [ADDRESS]:PORT";
            return -1;
        }
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
        char tmp[INET6_ADDRSTRLEN];
        unsigned char probe[16];
        if (hlen == 0 || hlen >= sizeof tmp) {
            *why = "not an IPv6 address";
            return -1;
        }
        memcpy(tmp, h, hlen);
        tmp[hlen] = '\0';
        if (inet_pton(AF_INET6, tmp, probe) != 1) {
            *why = "not an IPv6 address";
            return -1;
        }
    } else {
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s))) {
            *why = "must be HOST:PORT (an IPv6 address in brackets)";
            return -1;
        }
        h = s;
        hlen = (size_t)(colon - s);
        if (hlen == 0 || hlen > TG_HOST_MAX) {
            *why = "the host must have 1 to 253 characters";
            return -1;
        }
        for (size_t i = 0; i < hlen; i++) {
            char ch = h[i];
            int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
                     ch == '.';
            if (!ok || ((i == 0 || i == hlen - 1) && (ch == '-' || ch == '.'))) {
                *why = "the host must be a DNS name or an IP address";
                return -1;
            }
        }
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    unsigned long v = 0;
    if (plen == 0 || plen > 5 || (plen > 1 && p[0] == '0')) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9') {
            *why = "the port must be a number from 1 to 65535";
            return -1;
        }
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v == 0 || v > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)v;
    return 0;
}

int tg_host_name_ok(const char *h, int allow_wildcard)
{
    if (allow_wildcard && h[0] == '*' && h[1] == '.')
        h += 2;
    size_t len = strlen(h), label = 0;
    if (len == 0 || len > TG_HOST_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') || (label == 0 && c == '-') ||
            ++label > 63)
            return 0;
    }
    return label > 0 && h[len - 1] != '-';
}
