/* scenarios.c — see scenarios.h: the echo latency, echo throughput and upgrade-loop scenarios. Phases: connecting (at most
 * CONNECT_BATCH handshakes in flight), warm-up (traffic flows, nothing counted), measuring, done. A connection
 * lost at any point fails the run: a proxy that drops sessions has no throughput figure worth printing. */
#include "scenarios.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "latency.h"
#include "ws_client.h"

#define CONNECT_BATCH 256

enum echo_phase { PHASE_CONNECTING, PHASE_WARMUP, PHASE_MEASURING, PHASE_DONE };

struct echo_run {
    const struct tg_bench_echo_opts *o;
    struct ev_loop *loop;
    struct tg_bench_conn *conns;
    long started, opened;
    enum echo_phase phase;
    const char *failure;
    struct tg_hist *hist;
    uint64_t msgs, bytes;
    uint64_t t_start, t_end;
    ev_timer timer;
};

static void do_start_next(struct echo_run *r);

static void on_open(struct tg_bench_conn *c)
{
    struct echo_run *r = c->user;
    r->opened++;
    if (r->o->window == 1) {
        c->stamp_ns = tg_bench_now_ns();
        tg_bench_conn_send(c, 1);
    } else {
        tg_bench_conn_send(c, (uint64_t)r->o->window);
    }
    if (r->phase == PHASE_CONNECTING) {
        do_start_next(r);
        if (r->opened == r->o->conns) {
            r->phase = PHASE_WARMUP;
            ev_timer_stop(r->loop, &r->timer);
            ev_timer_set(&r->timer, r->o->warmup_s, 0.);
            ev_timer_start(r->loop, &r->timer);
        }
    }
}

static void on_message(struct tg_bench_conn *c, uint64_t bytes)
{
    struct echo_run *r = c->user;
    if (r->o->window == 1) {
        uint64_t now = tg_bench_now_ns();
        if (r->phase == PHASE_MEASURING)
            tg_hist_record(r->hist, now - c->stamp_ns);
        c->stamp_ns = now;
    }
    if (r->phase == PHASE_MEASURING) {
        r->msgs++;
        r->bytes += bytes;
    }
    c->messages++;
    if (r->phase != PHASE_DONE)
        tg_bench_conn_send(c, 1);
}

static void on_closed(struct tg_bench_conn *c, const char *why)
{
    struct echo_run *r = c->user;
    if (r->phase == PHASE_DONE)
        return;
    r->failure = why;
    r->phase = PHASE_DONE;
    ev_break(r->loop, EVBREAK_ALL);
}

static const struct tg_bench_conn_ops echo_ops = {on_open, on_message, on_closed};

static void do_start_next(struct echo_run *r)
{
    while (r->started < r->o->conns && r->started - r->opened < CONNECT_BATCH) {
        struct tg_bench_conn *c = &r->conns[r->started++];
        if (tg_bench_conn_set_message(c, r->o->size) != 0 ||
            tg_bench_conn_start(c, r->loop, &r->o->target, &echo_ops, r) != 0) {
            r->failure = "cannot create a client socket";
            r->phase = PHASE_DONE;
            ev_break(r->loop, EVBREAK_ALL);
            return;
        }
    }
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct echo_run *r = w->data;
    switch (r->phase) {
    case PHASE_CONNECTING:
        r->failure = "timed out opening the connections";
        r->phase = PHASE_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    case PHASE_WARMUP:
        r->phase = PHASE_MEASURING;
        r->msgs = r->bytes = 0;
        tg_hist_reset(r->hist);
        r->t_start = tg_bench_now_ns();
        ev_timer_set(w, r->o->duration_s, 0.);
        ev_timer_start(loop, w);
        break;
    case PHASE_MEASURING:
        r->t_end = tg_bench_now_ns();
        r->phase = PHASE_DONE;
        ev_break(loop, EVBREAK_ALL);
        break;
    case PHASE_DONE:
        break;
    }
}

int tg_bench_run_echo(const struct tg_bench_echo_opts *o, FILE *out)
{
    int rc = -1;
    struct echo_run r = {.o = o, .phase = PHASE_CONNECTING};
    r.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    r.conns = calloc((size_t)o->conns, sizeof *r.conns);
    r.hist = malloc(sizeof *r.hist);
    if (!r.loop || !r.conns || !r.hist) {
        fprintf(stderr, "tollgate-bench: out of memory\n");
        goto cleanup;
    }
    tg_hist_reset(r.hist);
    ev_timer_init(&r.timer, on_timer, o->connect_timeout_s, 0.);
    r.timer.data = &r;
    ev_timer_start(r.loop, &r.timer);
    do_start_next(&r);
    if (r.phase != PHASE_DONE)
        ev_run(r.loop, 0);
    if (r.failure) {
        fprintf(stderr, "tollgate-bench: echo %s: %s (%ld of %ld connections opened)\n", o->label, r.failure,
                r.opened, o->conns);
        goto cleanup;
    }
    double secs = (double)(r.t_end - r.t_start) / 1e9;
    fprintf(out, "RESULT scenario=echo label=%s conns=%ld window=%ld size=%zu seconds=%.3f msgs=%llu "
                 "msgs_per_s=%.1f mib_per_s=%.2f",
            o->label, o->conns, o->window, o->size, secs, (unsigned long long)r.msgs, (double)r.msgs / secs,
            (double)r.bytes / secs / (1024.0 * 1024.0));
    if (o->window == 1)
        fprintf(out, " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f p9999_us=%.1f max_us=%.1f mean_us=%.1f",
                tg_hist_quantile(r.hist, 0.50) / 1e3, tg_hist_quantile(r.hist, 0.90) / 1e3,
                tg_hist_quantile(r.hist, 0.99) / 1e3, tg_hist_quantile(r.hist, 0.999) / 1e3,
                tg_hist_quantile(r.hist, 0.9999) / 1e3,
                r.hist->count ? r.hist->max / 1e3 : 0.0, tg_hist_mean(r.hist) / 1e3);
    fprintf(out, "\n");
    fflush(out);
    rc = 0;
cleanup:
    if (r.conns) {
        for (long i = 0; i < o->conns; i++)
            tg_bench_conn_dispose(&r.conns[i]);
        free(r.conns);
    }
    free(r.hist);
    if (r.loop)
        ev_loop_destroy(r.loop);
    return rc;
}

/* ---- upgrade loop: every connection reconnects as soon as its previous session ended cleanly ---- */

struct upgrade_run {
    const struct tg_bench_upgrade_opts *o;
    struct ev_loop *loop;
    struct tg_bench_conn *conns;
    enum echo_phase phase; /* WARMUP, MEASURING, DONE */
    const char *failure;
    struct tg_hist *hist;  /* connect → 101, measured upgrades only */
    uint64_t upgrades, t_start, t_end;
    ev_timer timer;
};

static const struct tg_bench_conn_ops upgrade_ops;

static void upgrade_fail(struct upgrade_run *r, const char *why)
{
    if (r->phase == PHASE_DONE)
        return;
    r->failure = why;
    r->phase = PHASE_DONE;
    ev_break(r->loop, EVBREAK_ALL);
}

static void upgrade_begin(struct upgrade_run *r, struct tg_bench_conn *c)
{
    c->stamp_ns = tg_bench_now_ns();
    if (tg_bench_conn_start(c, r->loop, &r->o->target, &upgrade_ops, r) != 0)
        upgrade_fail(r, "cannot create a client socket");
}

static void upgrade_on_open(struct tg_bench_conn *c)
{
    struct upgrade_run *r = c->user;
    if (r->phase == PHASE_MEASURING)
        tg_hist_record(r->hist, tg_bench_now_ns() - c->stamp_ns);
    tg_bench_conn_send_close(c);
}

static void upgrade_on_message(struct tg_bench_conn *c, uint64_t bytes)
{
    upgrade_fail(c->user, "a data message arrived on an upgrade-only connection");
}

static void upgrade_on_closed(struct tg_bench_conn *c, const char *why)
{
    struct upgrade_run *r = c->user;
    if (why) {
        upgrade_fail(r, why);
        return;
    }
    if (r->phase == PHASE_MEASURING)
        r->upgrades++;
    if (r->phase != PHASE_DONE)
        upgrade_begin(r, c);
}

static const struct tg_bench_conn_ops upgrade_ops = {upgrade_on_open, upgrade_on_message, upgrade_on_closed};

static void upgrade_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct upgrade_run *r = w->data;
    if (r->phase == PHASE_WARMUP) {
        r->phase = PHASE_MEASURING;
        r->t_start = tg_bench_now_ns();
        ev_timer_set(w, r->o->duration_s, 0.);
        ev_timer_start(loop, w);
        return;
    }
    r->t_end = tg_bench_now_ns();
    r->phase = PHASE_DONE;
    ev_break(loop, EVBREAK_ALL);
}

int tg_bench_run_upgrade(const struct tg_bench_upgrade_opts *o, FILE *out)
{
    int rc = -1;
    struct upgrade_run r = {.o = o, .phase = PHASE_WARMUP};
    r.loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
    r.conns = calloc((size_t)o->conns, sizeof *r.conns);
    r.hist = malloc(sizeof *r.hist);
    if (!r.loop || !r.conns || !r.hist) {
        fprintf(stderr, "tollgate-bench: out of memory\n");
        goto cleanup;
    }
    tg_hist_reset(r.hist);
    ev_timer_init(&r.timer, upgrade_on_timer, o->warmup_s, 0.);
    r.timer.data = &r;
    ev_timer_start(r.loop, &r.timer);
    for (long i = 0; i < o->conns && r.phase != PHASE_DONE; i++)
        upgrade_begin(&r, &r.conns[i]);
    if (r.phase != PHASE_DONE)
        ev_run(r.loop, 0);
    if (r.failure) {
        fprintf(stderr, "tollgate-bench: upgrade %s: %s (after %llu measured upgrades)\n", o->label, r.failure,
                (unsigned long long)r.upgrades);
        goto cleanup;
    }
    double secs = (double)(r.t_end - r.t_start) / 1e9;
    fprintf(out, "RESULT scenario=upgrade label=%s conns=%ld seconds=%.3f msgs=%llu msgs_per_s=%.1f "
                 "hs_p50_us=%.1f hs_p90_us=%.1f hs_p99_us=%.1f hs_p999_us=%.1f hs_p9999_us=%.1f\n",
            o->label, o->conns, secs, (unsigned long long)r.upgrades, (double)r.upgrades / secs,
            tg_hist_quantile(r.hist, 0.50) / 1e3, tg_hist_quantile(r.hist, 0.90) / 1e3,
            tg_hist_quantile(r.hist, 0.99) / 1e3, tg_hist_quantile(r.hist, 0.999) / 1e3,
            tg_hist_quantile(r.hist, 0.9999) / 1e3);
    fflush(out);
    rc = 0;
cleanup:
    if (r.conns) {
        for (long i = 0; i < o->conns; i++)
            tg_bench_conn_dispose(&r.conns[i]);
        free(r.conns);
    }
    free(r.hist);
    if (r.loop)
        ev_loop_destroy(r.loop);
    return rc;
}
