/* latency.c — see latency.h. Bucket layout: values below TG_HIST_SUB get one bucket each; above, each power of
 * two [2^m, 2^(m+1)) is cut into TG_HIST_SUB/2 equal buckets of width 2^(m - TG_HIST_SUB_BITS + 1). */
#include "latency.h"

#include <string.h>

void tg_hist_reset(struct tg_hist *h)
{
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

unsigned tg_hist_index(uint64_t value)
{
    if (value < TG_HIST_SUB)
        return (unsigned)value;
    unsigned msb = 63u - (unsigned)__builtin_clzll(value);   /* >= TG_HIST_SUB_BITS */
    unsigned shift = msb - (TG_HIST_SUB_BITS - 1);            /* >= 1 */
    unsigned mant = (unsigned)(value >> shift);               /* in [SUB/2, SUB) */
    return TG_HIST_SUB + (shift - 1) * (TG_HIST_SUB / 2) + (mant - TG_HIST_SUB / 2);
}

void tg_hist_bucket_range(unsigned index, uint64_t *lo, uint64_t *hi)
{
    if (index < TG_HIST_SUB) {
        *lo = *hi = index;
        return;
    }
    unsigned rel = index - TG_HIST_SUB;
    unsigned shift = rel / (TG_HIST_SUB / 2) + 1;
    uint64_t mant = rel % (TG_HIST_SUB / 2) + TG_HIST_SUB / 2;
    *lo = mant << shift;
    *hi = *lo + ((uint64_t)1 << shift) - 1;
}

void tg_hist_record(struct tg_hist *h, uint64_t value)
{
    h->buckets[tg_hist_index(value)]++;
    h->count++;
    h->sum += value;
    if (value < h->min)
        h->min = value;
    if (value > h->max)
        h->max = value;
}

void tg_hist_merge(struct tg_hist *dst, const struct tg_hist *src)
{
    for (unsigned i = 0; i < TG_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t tg_hist_quantile(const struct tg_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q <= 0)
        return h->min;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    for (unsigned i = 0; i < TG_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            tg_hist_bucket_range(i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double tg_hist_mean(const struct tg_hist *h)
{
    return h->count ? (double)(h->sum / h->count) : 0.0;
}
