/* backoff.h — jittered exponential backoff for retrying a peer (the API server, the data plane's control socket,
 * Redis).
 *
 * Each failure doubles the base delay up to a cap; the delay returned is drawn uniformly from
 * [base/2, base] ("equal jitter"), so many controllers restarted together do not reconnect in lockstep.
 * Success resets it. Pure apart from its own PRNG state (seeded by the caller, so tests are repeatable).
 */
#ifndef TG_BACKOFF_H
#define TG_BACKOFF_H

#include <stdint.h>

struct tg_backoff {
    uint32_t initial_ms, max_ms;
    uint32_t base_ms;   /* 0 until the first failure */
    uint64_t rng;       /* xorshift64 state, never 0 */
    uint32_t failures;  /* consecutive failures since the last reset */
};

void tg_backoff_init(struct tg_backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed);
/* The delay before the next attempt after one more failure. */
uint32_t tg_backoff_next(struct tg_backoff *b);
void tg_backoff_reset(struct tg_backoff *b);
/* A uniformly drawn integer in [lo, hi] from the same generator (used for watch timeouts). */
uint32_t tg_backoff_rand(struct tg_backoff *b, uint32_t lo, uint32_t hi);

#endif
