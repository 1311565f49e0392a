/* worker.c — see worker.h: the per-thread loop, the timer wheel's libev driver, the mailbox, deferred frees and
 * the drain's end. */
#include "loop/worker.h"

#include "clock.h"
#include "loop/counters.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMERS_PER_ROUND 20000

void tg_worker_defer_free(struct tg_worker *w, struct tg_deferred *d)
{
    d->next = w->deferred;
    w->deferred = d;
}

uint32_t tg_worker_random(struct tg_worker *w)
{
    uint32_t x = w->rng; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    w->rng = x;
    return x;
}

static void run_deferred(struct tg_worker *w)
{
    while (w->deferred) {
        struct tg_deferred *d = w->deferred;
        w->deferred = d->next;
        d->free_fn(d);
    }
}

/* Points the libev timer at the wheel's next due tick; left alone when it is already due no later than that (this
 * runs before every sleep of the loop, and most iterations do not bring the earliest deadline closer). */
static void arm_wheel(struct tg_worker *w, uint64_t now)
{
    /* nothing scheduled, cancelled or run since the last computation, and that wake-up is still ahead: it still
     * holds (the wheel's next-delay scan was 4 % of a relayed message's instructions, run every iteration) */
    if (ev_is_active(&w->wheel_tick) && w->wheel.changes == w->wheel_armed_changes && w->wheel_due_ms > now)
        return;
    w->wheel_armed_changes = w->wheel.changes;
    uint64_t delay = tg_timer_wheel_next_delay_ms(&w->wheel, now, 1000);
    uint64_t due = now + delay;
    /* armed to fire no later than needed (an early wake-up only re-arms): nothing to change */
    if (ev_is_active(&w->wheel_tick) && w->wheel_due_ms <= due && w->wheel_due_ms >= now)
        return;
    w->wheel_due_ms = due;
    ev_timer_stop(w->loop, &w->wheel_tick);
    ev_timer_set(&w->wheel_tick, (double)delay / 1000.0 + 0.0005, 0.);
    ev_timer_start(w->loop, &w->wheel_tick);
}

static void check_drained(struct tg_worker *w)
{
    if (!w->draining)
        return;
    if ((w->hooks.is_idle && w->hooks.is_idle(w->hooks.owner)) || tg_now_ms() >= w->drain_deadline_ms) {
        w->stopped = 1;
        ev_break(w->loop, EVBREAK_ALL);
    }
}

static void on_wheel_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_worker *w = t->data;
    tg_timer_wheel_run(&w->wheel, tg_now_ms(), TIMERS_PER_ROUND);
    check_drained(w);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Runs just before the loop sleeps: free what callbacks released, re-arm the wheel, and record how long the
 * iteration worked since the loop woke (the first run, before any sleep, records nothing).
 *
 * A busy iteration then yields the CPU. When more runnable threads share a CPU than it has (workers beside each
 * other or beside other processes: a container's CPU limit, a noisy neighbour), a worker whose poll always finds
 * work never sleeps, so the scheduler takes the CPU from it only when its time slice ends — milliseconds in
 * which every connection of the other worker waits, ready and unserved (the p99 of 100 echoing connections
 * through two workers on one CPU was ~13x its median). Yielding at the end of an iteration that worked
 * yield_after_ns hands the CPU over at an iteration boundary instead, so another thread's wait is bounded by an
 * iteration (which the per-connection read budgets bound) rather than a slice. With nothing else runnable the
 * call returns at once: one system call per busy iteration, shared by all the events it handled. */
static void on_before_sleep(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct tg_worker *w = p->data;
    run_deferred(w);
    uint64_t ns = now_ns();
    arm_wheel(w, ns / 1000000u);
    check_drained(w);
    if (w->woke_ns) {
        tg_histogram_observe_ns(&w->iterations, ns - w->woke_ns);
        if (w->yield_after_ns && ns - w->woke_ns >= w->yield_after_ns) {
            tg_counter_add(&w->yields, 1);
            sched_yield();
        }
        w->woke_ns = 0;
    }
}

/* Runs first when the loop wakes (highest priority): the iteration's clock reading. An iteration with nothing
 * else pending (a busy-poll spin that found no event) is not an iteration that worked: it is not
 * timed; and only an event other than the timer wheel's tick extends the busy-poll window. */
static void on_after_poll(struct ev_loop *loop, ev_check *c, int revents)
{
    struct tg_worker *w = c->data;
    uint64_t ns = now_ns();
    w->now_ms = ns / 1000000u;
    w->iteration++;
    unsigned pending = ev_pending_count(loop); /* this watcher's own entry is already off the queue */
    if (pending > 0)
        w->woke_ns = ns;
    if (pending > (ev_is_pending(&w->wheel_tick) ? 1u : 0u))
        w->worked_ns = ns; /* an event, not only the wheel's tick (timers alone do not keep a worker spinning) */
}

static void on_wakeup(struct ev_loop *loop, ev_async *a, int revents)
{
    struct tg_worker *w = a->data;
    pthread_mutex_lock(&w->mailbox_lock);
    void *value = w->mailbox_value;
    w->mailbox_value = NULL;
    int drain = w->mailbox_drain;
    pthread_mutex_unlock(&w->mailbox_lock);
    if (value) {
        if (w->hooks.on_post)
            w->hooks.on_post(w->hooks.owner, value);
        else if (w->hooks.drop_post)
            w->hooks.drop_post(value);
    }
    if (drain && !w->draining) {
        w->draining = 1;
        if (w->hooks.on_drain)
            w->hooks.on_drain(w->hooks.owner);
    }
}

int tg_worker_init(struct tg_worker *w, int id)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    if (!w->loop)
        w->loop = ev_loop_new(0);
    if (!w->loop)
        return -1;
    w->rng = 0x9e3779b9u ^ (uint32_t)(id * 2654435761u) ^ (uint32_t)tg_wall_ms();
    if (!w->rng)
        w->rng = 1;
    tg_buf_pool_init(&w->bufs, 256, 0);
    tg_timer_wheel_init(&w->wheel, tg_now_ms());
    pthread_mutex_init(&w->mailbox_lock, NULL);

    ev_async_init(&w->wakeup, on_wakeup);
    w->wakeup.data = w;
    ev_async_start(w->loop, &w->wakeup);
    ev_timer_init(&w->wheel_tick, on_wheel_tick, 1., 0.);
    w->wheel_tick.data = w;
    ev_timer_start(w->loop, &w->wheel_tick);
    ev_prepare_init(&w->before_sleep, on_before_sleep);
    w->before_sleep.data = w;
    ev_prepare_start(w->loop, &w->before_sleep);
    ev_check_init(&w->after_poll, on_after_poll);
    w->after_poll.data = w;
    ev_set_priority(&w->after_poll, EV_MAXPRI);
    ev_check_start(w->loop, &w->after_poll);
    w->now_ms = tg_now_ms();
    return 0;
}

/* Busy polling (busy_poll_ns > 0): for that long after an iteration that worked, the loop polls without sleeping,
 * so the next event is found without a wake-up (on a virtual machine a cross-CPU wake-up costs tens of µs, paid
 * at every hop of a relayed message); once the window passes with nothing to do, the loop sleeps as usual. The
 * price is a CPU spinning for up to busy_poll_ns after each burst of work (like HAProxy's busy-polling, but
 * bounded). */
void tg_worker_run(struct tg_worker *w)
{
    if (!w->busy_poll_ns) {
        ev_run(w->loop, 0);
    } else {
        while (!w->stopped) {
            int spin = now_ns() - w->worked_ns < w->busy_poll_ns;
            if (!ev_run(w->loop, spin ? EVRUN_NOWAIT : EVRUN_ONCE))
                break;
        }
    }
    /* drained (or out of time): whatever is left is cut */
    if (w->hooks.on_exit)
        w->hooks.on_exit(w->hooks.owner);
    run_deferred(w);
    for (int i = 0; i < TG_WORKER_SLOTS; i++)
        if (w->slots[i] && w->slot_free[i])
            w->slot_free[i](w, w->slots[i]);
    run_deferred(w);
}

void tg_worker_destroy(struct tg_worker *w)
{
    pthread_mutex_lock(&w->mailbox_lock);
    void *untaken = w->mailbox_value;
    w->mailbox_value = NULL;
    pthread_mutex_unlock(&w->mailbox_lock);
    if (untaken && w->hooks.drop_post)
        w->hooks.drop_post(untaken);
    tg_buf_pool_destroy(&w->bufs);
    ev_loop_destroy(w->loop);
    pthread_mutex_destroy(&w->mailbox_lock);
}

void tg_worker_post(struct tg_worker *w, void *value)
{
    pthread_mutex_lock(&w->mailbox_lock);
    void *replaced = w->mailbox_value;
    w->mailbox_value = value;
    pthread_mutex_unlock(&w->mailbox_lock);
    if (replaced && w->hooks.drop_post)
        w->hooks.drop_post(replaced); /* a value the worker never took */
    ev_async_send(w->loop, &w->wakeup);
}

void tg_worker_post_drain(struct tg_worker *w, uint64_t drain_timeout_ms)
{
    pthread_mutex_lock(&w->mailbox_lock);
    w->mailbox_drain = 1;
    w->drain_deadline_ms = tg_now_ms() + drain_timeout_ms;
    pthread_mutex_unlock(&w->mailbox_lock);
    ev_async_send(w->loop, &w->wakeup);
}
