/* bench.h — shared pieces of the tollgate-bench tool: the target a client talks to (address, Host header, path),
 * a nanosecond monotonic clock, a cheap per-thread PRNG for masking keys and payloads, and argument helpers.
 * The tool measures Tollgate side by side with nginx, HAProxy and a direct connection (see bench/run.sh). */
#ifndef TG_BENCH_H
#define TG_BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

struct tg_bench_target {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[256]; /* Host header value sent by the client */
    char path[512]; /* request-target of the WebSocket upgrade */
    char headers[512]; /* extra request header lines, each "Name: value\r\n" (tg_bench_target_add_header) */
};

/* Fills t from "ADDR:PORT" (IPv4 literal, or "[v6]:PORT"), host and path. Returns 0, or -1 with a message on
 * stderr when the address, the host or the path is not acceptable. */
int tg_bench_target_init(struct tg_bench_target *t, const char *addr_port, const char *host, const char *path);

/* Appends one "Name: value" header line to every upgrade request sent to t (e.g. an API key). The name must
 * be a token and the value visible ASCII or spaces. Returns 0, or -1 with a message on stderr. */
int tg_bench_target_add_header(struct tg_bench_target *t, const char *line);

/* Parses a listen address "ADDR:PORT" into a sockaddr; 0 / -1. */
int tg_bench_parse_addr(const char *addr_port, struct sockaddr_storage *ss, socklen_t *len);

static inline uint64_t tg_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64* seeded from getrandom() once per thread: masking keys and payload bytes, not cryptography. */
uint64_t tg_bench_rand(void);
void tg_bench_rand_fill(uint8_t *out, size_t len);

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the resulting soft limit. */
long tg_bench_raise_nofile(void);

/* Strict numeric argument parsers: the whole string must be a number in range. 0 / -1. */
int tg_bench_parse_long(const char *s, long min, long max, long *out);
int tg_bench_parse_seconds(const char *s, double min, double max, double *out);
/* Sizes with an optional k/K (1024) or m/M (1024^2) suffix. */
int tg_bench_parse_size(const char *s, uint64_t max, uint64_t *out);

#endif
