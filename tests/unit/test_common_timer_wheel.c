/* test_common_timer_wheel.c — the timing wheel: ordering, never early, long deadlines, cancel, fairness cap. */
#include "tg_test.h"
#include "timer_wheel.h"

#include <stdlib.h>

struct owner {
    struct tg_timer timer;
    int fired;
    uint64_t fired_at;
};

static void on_fire(struct tg_timer *t, uint64_t now)
{
    struct owner *o = (struct owner *)t;
    o->fired++;
    o->fired_at = now;
}

static struct tg_timer_wheel wheel;

/* The next delay as the wheel computed it before it remembered first_tick: a scan from next_tick. */
static uint64_t reference_next_delay(const struct tg_timer_wheel *w, uint64_t now_ms, uint64_t cap_ms)
{
    if (w->count == 0)
        return cap_ms;
    uint64_t now_tick = now_ms / TG_WHEEL_TICK_MS;
    if (w->next_tick <= now_tick)
        return 0;
    uint64_t max_ticks = cap_ms / TG_WHEEL_TICK_MS;
    if (max_ticks > TG_WHEEL_SLOTS)
        max_ticks = TG_WHEEL_SLOTS;
    for (uint64_t i = 0; i < max_ticks; i++) {
        uint64_t tick = w->next_tick + i;
        for (const struct tg_timer *t = w->slots[tick % TG_WHEEL_SLOTS]; t; t = t->next)
            if ((t->deadline_ms + TG_WHEEL_TICK_MS - 1) / TG_WHEEL_TICK_MS <= tick)
                return tick * TG_WHEEL_TICK_MS > now_ms ? tick * TG_WHEEL_TICK_MS - now_ms : 0;
    }
    return cap_ms;
}

/* Random schedules, cancels, runs and clock steps: the remembered first_tick never changes an answer. */
static void test_next_delay_matches_scan(void)
{
    static struct tg_timer_wheel w;
    enum { T = 64 };
    static struct owner o[T];
    uint64_t now = 5000000;
    tg_timer_wheel_init(&w, now);
    for (int i = 0; i < T; i++)
        tg_timer_init(&o[i].timer, on_fire);
    unsigned seed = 12345, mismatches = 0;
    for (int step = 0; step < 200000; step++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8, op = r % 10;
        struct owner *x = &o[(r >> 4) % T];
        static const uint64_t spans[] = {0, 5, 40, 900, 1500, 40000, 3600000};
        if (op < 4)
            tg_timer_schedule(&w, &x->timer, now + spans[(r >> 12) % 7] + (r >> 16) % 50 - (op == 0 ? 60 : 0));
        else if (op < 5)
            tg_timer_cancel(&w, &x->timer);
        else if (op < 7)
            now += (r >> 12) % 30;
        else if (op < 8)
            tg_timer_wheel_run(&w, now, 1 + (r >> 12) % 4);
        uint64_t want = reference_next_delay(&w, now, 1000);
        if (tg_timer_wheel_next_delay_ms(&w, now, 1000) != want)
            mismatches++;
    }
    CHECK_EQ_INT(mismatches, 0);
}

int main(void)
{
    uint64_t now = 1000000;
    tg_timer_wheel_init(&wheel, now);

    struct owner a = {0}, b = {0}, c = {0};
    tg_timer_init(&a.timer, on_fire);
    tg_timer_init(&b.timer, on_fire);
    tg_timer_init(&c.timer, on_fire);
    tg_timer_schedule(&wheel, &a.timer, now + 100);
    tg_timer_schedule(&wheel, &b.timer, now + 300000); /* several revolutions ahead */
    tg_timer_schedule(&wheel, &c.timer, now + 50);
    CHECK_EQ_INT(wheel.count, 3);

    /* never early */
    for (uint64_t t = now; t < now + 50; t += 3)
        tg_timer_wheel_run(&wheel, t, 100);
    CHECK_EQ_INT(c.fired, 0);
    tg_timer_wheel_run(&wheel, now + 50 + TG_WHEEL_TICK_MS, 100);
    CHECK_EQ_INT(c.fired, 1);
    CHECK_EQ_INT(a.fired, 0);

    /* cancel */
    tg_timer_cancel(&wheel, &a.timer);
    CHECK(!tg_timer_is_scheduled(&a.timer));
    tg_timer_wheel_run(&wheel, now + 200, 100);
    CHECK_EQ_INT(a.fired, 0);

    /* a long deadline survives revolutions and fires at most one tick late */
    for (uint64_t t = now + 200; t < now + 300000; t += 997)
        tg_timer_wheel_run(&wheel, t, 100);
    CHECK_EQ_INT(b.fired, 0);
    for (uint64_t t = now + 299990; t <= now + 300000 + TG_WHEEL_TICK_MS; t++)
        tg_timer_wheel_run(&wheel, t, 100);
    CHECK_EQ_INT(b.fired, 1);
    CHECK(b.fired_at >= now + 300000 && b.fired_at <= now + 300000 + TG_WHEEL_TICK_MS);
    CHECK_EQ_INT(wheel.count, 0);

    /* reschedule moves the deadline; past deadlines fire on the next run */
    now += 400000;
    tg_timer_schedule(&wheel, &a.timer, now + 1000);
    tg_timer_schedule(&wheel, &a.timer, now + 10);
    CHECK_EQ_INT(wheel.count, 1);
    tg_timer_wheel_run(&wheel, now + 20, 100);
    CHECK_EQ_INT(a.fired, 1);
    tg_timer_schedule(&wheel, &a.timer, now - 5);
    tg_timer_wheel_run(&wheel, now + 21 + TG_WHEEL_TICK_MS, 100);
    CHECK_EQ_INT(a.fired, 2);

    /* fairness cap: 10,000 timers due at once, fired in rounds of 1,000 */
    enum { N = 10000 };
    struct owner *many = calloc(N, sizeof *many);
    for (int i = 0; i < N; i++) {
        tg_timer_init(&many[i].timer, on_fire);
        tg_timer_schedule(&wheel, &many[i].timer, now + 100 + (uint64_t)(i % 7));
    }
    size_t total = 0, rounds = 0, got;
    while ((got = tg_timer_wheel_run(&wheel, now + 200, 1000)) > 0) {
        CHECK(got <= 1000);
        total += got;
        rounds++;
    }
    CHECK_EQ_INT(total, N);
    CHECK(rounds >= 10);
    int all = 1;
    for (int i = 0; i < N; i++)
        all &= many[i].fired == 1;
    CHECK(all);
    free(many);

    /* next delay */
    CHECK_EQ_INT(tg_timer_wheel_next_delay_ms(&wheel, now + 300, 1000), 1000);
    tg_timer_schedule(&wheel, &a.timer, now + 340);
    tg_timer_wheel_run(&wheel, now + 300, 100);
    uint64_t d = tg_timer_wheel_next_delay_ms(&wheel, now + 300, 1000);
    CHECK(d >= 40 - TG_WHEEL_TICK_MS && d <= 40 + TG_WHEEL_TICK_MS);
    if (!(d >= 40 - TG_WHEEL_TICK_MS && d <= 40 + TG_WHEEL_TICK_MS))
        fprintf(stderr, "next delay %llu\n", (unsigned long long)d);
    test_next_delay_matches_scan();

    TG_TEST_MAIN_END();
}
