/* latency.h — the bench tool's latency histogram: log-linear buckets over nanoseconds (HDR-histogram style),
 * fixed size, no allocation, < 1 % relative error per bucket, percentiles by a cumulative walk.
 * Used by the echo-latency scenario; one histogram per client loop, merged across processes if needed. */
#ifndef TG_BENCH_LATENCY_H
#define TG_BENCH_LATENCY_H

#include <stdint.h>

/* 2^TG_HIST_SUB_BITS linear sub-buckets per power of two: 128 → worst-case bucket width 1/64 of its value. */
#define TG_HIST_SUB_BITS 7
#define TG_HIST_SUB (1u << TG_HIST_SUB_BITS)
#define TG_HIST_BUCKETS (TG_HIST_SUB + (64 - TG_HIST_SUB_BITS) * (TG_HIST_SUB / 2))

struct tg_hist {
    uint64_t count;
    uint64_t min, max;
    long double sum;
    uint64_t buckets[TG_HIST_BUCKETS];
};

void tg_hist_reset(struct tg_hist *h);
void tg_hist_record(struct tg_hist *h, uint64_t value);
/* Adds every sample of src into dst. */
void tg_hist_merge(struct tg_hist *dst, const struct tg_hist *src);
/* The value at quantile q (0 < q <= 1): the midpoint of the bucket holding the ceil(q*count)-th sample,
 * clamped to [min, max]. 0 when the histogram is empty. */
uint64_t tg_hist_quantile(const struct tg_hist *h, double q);
double tg_hist_mean(const struct tg_hist *h);

/* Bucket index of a value and the [lo, hi] range a bucket covers (exposed for the unit test). */
unsigned tg_hist_index(uint64_t value);
void tg_hist_bucket_range(unsigned index, uint64_t *lo, uint64_t *hi);

#endif
