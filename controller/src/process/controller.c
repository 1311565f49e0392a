/* controller.c — see controller.h. The loop's callbacks only set state and call step(); step() decides
 * what to do next (translate when the store moved, hand the result to the pusher or print it, report to the
 * source, finish a one-shot run). */
#include "process/controller.h"

#include "clock.h"
#include "process/health.h"
#include "log.h"
#include "publish/push.h"
#include "publish/snapshot_document.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ctl {
    const struct tg_controller_opts *opts;
    struct ev_loop *loop;
    struct tg_store *store;
    void *source;
    struct tg_pusher *pusher;
    struct tg_health *health;
    ev_idle step_idle;      /* runs step() once the current callbacks are done */
    ev_timer deadline;      /* one-shot modes */
    ev_signal sigint, sigterm;

    int translated;         /* at least one translation done */
    uint64_t translated_revision;
    struct tg_translation current;
    char current_hash[TG_SNAPSHOT_HASH_HEX];
    size_t current_errors;  /* source + translation errors of the current translation */
    uint64_t translations;

    int ready;              /* a snapshot was acknowledged */
    uint64_t acked_version;
    char acked_hash[TG_SNAPSHOT_HASH_HEX];
    int exit_code;
    int done;
};

static void finish(struct ctl *c, int code)
{
    c->exit_code = code;
    c->done = 1;
    ev_break(c->loop, EVBREAK_ALL);
}

static size_t source_errors(const struct ctl *c)
{
    const struct tg_diags *d = c->opts->source->diags ? c->opts->source->diags(c->source) : NULL;
    return d ? tg_diags_count(d, TG_DIAG_ERROR) : 0;
}

/* One-shot modes print translation problems to stderr, one per line (the source logged its own already). */
static void print_problems(const struct ctl *c)
{
    const struct tg_diags *list = &c->current.diags;
    for (size_t i = 0; i < list->count; i++)
        fprintf(stderr, "%s: %s\n", tg_diag_severity_name(list->items[i].severity), list->items[i].text);
}

static int same_diags(const struct tg_diags *a, const struct tg_diags *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (a->items[i].severity != b->items[i].severity || strcmp(a->items[i].text, b->items[i].text) != 0)
            return 0;
    return 1;
}

static void translate_now(struct ctl *c)
{
    struct tg_translation t;
    if (tg_translate(c->store, &t) < 0) {
        tg_error("translation ran out of memory; keeping the previous snapshot");
        return;
    }
    char hash[TG_SNAPSHOT_HASH_HEX];
    if (tg_snapshot_hash(t.snapshot, hash) < 0) {
        tg_translation_free(&t);
        tg_error("cannot hash the snapshot; keeping the previous one");
        return;
    }
    if (!c->opts->once && !c->opts->print && !same_diags(&c->current.diags, &t.diags))
        tg_diags_log(&t.diags); /* only when they changed: a watch event elsewhere must not repeat them all */
    tg_translation_free(&c->current);
    c->current = t;
    memcpy(c->current_hash, hash, sizeof hash);
    c->translated = 1;
    c->translated_revision = tg_store_revision(c->store);
    c->translations++;
    c->current_errors = source_errors(c) + tg_diags_count(&t.diags, TG_DIAG_ERROR);
    size_t ng = json_array_size(json_object_get(t.snapshot, "groups"));
    size_t np = json_array_size(json_object_get(t.snapshot, "proxies"));
    tg_info("translated store revision %llu: %zu group(s), %zu proxy(ies), %zu error(s), %zu warning(s); hash %.12s",
            (unsigned long long)c->translated_revision, ng, np, tg_diags_count(&t.diags, TG_DIAG_ERROR),
            tg_diags_count(&t.diags, TG_DIAG_WARNING), hash);
}

static void step(struct ctl *c)
{
    if (c->done)
        return;
    if (!c->opts->source->synced(c->source))
        return;
    if (c->translated && tg_store_revision(c->store) == c->translated_revision)
        return;
    translate_now(c);
    if (c->opts->print) {
        json_t *doc = tg_snapshot_finalize(c->current.snapshot, 1, (int64_t)tg_wall_ms());
        char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(doc);
        print_problems(c);
        finish(c, c->current_errors ? 1 : 0);
        return;
    }
    if (c->ready && strcmp(c->acked_hash, c->current_hash) == 0 && c->opts->source->report)
        c->opts->source->report(c->source, c->acked_version, &c->current); /* same content: already served */
    tg_pusher_set(c->pusher, c->current.snapshot, c->current_hash);
    if (c->opts->once && c->ready && strcmp(c->acked_hash, c->current_hash) == 0) {
        print_problems(c);
        finish(c, c->current_errors ? 1 : 0);
    }
}

static void on_step_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    ev_idle_stop(loop, w);
    step(w->data);
}

static void schedule_step(struct ctl *c)
{
    ev_idle_start(c->loop, &c->step_idle);
}

static void on_source_changed(void *arg)
{
    schedule_step(arg);
}

static void on_pushing(void *arg, uint64_t version, const char *hash)
{
    struct ctl *c = arg;
    if (c->translated && strcmp(hash, c->current_hash) == 0 && c->opts->source->report)
        c->opts->source->report(c->source, version, &c->current);
}

static void on_acked(void *arg, uint64_t version, const char *hash)
{
    struct ctl *c = arg;
    c->ready = 1;
    c->acked_version = version;
    snprintf(c->acked_hash, sizeof c->acked_hash, "%s", hash);
    if (c->opts->source->acknowledged)
        c->opts->source->acknowledged(c->source, version);
    if (c->opts->once && c->translated && strcmp(hash, c->current_hash) == 0) {
        print_problems(c);
        printf("applied snapshot version %llu\n", (unsigned long long)version);
        finish(c, c->current_errors ? 1 : 0);
    }
}

static void on_push_failed(void *arg, int rejected, const char *error)
{
    struct ctl *c = arg;
    if (c->opts->once && rejected) {
        print_problems(c);
        fprintf(stderr, "error: the data plane rejected the snapshot: %s\n", error);
        finish(c, 2);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct ctl *c = w->data;
    if (c->translated)
        print_problems(c);
    fprintf(stderr, "error: %s within %.0f s\n",
            !c->translated ? "the source did not finish loading" : "the data plane did not acknowledge the snapshot",
            c->opts->once_timeout_s > 0 ? c->opts->once_timeout_s : 30.0);
    finish(c, 3);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct ctl *c = w->data;
    tg_info("signal %d: shutting down", w->signum);
    finish(c, c->opts->once || c->opts->print ? 3 : 0);
}

/* ---- health ---- */

static int health_ready(void *arg)
{
    return ((struct ctl *)arg)->ready;
}

static int health_metrics(void *arg, char **out, size_t *len)
{
    struct ctl *c = arg;
    size_t cap = 64 * 1024, off = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -1;
    const struct tg_push_stats *ps = tg_pusher_stats(c->pusher);
#define EMIT(...)                                                                                                  \
    do {                                                                                                           \
        int n_ = snprintf(buf + off, cap - off, __VA_ARGS__);                                                      \
        if (n_ > 0 && (size_t)n_ < cap - off)                                                                      \
            off += (size_t)n_;                                                                                     \
    } while (0)
    EMIT("# HELP tollgate_controller_pushes_total Snapshot pushes attempted.\n"
         "# TYPE tollgate_controller_pushes_total counter\ntollgate_controller_pushes_total %llu\n",
         (unsigned long long)ps->pushes);
    EMIT("# HELP tollgate_controller_push_failures_total Snapshot pushes that were not acknowledged.\n"
         "# TYPE tollgate_controller_push_failures_total counter\ntollgate_controller_push_failures_total %llu\n",
         (unsigned long long)ps->failures);
    EMIT("# HELP tollgate_controller_push_rejections_total Snapshots the data plane refused as invalid.\n"
         "# TYPE tollgate_controller_push_rejections_total counter\n"
         "tollgate_controller_push_rejections_total %llu\n",
         (unsigned long long)ps->rejected);
    EMIT("# HELP tollgate_controller_push_duration_seconds Time from sending a snapshot to the answer.\n"
         "# TYPE tollgate_controller_push_duration_seconds histogram\n");
    for (int i = 0; i < TG_PUSH_LATENCY_BUCKETS; i++)
        EMIT("tollgate_controller_push_duration_seconds_bucket{le=\"%g\"} %llu\n", tg_push_latency_bounds[i],
             (unsigned long long)ps->latency_buckets[i]);
    EMIT("tollgate_controller_push_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
         "tollgate_controller_push_duration_seconds_sum %.6f\n"
         "tollgate_controller_push_duration_seconds_count %llu\n",
         (unsigned long long)ps->latency_count, ps->latency_sum_s, (unsigned long long)ps->latency_count);
    EMIT("# HELP tollgate_controller_last_applied_version Snapshot version the data plane last acknowledged.\n"
         "# TYPE tollgate_controller_last_applied_version gauge\ntollgate_controller_last_applied_version %llu\n",
         (unsigned long long)ps->acked_version);
    EMIT("# HELP tollgate_controller_dataplane_reachable 1 when the last request reached the data plane.\n"
         "# TYPE tollgate_controller_dataplane_reachable gauge\ntollgate_controller_dataplane_reachable %d\n",
         ps->dataplane_reachable);
    EMIT("# HELP tollgate_controller_objects Objects in the controller's store, by kind.\n"
         "# TYPE tollgate_controller_objects gauge\n");
    for (int k = 0; k < TG_KIND_COUNT; k++)
        EMIT("tollgate_controller_objects{kind=\"%s\"} %zu\n", tg_kind_name((enum tg_kind)k),
             tg_store_count(c->store, (enum tg_kind)k));
    EMIT("# HELP tollgate_controller_translations_total Translations of the store into a snapshot.\n"
         "# TYPE tollgate_controller_translations_total counter\ntollgate_controller_translations_total %llu\n",
         (unsigned long long)c->translations);
    EMIT("# HELP tollgate_controller_translation_errors Errors in the current translation (objects left out).\n"
         "# TYPE tollgate_controller_translation_errors gauge\ntollgate_controller_translation_errors %zu\n",
         tg_diags_count(&c->current.diags, TG_DIAG_ERROR));
    EMIT("# HELP tollgate_controller_translation_warnings Warnings in the current translation.\n"
         "# TYPE tollgate_controller_translation_warnings gauge\ntollgate_controller_translation_warnings %zu\n",
         tg_diags_count(&c->current.diags, TG_DIAG_WARNING));
#undef EMIT
    if (c->opts->source->metrics && off < cap)
        off += c->opts->source->metrics(c->source, buf + off, cap - off);
    *out = buf;
    *len = off;
    return 0;
}

int tg_controller_run(const struct tg_controller_opts *opts)
{
    struct ctl c = {0};
    char err[512] = "";
    c.opts = opts;
    c.loop = ev_default_loop(EVFLAG_AUTO);
    c.store = tg_store_new();
    c.exit_code = 3;
    signal(SIGPIPE, SIG_IGN);
    if (!c.loop || !c.store) {
        fprintf(stderr, "error: cannot set up the event loop\n");
        tg_store_free(c.store);
        return 3;
    }
    ev_idle_init(&c.step_idle, on_step_idle);
    c.step_idle.data = &c;
    ev_signal_init(&c.sigint, on_signal, SIGINT);
    c.sigint.data = &c;
    ev_signal_init(&c.sigterm, on_signal, SIGTERM);
    c.sigterm.data = &c;
    ev_signal_start(c.loop, &c.sigint);
    ev_signal_start(c.loop, &c.sigterm);
    ev_unref(c.loop);
    ev_unref(c.loop);

    if (!opts->print) {
        struct tg_pusher_opts po = {.socket_path = opts->dataplane_socket};
        struct tg_pusher_events pe = {on_pushing, on_acked, on_push_failed, &c};
        c.pusher = tg_pusher_new(c.loop, &po, &pe);
        if (!c.pusher) {
            fprintf(stderr, "error: --dataplane-socket %s: path too long\n", opts->dataplane_socket);
            goto out;
        }
    }
    if (opts->health_addr && !opts->once && !opts->print) {
        struct tg_health_handlers hh = {health_ready, health_metrics, &c};
        c.health = tg_health_new(c.loop, opts->health_addr, &hh, err, sizeof err);
        if (!c.health) {
            fprintf(stderr, "error: %s\n", err);
            goto out;
        }
    }
    c.source = opts->source->create(c.loop, c.store, &opts->source_cfg, on_source_changed, &c, err, sizeof err);
    if (!c.source) {
        fprintf(stderr, "error: --source %s: %s\n", opts->source->name, err);
        goto out;
    }
    if (opts->once || opts->print) {
        ev_timer_init(&c.deadline, on_deadline, opts->once_timeout_s > 0 ? opts->once_timeout_s : 30.0, 0.);
        c.deadline.data = &c;
        ev_timer_start(c.loop, &c.deadline);
    }
    if (c.pusher)
        tg_pusher_start(c.pusher);
    if (opts->source->start(c.source, err, sizeof err) < 0) {
        fprintf(stderr, "error: %s\n", err);
        goto out;
    }
    tg_info("controller running: source %s, data plane %s%s%s", opts->source->name,
            opts->print ? "(none: --print)" : opts->dataplane_socket, opts->health_addr && c.health ? ", health " : "",
            opts->health_addr && c.health ? opts->health_addr : "");
    ev_run(c.loop, 0);
out:
    ev_ref(c.loop);
    ev_ref(c.loop);
    ev_signal_stop(c.loop, &c.sigint);
    ev_signal_stop(c.loop, &c.sigterm);
    ev_idle_stop(c.loop, &c.step_idle);
    ev_timer_stop(c.loop, &c.deadline);
    if (c.source)
        opts->source->destroy(c.source);
    tg_health_free(c.health);
    tg_pusher_free(c.pusher);
    tg_translation_free(&c.current);
    tg_store_free(c.store);
    return c.done ? c.exit_code : 3;
}
