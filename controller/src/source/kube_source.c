/* kube_source.c — the Kubernetes source: informers → store, debounce, references, leadership; see
 * kube_source.h. */
#include "source/kube_source.h"

#include "clock.h"
#include "kube/kube_client.h"
#include "kube/kube_config.h"
#include "status/kube_events.h"
#include "status/kube_lease.h"
#include "status/kube_status.h"
#include "source/kube_watch.h"
#include "log.h"
#include "model/validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REFERENCES 10000
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
    struct tg_kube_source_opts opts;
    char namespace_[256];
    char lease_ns[256], lease_name[256], identity[256];
    tg_kube_source_changed_cb cb;
    void *arg;
    struct tg_kube_config cfg;
    struct tg_kube_client *client;
    struct feed base[BASE_COUNT];
    struct feed **named;
    size_t nnamed, named_cap;
    uint64_t named_relists, named_restarts;   /* of named feeds already stopped */
    int dirty;
    uint64_t first_dirty_ms, last_dirty_ms;
    ev_timer debounce;
    int synced;
    struct tg_kube_events *events;
    struct tg_kube_status *status;
    struct tg_kube_lease *lease;
    int leading;
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
    if (rc == 1)
        mark_dirty(f->s);
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
    if (kind == 'S') {
        sp.kind = "Secret";
        sp.resource = "secrets";
        sp.field_selector = NAMED_SECRET_SELECTOR; /* the typed feeds already carry tls and api-key Secrets */
    } else {
        sp.kind = "ConfigMap";
        sp.resource = "configmaps";
    }
    if (feed_init(s, f, kind == 'S' ? TG_KIND_SECRET : TG_KIND_CONFIG_MAP, &sp) != 0) {
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
    uint64_t quiet = s->last_dirty_ms + s->opts.debounce_ms, bound = s->first_dirty_ms + s->opts.max_wait_ms;
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
    s->cb(s->arg);
}

/* ---- leadership --------------------------------------------------------------------------------------- */

static void on_leading(void *arg, int leading)
{
    struct tg_kube_source *s = arg;
    s->leading = leading;
    if (s->status)
        tg_kube_status_set_enabled(s->status, leading);
}

/* ---- public ------------------------------------------------------------------------------------------- */

static void make_identity(char *out, size_t outlen)
{
    char host[128] = "tollgate";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    unsigned char rnd[4] = {0};
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(rnd, 1, sizeof rnd, f) != sizeof rnd)
            memset(rnd, 0, sizeof rnd);
        fclose(f);
    }
    snprintf(out, outlen, "%s_%02x%02x%02x%02x_%d", host, rnd[0], rnd[1], rnd[2], rnd[3], (int)getpid());
}

struct tg_kube_source *tg_kube_source_new(struct ev_loop *loop, struct tg_store *store,
                                          const struct tg_kube_source_opts *opts, tg_kube_source_changed_cb cb,
                                          void *arg, char *err, size_t errlen)
{
    struct tg_kube_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->loop = loop;
    s->store = store;
    s->opts = *opts;
    s->cb = cb;
    s->arg = arg;
    if (!s->opts.debounce_ms)
        s->opts.debounce_ms = 100;
    if (!s->opts.max_wait_ms)
        s->opts.max_wait_ms = 1000;
    if (s->opts.max_wait_ms < s->opts.debounce_ms)
        s->opts.max_wait_ms = s->opts.debounce_ms;
    if (tg_kube_config_load_default(&s->cfg, opts->kubeconfig, err, errlen) != 0) {
        free(s);
        return NULL;
    }
    if (opts->namespace_ && opts->namespace_[0]) {
        if (tg_check_dns_label(opts->namespace_)) {
            snprintf(err, errlen, "--namespace \"%s\": %s", opts->namespace_, tg_check_dns_label(opts->namespace_));
            goto fail;
        }
        snprintf(s->namespace_, sizeof s->namespace_, "%s", opts->namespace_);
    }
    s->client = tg_kube_client_new(loop, &s->cfg);
    if (!s->client) {
        snprintf(err, errlen, "cannot initialise libcurl");
        goto fail;
    }
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
    ev_init(&s->debounce, on_debounce);
    s->debounce.data = s;

    if (opts->identity && opts->identity[0])
        snprintf(s->identity, sizeof s->identity, "%s", opts->identity);
    else
        make_identity(s->identity, sizeof s->identity);
    if (opts->write_status) {
        s->events = tg_kube_events_new(s->client, "tollgate-controller", s->identity);
        s->status = tg_kube_status_new(s->client, store, s->events);
        if (!s->events || !s->status) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    if (opts->leader_elect) {
        snprintf(s->lease_name, sizeof s->lease_name, "%s",
                 opts->lease_name && opts->lease_name[0] ? opts->lease_name : "tollgate-controller");
        const char *lns = opts->lease_namespace && opts->lease_namespace[0] ? opts->lease_namespace
                          : s->namespace_[0]                                 ? s->namespace_
                          : s->cfg.namespace_[0]                             ? s->cfg.namespace_
                                                                             : "default";
        snprintf(s->lease_ns, sizeof s->lease_ns, "%s", lns);
        struct tg_kube_lease_opts lo = {
            .namespace_ = s->lease_ns, .name = s->lease_name, .identity = s->identity,
            .lease_duration_ms = opts->lease_duration_ms ? opts->lease_duration_ms : 15000,
            .renew_deadline_ms = opts->renew_deadline_ms ? opts->renew_deadline_ms : 10000,
            .retry_period_ms = opts->retry_period_ms ? opts->retry_period_ms : 2000};
        s->lease = tg_kube_lease_new(s->client, &lo, on_leading, s);
        if (!s->lease) {
            snprintf(err, errlen, "invalid leader election settings: need retry-period < renew-deadline < "
                     "lease-duration and a valid lease name/namespace (%s/%s)", s->lease_ns, s->lease_name);
            goto fail;
        }
    }
    tg_info("kube: API server %s (context %s), watching %s%s", s->cfg.server, s->cfg.context,
            s->namespace_[0] ? "namespace " : "all namespaces", s->namespace_);
    return s;
fail:
    tg_kube_source_free(s);
    return NULL;
}

void tg_kube_source_start(struct tg_kube_source *s)
{
    for (int i = 0; i < BASE_COUNT; i++)
        tg_informer_start(s->base[i].inf);
    if (s->lease)
        tg_kube_lease_start(s->lease);
    else
        on_leading(s, 1);
}

void tg_kube_source_free(struct tg_kube_source *s)
{
    if (!s)
        return;
    /* Quiet everything first: releasing the Lease runs the loop briefly, and nothing else may fire then. */
    if (s->loop)
        ev_timer_stop(s->loop, &s->debounce);
    s->dirty = 0;
    for (size_t i = 0; i < s->nnamed; i++) {
        feed_fini(s->named[i], 0);
        free(s->named[i]);
    }
    free(s->named);
    s->named = NULL;
    s->nnamed = 0;
    for (int i = 0; i < BASE_COUNT; i++)
        feed_fini(&s->base[i], 0);
    tg_kube_status_free(s->status);
    s->status = NULL;
    tg_kube_events_free(s->events);
    s->events = NULL;
    if (s->lease) {
        tg_kube_lease_release(s->lease, 1000);
        tg_kube_lease_free(s->lease);
    }
    tg_kube_client_free(s->client);
    tg_kube_config_free(&s->cfg);
    free(s);
}

int tg_kube_source_synced(const struct tg_kube_source *s)
{
    return s->synced;
}

int tg_kube_source_is_leader(const struct tg_kube_source *s)
{
    return s->leading;
}

void tg_kube_source_report(struct tg_kube_source *s, uint64_t version, const struct tg_object_status *statuses,
                           size_t n)
{
    if (s->status)
        tg_kube_status_report(s->status, version, statuses, n);
}

void tg_kube_source_report_translation(struct tg_kube_source *s, uint64_t version, const struct tg_translation *t)
{
    if (!s->status)
        return;
    struct tg_object_status *st = calloc(t->nstatuses ? t->nstatuses : 1, sizeof *st);
    json_t *none = json_array(); /* a proxy no group routes to shows hostnames: [] (merge patch keeps absent keys) */
    if (!st || !none) {
        free(st);
        json_decref(none);
        return;
    }
    for (size_t i = 0; i < t->nstatuses; i++) {
        const struct tg_translate_status *x = &t->statuses[i];
        st[i] = (struct tg_object_status){
            .kind = x->kind, .namespace_ = x->namespace_, .name = x->name, .generation = x->generation,
            .in_snapshot = x->in_snapshot,
            .accepted = {x->accepted ? 1 : 0, x->accepted_reason, x->accepted_message},
            .resolved_refs = {x->resolved_refs ? 1 : 0, x->resolved_reason, x->resolved_message},
            .endpoints = x->kind == TG_KIND_API_PROXY ? x->endpoints : -1,
            .hostnames = x->kind != TG_KIND_API_PROXY ? NULL : x->hostnames ? x->hostnames : none};
    }
    tg_kube_status_report(s->status, version, st, t->nstatuses);
    json_decref(none);
    free(st);
}

void tg_kube_source_acknowledged(struct tg_kube_source *s, uint64_t version)
{
    if (s->status)
        tg_kube_status_acknowledged(s->status, version);
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

size_t tg_kube_source_metrics(const struct tg_kube_source *s, char *out, size_t outlen)
{
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
    emit(out, outlen, &off, "# HELP tollgate_controller_leader 1 while this replica writes status (holds the "
                            "Lease, or leader election is off).\n# TYPE tollgate_controller_leader gauge\n"
                            "tollgate_controller_leader %d\n", s->leading);
    const struct tg_kube_client_stats *cs = tg_kube_client_stats(s->client);
    emit(out, outlen, &off, "# TYPE tollgate_controller_kube_requests_total counter\n"
                            "tollgate_controller_kube_requests_total %llu\n"
                            "# TYPE tollgate_controller_kube_request_failures_total counter\n"
                            "tollgate_controller_kube_request_failures_total %llu\n",
         (unsigned long long)cs->requests, (unsigned long long)cs->failures);
    if (s->status) {
        const struct tg_kube_status_stats *ss = tg_kube_status_stats(s->status);
        emit(out, outlen, &off, "# TYPE tollgate_controller_status_writes_total counter\n"
                                "tollgate_controller_status_writes_total %llu\n"
                                "# TYPE tollgate_controller_status_write_failures_total counter\n"
                                "tollgate_controller_status_write_failures_total %llu\n"
                                "# TYPE tollgate_controller_events_total counter\n"
                                "tollgate_controller_events_total %llu\n",
             (unsigned long long)ss->writes, (unsigned long long)ss->write_failures,
             (unsigned long long)tg_kube_events_sent(s->events));
    }
    return off >= outlen ? strlen(out) : off;
}
