/* source_kube.c — `--source kube` behind the source ops table: a thin adapter over kube_source.h. */
#include "source/kube_source.h"
#include "source/source.h"

#include <stdlib.h>

static void *kube_create(struct ev_loop *loop, struct tg_store *store, const struct tg_source_config *cfg,
                         tg_source_changed_cb changed, void *arg, char *err, size_t errlen)
{
    struct tg_kube_source_opts opts = {0};
    opts.kubeconfig = cfg->kubeconfig;
    opts.namespace_ = cfg->namespace_;
    opts.leader_elect = cfg->leader_elect;
    opts.write_status = cfg->write_status;
    opts.lease_name = cfg->lease_name;
    opts.lease_namespace = cfg->lease_namespace;
    opts.lease_duration_ms = cfg->lease_duration_ms;
    opts.renew_deadline_ms = cfg->renew_deadline_ms;
    opts.retry_period_ms = cfg->retry_period_ms;
    return tg_kube_source_new(loop, store, &opts, changed, arg, err, errlen);
}

static int kube_start(void *self, char *err, size_t errlen)
{
    tg_kube_source_start(self);
    return 0;
}

static void kube_destroy(void *self)
{
    tg_kube_source_free(self);
}

static int kube_synced(const void *self)
{
    return tg_kube_source_synced(self);
}

static void kube_report(void *self, uint64_t version, const struct tg_translation *t)
{
    tg_kube_source_report_translation(self, version, t);
}

static void kube_acknowledged(void *self, uint64_t version)
{
    tg_kube_source_acknowledged(self, version);
}

static size_t kube_metrics(const void *self, char *out, size_t outlen)
{
    return tg_kube_source_metrics(self, out, outlen);
}

const struct tg_source_ops tg_kube_source_ops = {
    .name = "kube",
    .create = kube_create,
    .start = kube_start,
    .destroy = kube_destroy,
    .synced = kube_synced,
    .diags = NULL,
    .report = kube_report,
    .acknowledged = kube_acknowledged,
    .metrics = kube_metrics,
};
