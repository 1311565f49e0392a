/* timer_wheel.h — the project's one timer mechanism: a hashed timing wheel driven by the monotonic ms clock.
 *
 * Each owner embeds a struct tg_timer (32 bytes, zero = not scheduled) and keeps ONE deadline: the earliest of
 * everything it waits for (idle, lifetime, token expiry, header timeout...), recomputed by the owner whenever
 * its state changes. Scheduling and cancelling are O(1); a deadline beyond one revolution stays in its slot and
 * is simply skipped until its revolution comes (a 300 s idle timeout is looked at ~9 times), so an idle session
 * costs one list entry and nothing per tick. Callbacks fire at most one tick late (TG_WHEEL_TICK_MS) and never
 * early. Not thread-safe: one wheel per event loop.
 */
#ifndef TG_TIMER_WHEEL_H
#define TG_TIMER_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#define TG_WHEEL_TICK_MS 8u
#define TG_WHEEL_SLOTS 4096u /* one revolution = 32.768 s */

struct tg_timer;
typedef void (*tg_timer_cb)(struct tg_timer *timer, uint64_t now_ms);

struct tg_timer {
    struct tg_timer *next;
    struct tg_timer **pprev; /* NULL when not scheduled */
    uint64_t deadline_ms;
    tg_timer_cb cb;
};

struct tg_timer_wheel {
    struct tg_timer *slots[TG_WHEEL_SLOTS];
    uint64_t next_tick;      /* the first tick not processed yet */
    size_t count;            /* scheduled timers */
    uint64_t changes;        /* bumped by every schedule, cancel and run: a caller that cached a next delay
                                (the worker's libev timer) knows it still holds while this is unchanged */
    uint64_t first_tick;     /* no scheduled timer sits in a slot for an earlier tick (a lower bound: lowered by
                                schedule, raised by next_delay's scan), so the scan starts here, not at next_tick */
};

void tg_timer_wheel_init(struct tg_timer_wheel *w, uint64_t now_ms);
static inline void tg_timer_init(struct tg_timer *t, tg_timer_cb cb)
{
    t->next = NULL;
    t->pprev = NULL;
    t->deadline_ms = 0;
    t->cb = cb;
}
static inline int tg_timer_is_scheduled(const struct tg_timer *t) { return t->pprev != NULL; }

/* (Re)schedules t for deadline_ms (absolute, monotonic). A deadline in the past fires on the next run. */
void tg_timer_schedule(struct tg_timer_wheel *w, struct tg_timer *t, uint64_t deadline_ms);
/* Unschedules t; harmless when it is not scheduled. */
void tg_timer_cancel(struct tg_timer_wheel *w, struct tg_timer *t);

/* Fires every timer whose deadline is ≤ now_ms, at most max_fire of them (fairness: the rest fire on the
 * next call). A callback may schedule or cancel any timer, including itself. Returns the number fired. */
size_t tg_timer_wheel_run(struct tg_timer_wheel *w, uint64_t now_ms, size_t max_fire);

/* Milliseconds until run() next has work: 0 when a tick is due, up to cap_ms when nothing is scheduled soon.
 * Looks ahead at most cap_ms worth of slots, from the earliest tick a timer may be due at (first_tick), and
 * remembers how far it found nothing: a handshake schedules far deadlines every iteration, and rescanning the
 * same empty second of slots before every sleep cost ~1.4k instructions per handshake (issue 15). */
uint64_t tg_timer_wheel_next_delay_ms(struct tg_timer_wheel *w, uint64_t now_ms, uint64_t cap_ms);

#endif
