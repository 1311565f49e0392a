/* translate.c — see translate.h. The driver: sets up one item + status per object, then runs the passes —
 * validate and build every group (translate_group.c), settle hostname conflicts, validate and build every proxy
 * (translate_proxy.c, which resolves its backend and policies), settle base-path conflicts — and emits what is
 * still valid in namespace/name order, with the hostnames routing to each proxy. The per-kind files never call
 * back here: what they share is in translate_fields.c. */
#include "translate/translate.h"

#include "translate/translate_fields.h"
#include "translate/translate_group.h"
#include "translate/translate_proxy.h"
#include "translate/translate_tls_defaults.h"

#include "duration.h"
#include "json_util.h"
#include "model/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sets up one item + status for a store object. */
static void init_item(struct tg__tr *tr, struct tg__item *it, struct tg_object_status *st,
                      const struct tg_store_object *o)
{
    memset(it, 0, sizeof *it);
    it->src = o;
    it->st = st;
    it->valid = 1;
    st->kind = o->kind;
    snprintf(st->namespace_, sizeof st->namespace_, "%s", o->namespace_);
    snprintf(st->name, sizeof st->name, "%s", o->name);
    st->accepted.status = 1;
    st->accepted.reason = TG_REASON_ACCEPTED;
    st->resolved_refs.status = 1;
    st->resolved_refs.reason = TG_REASON_RESOLVED_REFS;
    st->endpoints = o->kind == TG_KIND_API_PROXY ? 0 : -1; /* a group has no status.endpoints */
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

static void finish_status(struct tg_object_status *st)
{
    if (!st->accepted.message)
        st->accepted.message = strdup("");
    if (!st->resolved_refs.message)
        st->resolved_refs.message = strdup("");
}

int tg_translate(struct tg_store *store, struct tg_translation *out) { return tg_translate_with(store, NULL, out); }

int tg_translate_with(struct tg_store *store, const struct tg_tls_defaults *tls_defaults, struct tg_translation *out)
{
    memset(out, 0, sizeof *out);
    tg_diags_init(&out->diags);
    struct tg__tr tr = {store, out, tls_defaults};
    size_t ng = 0, np = 0;
    const struct tg_store_object *const *groups = tg_store_list(store, TG_KIND_ENVIRONMENT_GROUP, &ng);
    const struct tg_store_object *const *proxies = tg_store_list(store, TG_KIND_API_PROXY, &np);
    struct tg__item *items = calloc(ng + np + 1, sizeof *items);
    out->statuses = calloc(ng + np + 1, sizeof *out->statuses);
    out->snapshot = json_object();
    out->tls_refs = json_array();
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
        p->st->hostnames = json_array(); /* [] when none: a merge patch must not keep an old list */
        if (!p->st->in_snapshot)
            continue;
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
    tg__translate_tls_default(&tr);
    free(items);
    return 0;
}
