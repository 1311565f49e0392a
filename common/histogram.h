/* histogram.h — a fixed-bucket latency/duration histogram in seconds, the one shape every Prometheus histogram of
 * Tollgate uses (data plane and controller). One writer per instance (a worker thread) with relaxed atomics, any
 * number of readers: a scrape sums the instances of all workers with tg_histogram_add_into, then renders the sum
 * with tg_histogram_render. The bucket ladder is shared (1-2.5-5 steps from 10 µs to 1 h), so instances of any
 * family merge and every family reads the same way on a dashboard. */
#ifndef TG_HISTOGRAM_H
#define TG_HISTOGRAM_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TG_HISTOGRAM_BOUNDS 24 /* finite upper bounds; the last bucket is +Inf */

extern const double tg_histogram_bounds[TG_HISTOGRAM_BOUNDS]; /* seconds, ascending */

struct tg_histogram {
    _Atomic uint64_t buckets[TG_HISTOGRAM_BOUNDS + 1]; /* per bucket (not cumulative); last: above every bound */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
};

/* Records one observation of `nanoseconds` (single writer per instance: no locked instruction). */
void tg_histogram_observe_ns(struct tg_histogram *h, uint64_t nanoseconds);

/* Adds src's counts into dst (a reader's private sum; dst need not be single-writer-owned). */
void tg_histogram_add_into(struct tg_histogram *dst, const struct tg_histogram *src);

/* Appends the Prometheus text lines `<name>_bucket{<labels>,le="..."}`, `<name>_sum{<labels>}` and
 * `<name>_count{<labels>}` (labels may be NULL or "" for none; they are written as given, already escaped) to
 * out[0..cap) starting at *len. Returns 0, or -1 when out is too small (*len then unchanged). No HELP/TYPE lines:
 * the family's owner writes those once. */
int tg_histogram_render(const struct tg_histogram *h, const char *name, const char *labels, char *out, size_t cap,
                        size_t *len);

/* The value at quantile q (0..1) estimated as the upper bound of the bucket holding it (+Inf: returns -1). */
double tg_histogram_quantile(const struct tg_histogram *h, double q);

#endif
