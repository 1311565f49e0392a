/* push.c — see push.h. State lives in a few fields: what we want served (desired), what the data plane last
 * acknowledged to us (acked_*), what it reports now (dp_*), the content it refused (rejected_hash); decide()
 * compares them after every event and starts at most one request. */
#include "publish/push.h"

#include "backoff.h"
#include "clock.h"
#include "log.h"
#include "publish/snapshot_document.h"
#include "publish/uhttp.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

struct content {
    json_t *json;
    char hash[TG_SNAPSHOT_HASH_HEX];
};

struct tg_pusher {
    struct ev_loop *loop;
    struct tg_pusher_opts opts;
    struct tg_pusher_events ev;
    struct tg_uhttp *http;
    ev_timer poll_timer;   /* repeating poll */
    ev_timer retry_timer;  /* backoff after a failed push */
    int poll_due;          /* a poll is wanted as soon as the client is free */

    struct content desired;    /* latest translation */
    struct content last_good;  /* last acknowledged content */
    char rejected_hash[TG_SNAPSHOT_HASH_HEX];

    int dp_known;              /* a poll succeeded since the last transport failure */
    uint64_t dp_applied;
    char dp_boot[128];

    uint64_t acked_version;
    char acked_hash[TG_SNAPSHOT_HASH_HEX];
    char acked_boot[128];

    uint64_t last_version;     /* highest version used */
    struct tg_backoff backoff; /* retry delays of failed pushes (common/backoff.h); reset by success or new content */
    int conflicts_in_row;

    /* the request in flight */
    int inflight_push;
    uint64_t inflight_version;
    char inflight_hash[TG_SNAPSHOT_HASH_HEX];
    uint64_t inflight_started_ns;
    int logged_unreachable;

    struct tg_push_stats stats;
};

static void decide(struct tg_pusher *p);

static void content_set(struct content *c, json_t *json, const char *hash)
{
    json_incref(json);
    json_decref(c->json);
    c->json = json;
    snprintf(c->hash, sizeof c->hash, "%s", hash ? hash : "");
}

/* The retry after a failed push waits the next jittered exponential delay (backoff.h: min → max, each drawn
 * from [d/2, d]), so replicas restarting together do not retry in lockstep. */
static void schedule_retry(struct tg_pusher *p)
{
    uint32_t ms = tg_backoff_next(&p->backoff);
    p->stats.last_retry_delay_ms = ms;
    ev_timer_stop(p->loop, &p->retry_timer);
    ev_timer_set(&p->retry_timer, ms / 1000.0, 0.);
    ev_timer_start(p->loop, &p->retry_timer);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    decide(w->data);
}

static void note_unreachable(struct tg_pusher *p, const char *error)
{
    p->dp_known = 0;
    p->stats.dataplane_reachable = 0;
    if (!p->logged_unreachable) {
        tg_warn("data plane at %s unreachable: %s (retrying)", p->opts.socket_path, error);
        p->logged_unreachable = 1;
    }
}

static void note_reachable(struct tg_pusher *p)
{
    p->stats.dataplane_reachable = 1;
    if (p->logged_unreachable) {
        tg_info("data plane at %s reachable again", p->opts.socket_path);
        p->logged_unreachable = 0;
    }
}

/* ---- GET /snapshot/version ---- */

static void on_version(void *arg, int status, const char *body, size_t len, const char *error)
{
    struct tg_pusher *p = arg;
    if (status < 0) {
        note_unreachable(p, error);
        decide(p);
        return;
    }
    note_reachable(p);
    json_error_t jerr;
    json_t *doc = status == 200 ? json_loadb(body, len, 0, &jerr) : NULL;
    json_t *applied = json_object_get(doc, "applied");
    json_t *boot = json_object_get(doc, "bootId");
    if (!json_is_integer(applied) || json_integer_value(applied) < 0 || !json_is_string(boot)) {
        tg_warn("data plane answered GET /snapshot/version with status %d and an unexpected body", status);
        json_decref(doc);
        p->dp_known = 0;
        decide(p);
        return;
    }
    const char *boot_id = json_string_value(boot);
    if (p->dp_known && strcmp(p->dp_boot, boot_id) != 0)
        tg_info("data plane restarted (bootId %s → %s, applied %lld)", p->dp_boot, boot_id,
                (long long)json_integer_value(applied));
    if (strcmp(p->dp_boot, boot_id) != 0)
        p->rejected_hash[0] = '\0'; /* a new data plane may accept what the old one refused */
    snprintf(p->dp_boot, sizeof p->dp_boot, "%s", boot_id);
    p->dp_applied = (uint64_t)json_integer_value(applied);
    p->stats.applied_version = p->dp_applied;
    p->dp_known = 1;
    json_decref(doc);
    decide(p);
}

/* ---- PUT /snapshot ---- */

static void record_latency(struct tg_pusher *p)
{
    tg_histogram_observe_ns(&p->stats.latency, tg_now_ns() - p->inflight_started_ns);
}

/* Joins the data plane's "errors" array for a log line. */
static void join_errors(const json_t *doc, char *out, size_t outlen)
{
    size_t off = 0, i;
    json_t *e;
    out[0] = '\0';
    json_array_foreach(json_object_get(doc, "errors"), i, e) {
        if (!json_is_string(e) || off + 4 >= outlen)
            continue;
        int n = snprintf(out + off, outlen - off, "%s%s", off ? "; " : "", json_string_value(e));
        off += n > 0 ? (size_t)n : 0;
        if (off >= outlen)
            break;
    }
}

static void on_pushed(void *arg, int status, const char *body, size_t len, const char *error)
{
    struct tg_pusher *p = arg;
    p->inflight_push = 0;
    record_latency(p);
    json_error_t jerr;
    json_t *doc = status > 0 ? json_loadb(body, len, 0, &jerr) : NULL;
    char errors[1024];
    if (status == 200) {
        json_t *applied = json_object_get(doc, "applied");
        uint64_t v = json_is_integer(applied) ? (uint64_t)json_integer_value(applied) : p->inflight_version;
        note_reachable(p);
        p->acked_version = v;
        p->dp_applied = v;
        p->stats.applied_version = v;
        p->stats.acked_version = v;
        snprintf(p->acked_hash, sizeof p->acked_hash, "%s", p->inflight_hash);
        snprintf(p->acked_boot, sizeof p->acked_boot, "%s", p->dp_boot);
        if (strcmp(p->desired.hash, p->inflight_hash) == 0)
            content_set(&p->last_good, p->desired.json, p->desired.hash);
        tg_backoff_reset(&p->backoff);
        p->conflicts_in_row = 0;
        tg_info("data plane applied snapshot version %llu (%s)", (unsigned long long)v, p->acked_hash);
        if (p->ev.acked)
            p->ev.acked(p->ev.arg, v, p->acked_hash);
    } else if (status == 409 && p->conflicts_in_row < 3) {
        /* someone applied a newer version (or our numbering restarted): move past it and push again */
        json_t *applied = json_object_get(doc, "applied");
        if (json_is_integer(applied) && (uint64_t)json_integer_value(applied) > p->dp_applied)
            p->dp_applied = (uint64_t)json_integer_value(applied);
        if (p->dp_applied > p->last_version)
            p->last_version = p->dp_applied;
        p->conflicts_in_row++;
        p->stats.failures++;
        tg_warn("data plane has a newer version (%llu) than snapshot %llu; pushing again with a higher version",
                (unsigned long long)p->dp_applied, (unsigned long long)p->inflight_version);
    } else if (status == 400) {
        p->stats.failures++;
        p->stats.rejected++;
        join_errors(doc, errors, sizeof errors);
        snprintf(p->rejected_hash, sizeof p->rejected_hash, "%s", p->inflight_hash);
        tg_error("data plane rejected snapshot version %llu: %s", (unsigned long long)p->inflight_version,
                 errors[0] ? errors : "(no details)");
        if (p->ev.failed)
            p->ev.failed(p->ev.arg, 1, errors[0] ? errors : "rejected");
    } else {
        char msg[700];
        if (status < 0)
            snprintf(msg, sizeof msg, "%s", error);
        else
            snprintf(msg, sizeof msg, "HTTP %d", status);
        p->stats.failures++;
        if (status < 0)
            note_unreachable(p, msg);
        else
            tg_warn("pushing snapshot version %llu failed: %s", (unsigned long long)p->inflight_version, msg);
        schedule_retry(p);
        if (p->ev.failed)
            p->ev.failed(p->ev.arg, 0, msg);
    }
    json_decref(doc);
    decide(p);
}

static void start_push(struct tg_pusher *p, const struct content *c)
{
    uint64_t v = (p->last_version > p->dp_applied ? p->last_version : p->dp_applied) + 1;
    json_t *doc = tg_snapshot_finalize(c->json, v, (int64_t)tg_wall_ms());
    size_t len = 0;
    char *text = doc ? tg_snapshot_dump(doc, &len) : NULL;
    json_decref(doc);
    if (!text) {
        tg_error("cannot serialise snapshot version %llu", (unsigned long long)v);
        schedule_retry(p);
        return;
    }
    p->last_version = v;
    p->inflight_push = 1;
    p->inflight_version = v;
    snprintf(p->inflight_hash, sizeof p->inflight_hash, "%s", c->hash);
    p->inflight_started_ns = tg_now_ns();
    p->stats.pushes++;
    if (p->ev.pushing)
        p->ev.pushing(p->ev.arg, v, c->hash);
    tg_debug("pushing snapshot version %llu (%zu bytes)", (unsigned long long)v, len);
    if (tg_uhttp_request(p->http, "PUT", "/snapshot", text, len, p->opts.request_timeout_s, on_pushed, p) < 0) {
        p->inflight_push = 0;
        p->stats.failures++;
        schedule_retry(p);
    }
    free(text);
}

/* What should the data plane serve now? NULL when nothing (yet). */
static const struct content *wanted(const struct tg_pusher *p)
{
    if (p->desired.json && strcmp(p->desired.hash, p->rejected_hash) != 0)
        return &p->desired;
    return p->last_good.json ? &p->last_good : NULL;
}

static int dataplane_has(const struct tg_pusher *p, const struct content *c)
{
    return p->acked_version != 0 && strcmp(c->hash, p->acked_hash) == 0 && strcmp(p->dp_boot, p->acked_boot) == 0 &&
           p->dp_applied == p->acked_version;
}

static void decide(struct tg_pusher *p)
{
    if (tg_uhttp_busy(p->http))
        return;
    if (p->poll_due) {
        p->poll_due = 0;
        tg_uhttp_request(p->http, "GET", "/snapshot/version", NULL, 0, p->opts.request_timeout_s, on_version, p);
        return;
    }
    if (!p->dp_known) /* the next poll (at most one interval away) finds out */
        return;
    const struct content *c = wanted(p);
    if (!c || dataplane_has(p, c) || ev_is_active(&p->retry_timer))
        return;
    start_push(p, c);
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct tg_pusher *p = w->data;
    p->poll_due = 1;
    decide(p);
}

struct tg_pusher *tg_pusher_new(struct ev_loop *loop, const struct tg_pusher_opts *opts,
                                const struct tg_pusher_events *events)
{
    struct tg_pusher *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->opts = *opts;
    if (p->opts.poll_interval_s <= 0)
        p->opts.poll_interval_s = 1.0;
    if (p->opts.request_timeout_s <= 0)
        p->opts.request_timeout_s = 10.0;
    if (!p->opts.backoff_min_ms)
        p->opts.backoff_min_ms = 100;
    if (!p->opts.backoff_max_ms)
        p->opts.backoff_max_ms = 5000;
    if (events)
        p->ev = *events;
    tg_backoff_init(&p->backoff, p->opts.backoff_min_ms, p->opts.backoff_max_ms,
                    p->opts.backoff_seed ? p->opts.backoff_seed
                                         : tg_now_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)p);
    p->http = tg_uhttp_new(loop, opts->socket_path);
    if (!p->http) {
        free(p);
        return NULL;
    }
    ev_timer_init(&p->poll_timer, on_poll, 0., p->opts.poll_interval_s);
    p->poll_timer.data = p;
    ev_timer_init(&p->retry_timer, on_retry, 0., 0.);
    p->retry_timer.data = p;
    return p;
}

void tg_pusher_start(struct tg_pusher *p)
{
    ev_timer_start(p->loop, &p->poll_timer);
}

void tg_pusher_free(struct tg_pusher *p)
{
    if (!p)
        return;
    ev_timer_stop(p->loop, &p->poll_timer);
    ev_timer_stop(p->loop, &p->retry_timer);
    tg_uhttp_free(p->http);
    json_decref(p->desired.json);
    json_decref(p->last_good.json);
    free(p);
}

void tg_pusher_set(struct tg_pusher *p, json_t *content, const char *hash)
{
    if (p->desired.json && strcmp(p->desired.hash, hash) == 0)
        return;
    content_set(&p->desired, content, hash);
    /* new content: retry at once even if a backoff for the old content is pending */
    ev_timer_stop(p->loop, &p->retry_timer);
    tg_backoff_reset(&p->backoff);
    decide(p);
}

const struct tg_push_stats *tg_pusher_stats(const struct tg_pusher *p)
{
    return &p->stats;
}
