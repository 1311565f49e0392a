/* rate_limit.h — the arithmetic of the two rate policies, pure and shared by the local counters and Redis:
 * quota's fixed windows aligned to the Unix epoch, and spike arrest's one-token bucket (Apigee semantics).
 *
 * Fixed window: the window holding wall-clock time now is [now - now % interval, that + interval); every
 * replica and worker agrees on it without talking (only clocks must agree). A window of 1m starts on the
 * minute, 1h on the hour (UTC), 1d at midnight UTC.
 *
 * Spike arrest: "Nps" / "Npm" allows one request per interval = 1 s / N (or 1 min / N) with no burst: a bucket
 * of one token refilled every interval. A request at time t is admitted when t ≥ next, and then next = t +
 * interval; a refused request does not move next (so a client retrying too early is not pushed further back).
 * Times are microseconds of a monotonic clock (20ps = 50000 µs; 7ps = 142857 µs, rounded down, at least 1). */
#ifndef TG_RATE_LIMIT_H
#define TG_RATE_LIMIT_H

#include <stdint.h>

struct tg_window {
    uint64_t start_ms; /* wall clock, ms since the epoch */
    uint64_t end_ms;
};

static inline struct tg_window tg_window_at(uint64_t now_ms, uint64_t interval_ms)
{
    struct tg_window w;
    w.start_ms = now_ms - now_ms % interval_ms;
    w.end_ms = w.start_ms + interval_ms;
    return w;
}

/* Whole seconds until a wait of wait_ms is over, rounded up, at least 1 (Retry-After, RFC 9110 §10.2.3,
 * is a whole number of seconds; "0" would invite an immediate retry that is refused again). */
static inline uint64_t tg_retry_after_s(uint64_t wait_ms)
{
    uint64_t s = (wait_ms + 999) / 1000;
    return s ? s : 1;
}

/* Seconds until the window ends, rounded up (X-RateLimit-Reset, 0 only when it ends now). */
static inline uint64_t tg_window_reset_s(const struct tg_window *w, uint64_t now_ms)
{
    return now_ms >= w->end_ms ? 0 : (w->end_ms - now_ms + 999) / 1000;
}

/* The spike-arrest interval in µs for count requests per per_ms milliseconds (count ≥ 1). */
static inline uint64_t tg_spike_interval_us(uint64_t count, uint64_t per_ms)
{
    uint64_t us = per_ms * 1000 / count;
    return us ? us : 1;
}

/* Decides one request at now_us against *next_us (0: never admitted). Returns 1 and advances *next_us when
 * admitted; 0 with the wait in *wait_us otherwise. */
static inline int tg_spike_admit(uint64_t *next_us, uint64_t now_us, uint64_t interval_us, uint64_t *wait_us)
{
    if (now_us >= *next_us) {
        *next_us = now_us + interval_us;
        *wait_us = 0;
        return 1;
    }
    *wait_us = *next_us - now_us;
    return 0;
}

#endif
