/* timer_wheel.c — see timer_wheel.h. */
#include "timer_wheel.h"

#include <string.h>

static inline uint64_t tick_of(uint64_t ms) { return ms / TG_WHEEL_TICK_MS; }

void tg_timer_wheel_init(struct tg_timer_wheel *w, uint64_t now_ms)
{
    memset(w, 0, sizeof *w);
    w->next_tick = tick_of(now_ms);
    w->first_tick = UINT64_MAX;
}

static void unlink_timer(struct tg_timer *t)
{
    *t->pprev = t->next;
    if (t->next)
        t->next->pprev = t->pprev;
    t->next = NULL;
    t->pprev = NULL;
}

void tg_timer_schedule(struct tg_timer_wheel *w, struct tg_timer *t, uint64_t deadline_ms)
{
    w->changes++;
    if (t->pprev)
        unlink_timer(t);
    else
        w->count++;
    t->deadline_ms = deadline_ms;
    /* Round up so a timer never fires before its deadline; a past deadline goes to the next tick to run. */
    uint64_t tick = (deadline_ms + TG_WHEEL_TICK_MS - 1) / TG_WHEEL_TICK_MS;
    if (tick < w->next_tick)
        tick = w->next_tick;
    if (tick < w->first_tick)
        w->first_tick = tick;
    struct tg_timer **slot = &w->slots[tick % TG_WHEEL_SLOTS];
    t->next = *slot;
    if (*slot)
        (*slot)->pprev = &t->next;
    t->pprev = slot;
    *slot = t;
}

void tg_timer_cancel(struct tg_timer_wheel *w, struct tg_timer *t)
{
    if (!t->pprev)
        return;
    w->changes++;
    unlink_timer(t);
    w->count--;
}

size_t tg_timer_wheel_run(struct tg_timer_wheel *w, uint64_t now_ms, size_t max_fire)
{
    uint64_t now_tick = tick_of(now_ms);
    size_t fired = 0;
    w->changes++;
    if (w->count == 0) {
        w->next_tick = now_tick + 1;
        return 0;
    }
    /* After a long stall, one pass over every slot covers all ticks missed. */
    if (now_tick >= w->next_tick && now_tick - w->next_tick >= TG_WHEEL_SLOTS)
        w->next_tick = now_tick - TG_WHEEL_SLOTS + 1;
    while (w->next_tick <= now_tick) {
        struct tg_timer **slot = &w->slots[w->next_tick % TG_WHEEL_SLOTS];
        struct tg_timer *t = *slot;
        while (t) {
            struct tg_timer *next = t->next;
            if (t->deadline_ms <= now_ms) {
                if (fired >= max_fire)
                    return fired; /* resume at this tick next time */
                unlink_timer(t);
                w->count--;
                fired++;
                t->cb(t, now_ms);
                /* the callback may have changed the list: restart the slot scan */
                next = *slot;
            }
            t = next;
        }
        w->next_tick++;
    }
    return fired;
}

uint64_t tg_timer_wheel_next_delay_ms(struct tg_timer_wheel *w, uint64_t now_ms, uint64_t cap_ms)
{
    if (w->count == 0)
        return cap_ms;
    uint64_t now_tick = tick_of(now_ms);
    if (w->next_tick <= now_tick)
        return 0;
    uint64_t max_ticks = cap_ms / TG_WHEEL_TICK_MS;
    if (max_ticks > TG_WHEEL_SLOTS)
        max_ticks = TG_WHEEL_SLOTS;
    uint64_t end = w->next_tick + max_ticks;
    /* every scheduled timer sits in the slot of a tick >= first_tick (schedule lowers it; a timer in a slot for
     * tick T is due at T or a later revolution), so the ticks before it hold nothing due */
    uint64_t tick = w->first_tick > w->next_tick ? w->first_tick : w->next_tick;
    for (; tick < end; tick++)
        for (const struct tg_timer *t = w->slots[tick % TG_WHEEL_SLOTS]; t; t = t->next)
            if ((t->deadline_ms + TG_WHEEL_TICK_MS - 1) / TG_WHEEL_TICK_MS <= tick) {
                w->first_tick = tick;
                return tick * TG_WHEEL_TICK_MS > now_ms ? tick * TG_WHEEL_TICK_MS - now_ms : 0;
            }
    if (end > w->first_tick)
        w->first_tick = end; /* nothing is due before end */
    return cap_ms;
}
