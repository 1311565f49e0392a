/* push.h — keeps the data plane serving the controller's latest good snapshot (docs/control-protocol.md).
 *
 * Owns: polling GET /snapshot/version every poll interval (learning the applied version and the bootId), the
 * version numbers (each push gets max(last version used, applied) + 1, so a restarted controller never goes
 * backwards), the decision to push (the content hash differs from what was acknowledged, or the data plane
 * restarted or lost it: other bootId or other applied version), PUT /snapshot with retries under jittered
 * exponential backoff (100 ms → 5 s, common/backoff.h), and the last good snapshot: a content the data plane
 * rejected (400) is not retried until it changes or the data plane restarts, and a restarted data plane gets the
 * last acknowledged content back in the meantime.
 *
 * Runs on the controller's libev loop; one request in flight at a time (uhttp.h). Timers: two ev_timers owned by
 * the pusher (the repeating poll, the retry after a failure); the controller's rule is one ev_timer per long-lived
 * owner on its single loop (see process/controller.h).
 */
#ifndef TG_PUSH_H
#define TG_PUSH_H

#include "histogram.h"

#include <ev.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tg_pusher_opts {
    const char *socket_path;
    double poll_interval_s;      /* 0 = 1 s */
    double request_timeout_s;    /* 0 = 10 s */
    uint32_t backoff_min_ms;     /* 0 = 100 */
    uint32_t backoff_max_ms;     /* 0 = 5000 */
    uint64_t backoff_seed;       /* jitter generator seed; 0 = from the clock, the pid and the address */
};


struct tg_push_stats {
    uint64_t pushes;            /* PUT /snapshot attempts */
    uint64_t failures;          /* attempts that did not end in 200 */
    uint64_t rejected;          /* of which 400 (snapshot invalid) */
    uint64_t acked_version;     /* last version the data plane acknowledged to us; 0 = none */
    uint64_t applied_version;   /* applied version last reported by the data plane */
    int dataplane_reachable;    /* the last request reached the data plane */
    uint32_t last_retry_delay_ms; /* the backoff delay of the last retry scheduled (tests, debugging) */
    struct tg_histogram latency; /* PUT /snapshot sent → answered (common/histogram.h; the loop is its one writer) */
};

/* Events for the controller. pushing: a PUT with `version` carrying the content of `hash` is being sent.
 * acked: the data plane applied it. failed: the push failed (error says why; `rejected` = 400, with the data
 * plane's errors in error). */
struct tg_pusher_events {
    void (*pushing)(void *arg, uint64_t version, const char *hash);
    void (*acked)(void *arg, uint64_t version, const char *hash);
    void (*failed)(void *arg, int rejected, const char *error);
    void *arg;
};

struct tg_pusher;

struct tg_pusher *tg_pusher_new(struct ev_loop *loop, const struct tg_pusher_opts *opts,
                                const struct tg_pusher_events *events);
/* Starts polling (the first poll is immediate). */
void tg_pusher_start(struct tg_pusher *p);
void tg_pusher_free(struct tg_pusher *p);

/* Sets the content to serve ({"groups","proxies"} as from tg_translate; a reference is taken) and its hash
 * (tg_snapshot_hash). A push follows when the data plane does not have it. */
void tg_pusher_set(struct tg_pusher *p, json_t *content, const char *hash);

const struct tg_push_stats *tg_pusher_stats(const struct tg_pusher *p);

#endif
