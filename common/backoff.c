/* backoff.c — jittered exponential backoff; see backoff.h. */
#include "backoff.h"

void tg_backoff_init(struct tg_backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
{
    b->initial_ms = initial_ms ? initial_ms : 1;
    b->max_ms = max_ms < b->initial_ms ? b->initial_ms : max_ms;
    b->base_ms = 0;
    b->failures = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_random(struct tg_backoff *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

uint32_t tg_backoff_rand(struct tg_backoff *b, uint32_t lo, uint32_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (uint32_t)(next_random(b) % ((uint64_t)hi - lo + 1));
}

uint32_t tg_backoff_next(struct tg_backoff *b)
{
    if (b->base_ms == 0)
        b->base_ms = b->initial_ms;
    else if (b->base_ms >= b->max_ms / 2)
        b->base_ms = b->max_ms;
    else
        b->base_ms *= 2;
    b->failures++;
    return tg_backoff_rand(b, b->base_ms / 2, b->base_ms);
}

void tg_backoff_reset(struct tg_backoff *b)
{
    b->base_ms = 0;
    b->failures = 0;
}
