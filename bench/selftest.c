/* selftest.c — `tollgate-bench selftest`: checks the tool's own arithmetic (histogram bucket layout and
 * quantiles, argument parsers) so a wrong figure cannot come from the measuring stick. The network paths are
 * exercised end to end by `BENCH_QUICK=1 bench/run.sh`. Prints "selftest: N passed, M failed". */
#include "selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "latency.h"

static int passed, failed;

#define EXPECT(cond)                                                                                       \
    do {                                                                                                   \
        if (cond) {                                                                                        \
            passed++;                                                                                      \
        } else {                                                                                           \
            failed++;                                                                                      \
            fprintf(stderr, "selftest: %s:%d: failed: %s\n", __FILE__, __LINE__, #cond);                  \
        }                                                                                                  \
    } while (0)

static void check_buckets(void)
{
    /* buckets tile [0, 2^64) without gaps or overlaps, in order */
    uint64_t prev_hi = 0;
    int ok = 1;
    for (unsigned i = 0; i < TG_HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        tg_hist_bucket_range(i, &lo, &hi);
        if ((i == 0 && lo != 0) || (i > 0 && lo != prev_hi + 1) || hi < lo)
            ok = 0;
        /* relative width below 1/64 above the linear range */
        if (lo >= TG_HIST_SUB && (hi - lo + 1) * 64 > lo)
            ok = 0;
        prev_hi = hi;
    }
    EXPECT(ok);
    EXPECT(prev_hi == UINT64_MAX);
    /* every value falls in the bucket whose range holds it */
    ok = 1;
    for (int k = 0; k < 200000; k++) {
        uint64_t v = tg_bench_rand() >> (tg_bench_rand() % 64);
        uint64_t lo, hi;
        unsigned idx = tg_hist_index(v);
        tg_hist_bucket_range(idx, &lo, &hi);
        if (idx >= TG_HIST_BUCKETS || v < lo || v > hi)
            ok = 0;
    }
    EXPECT(ok);
    EXPECT(tg_hist_index(0) == 0);
    EXPECT(tg_hist_index(UINT64_MAX) == TG_HIST_BUCKETS - 1);
}

static void check_quantiles(void)
{
    struct tg_hist *h = malloc(sizeof *h);
    if (!h) {
        failed++;
        return;
    }
    tg_hist_reset(h);
    EXPECT(tg_hist_quantile(h, 0.5) == 0);
    for (uint64_t v = 1; v <= 100000; v++)
        tg_hist_record(h, v * 1000); /* 1 µs .. 100 ms in ns */
    uint64_t p50 = tg_hist_quantile(h, 0.50), p99 = tg_hist_quantile(h, 0.99), p999 = tg_hist_quantile(h, 0.999);
    EXPECT(p50 > 49000000 && p50 < 51000000);
    EXPECT(p99 > 98000000 && p99 < 100000000);
    EXPECT(p999 > 98900000 && p999 <= 100000000);
    EXPECT(tg_hist_quantile(h, 1.0) == 100000000);
    EXPECT(h->count == 100000 && h->min == 1000 && h->max == 100000000);
    double mean = tg_hist_mean(h);
    EXPECT(mean > 50000000 && mean < 50002000);
    /* one outlier among many equal samples shows at p99.9 only when it is more than 0.1 % of them */
    tg_hist_reset(h);
    for (int i = 0; i < 999; i++)
        tg_hist_record(h, 10000);
    tg_hist_record(h, 5000000);
    EXPECT(tg_hist_quantile(h, 0.999) < 10200);
    EXPECT(tg_hist_quantile(h, 1.0) == 5000000);
    struct tg_hist *g = malloc(sizeof *g);
    if (g) {
        tg_hist_reset(g);
        tg_hist_record(g, 7);
        tg_hist_merge(g, h);
        EXPECT(g->count == 1001 && g->min == 7 && g->max == 5000000);
        free(g);
    }
    free(h);
}

static void check_parsers(void)
{
    uint64_t sz;
    long v;
    double d;
    EXPECT(tg_bench_parse_size("1m", 1u << 30, &sz) == 0 && sz == 1048576);
    EXPECT(tg_bench_parse_size("64", 1u << 30, &sz) == 0 && sz == 64);
    EXPECT(tg_bench_parse_size("2K", 1u << 30, &sz) == 0 && sz == 2048);
    EXPECT(tg_bench_parse_size("1g", 1u << 30, &sz) == -1);
    EXPECT(tg_bench_parse_size("-1", 1u << 30, &sz) == -1);
    EXPECT(tg_bench_parse_size("2048m", 1u << 30, &sz) == -1);
    EXPECT(tg_bench_parse_long("100", 1, 100, &v) == 0 && v == 100);
    EXPECT(tg_bench_parse_long("101", 1, 100, &v) == -1);
    EXPECT(tg_bench_parse_long("1x", 1, 100, &v) == -1);
    EXPECT(tg_bench_parse_seconds("0.5", 0, 10, &d) == 0 && d == 0.5);
    EXPECT(tg_bench_parse_seconds("2s", 0, 10, &d) == 0 && d == 2);
    EXPECT(tg_bench_parse_seconds("nan", 0, 10, &d) == -1);
    struct tg_bench_target t;
    EXPECT(tg_bench_target_init(&t, "127.0.0.1:8080", "bench.local", "/ws") == 0);
    EXPECT(tg_bench_target_init(&t, "[::1]:8080", "bench.local", "/ws?x=1") == 0);
    fprintf(stderr, "selftest: the next three refusals are expected:\n");
    EXPECT(tg_bench_target_init(&t, "localhost:8080", "bench.local", "/ws") == -1);
    EXPECT(tg_bench_target_init(&t, "127.0.0.1:8080", "bench.local\r\nX: y", "/ws") == -1);
    EXPECT(tg_bench_target_init(&t, "127.0.0.1:8080", "bench.local", "/a b") == -1);
    EXPECT(tg_bench_target_init(&t, "127.0.0.1:8080", "bench.local", "/ws") == 0);
    EXPECT(tg_bench_target_add_header(&t, "X-Api-Key: k1") == 0 && tg_bench_target_add_header(&t, "A:b") == 0);
    EXPECT(strcmp(t.headers, "X-Api-Key: k1\r\nA:b\r\n") == 0);
    fprintf(stderr, "selftest: the next three refusals are expected:\n");
    EXPECT(tg_bench_target_add_header(&t, "X-Api-Key: k\r\nY: z") == -1);
    EXPECT(tg_bench_target_add_header(&t, "Bad Name: v") == -1);
    EXPECT(tg_bench_target_add_header(&t, ": v") == -1);
    EXPECT(strcmp(t.headers, "X-Api-Key: k1\r\nA:b\r\n") == 0);
}

int tg_bench_selftest(void)
{
    check_buckets();
    check_quantiles();
    check_parsers();
    printf("selftest: %d passed, %d failed\n", passed, failed);
    return failed ? -1 : 0;
}
