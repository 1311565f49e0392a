/* clock.h — the one monotonic clock every timer in the project is driven by (milliseconds; nanoseconds for the
 * durations histograms observe), and wall time. */
#ifndef TG_CLOCK_H
#define TG_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t tg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The same monotonic clock in nanoseconds (durations observed into histograms). */
static inline uint64_t tg_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall-clock milliseconds since the epoch (timestamps in logs, analytics, token exp). */
static inline uint64_t tg_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Formats wall milliseconds as RFC 3339 UTC with milliseconds into out (≥ 25 bytes). */
void tg_format_rfc3339(uint64_t wall_ms, char *out, unsigned long size);

#endif
