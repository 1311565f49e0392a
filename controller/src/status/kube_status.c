/* kube_status.c — status conditions writer; see kube_status.h.
 *
 * Conditions follow metav1.Condition (Kubernetes API conventions, "Typical status properties"): type,
 * status True/False/Unknown, observedGeneration, lastTransitionTime (changes only when status changes),
 * reason (CamelCase) and message. They are written with a JSON merge patch (RFC 7386) to the status
 * subresource, which replaces status.conditions as a whole — the controller owns the whole status.
 *
 * Writes are asynchronous; a report may replace the desired set while writes are in flight, so a write's
 * context names its object by key and is matched against the current set when it completes.
 */
#include "status/kube_status.h"

#include "clock.h"
#include "kube/kube_client.h"
#include "status/kube_events.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INFLIGHT 16
#define MAX_MESSAGE 4096
#define SETTLE_MS 10000   /* a write we made is trusted this long before the watch must reflect it */
#define RETRY_MS 3000
#define COALESCE_MS 250   /* a report is usually followed by the data plane's ack within milliseconds: wait for
                           * it, so a new object goes straight to Programmed=True instead of Pending, then True */

/* One object's translated status (a copy) and the bookkeeping of writing it. */
struct desired {
    struct tg_object_status st;
    char key[600];             /* "kind/ns/name" */
    uint64_t version;          /* the snapshot version since which this desired state holds */
    char *last_patch;          /* the last body written for it */
    uint64_t last_patch_ms;
    int inflight;              /* a write for this key is in flight */
    int recheck;               /* changed while in flight: check again when it completes */
};

struct write_ctx {
    struct tg_kube_status *w;
    struct tg_kube_request *req;
    char *key;
    struct write_ctx *prev, *next;
};

struct tg_kube_status {
    struct tg_kube_client *c;
    struct tg_store *store;
    struct tg_kube_events *events;
    struct desired **items;
    size_t n;
    json_t *index;             /* key -> integer index into items */
    uint64_t acked;
    int enabled;
    size_t cursor;             /* next item to check */
    int inflight;
    struct write_ctx *writes;
    ev_timer retry;
    ev_timer coalesce;
    char last_error[1024];
    struct tg_kube_status_stats stats;
};

static void pump(struct tg_kube_status *w);

/* Re-checks every object soon (coalescing bursts of reports and acks into one pass). */
static void recheck_soon(struct tg_kube_status *w)
{
    w->cursor = 0;
    if (!ev_is_active(&w->coalesce)) {
        ev_timer_set(&w->coalesce, COALESCE_MS / 1000.0, 0.);
        ev_timer_start(tg_kube_client_loop(w->c), &w->coalesce);
    }
}

static void on_coalesce(struct ev_loop *loop, ev_timer *t, int revents)
{
    pump(t->data);
}

/* ---- building --------------------------------------------------------------------------------------- */

static const char *valid_reason(const char *r, const char *fallback)
{
    if (!r || !((r[0] >= 'A' && r[0] <= 'Z') || (r[0] >= 'a' && r[0] <= 'z')) || strlen(r) > 128)
        return fallback;
    for (const char *p = r; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == ',' || *p == ':'))
            return fallback;
    size_t n = strlen(r);
    return (r[n - 1] == ',' || r[n - 1] == ':') ? fallback : r;
}

static const char *status_text(int s)
{
    return s > 0 ? "True" : s == 0 ? "False" : "Unknown";
}

static json_t *find_condition(const json_t *status, const char *type)
{
    json_t *conds = json_object_get(status, "conditions");
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        const char *t = json_string_value(json_object_get(c, "type"));
        if (t && strcmp(t, type) == 0)
            return c;
    }
    return NULL;
}

static int str_eq(const json_t *v, const char *s)
{
    const char *x = json_string_value(v);
    return x && strcmp(x, s) == 0;
}

static json_t *condition(const char *type, int status, const char *reason, const char *message, int64_t gen,
                         const json_t *current, const char *now, int *changed)
{
    char msg[MAX_MESSAGE + 1];
    snprintf(msg, sizeof msg, "%s", message ? message : "");
    const json_t *cur = find_condition(current, type);
    const char *st = status_text(status);
    const char *ltt = now;
    if (cur && str_eq(json_object_get(cur, "status"), st) &&
        json_is_string(json_object_get(cur, "lastTransitionTime")))
        ltt = json_string_value(json_object_get(cur, "lastTransitionTime"));
    if (!cur || !str_eq(json_object_get(cur, "status"), st) || !str_eq(json_object_get(cur, "reason"), reason) ||
        !str_eq(json_object_get(cur, "message"), msg) ||
        json_integer_value(json_object_get(cur, "observedGeneration")) != gen ||
        !json_is_string(json_object_get(cur, "lastTransitionTime")))
        *changed = 1;
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s}", "type", type, "status", st, "observedGeneration",
                     (json_int_t)gen, "lastTransitionTime", ltt, "reason", reason, "message", msg);
}

json_t *tg_kube_status_build(const struct tg_object_status *st, int programmed, const json_t *current,
                             const char *now_rfc3339, int *changed)
{
    *changed = 0;
    json_t *conds = json_array();
    json_array_append_new(conds, condition("Accepted", st->accepted.status,
                                           valid_reason(st->accepted.reason, st->accepted.status > 0 ? "Accepted"
                                                                                                   : "Invalid"),
                                           st->accepted.message, st->generation, current, now_rfc3339, changed));
    json_array_append_new(conds,
                          condition("ResolvedRefs", st->resolved_refs.status,
                                    valid_reason(st->resolved_refs.reason,
                                                 st->resolved_refs.status > 0 ? "ResolvedRefs" : "RefNotFound"),
                                    st->resolved_refs.message, st->generation, current, now_rfc3339, changed));
    const char *preason = programmed > 0 ? "Programmed" : programmed == 0 ? "Pending" : "Invalid";
    const char *pmsg = programmed > 0 ? "The data plane serves this generation."
                       : programmed == 0 ? "Waiting for the data plane to apply the configuration."
                                         : "Not served: see the Accepted and ResolvedRefs conditions.";
    json_array_append_new(conds, condition("Programmed", programmed > 0, preason, pmsg, st->generation, current,
                                           now_rfc3339, changed));
    if (json_array_size(json_object_get(current, "conditions")) != 3)
        *changed = 1; /* conditions we do not manage (or missing ones) are replaced */
    json_t *status = json_pack("{s:o}", "conditions", conds);
    if (st->endpoints >= 0) {
        json_object_set_new(status, "endpoints", json_integer(st->endpoints));
        json_t *cur = json_object_get(current, "endpoints");
        if (!json_is_integer(cur) || json_integer_value(cur) != st->endpoints)
            *changed = 1;
    }
    if (st->hostnames) {
        json_object_set(status, "hostnames", st->hostnames);
        if (!json_equal(json_object_get(current, "hostnames"), st->hostnames))
            *changed = 1;
    }
    return status;
}

/* ---- the desired set ---------------------------------------------------------------------------------- */

static void free_desired(struct desired *d)
{
    if (!d)
        return;
    tg_object_status_clear(&d->st);
    free(d->last_patch);
    free(d);
}

static void make_key(char *out, size_t outlen, enum tg_kind kind, const char *ns, const char *name)
{
    snprintf(out, outlen, "%d/%.253s/%.253s", (int)kind, ns && ns[0] ? ns : "default", name ? name : "");
}

static struct desired *lookup(struct tg_kube_status *w, const char *key)
{
    json_t *i = json_object_get(w->index, key);
    return i ? w->items[json_integer_value(i)] : NULL;
}

static int same_state(const struct tg_object_status *a, const struct tg_object_status *b)
{
    return a->generation == b->generation && a->in_snapshot == b->in_snapshot &&
           a->accepted.status == b->accepted.status;
}

void tg_kube_status_report(struct tg_kube_status *w, uint64_t version, const struct tg_translation *t)
{
    const struct tg_object_status *statuses = t->statuses;
    size_t n = t->nstatuses;
    struct desired **items = calloc(n ? n : 1, sizeof *items);
    json_t *index = json_object();
    if (!items || !index) {
        free(items);
        json_decref(index);
        return;
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tg_object_status *st = &statuses[i];
        if (st->kind != TG_KIND_API_PROXY && st->kind != TG_KIND_ENVIRONMENT_GROUP)
            continue;
        struct desired *d = calloc(1, sizeof *d);
        if (!d)
            break;
        if (tg_object_status_copy(&d->st, st) < 0) {
            free(d);
            break;
        }
        if (!d->st.namespace_[0])
            snprintf(d->st.namespace_, sizeof d->st.namespace_, "default");
        make_key(d->key, sizeof d->key, st->kind, d->st.namespace_, st->name);
        const char *key = d->key;
        d->version = version;
        struct desired *old = lookup(w, key);
        if (old) {
            if (same_state(&old->st, st))
                d->version = old->version; /* Programmed keeps counting from when this state first shipped */
            d->last_patch = old->last_patch;
            old->last_patch = NULL;
            d->last_patch_ms = old->last_patch_ms;
            d->inflight = old->inflight;
            d->recheck = old->inflight;
        }
        if (json_object_get(index, key)) { /* duplicate report: keep the first */
            free_desired(d);
            continue;
        }
        json_object_set_new(index, key, json_integer((json_int_t)m));
        items[m++] = d;
    }
    for (size_t i = 0; i < w->n; i++)
        free_desired(w->items[i]);
    free(w->items);
    json_decref(w->index);
    w->items = items;
    w->n = m;
    w->index = index;
    recheck_soon(w);
}

void tg_kube_status_acknowledged(struct tg_kube_status *w, uint64_t version)
{
    if (version <= w->acked)
        return;
    w->acked = version;
    recheck_soon(w);
}

static int check(struct tg_kube_status *w, struct desired *d);

void tg_kube_status_recheck(struct tg_kube_status *w, enum tg_kind kind, const char *ns, const char *name)
{
    char key[600];
    make_key(key, sizeof key, kind, ns, name);
    struct desired *d = lookup(w, key);
    /* Skipped: writing off; a write for it in flight (this is usually its own echo, and its completion is followed
     * by the echo anyway); a full pass pending (it starts from the first object); the write window full (the next
     * report or acknowledgement re-checks everything). Never a full pass from here: at 5,000 objects, one per
     * status write would cost as much as the translations this path exists to avoid. */
    if (!d || !w->enabled || d->inflight || ev_is_active(&w->coalesce) || w->inflight >= MAX_INFLIGHT)
        return;
    /* The watch has shown this object's status since our last write: the settle window (which waits for a write
     * to show up) no longer applies. If this event was still older than our write, one redundant write follows. */
    free(d->last_patch);
    d->last_patch = NULL;
    check(w, d);
}

/* ---- writing ------------------------------------------------------------------------------------------ */

static void unlink_write(struct tg_kube_status *w, struct write_ctx *x)
{
    if (w->writes == x)
        w->writes = x->next;
    else if (x->prev)
        x->prev->next = x->next;
    if (x->next)
        x->next->prev = x->prev;
}

static void on_written(void *arg, const struct tg_kube_response *resp)
{
    struct write_ctx *x = arg;
    struct tg_kube_status *w = x->w;
    unlink_write(w, x);
    w->inflight--;
    struct desired *d = lookup(w, x->key);
    if (d) {
        d->inflight = 0;
        if (d->recheck) {
            d->recheck = 0;
            w->cursor = 0;
        }
    }
    if (resp->status >= 200 && resp->status < 300) {
        w->stats.writes++;
        if (w->last_error[0])
            tg_info("kube: status writes work again");
        w->last_error[0] = '\0';
    } else if (resp->status == 404) {
        /* The object is gone; its delete event will drop it from the next report. */
        if (d) {
            free(d->last_patch);
            d->last_patch = NULL;
        }
    } else {
        w->stats.write_failures++;
        char msg[1024];
        tg_kube_describe_error(resp, "patch", d && d->st.kind == TG_KIND_ENVIRONMENT_GROUP
                                                  ? "environmentgroups/status" : "apiproxies/status", msg, sizeof msg);
        if (strcmp(w->last_error, msg) != 0) {
            tg_warn("kube: status: %s; retrying", msg);
            snprintf(w->last_error, sizeof w->last_error, "%s", msg);
        }
        if (d) {
            free(d->last_patch);
            d->last_patch = NULL;
        }
        if (!ev_is_active(&w->retry)) {
            ev_timer_set(&w->retry, RETRY_MS / 1000.0, 0.);
            ev_timer_start(tg_kube_client_loop(w->c), &w->retry);
        }
    }
    free(x->key);
    free(x);
    pump(w);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_kube_status *w = t->data;
    w->cursor = 0;
    pump(w);
}

static void maybe_event(struct tg_kube_status *w, const json_t *obj, const json_t *current, const char *type,
                        const struct tg_condition *c)
{
    const char *reason = c->reason ? c->reason : "", *message = c->message ? c->message : "";
    if (c->status != 0 || !w->events)
        return;
    const json_t *cur = find_condition(current, type);
    if (cur && str_eq(json_object_get(cur, "status"), "False") && str_eq(json_object_get(cur, "reason"), reason) &&
        str_eq(json_object_get(cur, "message"), message))
        return; /* already shown to the user */
    tg_kube_events_warn(w->events, obj, reason, message);
}

/* Checks one object; starts a write when its status differs. Returns 1 when a write was started. */
static int check(struct tg_kube_status *w, struct desired *d)
{
    const struct tg_store_object *so = tg_store_get(w->store, d->st.kind, d->st.namespace_, d->st.name);
    if (!so)
        return 0;
    if (d->inflight) {
        d->recheck = 1;
        return 0;
    }
    int programmed = (!d->st.in_snapshot || d->st.accepted.status <= 0) ? -1 : (w->acked >= d->version ? 1 : 0);
    const json_t *current = json_object_get(so->obj, "status");
    if (programmed == 0) {
        /* Already Programmed for this very generation (by us before a restart, or by another leader): the data
         * plane has served it; do not flap to Pending while our own first push is on its way. */
        const json_t *pc = find_condition(current, "Programmed");
        if (pc && str_eq(json_object_get(pc, "status"), "True") &&
            json_integer_value(json_object_get(pc, "observedGeneration")) == d->st.generation)
            programmed = 1;
    }
    char now[40];
    tg_format_rfc3339(tg_wall_ms(), now, sizeof now);
    char *dot = strchr(now, '.');
    if (dot)
        memcpy(dot, "Z", 2);
    int changed = 0;
    json_t *status = tg_kube_status_build(&d->st, programmed, current, now, &changed);
    if (!changed) {
        json_decref(status);
        w->stats.skipped_unchanged++;
        return 0;
    }
    json_t *patch = json_pack("{s:o}", "status", status);
    char *body = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(patch);
    if (!body)
        return 0;
    uint64_t t = tg_now_ms();
    if (d->last_patch && strcmp(d->last_patch, body) == 0 && t - d->last_patch_ms < SETTLE_MS) {
        free(body); /* written moments ago; the watch has not shown it yet */
        return 0;
    }
    char path[1024];
    snprintf(path, sizeof path, "/apis/tollgate.dev/v1alpha1/namespaces/%s/%s/%s/status", d->st.namespace_,
             d->st.kind == TG_KIND_API_PROXY ? "apiproxies" : "environmentgroups", d->st.name);
    struct write_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        free(body);
        return 0;
    }
    x->w = w;
    x->key = strdup(d->key);
    struct tg_kube_request_opts o = {.method = "PATCH", .path = path,
                                     .content_type = "application/merge-patch+json", .body = body,
                                     .body_len = strlen(body), .timeout_ms = 15000, .on_done = on_written,
                                     .arg = x};
    x->req = tg_kube_request_start(w->c, &o);
    if (!x->req) {
        free(x->key);
        free(x);
        free(body);
        return 0;
    }
    x->next = w->writes;
    if (w->writes)
        w->writes->prev = x;
    w->writes = x;
    w->inflight++;
    d->inflight = 1;
    free(d->last_patch);
    d->last_patch = body;
    d->last_patch_ms = t;
    maybe_event(w, so->obj, current, "Accepted", &d->st.accepted);
    maybe_event(w, so->obj, current, "ResolvedRefs", &d->st.resolved_refs);
    return 1;
}

static void pump(struct tg_kube_status *w)
{
    if (!w->enabled)
        return;
    while (w->inflight < MAX_INFLIGHT && w->cursor < w->n)
        check(w, w->items[w->cursor++]);
}

void tg_kube_status_set_enabled(struct tg_kube_status *w, int enabled)
{
    if (!enabled) {
        /* Lost the lease: not one more write. */
        while (w->writes) {
            struct write_ctx *x = w->writes;
            unlink_write(w, x);
            tg_kube_request_cancel(x->req);
            free(x->key);
            free(x);
        }
        w->inflight = 0;
        for (size_t i = 0; i < w->n; i++) {
            w->items[i]->inflight = 0;
            w->items[i]->recheck = 0;
            free(w->items[i]->last_patch);
            w->items[i]->last_patch = NULL;
        }
        ev_timer_stop(tg_kube_client_loop(w->c), &w->retry);
        ev_timer_stop(tg_kube_client_loop(w->c), &w->coalesce);
        w->enabled = 0;
        return;
    }
    w->enabled = 1;
    w->cursor = 0;
    pump(w);
}

struct tg_kube_status *tg_kube_status_new(struct tg_kube_client *c, struct tg_store *store,
                                          struct tg_kube_events *events)
{
    struct tg_kube_status *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->c = c;
    w->store = store;
    w->events = events;
    w->index = json_object();
    ev_init(&w->retry, on_retry);
    w->retry.data = w;
    ev_init(&w->coalesce, on_coalesce);
    w->coalesce.data = w;
    return w;
}

void tg_kube_status_free(struct tg_kube_status *w)
{
    if (!w)
        return;
    tg_kube_status_set_enabled(w, 0);
    for (size_t i = 0; i < w->n; i++)
        free_desired(w->items[i]);
    free(w->items);
    json_decref(w->index);
    free(w);
}

const struct tg_kube_status_stats *tg_kube_status_stats(const struct tg_kube_status *w)
{
    return &w->stats;
}
