/* fuzz_traffic_parsers.c — libFuzzer target for the traffic policies' parsers of hostile text (common/):
 * addresses and CIDRs, X-Forwarded-For walks, CORS origins and patterns, HOST:PORT, rate identifiers.
 * The first input byte picks the parser; the rest is its input. Checked beyond "no crash, no UB":
 *   - an address that parses formats to text that parses to the same address (round trip);
 *   - a CIDR that parses matches its own network address, and its prefix is within the family's bits;
 *   - the client address tg_client_address returns is the peer or one of the X-Forwarded-For entries;
 *   - an origin that parses is matched by the pattern made of itself. */
#include "cors_origin.h"
#include "host_port.h"
#include "ip_cidr.h"
#include "rate_identifier.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    uint8_t which = data[0] % 6;
    data++;
    size--;
    char *s = text(data, size);
    switch (which) {
    case 0: {
        struct tg_ip ip, again;
        if (tg_ip_parse(s, size, &ip) == 0) {
            char out[TG_IP_TEXT_MAX];
            tg_ip_format(&ip, out);
            if (tg_ip_parse(out, strlen(out), &again) != 0 || again.family != ip.family ||
                memcmp(again.addr, ip.addr, 16) != 0)
                abort();
        }
        break;
    }
    case 1: {
        struct tg_cidr c;
        const char *why = NULL;
        if (tg_cidr_parse(s, &c, &why) == 0) {
            if (c.prefix > (c.ip.family == 4 ? 32 : 128) || !tg_cidr_match(&c, &c.ip))
                abort();
        } else if (!why) {
            abort();
        }
        break;
    }
    case 2: {
        /* peer 10.0.0.1 trusted with 10.0.0.0/8 and ::1; the input is one X-Forwarded-For field */
        struct tg_cidr trusted[2];
        const char *why;
        tg_cidr_parse("10.0.0.0/8", &trusted[0], &why);
        tg_cidr_parse("::1", &trusted[1], &why);
        struct tg_ip peer, out;
        tg_ip_parse("10.0.0.1", 8, &peer);
        const char *values[1] = {s};
        size_t lens[1] = {size};
        enum tg_xff_result r = tg_client_address(&peer, trusted, 2, values, lens, 1, &out);
        if (r == TG_XFF_PEER && memcmp(&out, &peer, sizeof out) != 0)
            abort();
        if (r == TG_XFF_FORWARDED) {
            char t[TG_IP_TEXT_MAX];
            tg_ip_format(&out, t);
            struct tg_ip back;
            if (tg_ip_parse(t, strlen(t), &back) != 0)
                abort();
        }
        break;
    }
    case 3: {
        struct tg_origin o;
        if (tg_origin_parse(s, size, &o, NULL) == 0 && memchr(s, '\0', size) == NULL) {
            struct tg_origin_pattern p;
            const char *why = NULL;
            if (tg_origin_pattern_parse(s, &p, &why) == 0 && !tg_origin_pattern_match(&p, s, size))
                abort();
        }
        struct tg_origin_pattern p;
        const char *why = NULL;
        if (tg_origin_pattern_parse(s, &p, &why) == 0)
            (void)tg_origin_pattern_match(&p, "https://a.b.example.com:8443", 28);
        break;
    }
    case 4: {
        char host[TG_HOST_MAX + 1];
        uint16_t port;
        const char *why = NULL;
        if (tg_host_port_parse(s, host, &port, &why) == 0 && (port == 0 || strlen(host) > TG_HOST_MAX))
            abort();
        break;
    }
    default: {
        struct tg_identifier id;
        char err[160], buf[300];
        if (tg_identifier_parse(s, &id, err, sizeof err) == 0)
            (void)tg_identifier_canonical(&id, buf, sizeof buf);
        break;
    }
    }
    free(s);
    return 0;
}
