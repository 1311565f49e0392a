/* kube_source.c — `--source kube` (tg_kube_source_ops, source.h): mirrors the cluster's objects into the store and
 * tells its owner when to translate again. It only reads: status, Events and the Lease are the status layer's
 * (status/status_writer.h), wired by the process layer; the API client is the caller's.
 *
 * Owns: one informer (kube_informer.h) per watched resource — EnvironmentGroup and ApiProxy
 * (tollgate.dev/v1alpha1), Service, EndpointSlice (discovery.k8s.io/v1), Secrets of the two types Tollgate reads
 * (kubernetes.io/tls and tollgate.dev/api-key, by field selector on `type`), and the Secrets and ConfigMaps that
 * ApiProxies name (spec keys ending in "SecretName" / "ConfigMapName": one informer per referenced name, started
 * and stopped as references come and go); which informer put which object into the store (so a relist replaces
 * exactly its own objects); and the debounce that turns a burst of watch events into one `changed` event:
 * DEBOUNCE_MS after the last change, but never later than MAX_WAIT_MS after the first, and not before every base
 * informer finished its first list. A watch event that changes only what translation ignores (the store says
 * TG_STORE_REFRESHED: our own status write coming back) is not a change: it is passed on as `status_seen`.
 *
 * Timers: one ev_timer (the debounce) on the controller's loop, owned by the source.
 */
#include "source/source.h"

#include "clock.h"
#include "kube/kube_client.h"
#include "log.h"
#include "model/validate.h"
#include "source/kube_informer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REFERENCES 10000
#define DEBOUNCE_MS 100
#define MAX_WAIT_MS 1000
#define REF_SYNC_WAIT_MS 2000   /* a push waits this long at most for newly referenced objects to list */
#define NAMED_SECRET_SELECTOR "type!=kubernetes.io/tls,type!=tollgate.dev/api-key"

/* One informer and the store keys it owns (so a relist replaces exactly its own objects). */
struct feed {
    struct tg_kube_source *s;
    enum tg_kind kind;
    struct tg_informer *inf;
    json_t *owned;              /* "ns/name" -> true */
    char ref_key[600];          /* named feeds: "S|ns|name" or "C|ns|name"; "" for base feeds */
    uint64_t started_ms;
    int mark;                   /* reconcile scratch */
};

enum { BASE_GROUPS = 0, BASE_PROXIES, BASE_SERVICES, BASE_SLICES, BASE_TLS_SECRETS, BASE_KEY_SECRETS, BASE_COUNT };

struct tg_kube_source {
    struct ev_loop *loop;
    struct tg_store *store;
    char namespace_[256];
    struct tg_source_events ev;
    struct tg_kube_client *client;
    struct feed base[BASE_COUNT];
    char tls_ref[600];          /* "T|ns|name": --tls-default-certificate outside --namespace, else "" */
    struct feed **named;
    size_t nnamed, named_cap;
    uint64_t named_relists, named_restarts;   /* of named feeds already stopped */
    int dirty;
    uint64_t first_dirty_ms, last_dirty_ms;
    ev_timer debounce;
    int synced;
};

/* ---- store feeding ---------------------------------------------------------------------------------- */

static void owned_key(json_t *obj, char *out, size_t outlen)
{
    json_t *md = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    snprintf(out, outlen, "%s/%s", ns && ns[0] ? ns : "default", name ? name : "");
}

static void mark_dirty(struct tg_kube_source *s);

static void feed_put(struct feed *f, json_t *obj)
{
    char key[600];
    owned_key(obj, key, sizeof key);
    struct tg_object_origin origin = {.source = "kube", .document = 0};
    json_incref(obj);
    int rc = tg_store_put(f->s->store, f->kind, obj, &origin);
    if (rc < 0)
        return;
    json_object_set_new(f->owned, key, json_true());
    if (rc == TG_STORE_CHANGED) {
        mark_dirty(f->s);
    } else if (rc == TG_STORE_REFRESHED && f->s->ev.status_seen &&
               (f->kind == TG_KIND_API_PROXY || f->kind == TG_KIND_ENVIRONMENT_GROUP)) {
        const char *slash = strchr(key, '/');
        char ns[300];
        snprintf(ns, sizeof ns, "%.*s", slash ? (int)(slash - key) : 0, key);
        f->s->ev.status_seen(f->s->ev.arg, f->kind, ns, slash ? slash + 1 : key);
    }
}

static void feed_delete_key(struct feed *f, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash)
        return;
    char ns[300];
    snprintf(ns, sizeof ns, "%.*s", (int)(slash - key), key);
    if (tg_store_delete(f->s->store, f->kind, ns, slash + 1) == 1)
        mark_dirty(f->s);
}

static void on_replace(void *arg, json_t *items)
{
    struct feed *f = arg;
    json_t *fresh = json_object();
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj) {
        char key[600];
        owned_key(obj, key, sizeof key);
        json_object_set_new(fresh, key, json_true());
    }
    /* Delete what this feed held and the new list lacks, then put everything listed: one step, as far as
     * the pipeline can see (it translates only when the debounce fires, on this same loop). */
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(f->owned, tmp, key, v) {
        if (!json_object_get(fresh, key)) {
            feed_delete_key(f, key);
            json_object_del(f->owned, key);
        }
    }
    json_decref(fresh);
    json_array_foreach(items, i, obj)
        feed_put(f, obj);
    mark_dirty(f->s); /* a (re)list always counts: it may complete the initial sync */
}

static void on_event(void *arg, enum tg_watch_type type, json_t *obj)
{
    struct feed *f = arg;
    if (type == TG_WATCH_DELETED) {
        char key[600];
        owned_key(obj, key, sizeof key);
        feed_delete_key(f, key);
        json_object_del(f->owned, key);
    } else {
        feed_put(f, obj);
    }
}

static const struct tg_informer_ops feed_ops = {.on_replace = on_replace, .on_event = on_event};

static int feed_init(struct tg_kube_source *s, struct feed *f, enum tg_kind kind, const struct tg_informer_spec *sp)
{
    f->s = s;
    f->kind = kind;
    f->owned = json_object();
    f->inf = tg_informer_new(s->client, sp, &feed_ops, f);
    f->started_ms = tg_now_ms();
    return f->inf && f->owned ? 0 : -1;
}

/* Stops a feed and removes its objects from the store. */
static void feed_fini(struct feed *f, int remove_objects)
{
    if (remove_objects && f->owned) {
        const char *key;
        json_t *v;
        json_object_foreach(f->owned, key, v)
            feed_delete_key(f, key);
    }
    tg_informer_free(f->inf);
    f->inf = NULL;
    json_decref(f->owned);
    f->owned = NULL;
}

/* ---- references: the Secrets and ConfigMaps ApiProxies name ------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void collect_refs(json_t *v, const char *ns, json_t *refs, int depth)
{
    if (depth > 32 || json_object_size(refs) >= MAX_REFERENCES)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            collect_refs(x, ns, refs, depth + 1);
        return;
    }
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x) {
        const char *name = json_string_value(x);
        char kind = 0;
        if (name && ends_with(key, "SecretName"))
            kind = 'S';
        else if (name && ends_with(key, "ConfigMapName"))
            kind = 'C';
        if (kind && name[0] && !tg_check_dns_subdomain(name)) {
            char ref[600];
            snprintf(ref, sizeof ref, "%c|%s|%s", kind, ns, name);
            json_object_set_new(refs, ref, json_true());
        } else if (json_is_object(x) || json_is_array(x)) {
            collect_refs(x, ns, refs, depth + 1);
        }
    }
}

/* ref: "S|ns|name" (a Secret of another type than the two typed feeds carry), "C|ns|name" (a ConfigMap), or
 * "T|ns|name" (a kubernetes.io/tls Secret the typed feed does not see: another namespace than --namespace). */
static int start_named(struct tg_kube_source *s, const char *ref)
{
    char kind = ref[0], ns[300], name[300];
    const char *a = ref + 2, *b = strchr(a, '|');
    if (!b)
        return -1;
    snprintf(ns, sizeof ns, "%.*s", (int)(b - a), a);
    snprintf(name, sizeof name, "%s", b + 1);
    struct feed *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    struct tg_informer_spec sp = {.api_version = "v1", .namespace_ = ns, .name = name};
    if (kind == 'S' || kind == 'T') {
        sp.kind = "Secret";
        sp.resource = "secrets";
        /* the typed feeds already carry tls and api-key Secrets of the watched namespaces */
        sp.field_selector = kind == 'T' ? "type=kubernetes.io/tls" : NAMED_SECRET_SELECTOR;
    } else {
        sp.kind = "ConfigMap";
        sp.resource = "configmaps";
    }
    if (feed_init(s, f, kind == 'C' ? TG_KIND_CONFIG_MAP : TG_KIND_SECRET, &sp) != 0) {
        feed_fini(f, 0);
        free(f);
        return -1;
    }
    snprintf(f->ref_key, sizeof f->ref_key, "%s", ref);
    if (s->nnamed == s->named_cap) {
        size_t cap = s->named_cap ? s->named_cap * 2 : 16;
        struct feed **n = realloc(s->named, cap * sizeof *n);
        if (!n) {
            feed_fini(f, 0);
            free(f);
            return -1;
        }
        s->named = n;
        s->named_cap = cap;
    }
    s->named[s->nnamed++] = f;
    tg_informer_start(f->inf);
    return 0;
}

/* Starts informers for newly referenced objects and stops those no longer referenced. */
static void reconcile_refs(struct tg_kube_source *s)
{
    json_t *refs = json_object();
    size_t n;
    const struct tg_store_object *const *proxies = tg_store_list(s->store, TG_KIND_API_PROXY, &n);
    for (size_t i = 0; i < n; i++)
        collect_refs(json_object_get(proxies[i]->obj, "spec"), proxies[i]->namespace_, refs, 0);
    if (s->tls_ref[0])
        json_object_set_new(refs, s->tls_ref, json_true());
    size_t kept = 0;
    for (size_t i = 0; i < s->nnamed; i++) {
        struct feed *f = s->named[i];
        if (json_object_get(refs, f->ref_key)) {
            json_object_del(refs, f->ref_key);
            s->named[kept++] = f;
        } else {
            const struct tg_informer_stats *st = tg_informer_stats(f->inf);
            s->named_relists += st->relists;
            s->named_restarts += st->watch_restarts;
            feed_fini(f, 1);
            free(f);
        }
    }
    s->nnamed = kept;
    const char *ref;
    json_t *v;
    json_object_foreach(refs, ref, v)
        if (start_named(s, ref) != 0)
            tg_warn("kube: cannot watch referenced object %s", ref);
    json_decref(refs);
}

/* ---- debounce ----------------------------------------------------------------------------------------- */

static void arm(struct tg_kube_source *s, uint64_t at_ms)
{
    uint64_t now = tg_now_ms();
    ev_timer_stop(s->loop, &s->debounce);
    ev_timer_set(&s->debounce, at_ms > now ? (double)(at_ms - now) / 1000.0 : 0., 0.);
    ev_timer_start(s->loop, &s->debounce);
}

static void mark_dirty(struct tg_kube_source *s)
{
    uint64_t now = tg_now_ms();
    if (!s->dirty) {
        s->dirty = 1;
        s->first_dirty_ms = now;
    }
    s->last_dirty_ms = now;
    uint64_t quiet = s->last_dirty_ms + DEBOUNCE_MS, bound = s->first_dirty_ms + MAX_WAIT_MS;
    arm(s, quiet < bound ? quiet : bound);
}

static int base_synced(const struct tg_kube_source *s)
{
    for (int i = 0; i < BASE_COUNT; i++)
        if (!tg_informer_synced(s->base[i].inf))
            return 0;
    return 1;
}

static void on_debounce(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tg_kube_source *s = t->data;
    if (!s->dirty)
        return;
    if (!base_synced(s))
        return; /* the last base list marks dirty again */
    reconcile_refs(s);
    uint64_t now = tg_now_ms();
    for (size_t i = 0; i < s->nnamed; i++) {
        struct feed *f = s->named[i];
        if (!tg_informer_synced(f->inf) && now - f->started_ms < REF_SYNC_WAIT_MS) {
            arm(s, now + 20); /* its list is on the way; its replace marks dirty too */
            return;
        }
    }
    if (!s->synced) {
        size_t counts[TG_KIND_COUNT];
        for (int k = 0; k < TG_KIND_COUNT; k++)
            tg_store_list(s->store, (enum tg_kind)k, &counts[k]);
        tg_info("kube: caches synced: %zu EnvironmentGroups, %zu ApiProxies, %zu Services, %zu EndpointSlices, "
                "%zu Secrets, %zu ConfigMaps", counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]);
    }
    s->synced = 1;
    s->dirty = 0;
    s->ev.changed(s->ev.arg);
}

/* ---- the ops table ------------------------------------------------------------------------------------ */

static void kube_destroy(void *self);

static void *kube_create(struct ev_loop *loop, struct tg_store *store, const struct tg_source_config *cfg,
                         const struct tg_source_events *events, char *err, size_t errlen)
{
    if (!cfg->client) {
        snprintf(err, errlen, "no Kubernetes API client");
        return NULL;
    }
    struct tg_kube_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->store = store;
    s->ev = *events;
    s->client = cfg->client;
    if (cfg->namespace_ && cfg->namespace_[0]) {
        if (tg_check_dns_label(cfg->namespace_)) {
            snprintf(err, errlen, "--namespace \"%s\": %s", cfg->namespace_, tg_check_dns_label(cfg->namespace_));
            goto fail;
        }
        snprintf(s->namespace_, sizeof s->namespace_, "%s", cfg->namespace_);
    }
    const char *slash = cfg->tls_secret ? strchr(cfg->tls_secret, '/') : NULL;
    if (slash && s->namespace_[0] &&
        (strlen(s->namespace_) != (size_t)(slash - cfg->tls_secret) ||
         strncmp(s->namespace_, cfg->tls_secret, (size_t)(slash - cfg->tls_secret)) != 0))
        snprintf(s->tls_ref, sizeof s->tls_ref, "T|%.*s|%s", (int)(slash - cfg->tls_secret), cfg->tls_secret,
                 slash + 1);
    ev_init(&s->debounce, on_debounce);
    s->debounce.data = s;
    const char *ns = s->namespace_[0] ? s->namespace_ : NULL;
    const struct {
        enum tg_kind kind;
        struct tg_informer_spec spec;
    } bases[BASE_COUNT] = {
        [BASE_GROUPS] = {TG_KIND_ENVIRONMENT_GROUP,
                         {"tollgate.dev/v1alpha1", "EnvironmentGroup", "environmentgroups", ns, NULL, NULL, NULL, 0}},
        [BASE_PROXIES] = {TG_KIND_API_PROXY, {"tollgate.dev/v1alpha1", "ApiProxy", "apiproxies", ns, NULL, NULL,
                                              NULL, 0}},
        [BASE_SERVICES] = {TG_KIND_SERVICE, {"v1", "Service", "services", ns, NULL, NULL, NULL, 0}},
        [BASE_SLICES] = {TG_KIND_ENDPOINT_SLICE,
                         {"discovery.k8s.io/v1", "EndpointSlice", "endpointslices", ns, NULL, NULL, NULL, 0}},
        [BASE_TLS_SECRETS] = {TG_KIND_SECRET,
                              {"v1", "Secret", "secrets", ns, NULL, "type=kubernetes.io/tls", NULL, 100}},
        [BASE_KEY_SECRETS] = {TG_KIND_SECRET,
                              {"v1", "Secret", "secrets", ns, NULL, "type=tollgate.dev/api-key", NULL, 100}},
    };
    for (int i = 0; i < BASE_COUNT; i++)
        if (feed_init(s, &s->base[i], bases[i].kind, &bases[i].spec) != 0) {
            snprintf(err, errlen, "cannot set up the %s informer", bases[i].spec.resource);
            goto fail;
        }
    return s;
fail:
    kube_destroy(s);
    return NULL;
}

static int kube_start(void *self, char *err, size_t errlen)
{
    struct tg_kube_source *s = self;
    for (int i = 0; i < BASE_COUNT; i++)
        tg_informer_start(s->base[i].inf);
    return 0;
}

static void kube_destroy(void *self)
{
    struct tg_kube_source *s = self;
    if (!s)
        return;
    ev_timer_stop(s->loop, &s->debounce);
    s->dirty = 0;
    for (size_t i = 0; i < s->nnamed; i++) {
        feed_fini(s->named[i], 0);
        free(s->named[i]);
    }
    free(s->named);
    for (int i = 0; i < BASE_COUNT; i++)
        feed_fini(&s->base[i], 0);
    free(s);
}

static int kube_synced(const void *self)
{
    return ((const struct tg_kube_source *)self)->synced;
}

/* Appends one formatted line; keeps *off at a line boundary when out of room. */
static void emit(char *out, size_t outlen, size_t *off, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void emit(char *out, size_t outlen, size_t *off, const char *fmt, ...)
{
    if (*off >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *off, outlen - *off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outlen - *off) {
        out[*off] = '\0';
        *off = outlen; /* full: nothing more fits */
        return;
    }
    *off += (size_t)n;
}

static size_t kube_metrics(const void *self, char *out, size_t outlen)
{
    const struct tg_kube_source *s = self;
    size_t off = 0;
    if (!outlen)
        return 0;
    out[0] = '\0';
    emit(out, outlen, &off, "# HELP tollgate_controller_kube_watch_restarts_total Watches started again after "
                            "one ended (timeout, error, server restart).\n"
                            "# TYPE tollgate_controller_kube_watch_restarts_total counter\n");
    for (int i = 0; i < BASE_COUNT; i++)
        emit(out, outlen, &off, "tollgate_controller_kube_watch_restarts_total{resource=\"%s\"} %llu\n",
             tg_informer_describe(s->base[i].inf),
             (unsigned long long)tg_informer_stats(s->base[i].inf)->watch_restarts);
    uint64_t nr = s->named_restarts, nl = s->named_relists;
    for (size_t i = 0; i < s->nnamed; i++) {
        nr += tg_informer_stats(s->named[i]->inf)->watch_restarts;
        nl += tg_informer_stats(s->named[i]->inf)->relists;
    }
    emit(out, outlen, &off, "tollgate_controller_kube_watch_restarts_total{resource=\"referenced\"} %llu\n",
         (unsigned long long)nr);
    emit(out, outlen, &off, "# HELP tollgate_controller_kube_relists_total Full lists after the first (410 Gone, "
                            "errors).\n# TYPE tollgate_controller_kube_relists_total counter\n");
    for (int i = 0; i < BASE_COUNT; i++)
        emit(out, outlen, &off, "tollgate_controller_kube_relists_total{resource=\"%s\"} %llu\n",
             tg_informer_describe(s->base[i].inf), (unsigned long long)tg_informer_stats(s->base[i].inf)->relists);
    emit(out, outlen, &off, "tollgate_controller_kube_relists_total{resource=\"referenced\"} %llu\n",
         (unsigned long long)nl);
    emit(out, outlen, &off, "# HELP tollgate_controller_kube_objects Objects in the cache by kind.\n"
                            "# TYPE tollgate_controller_kube_objects gauge\n");
    for (int k = 0; k < TG_KIND_COUNT; k++) {
        size_t n;
        tg_store_list(s->store, (enum tg_kind)k, &n);
        emit(out, outlen, &off, "tollgate_controller_kube_objects{kind=\"%s\"} %zu\n", tg_kind_name((enum tg_kind)k),
             n);
    }
    emit(out, outlen, &off, "# HELP tollgate_controller_kube_referenced_watches Informers for Secrets and "
                            "ConfigMaps named by ApiProxies.\n# TYPE tollgate_controller_kube_referenced_watches "
                            "gauge\ntollgate_controller_kube_referenced_watches %zu\n", s->nnamed);
    emit(out, outlen, &off, "# HELP tollgate_controller_kube_synced 1 once every cache finished its first list.\n"
                            "# TYPE tollgate_controller_kube_synced gauge\ntollgate_controller_kube_synced %d\n",
         s->synced);
    const struct tg_kube_client_stats *cs = tg_kube_client_stats(s->client);
    emit(out, outlen, &off, "# TYPE tollgate_controller_kube_requests_total counter\n"
                            "tollgate_controller_kube_requests_total %llu\n"
                            "# TYPE tollgate_controller_kube_request_failures_total counter\n"
                            "tollgate_controller_kube_request_failures_total %llu\n",
         (unsigned long long)cs->requests, (unsigned long long)cs->failures);
    return off >= outlen ? strlen(out) : off;
}

const struct tg_source_ops tg_kube_source_ops = {
    .name = "kube",
    .create = kube_create,
    .start = kube_start,
    .destroy = kube_destroy,
    .synced = kube_synced,
    .diags = NULL,
    .metrics = kube_metrics,
};
