/* test_common_backoff.c — jittered exponential backoff: bounds of each delay, the cap, reset, spread. */
#include "backoff.h"
#include "tg_test.h"

static void test_growth_and_cap(void)
{
    struct tg_backoff b;
    tg_backoff_init(&b, 500, 30000, 42);
    uint32_t base = 500;
    for (int i = 0; i < 12; i++) {
        uint32_t d = tg_backoff_next(&b);
        CHECK(d >= base / 2 && d <= base);
        base = base * 2 > 30000 ? 30000 : base * 2;
    }
    CHECK_EQ_INT(b.base_ms, 30000);
    CHECK_EQ_INT(b.failures, 12);
    tg_backoff_reset(&b);
    uint32_t d = tg_backoff_next(&b);
    CHECK(d >= 250 && d <= 500);
    CHECK_EQ_INT(b.failures, 1);
}

static void test_jitter_spreads(void)
{
    /* Two controllers with different seeds do not retry in lockstep; one generator covers the range. */
    struct tg_backoff a, b;
    tg_backoff_init(&a, 1000, 1000, 1);
    tg_backoff_init(&b, 1000, 1000, 2);
    int same = 0;
    uint32_t lo = 1000, hi = 0;
    for (int i = 0; i < 200; i++) {
        uint32_t x = tg_backoff_next(&a), y = tg_backoff_next(&b);
        same += x == y;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    CHECK(same < 20);
    CHECK(lo < 560 && hi > 940);
    CHECK_EQ_INT(tg_backoff_rand(&a, 7, 7), 7);
    for (int i = 0; i < 100; i++) {
        uint32_t r = tg_backoff_rand(&a, 240, 480);
        CHECK(r >= 240 && r <= 480);
    }
}

int main(void)
{
    test_growth_and_cap();
    test_jitter_spreads();
    TG_TEST_MAIN_END();
}
