/* translate_fields.c — the helpers the translate_*.c files share (translate_fields.h): problem reporting into
 * the diags and the item's status, the strict field readers, the age order of conflicts. */
#include "translate/translate_fields.h"

#include "duration.h"
#include "json_util.h"
#include "model/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append_message(char **msg, const char *text)
{
    size_t old = *msg ? strlen(*msg) : 0, add = strlen(text);
    if (old > 4096) /* status messages stay short; the full list is in the diags */
        return;
    char *n = realloc(*msg, old + add + 3);
    if (!n)
        return;
    if (old) {
        n[old] = ';';
        n[old + 1] = ' ';
        memcpy(n + old + 2, text, add + 1);
    } else {
        memcpy(n, text, add + 1);
    }
    *msg = n;
}

static void vreport(struct tg__tr *tr, struct tg__item *it, enum tg_diag_severity sev, char **msg,
                    const char *path, const char *fmt, va_list ap)
{
    char reason[700], text[900];
    vsnprintf(reason, sizeof reason, fmt, ap);
    if (path && *path)
        snprintf(text, sizeof text, "%s: %s", path, reason);
    else
        snprintf(text, sizeof text, "%s", reason);
    const struct tg_store_object *o = it->src;
    if (o->origin.document > 0)
        tg_diags_add(&tr->out->diags, sev, "%s doc %d: %s %s/%s: %s", o->origin.source, o->origin.document,
                     tg_kind_name(o->kind), o->namespace_, o->name, text);
    else if (o->origin.source[0] && strcmp(o->origin.source, "kube") != 0)
        tg_diags_add(&tr->out->diags, sev, "%s: %s %s/%s: %s", o->origin.source, tg_kind_name(o->kind),
                     o->namespace_, o->name, text);
    else
        tg_diags_add(&tr->out->diags, sev, "%s %s/%s: %s", tg_kind_name(o->kind), o->namespace_, o->name, text);
    if (msg)
        append_message(msg, text);
}

void tg__warning(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_WARNING, NULL, path, fmt, ap);
    va_end(ap);
}

void tg__invalid(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_ERROR, &it->st->accepted.message, path, fmt, ap);
    va_end(ap);
    it->st->accepted.status = 0;
    it->st->accepted.reason = TG_REASON_INVALID;
    it->valid = 0;
}

void tg__conflict(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_ERROR, &it->st->accepted.message, path, fmt, ap);
    va_end(ap);
    it->st->accepted.status = 0;
    if (strcmp(it->st->accepted.reason, TG_REASON_INVALID) != 0)
        it->st->accepted.reason = TG_REASON_CONFLICTED;
}

void tg__unresolved(struct tg__tr *tr, struct tg__item *it, const char *reason, const char *path,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_WARNING, &it->st->resolved_refs.message, path, fmt, ap);
    va_end(ap);
    if (it->st->resolved_refs.status) /* the first missing reference names the reason */
        it->st->resolved_refs.reason = reason;
    it->st->resolved_refs.status = 0;
}

int tg__older_first(const void *a, const void *b)
{
    const struct tg__item *x = *(const struct tg__item *const *)a, *y = *(const struct tg__item *const *)b;
    if (x->has_ts != y->has_ts)
        return x->has_ts ? 1 : -1; /* no timestamp: oldest */
    if (x->has_ts) {
        if (x->ts_sec != y->ts_sec)
            return x->ts_sec < y->ts_sec ? -1 : 1;
        if (x->ts_nsec != y->ts_nsec)
            return x->ts_nsec < y->ts_nsec ? -1 : 1;
    }
    int c = strcmp(x->src->namespace_, y->src->namespace_);
    return c ? c : strcmp(x->src->name, y->src->name);
}

int tg__duration_field(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                       const char *path, uint64_t def, int allow_zero, uint64_t *ms)
{
    const char *text = NULL;
    int r = tg_json_get_string(obj, key, 64, &text);
    if (r == TG_JSON_ABSENT) {
        *ms = def;
        return 0;
    }
    if (r != TG_JSON_FOUND) {
        tg__invalid(tr, it, path, "must be a duration string such as \"300s\" or \"1m30s\"");
        return -1;
    }
    const char *why = NULL;
    if (tg_duration_parse_ms(text, TG__MAX_DURATION_MS, ms, &why) < 0) {
        tg__invalid(tr, it, path, "invalid duration \"%.64s\": %s", text, why);
        return -1;
    }
    if (!allow_zero && *ms == 0) {
        tg__invalid(tr, it, path, "must be greater than 0");
        return -1;
    }
    return 0;
}

json_t *tg__string_list(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *key,
                        const char *path, size_t max_len)
{
    json_t *arr = NULL;
    int r = tg_json_get_array(obj, key, &arr);
    if (r == TG_JSON_WRONG_TYPE) {
        tg__invalid(tr, it, path, "must be a list of strings");
        return NULL;
    }
    json_t *out = json_array();
    if (r == TG_JSON_ABSENT)
        return out;
    if (json_array_size(arr) > TG__MAX_LIST) {
        json_decref(out);
        tg__invalid(tr, it, path, "has more than %d items", TG__MAX_LIST);
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max_len) {
            char p[256];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            tg__invalid(tr, it, p, "must be a non-empty string of at most %zu characters", max_len);
            json_decref(out);
            return NULL;
        }
        json_array_append(out, v);
    }
    return out;
}

int tg__no_unknown_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                          const char *const *allowed)
{
    const char *bad = tg_json_unknown_key(obj, allowed);
    if (!bad)
        return 0;
    char p[300];
    snprintf(p, sizeof p, "%s%s%.100s", path, *path ? "." : "", bad);
    tg__invalid(tr, it, p, "unknown field");
    return -1;
}

int tg__list_has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

json_t *tg__item_spec(struct tg__tr *tr, struct tg__item *it, const char *const *allowed)
{
    json_t *spec = NULL;
    if (tg_json_get_object(it->src->obj, "spec", &spec) != TG_JSON_FOUND) {
        tg__invalid(tr, it, "spec", "required mapping");
        return NULL;
    }
    if (tg__no_unknown_fields(tr, it, spec, "spec", allowed) < 0)
        return NULL;
    return spec;
}

json_t *tg__environments(struct tg__tr *tr, struct tg__item *it, const json_t *spec)
{
    json_t *raw = tg__string_list(tr, it, spec, "environments", "spec.environments", 63);
    if (!raw)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(raw, i, v) {
        const char *why = tg_check_dns_label(json_string_value(v));
        if (why) {
            char p[64];
            snprintf(p, sizeof p, "spec.environments[%zu]", i);
            tg__invalid(tr, it, p, "\"%.63s\": %s", json_string_value(v), why);
            break;
        }
        if (!tg__list_has(out, json_string_value(v)))
            json_array_append(out, v);
    }
    json_decref(raw);
    if (it->valid && json_array_size(out) == 0)
        tg__invalid(tr, it, "spec.environments", "at least one environment is required");
    return out;
}

struct tg__item **tg__emitted_oldest_first(struct tg__item *items, size_t n, size_t *m)
{
    struct tg__item **order = calloc(n + 1, sizeof *order);
    *m = 0;
    for (size_t i = 0; i < n; i++)
        if (items[i].valid && items[i].out)
            order[(*m)++] = &items[i];
    qsort(order, *m, sizeof *order, tg__older_first);
    return order;
}

int tg__shares_environment(const json_t *a, const json_t *b)
{
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(a, i, x) {
        json_array_foreach(b, j, y) {
            if (json_equal(x, y))
                return 1;
        }
    }
    return 0;
}
