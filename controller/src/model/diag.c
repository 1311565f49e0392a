/* diag.c — see diag.h. */
#include "model/diag.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tg_diags_init(struct tg_diags *d)
{
    memset(d, 0, sizeof *d);
}

void tg_diags_free(struct tg_diags *d)
{
    for (size_t i = 0; i < d->count; i++)
        free(d->items[i].text);
    free(d->items);
    memset(d, 0, sizeof *d);
}

static void push(struct tg_diags *d, enum tg_diag_severity sev, char *text)
{
    if (!text)
        return;
    if (d->count == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        struct tg_diag *n = realloc(d->items, ncap * sizeof *n);
        if (!n) {
            free(text);
            return;
        }
        d->items = n;
        d->cap = ncap;
    }
    d->items[d->count].severity = sev;
    d->items[d->count].text = text;
    d->count++;
}

void tg_diags_add(struct tg_diags *d, enum tg_diag_severity sev, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    push(d, sev, strdup(buf));
}

size_t tg_diags_count(const struct tg_diags *d, enum tg_diag_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < d->count; i++)
        n += d->items[i].severity == sev;
    return n;
}

const char *tg_diag_severity_name(enum tg_diag_severity sev)
{
    return sev == TG_DIAG_ERROR ? "error" : "warning";
}

void tg_diags_log(const struct tg_diags *d)
{
    for (size_t i = 0; i < d->count; i++) {
        if (d->items[i].severity == TG_DIAG_ERROR)
            tg_error("%s", d->items[i].text);
        else
            tg_warn("%s", d->items[i].text);
    }
}
