/* bench_util.c — see bench.h: target and address parsing, clock-independent helpers, PRNG, rlimits. */
#include "bench.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

int tg_bench_parse_addr(const char *addr_port, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *port_str;
    size_t n = strlen(addr_port);
    if (n == 0 || n > 80)
        return -1;
    if (addr_port[0] == '[') {
        const char *end = strchr(addr_port, ']');
        if (!end || end[1] != ':' || (size_t)(end - addr_port - 1) >= sizeof host)
            return -1;
        memcpy(host, addr_port + 1, (size_t)(end - addr_port - 1));
        host[end - addr_port - 1] = '\0';
        port_str = end + 2;
    } else {
        const char *colon = strrchr(addr_port, ':');
        if (!colon || (size_t)(colon - addr_port) >= sizeof host)
            return -1;
        memcpy(host, addr_port, (size_t)(colon - addr_port));
        host[colon - addr_port] = '\0';
        port_str = colon + 1;
    }
    long port;
    if (tg_bench_parse_long(port_str, 1, 65535, &port) != 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

int tg_bench_target_init(struct tg_bench_target *t, const char *addr_port, const char *host, const char *path)
{
    memset(t, 0, sizeof *t);
    if (tg_bench_parse_addr(addr_port, &t->addr, &t->addr_len) != 0) {
        fprintf(stderr, "tollgate-bench: bad target address '%s' (want IP:PORT or [IPv6]:PORT)\n", addr_port);
        return -1;
    }
    size_t hl = strlen(host), pl = strlen(path);
    if (hl == 0 || hl >= sizeof t->host) {
        fprintf(stderr, "tollgate-bench: bad Host '%s'\n", host);
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if (!isalnum((unsigned char)host[i]) && !strchr(".-:[]", host[i])) {
            fprintf(stderr, "tollgate-bench: bad Host '%s'\n", host);
            return -1;
        }
    if (pl == 0 || pl >= sizeof t->path || path[0] != '/') {
        fprintf(stderr, "tollgate-bench: bad path '%s' (must start with /)\n", path);
        return -1;
    }
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f) {
            fprintf(stderr, "tollgate-bench: bad path '%s'\n", path);
            return -1;
        }
    memcpy(t->host, host, hl + 1);
    memcpy(t->path, path, pl + 1);
    return 0;
}

int tg_bench_target_add_header(struct tg_bench_target *t, const char *line)
{
    const char *colon = strchr(line, ':');
    size_t len = strlen(line), have = strlen(t->headers);
    int ok = colon && colon > line && have + len + 3 <= sizeof t->headers;
    for (const char *q = line; ok && q < colon; q++) /* RFC 9110 §5.6.2 token characters */
        ok = isalnum((unsigned char)*q) || strchr("!#$%&'*+-.^_`|~", *q);
    for (const char *q = colon ? colon + 1 : line; ok && *q; q++)
        ok = *q == ' ' || *q == '\t' || ((unsigned char)*q > 0x20 && (unsigned char)*q < 0x7f);
    if (!ok) {
        fprintf(stderr, "tollgate-bench: bad header '%s' (want 'Name: value', at most %zu bytes in all)\n", line,
                sizeof t->headers - 1);
        return -1;
    }
    memcpy(t->headers + have, line, len);
    memcpy(t->headers + have + len, "\r\n", 3);
    return 0;
}

static _Thread_local uint64_t rng_state;

uint64_t tg_bench_rand(void)
{
    if (rng_state == 0) {
        if (getrandom(&rng_state, sizeof rng_state, 0) != (ssize_t)sizeof rng_state || rng_state == 0)
            rng_state = tg_bench_now_ns() | 1;
    }
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void tg_bench_rand_fill(uint8_t *out, size_t len)
{
    while (len >= 8) {
        uint64_t r = tg_bench_rand();
        memcpy(out, &r, 8);
        out += 8;
        len -= 8;
    }
    if (len) {
        uint64_t r = tg_bench_rand();
        memcpy(out, &r, len);
    }
}

long tg_bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -1;
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

int tg_bench_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int tg_bench_parse_seconds(const char *s, double min, double max, double *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || (*end && strcmp(end, "s") != 0) || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int tg_bench_parse_size(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || !isdigit((unsigned char)s[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1024, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1024 * 1024, end++;
    if (*end || v > max / mul)
        return -1;
    *out = v * mul;
    return 0;
}
