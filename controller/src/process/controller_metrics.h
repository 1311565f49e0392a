/* controller_metrics.h — the controller's /metrics text (Prometheus text format 0.0.4): the pipeline's and the
 * publisher's own series (docs/controller.md "Health and metrics"), then whatever the source and the status
 * writer append (docs/controller-kubernetes.md "Metrics"). Reads only; renders into a malloc'ed buffer. */
#ifndef TG_CONTROLLER_METRICS_H
#define TG_CONTROLLER_METRICS_H

#include "process/pipeline.h"
#include "source/source.h"
#include "status/status_writer.h"

#include <stddef.h>

struct tg_controller_metrics {
    const struct tg_pipeline *pipeline;
    const struct tg_pusher *pusher;           /* NULL: no push series */
    const struct tg_store *store;
    const struct tg_source_ops *source;       /* with source_self; metrics may be NULL */
    const void *source_self;
    const struct tg_status_writer *status;    /* NULL: nothing writes status */
};

/* Renders everything into *out (malloc'ed, *len bytes, NUL-terminated). Returns 0, or -1 when memory ran out. */
int tg_controller_metrics_render(const struct tg_controller_metrics *m, char **out, size_t *len);

#endif
