/* metrics_text.c — see metrics_text.h. */
#include "process/metrics_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct tg_metrics_text *t, size_t need)
{
    if (t->data && t->len + need < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 8192;
    while (cap < t->len + need + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown)
        return -1;
    t->data = grown;
    t->cap = cap;
    return 0;
}

void tg_mtext_printf(struct tg_metrics_text *t, const char *fmt, ...)
{
    for (int pass = 0; pass < 2; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->data ? t->data + t->len : NULL, t->data ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (t->data && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        if (grow(t, (size_t)n) != 0) {
            if (t->data)
                t->data[t->len] = '\0';
            return;
        }
    }
}

/* Escaped copy of v into out (always NUL-terminated, cut at a whole character); returns its length. */
static size_t escape(char *out, size_t size, const char *v)
{
    size_t n = 0;
    for (; *v && size > 0; v++) {
        const char *rep = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        size_t k = rep ? 2 : 1;
        if (n + k >= size)
            break;
        if (rep)
            memcpy(out + n, rep, 2);
        else
            out[n] = *v;
        n += k;
    }
    if (size > 0)
        out[n] = '\0';
    return n;
}

void tg_mtext_label_value(struct tg_metrics_text *t, const char *v)
{
    char buf[512];
    escape(buf, sizeof buf, v);
    tg_mtext_printf(t, "%s", buf);
}

void tg_mtext_family(struct tg_metrics_text *t, const char *name, const char *type, const char *help)
{
    tg_mtext_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void tg_mtext_histogram(struct tg_metrics_text *t, const struct tg_histogram *h, const char *name,
                        const char *labels)
{
    size_t need = (TG_HISTOGRAM_BOUNDS + 3) * (strlen(name) + strlen(labels) + 48);
    if (grow(t, need) != 0)
        return;
    if (tg_histogram_render(h, name, labels, t->data, t->cap, &t->len) != 0)
        t->data[t->len] = '\0';
}

void tg_mtext_proxy_labels(char *out, size_t size, const char *environment, const char *proxy)
{
    char e[200], p[200];
    escape(e, sizeof e, environment);
    escape(p, sizeof p, proxy);
    int n = snprintf(out, size, "environment=\"%s\",proxy=\"%s\"", e, p);
    if (n < 0 || (size_t)n >= size)
        snprintf(out, size, "environment=\"\",proxy=\"\"");
}
