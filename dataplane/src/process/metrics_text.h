/* metrics_text.h — the growable Prometheus text buffer the data plane's /metrics is written into: printf-style
 * lines, escaped label values, and histograms (common/histogram.h) with their labels. Allocation failures leave
 * the text cut short, never invalid C strings. Used by process/metrics.c and process/metrics_series.c. */
#ifndef TG_METRICS_TEXT_H
#define TG_METRICS_TEXT_H

#include "histogram.h"

#include <stddef.h>

struct tg_metrics_text {
    char *data; /* NUL-terminated once anything was written; malloc'd, the caller's to free */
    size_t len, cap;
};

void tg_mtext_printf(struct tg_metrics_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes v as a label value (backslash, double quote and newline escaped). */
void tg_mtext_label_value(struct tg_metrics_text *t, const char *v);
/* `# HELP name help` and `# TYPE name type`. */
void tg_mtext_family(struct tg_metrics_text *t, const char *name, const char *type, const char *help);
/* The _bucket/_sum/_count lines of h under name; labels are already-escaped `k="v",...` text or "". */
void tg_mtext_histogram(struct tg_metrics_text *t, const struct tg_histogram *h, const char *name,
                        const char *labels);
/* Label text `environment="E",proxy="P"` (escaped) into out; cut (still valid) when it does not fit. */
void tg_mtext_proxy_labels(char *out, size_t size, const char *environment, const char *proxy);

#endif
