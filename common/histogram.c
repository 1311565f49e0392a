/* histogram.c — see histogram.h. */
#include "histogram.h"

#include <stdio.h>

const double tg_histogram_bounds[TG_HISTOGRAM_BOUNDS] = {
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1,     0.25,     0.5,     1,      2.5,     5,      10,    30,     60,    300,   900,   3600,
};

/* The same ladder in nanoseconds, so an observation needs no floating point. */
static const uint64_t bounds_ns[TG_HISTOGRAM_BOUNDS] = {
    10000ull,        25000ull,        50000ull,        100000ull,        250000ull,        500000ull,
    1000000ull,      2500000ull,      5000000ull,      10000000ull,      25000000ull,      50000000ull,
    100000000ull,    250000000ull,    500000000ull,    1000000000ull,    2500000000ull,    5000000000ull,
    10000000000ull,  30000000000ull,  60000000000ull,  300000000000ull,  900000000000ull,  3600000000000ull,
};

static void add_relaxed(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

void tg_histogram_observe_ns(struct tg_histogram *h, uint64_t nanoseconds)
{
    size_t lo = 0, hi = TG_HISTOGRAM_BOUNDS; /* first bound >= value; TG_HISTOGRAM_BOUNDS = +Inf */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (bounds_ns[mid] < nanoseconds)
            lo = mid + 1;
        else
            hi = mid;
    }
    add_relaxed(&h->buckets[lo], 1);
    add_relaxed(&h->count, 1);
    add_relaxed(&h->sum_ns, nanoseconds);
}

void tg_histogram_add_into(struct tg_histogram *dst, const struct tg_histogram *src)
{
    for (size_t i = 0; i <= TG_HISTOGRAM_BOUNDS; i++)
        add_relaxed(&dst->buckets[i], atomic_load_explicit(&src->buckets[i], memory_order_relaxed));
    add_relaxed(&dst->count, atomic_load_explicit(&src->count, memory_order_relaxed));
    add_relaxed(&dst->sum_ns, atomic_load_explicit(&src->sum_ns, memory_order_relaxed));
}

static int append(char *out, size_t cap, size_t *at, int n)
{
    if (n < 0 || (size_t)n >= cap - *at)
        return -1;
    *at += (size_t)n;
    return 0;
}

int tg_histogram_render(const struct tg_histogram *h, const char *name, const char *labels, char *out, size_t cap,
                        size_t *len)
{
    const char *l = labels ? labels : "";
    const char *sep = l[0] ? "," : "";
    size_t at = *len;
    uint64_t cumulative = 0;
    if (at >= cap)
        return -1;
    for (size_t i = 0; i <= TG_HISTOGRAM_BOUNDS; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        int n = i < TG_HISTOGRAM_BOUNDS
                    ? snprintf(out + at, cap - at, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep,
                               tg_histogram_bounds[i], (unsigned long long)cumulative)
                    : snprintf(out + at, cap - at, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep,
                               (unsigned long long)cumulative);
        if (append(out, cap, &at, n) < 0)
            return -1;
    }
    const char *open = l[0] ? "{" : "", *close = l[0] ? "}" : "";
    int n = snprintf(out + at, cap - at, "%s_sum%s%s%s %.9f\n%s_count%s%s%s %llu\n", name, open, l, close,
                     (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9, name, open, l, close,
                     (unsigned long long)cumulative);
    if (append(out, cap, &at, n) < 0)
        return -1;
    *len = at;
    return 0;
}

double tg_histogram_quantile(const struct tg_histogram *h, double q)
{
    uint64_t total = 0;
    for (size_t i = 0; i <= TG_HISTOGRAM_BOUNDS; i++)
        total += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999), seen = 0;
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < TG_HISTOGRAM_BOUNDS; i++) {
        seen += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (seen >= rank)
            return tg_histogram_bounds[i];
    }
    return -1;
}
