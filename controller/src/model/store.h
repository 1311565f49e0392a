/* store.h — the controller's cache of Kubernetes objects, the one object model both sources fill.
 *
 * Every object is kept as the JSON the Kubernetes API would return for it (jansson json_t, owned by the
 * store): the kube source stores what it lists/watches; the dir source converts each YAML document to the
 * same JSON first. Translation (translate.h) reads only from the store, so it cannot tell the sources apart.
 * Keys are (kind, namespace, name); a missing namespace is "default". Each object remembers where it came
 * from (file and document index in dir mode, "kube" otherwise) so errors can name it.
 *
 * Not thread-safe: the controller runs one libev loop; sources call store_put/store_delete on it.
 */
#ifndef TG_STORE_H
#define TG_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum tg_kind {
    TG_KIND_ENVIRONMENT_GROUP = 0,
    TG_KIND_API_PROXY,
    TG_KIND_SERVICE,
    TG_KIND_ENDPOINT_SLICE,
    TG_KIND_SECRET,
    TG_KIND_CONFIG_MAP,
    TG_KIND_COUNT
};

/* "EnvironmentGroup", "ApiProxy", "Service", "EndpointSlice", "Secret", "ConfigMap". */
const char *tg_kind_name(enum tg_kind kind);
/* Maps apiVersion + kind of a manifest to a kind; -1 when it is not one the controller reads. */
int tg_kind_from_manifest(const char *api_version, const char *kind);

struct tg_object_origin {
    char source[512];   /* file path (dir mode) or "kube" */
    int document;       /* 1-based document index within the file; 0 for kube */
};

struct tg_store_object {
    enum tg_kind kind;
    const char *namespace_;  /* points into obj */
    const char *name;        /* points into obj */
    json_t *obj;             /* the whole object (apiVersion, kind, metadata, spec, data, ...) */
    struct tg_object_origin origin;
};

struct tg_store;

struct tg_store *tg_store_new(void);
void tg_store_free(struct tg_store *s);

/* What tg_store_put did. */
enum tg_store_put_result {
    TG_STORE_INVALID = -1,    /* obj lacks metadata.name (or is not an object); released */
    TG_STORE_UNCHANGED = 0,   /* an identical object was already stored */
    TG_STORE_CHANGED = 1,     /* new, or changed in what translation reads: the revision moved */
    TG_STORE_REFRESHED = 2,   /* replaced, but only in what translation ignores (status, metadata.resourceVersion,
                               * metadata.managedFields): the revision did not move. A status PATCH comes back
                               * from the watch like this, so writing status never costs a translation. */
};

/* Inserts or replaces (kind, ns, name). Takes ownership of obj (one reference) on every path; the stored copy is
 * always the latest (readers of status see the new one), only the revision tells whether to translate again. */
int tg_store_put(struct tg_store *s, enum tg_kind kind, json_t *obj, const struct tg_object_origin *origin);
/* Removes (kind, ns, name); returns 1 when something was removed. */
int tg_store_delete(struct tg_store *s, enum tg_kind kind, const char *ns, const char *name);
/* Removes every object of kind (used by a relist to replace a kind's contents wholesale). */
void tg_store_clear_kind(struct tg_store *s, enum tg_kind kind);

const struct tg_store_object *tg_store_get(const struct tg_store *s, enum tg_kind kind, const char *ns,
                                           const char *name);
/* Objects of one kind in a stable order (namespace, then name). *count receives the number; the array is
 * owned by the store and valid until the next put/delete. */
const struct tg_store_object *const *tg_store_list(struct tg_store *s, enum tg_kind kind, size_t *count);

/* Number of objects of one kind (metrics). */
size_t tg_store_count(const struct tg_store *s, enum tg_kind kind);

/* Incremented on every change to what translation reads (TG_STORE_CHANGED, deletions); the controller compares
 * it to decide whether to translate again. */
uint64_t tg_store_revision(const struct tg_store *s);

#endif
