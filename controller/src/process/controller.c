/* controller.c — see controller.h. The loop's callbacks only set state and schedule step(); step() asks the
 * pipeline to translate when the store moved, prints the snapshot (--print) or lets the publisher push it, and
 * finishes a one-shot run once the data plane acknowledged it. */
#include "process/controller.h"

#include "clock.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "log.h"
#include "process/controller_metrics.h"
#include "process/health.h"
#include "process/pipeline.h"
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
    struct tg_pipeline pipe;
    void *source;
    struct tg_kube_config kube_cfg;     /* kube only */
    int kube_cfg_loaded;
    struct tg_kube_client *kube;        /* kube only: shared by the source and the status writer */
    struct tg_status_writer *status;    /* kube only, unless --once/--print */
    struct tg_pusher *pusher;
    struct tg_health *health;
    ev_idle step_idle;      /* runs step() once the current callbacks are done */
    ev_timer deadline;      /* one-shot modes */
    ev_signal sigint, sigterm;
    int exit_code;
    int done;
};

static void finish(struct ctl *c, int code)
{
    c->exit_code = code;
    c->done = 1;
    ev_break(c->loop, EVBREAK_ALL);
}

/* Source + translation errors of the current translation (the exit code of one-shot runs). */
static size_t current_errors(const struct ctl *c)
{
    const struct tg_diags *d = c->opts->source->diags ? c->opts->source->diags(c->source) : NULL;
    return (d ? tg_diags_count(d, TG_DIAG_ERROR) : 0) + tg_diags_count(&c->pipe.current.diags, TG_DIAG_ERROR);
}

/* One-shot modes print translation problems to stderr, one per line (the source logged its own already). */
static void print_problems(const struct ctl *c)
{
    const struct tg_diags *list = &c->pipe.current.diags;
    for (size_t i = 0; i < list->count; i++)
        fprintf(stderr, "%s: %s\n", tg_diag_severity_name(list->items[i].severity), list->items[i].text);
}

static void step(struct ctl *c)
{
    if (c->done || !c->opts->source->synced(c->source))
        return;
    if (tg_pipeline_step(&c->pipe) <= 0)
        return;
    if (c->opts->print) {
        json_t *doc = tg_snapshot_finalize(c->pipe.current.snapshot, 1, (int64_t)tg_wall_ms());
        char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
        if (text)
            printf("%s\n", text);
        fflush(stdout);
        free(text);
        json_decref(doc);
        print_problems(c);
        finish(c, current_errors(c) ? 1 : 0);
        return;
    }
    if (c->opts->once && tg_pipeline_served(&c->pipe)) {
        print_problems(c);
        finish(c, current_errors(c) ? 1 : 0);
    }
}

static void on_step_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    ev_idle_stop(loop, w);
    step(w->data);
}

static void on_source_changed(void *arg)
{
    struct ctl *c = arg;
    ev_idle_start(c->loop, &c->step_idle);
}

static void on_status_seen(void *arg, enum tg_kind kind, const char *ns, const char *name)
{
    struct ctl *c = arg;
    if (c->status)
        tg_status_writer_recheck(c->status, kind, ns, name);
}

/* ---- status sink: the pipeline's reports go to the status writer ---- */

static void on_status_report(void *arg, uint64_t version, const struct tg_translation *t)
{
    struct ctl *c = arg;
    if (c->status)
        tg_status_writer_report(c->status, version, t);
}

static void on_status_acknowledged(void *arg, uint64_t version)
{
    struct ctl *c = arg;
    if (c->status)
        tg_status_writer_acknowledged(c->status, version);
}

/* ---- publisher events ---- */

static void on_pushing(void *arg, uint64_t version, const char *hash)
{
    struct ctl *c = arg;
    tg_pipeline_pushing(&c->pipe, version, hash);
}

static void on_acked(void *arg, uint64_t version, const char *hash)
{
    struct ctl *c = arg;
    tg_pipeline_acked(&c->pipe, version, hash);
    if (c->opts->once && tg_pipeline_served(&c->pipe)) {
        print_problems(c);
        printf("applied snapshot version %llu\n", (unsigned long long)version);
        finish(c, current_errors(c) ? 1 : 0);
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
    if (c->pipe.translated)
        print_problems(c);
    fprintf(stderr, "error: %s within %.0f s\n",
            !c->pipe.translated ? "the source did not finish loading"
                                : "the data plane did not acknowledge the snapshot",
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
    return ((struct ctl *)arg)->pipe.ready;
}

static int health_metrics(void *arg, char **out, size_t *len)
{
    struct ctl *c = arg;
    /* c->source is NULL while shutting down (the Lease release runs the loop, and a scrape may come in) */
    struct tg_controller_metrics m = {&c->pipe, c->pusher, c->store, c->source ? c->opts->source : NULL, c->source,
                                      c->status};
    return tg_controller_metrics_render(&m, out, len);
}

/* ---- set-up ---- */

/* --source kube: the API client, and the status writer unless this is a one-shot run. */
static int kube_setup(struct ctl *c, char *err, size_t errlen)
{
    const struct tg_controller_opts *o = c->opts;
    if (tg_kube_config_load_default(&c->kube_cfg, o->kubeconfig, err, errlen) != 0)
        return -1;
    c->kube_cfg_loaded = 1;
    c->kube = tg_kube_client_new(c->loop, &c->kube_cfg);
    if (!c->kube) {
        snprintf(err, errlen, "cannot initialise libcurl");
        return -1;
    }
    tg_info("kube: API server %s (context %s), watching %s%s", c->kube_cfg.server, c->kube_cfg.context,
            o->namespace_ && o->namespace_[0] ? "namespace " : "all namespaces", o->namespace_ ? o->namespace_ : "");
    if (!o->write_status)
        return 0;
    struct tg_status_writer_opts so = o->status;
    if (!so.default_namespace || !so.default_namespace[0])
        so.default_namespace = o->namespace_ && o->namespace_[0] ? o->namespace_ : c->kube_cfg.namespace_;
    c->status = tg_status_writer_new(c->kube, c->store, &so, err, errlen);
    return c->status ? 0 : -1;
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
    struct tg_status_sink sink = {on_status_report, on_status_acknowledged, &c};
    tg_pipeline_init(&c.pipe, c.store, NULL, &sink, !opts->once && !opts->print);
    c.pipe.tls_defaults = &opts->tls_defaults;
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
        c.pipe.pusher = c.pusher;
    }
    if (opts->health_addr && !opts->once && !opts->print) {
        struct tg_health_handlers hh = {health_ready, health_metrics, &c};
        c.health = tg_health_new(c.loop, opts->health_addr, &hh, err, sizeof err);
        if (!c.health) {
            fprintf(stderr, "error: %s\n", err);
            goto out;
        }
    }
    if (opts->source == &tg_kube_source_ops && kube_setup(&c, err, sizeof err) != 0) {
        fprintf(stderr, "error: --source %s: %s\n", opts->source->name, err);
        goto out;
    }
    struct tg_source_config scfg = {.dir = opts->source_dir, .client = c.kube, .namespace_ = opts->namespace_,
                                    .tls_secret = opts->tls_defaults.certificate_secret};
    struct tg_source_events sev = {on_source_changed, on_status_seen, &c};
    c.source = opts->source->create(c.loop, c.store, &scfg, &sev, err, sizeof err);
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
    if (c.status)
        tg_status_writer_start(c.status);
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
    c.done = 1; /* nothing scheduled from here on steps again */
    if (c.source)
        opts->source->destroy(c.source);
    c.source = NULL;
    struct tg_status_writer *sw = c.status;
    c.status = NULL; /* releasing the Lease runs the loop: late acknowledgements must not reach a freed writer */
    tg_status_writer_free(sw);
    tg_kube_client_free(c.kube);
    if (c.kube_cfg_loaded)
        tg_kube_config_free(&c.kube_cfg);
    tg_health_free(c.health);
    tg_pusher_free(c.pusher);
    tg_pipeline_fini(&c.pipe);
    tg_store_free(c.store);
    return c.exit_code;
}
