/* store.c — see store.h. Per kind, an array of object pointers kept sorted by (namespace, name): lookups are
 * binary searches, listing hands out the array itself, inserts shift pointers (cheap for the few thousand
 * objects a controller holds). */
#include "model/store.h"

#include <stdlib.h>
#include <string.h>

struct kind_table {
    struct tg_store_object **items;
    size_t count, cap;
};

struct tg_store {
    struct kind_table kinds[TG_KIND_COUNT];
    uint64_t revision;
};

static const struct {
    const char *api_version;
    const char *kind;
} manifest_kinds[TG_KIND_COUNT] = {
    [TG_KIND_ENVIRONMENT_GROUP] = {"tollgate.dev/v1alpha1", "EnvironmentGroup"},
    [TG_KIND_API_PROXY] = {"tollgate.dev/v1alpha1", "ApiProxy"},
    [TG_KIND_SERVICE] = {"v1", "Service"},
    [TG_KIND_ENDPOINT_SLICE] = {"discovery.k8s.io/v1", "EndpointSlice"},
    [TG_KIND_SECRET] = {"v1", "Secret"},
    [TG_KIND_CONFIG_MAP] = {"v1", "ConfigMap"},
};

const char *tg_kind_name(enum tg_kind kind)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT)
        return "Unknown";
    return manifest_kinds[kind].kind;
}

int tg_kind_from_manifest(const char *api_version, const char *kind)
{
    if (!api_version || !kind)
        return -1;
    for (int i = 0; i < TG_KIND_COUNT; i++)
        if (strcmp(manifest_kinds[i].api_version, api_version) == 0 && strcmp(manifest_kinds[i].kind, kind) == 0)
            return i;
    return -1;
}

struct tg_store *tg_store_new(void)
{
    return calloc(1, sizeof(struct tg_store));
}

static void free_object(struct tg_store_object *o)
{
    if (!o)
        return;
    json_decref(o->obj);
    free(o);
}

void tg_store_free(struct tg_store *s)
{
    if (!s)
        return;
    for (int k = 0; k < TG_KIND_COUNT; k++) {
        for (size_t i = 0; i < s->kinds[k].count; i++)
            free_object(s->kinds[k].items[i]);
        free(s->kinds[k].items);
    }
    free(s);
}

static int compare_key(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
    int c = strcmp(ns_a, ns_b);
    return c ? c : strcmp(name_a, name_b);
}

/* Index of (ns, name) in the table, or -(insertion point) - 1 when absent. */
static long find(const struct kind_table *t, const char *ns, const char *name)
{
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_key(t->items[mid]->namespace_, t->items[mid]->name, ns, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(long)lo - 1;
}

/* Points namespace_/name into obj; adds metadata.namespace = "default" when absent. -1 when the object has
 * no usable metadata.name or a non-string namespace. */
static int bind_names(json_t *obj, const char **ns, const char **name)
{
    json_t *meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta))
        return -1;
    json_t *jname = json_object_get(meta, "name");
    if (!json_is_string(jname) || json_string_length(jname) == 0)
        return -1;
    json_t *jns = json_object_get(meta, "namespace");
    if (!jns || json_is_null(jns) || (json_is_string(jns) && json_string_length(jns) == 0)) {
        if (json_object_set_new(meta, "namespace", json_string("default")) < 0)
            return -1;
        jns = json_object_get(meta, "namespace");
    }
    if (!json_is_string(jns))
        return -1;
    *ns = json_string_value(jns);
    *name = json_string_value(jname);
    return 0;
}

/* Keys translation never reads: a change confined to them leaves the revision alone. */
static int volatile_key(const char *key)
{
    return strcmp(key, "resourceVersion") == 0 || strcmp(key, "managedFields") == 0;
}

/* 1 when a and b hold the same keys with equal values, keys for which skip() holds aside. */
static int equal_except(const json_t *a, const json_t *b, int (*skip)(const char *key))
{
    const char *key;
    json_t *va;
    size_t na = 0, nb = 0;
    json_object_foreach((json_t *)a, key, va) {
        if (skip(key))
            continue;
        na++;
        if (!json_equal(va, json_object_get(b, key)))
            return 0;
    }
    json_t *vb;
    json_object_foreach((json_t *)b, key, vb)
        nb += !skip(key);
    return na == nb;
}

static int is_status(const char *key)
{
    return strcmp(key, "status") == 0 || strcmp(key, "metadata") == 0; /* metadata is compared on its own */
}

/* 1 when a and b differ only in what no translation reads: top-level status (ApiProxy and EnvironmentGroup
 * status is ours; a Service's status.loadBalancer is not translated either), metadata.resourceVersion and
 * metadata.managedFields. metadata.generation, labels, annotations, spec, data and everything else count. */
static int same_translated_view(const json_t *a, const json_t *b)
{
    if (!equal_except(a, b, is_status))
        return 0;
    const json_t *ma = json_object_get(a, "metadata"), *mb = json_object_get(b, "metadata");
    return json_is_object(ma) && json_is_object(mb) && equal_except(ma, mb, volatile_key);
}

int tg_store_put(struct tg_store *s, enum tg_kind kind, json_t *obj, const struct tg_object_origin *origin)
{
    const char *ns, *name;
    if ((int)kind < 0 || kind >= TG_KIND_COUNT || !json_is_object(obj) || bind_names(obj, &ns, &name) < 0) {
        json_decref(obj);
        return -1;
    }
    struct kind_table *t = &s->kinds[kind];
    long at = find(t, ns, name);
    if (at >= 0) {
        struct tg_store_object *o = t->items[at];
        if (origin)
            o->origin = *origin;
        if (json_equal(o->obj, obj)) {
            json_decref(obj);
            return TG_STORE_UNCHANGED;
        }
        int refreshed = same_translated_view(o->obj, obj);
        json_decref(o->obj);
        o->obj = obj;
        o->namespace_ = ns;
        o->name = name;
        if (refreshed)
            return TG_STORE_REFRESHED;
        s->revision++;
        return TG_STORE_CHANGED;
    }
    if (t->count == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        struct tg_store_object **n = realloc(t->items, ncap * sizeof *n);
        if (!n) {
            json_decref(obj);
            return -1;
        }
        t->items = n;
        t->cap = ncap;
    }
    struct tg_store_object *o = calloc(1, sizeof *o);
    if (!o) {
        json_decref(obj);
        return -1;
    }
    o->kind = kind;
    o->obj = obj;
    o->namespace_ = ns;
    o->name = name;
    if (origin)
        o->origin = *origin;
    else
        strcpy(o->origin.source, "unknown");
    size_t pos = (size_t)(-at - 1);
    memmove(&t->items[pos + 1], &t->items[pos], (t->count - pos) * sizeof *t->items);
    t->items[pos] = o;
    t->count++;
    s->revision++;
    return 1;
}

int tg_store_delete(struct tg_store *s, enum tg_kind kind, const char *ns, const char *name)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT || !name)
        return 0;
    struct kind_table *t = &s->kinds[kind];
    long at = find(t, ns && *ns ? ns : "default", name);
    if (at < 0)
        return 0;
    free_object(t->items[at]);
    memmove(&t->items[at], &t->items[at + 1], (t->count - (size_t)at - 1) * sizeof *t->items);
    t->count--;
    s->revision++;
    return 1;
}

void tg_store_clear_kind(struct tg_store *s, enum tg_kind kind)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT)
        return;
    struct kind_table *t = &s->kinds[kind];
    if (t->count == 0)
        return;
    for (size_t i = 0; i < t->count; i++)
        free_object(t->items[i]);
    t->count = 0;
    s->revision++;
}

const struct tg_store_object *tg_store_get(const struct tg_store *s, enum tg_kind kind, const char *ns,
                                           const char *name)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT || !name)
        return NULL;
    const struct kind_table *t = &s->kinds[kind];
    long at = find(t, ns && *ns ? ns : "default", name);
    return at >= 0 ? t->items[at] : NULL;
}

const struct tg_store_object *const *tg_store_list(struct tg_store *s, enum tg_kind kind, size_t *count)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT) {
        *count = 0;
        return NULL;
    }
    *count = s->kinds[kind].count;
    return (const struct tg_store_object *const *)s->kinds[kind].items;
}

size_t tg_store_count(const struct tg_store *s, enum tg_kind kind)
{
    if ((int)kind < 0 || kind >= TG_KIND_COUNT)
        return 0;
    return s->kinds[kind].count;
}

uint64_t tg_store_revision(const struct tg_store *s)
{
    return s->revision;
}
