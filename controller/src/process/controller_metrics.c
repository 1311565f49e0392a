/* controller_metrics.c — see controller_metrics.h. Output beyond the buffer (64 KiB) is cut at a line boundary. */
#include "process/controller_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define METRICS_CAP (64 * 1024)

struct text {
    char *buf;
    size_t off, cap;
};

static void emit(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct text *t, const char *fmt, ...)
{
    if (t->off >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->off, t->cap - t->off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= t->cap - t->off) {
        t->buf[t->off] = '\0';
        t->cap = t->off; /* full: nothing more fits */
        return;
    }
    t->off += (size_t)n;
}

/* The _bucket/_sum/_count lines of h (common/histogram.h), without labels. */
static void histogram(struct text *t, const struct tg_histogram *h, const char *name)
{
    if (t->off >= t->cap)
        return;
    if (tg_histogram_render(h, name, "", t->buf, t->cap, &t->off) != 0) {
        t->buf[t->off] = '\0';
        t->cap = t->off; /* full: nothing more fits */
    }
}

static void push_series(struct text *t, const struct tg_push_stats *ps)
{
    emit(t, "# HELP tollgate_controller_pushes_total Snapshot pushes attempted.\n"
            "# TYPE tollgate_controller_pushes_total counter\ntollgate_controller_pushes_total %llu\n",
         (unsigned long long)ps->pushes);
    emit(t, "# HELP tollgate_controller_push_failures_total Snapshot pushes that were not acknowledged.\n"
            "# TYPE tollgate_controller_push_failures_total counter\ntollgate_controller_push_failures_total %llu\n",
         (unsigned long long)ps->failures);
    emit(t, "# HELP tollgate_controller_push_rejections_total Snapshots the data plane refused as invalid.\n"
            "# TYPE tollgate_controller_push_rejections_total counter\n"
            "tollgate_controller_push_rejections_total %llu\n",
         (unsigned long long)ps->rejected);
    emit(t, "# HELP tollgate_controller_push_duration_seconds Time from sending a snapshot to the answer.\n"
            "# TYPE tollgate_controller_push_duration_seconds histogram\n");
    histogram(t, &ps->latency, "tollgate_controller_push_duration_seconds");
    emit(t, "# HELP tollgate_controller_last_applied_version Snapshot version the data plane last acknowledged.\n"
            "# TYPE tollgate_controller_last_applied_version gauge\ntollgate_controller_last_applied_version %llu\n",
         (unsigned long long)ps->acked_version);
    emit(t, "# HELP tollgate_controller_dataplane_reachable 1 when the last request reached the data plane.\n"
            "# TYPE tollgate_controller_dataplane_reachable gauge\ntollgate_controller_dataplane_reachable %d\n",
         ps->dataplane_reachable);
}

int tg_controller_metrics_render(const struct tg_controller_metrics *m, char **out, size_t *len)
{
    struct text t = {malloc(METRICS_CAP), 0, METRICS_CAP};
    if (!t.buf)
        return -1;
    t.buf[0] = '\0';
    if (m->pusher)
        push_series(&t, tg_pusher_stats(m->pusher));
    emit(&t, "# HELP tollgate_controller_objects Objects in the controller's store, by kind.\n"
             "# TYPE tollgate_controller_objects gauge\n");
    for (int k = 0; k < TG_KIND_COUNT; k++)
        emit(&t, "tollgate_controller_objects{kind=\"%s\"} %zu\n", tg_kind_name((enum tg_kind)k),
             tg_store_count(m->store, (enum tg_kind)k));
    const struct tg_pipeline *p = m->pipeline;
    emit(&t, "# HELP tollgate_controller_translations_total Translations of the store into a snapshot.\n"
             "# TYPE tollgate_controller_translations_total counter\ntollgate_controller_translations_total %llu\n",
         (unsigned long long)p->translations);
    emit(&t, "# HELP tollgate_controller_translation_failures_total Translations that could not finish (out of "
             "memory, hashing); the previous snapshot stays.\n"
             "# TYPE tollgate_controller_translation_failures_total counter\n"
             "tollgate_controller_translation_failures_total %llu\n",
         (unsigned long long)p->translation_failures);
    emit(&t, "# HELP tollgate_controller_translation_duration_seconds Time to translate the store into a snapshot "
             "and hash it.\n# TYPE tollgate_controller_translation_duration_seconds histogram\n");
    histogram(&t, &p->translate_duration, "tollgate_controller_translation_duration_seconds");
    emit(&t, "# HELP tollgate_controller_translation_errors Errors in the current translation (objects left out).\n"
             "# TYPE tollgate_controller_translation_errors gauge\ntollgate_controller_translation_errors %zu\n",
         tg_diags_count(&p->current.diags, TG_DIAG_ERROR));
    emit(&t, "# HELP tollgate_controller_translation_warnings Warnings in the current translation.\n"
             "# TYPE tollgate_controller_translation_warnings gauge\ntollgate_controller_translation_warnings %zu\n",
         tg_diags_count(&p->current.diags, TG_DIAG_WARNING));
    if (m->source && m->source->metrics && t.off < t.cap)
        t.off += m->source->metrics(m->source_self, t.buf + t.off, t.cap - t.off);
    if (m->status && t.off < t.cap)
        t.off += tg_status_writer_metrics(m->status, t.buf + t.off, t.cap - t.off);
    *out = t.buf;
    *len = t.off;
    return 0;
}
