/* translate.c — see translate.h. Drives the passes: validate and build every group, settle hostname
 * conflicts, validate and build every proxy (resolving its backend), settle base-path conflicts, then emit
 * what is still valid in namespace/name order. Also owns problem reporting and the shared field readers. */
#include "translate/translate_int.h"

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
    append_message(msg, text);
}

void tg__invalid(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_ERROR, &it->st->accepted_message, path, fmt, ap);
    va_end(ap);
    it->st->accepted = 0;
    it->st->accepted_reason = TG_REASON_INVALID;
    it->valid = 0;
}

void tg__conflict(struct tg__tr *tr, struct tg__item *it, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_ERROR, &it->st->accepted_message, path, fmt, ap);
    va_end(ap);
    it->st->accepted = 0;
    if (strcmp(it->st->accepted_reason, TG_REASON_INVALID) != 0)
        it->st->accepted_reason = TG_REASON_CONFLICTED;
}

void tg__unresolved(struct tg__tr *tr, struct tg__item *it, const char *reason, const char *path,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(tr, it, TG_DIAG_WARNING, &it->st->resolved_message, path, fmt, ap);
    va_end(ap);
    if (it->st->resolved_refs) /* the first missing reference names the reason */
        it->st->resolved_reason = reason;
    it->st->resolved_refs = 0;
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

/* Sets up one item + status for a store object. */
static void init_item(struct tg__tr *tr, struct tg__item *it, struct tg_translate_status *st,
                      const struct tg_store_object *o)
{
    memset(it, 0, sizeof *it);
    it->src = o;
    it->st = st;
    it->valid = 1;
    st->kind = o->kind;
    snprintf(st->namespace_, sizeof st->namespace_, "%s", o->namespace_);
    snprintf(st->name, sizeof st->name, "%s", o->name);
    st->accepted = 1;
    st->accepted_reason = TG_REASON_ACCEPTED;
    st->resolved_refs = 1;
    st->resolved_reason = TG_REASON_RESOLVED_REFS;
    json_t *meta = json_object_get(o->obj, "metadata");
    json_int_t gen = 0;
    if (tg_json_get_int(meta, "generation", 0, INT64_MAX, &gen) == TG_JSON_FOUND)
        st->generation = gen;
    const char *ts = NULL;
    int r = tg_json_get_string(meta, "creationTimestamp", 64, &ts);
    if (r == TG_JSON_FOUND && tg_parse_rfc3339(ts, &it->ts_sec, &it->ts_nsec) == 0)
        it->has_ts = 1;
    else if (r != TG_JSON_ABSENT)
        tg__invalid(tr, it, "metadata.creationTimestamp", "must be an RFC 3339 date-time");
}

static void finish_status(struct tg_translate_status *st)
{
    if (!st->accepted_message)
        st->accepted_message = strdup("");
    if (!st->resolved_message)
        st->resolved_message = strdup("");
}

int tg_translate(struct tg_store *store, struct tg_translation *out)
{
    memset(out, 0, sizeof *out);
    tg_diags_init(&out->diags);
    struct tg__tr tr = {store, out};
    size_t ng = 0, np = 0;
    const struct tg_store_object *const *groups = tg_store_list(store, TG_KIND_ENVIRONMENT_GROUP, &ng);
    const struct tg_store_object *const *proxies = tg_store_list(store, TG_KIND_API_PROXY, &np);
    struct tg__item *items = calloc(ng + np + 1, sizeof *items);
    out->statuses = calloc(ng + np + 1, sizeof *out->statuses);
    out->snapshot = json_object();
    json_t *jgroups = json_array(), *jproxies = json_array();
    if (!items || !out->statuses || !out->snapshot || !jgroups || !jproxies) {
        free(items);
        json_decref(jgroups);
        json_decref(jproxies);
        tg_translation_free(out);
        return -1;
    }
    out->nstatuses = ng + np;
    struct tg__item *gi = items, *pi = items + ng;
    for (size_t i = 0; i < ng; i++) {
        init_item(&tr, &gi[i], &out->statuses[i], groups[i]);
        if (gi[i].valid)
            tg__translate_group(&tr, &gi[i]);
    }
    tg__resolve_hostnames(&tr, gi, ng);
    for (size_t i = 0; i < np; i++) {
        init_item(&tr, &pi[i], &out->statuses[ng + i], proxies[i]);
        if (pi[i].valid)
            tg__translate_proxy(&tr, &pi[i]);
    }
    tg__resolve_base_paths(&tr, pi, np, gi, ng);
    for (size_t i = 0; i < ng + np; i++) {
        struct tg__item *it = &items[i];
        if (it->valid && it->out) {
            json_array_append(i < ng ? jgroups : jproxies, it->out);
            it->st->in_snapshot = 1;
            it->st_envs = json_incref(json_object_get(it->out, "environments"));
        }
        json_decref(it->out);
        finish_status(it->st);
    }
    /* hostnames that reach each emitted proxy (status.hostnames) */
    for (size_t i = 0; i < np; i++) {
        struct tg__item *p = &pi[i];
        if (!p->st->in_snapshot)
            continue;
        p->st->hostnames = json_array();
        size_t gi_, hi_;
        json_t *g, *h;
        json_array_foreach(jgroups, gi_, g) {
            if (!tg__shares_environment(json_object_get(g, "environments"), p->st_envs))
                continue;
            json_array_foreach(json_object_get(g, "hostnames"), hi_, h) {
                json_array_append(p->st->hostnames, h);
            }
        }
    }
    for (size_t i = 0; i < ng + np; i++)
        json_decref(items[i].st_envs);
    json_object_set_new(out->snapshot, "groups", jgroups);
    json_object_set_new(out->snapshot, "proxies", jproxies);
    free(items);
    return 0;
}

void tg_translation_free(struct tg_translation *t)
{
    json_decref(t->snapshot);
    tg_diags_free(&t->diags);
    for (size_t i = 0; i < t->nstatuses; i++) {
        free(t->statuses[i].accepted_message);
        free(t->statuses[i].resolved_message);
        json_decref(t->statuses[i].hostnames);
    }
    free(t->statuses);
    memset(t, 0, sizeof *t);
}

const struct tg_translate_status *tg_translation_status(const struct tg_translation *t, enum tg_kind kind,
                                                     const char *ns, const char *name)
{
    for (size_t i = 0; i < t->nstatuses; i++)
        if (t->statuses[i].kind == kind && strcmp(t->statuses[i].namespace_, ns) == 0 &&
            strcmp(t->statuses[i].name, name) == 0)
            return &t->statuses[i];
    return NULL;
}
