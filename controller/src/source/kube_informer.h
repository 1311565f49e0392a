/* kube_informer.h — an informer: the list+watch loop that mirrors one Kubernetes resource into the controller.
 *
 * Owns, for one resource (optionally one namespace, selectors or a single name): the paginated list
 * (limit/continue; all pages are gathered before anything is reported, so a relist replaces the informer's
 * contents in one step, never half), the watch from the list's resourceVersion with allowWatchBookmarks and a
 * jittered timeoutSeconds, resourceVersion bookkeeping (every event and bookmark advances it), reconnects
 * with jittered backoff, and the relist on `410 Gone` / "too old resource version" (an HTTP 410 or an ERROR
 * event carrying code 410). Objects handed out have apiVersion and kind set (list items come without them)
 * and are stripped of metadata.managedFields and the kubectl last-applied annotation (memory, and the latter
 * would hold a Secret's data in clear).
 *
 * States (one at a time):
 *   IDLE     not started, or stopped;
 *   LISTING  a list page is in flight; earlier pages wait in `pending`; nothing reported yet;
 *   WATCHING a watch is in flight from `rv`; events are reported as they arrive;
 *   WAITING  a backoff (or immediate) timer runs; then LISTING when need_relist, else WATCHING.
 *
 * Errors are logged once per change of the error (and "recovered" once), never per retry. Retries wait
 * common/backoff.h delays (0.5 s → 30 s). Timers: one ev_timer per informer (WAITING), on the controller's loop.
 */
#ifndef TG_KUBE_INFORMER_H
#define TG_KUBE_INFORMER_H

#include "kube/kube_client.h"

#include <jansson.h>
#include <stdint.h>

enum tg_watch_type { TG_WATCH_ADDED = 0, TG_WATCH_MODIFIED, TG_WATCH_DELETED };

struct tg_informer_spec {
    const char *api_version;    /* "v1", "discovery.k8s.io/v1", "tollgate.dev/v1alpha1" */
    const char *kind;           /* "Service", ... (set on list items) */
    const char *resource;       /* plural resource name: "services" */
    const char *namespace_;     /* NULL or "" = all namespaces */
    const char *name;           /* NULL, or watch this one object (fieldSelector metadata.name=NAME) */
    const char *field_selector; /* extra field selector (e.g. "type=kubernetes.io/tls") or NULL */
    const char *label_selector; /* or NULL */
    int page_limit;             /* items per list page; 0 = 500 */
};

struct tg_informer_ops {
    /* The informer's complete contents after a (re)list: items is an array of objects, borrowed (incref what
     * you keep). Anything reported earlier and absent now was deleted. */
    void (*on_replace)(void *arg, json_t *items);
    /* One change from the watch; obj is borrowed. */
    void (*on_event)(void *arg, enum tg_watch_type type, json_t *obj);
};

struct tg_informer_stats {
    uint64_t lists;           /* completed lists (the first one included) */
    uint64_t relists;         /* lists after the first (410, errors) */
    uint64_t watch_restarts;  /* watches started after the first */
    uint64_t events;          /* ADDED/MODIFIED/DELETED received */
};

struct tg_informer;

/* Copies spec. Returns NULL on allocation failure or a spec that cannot form a path. */
struct tg_informer *tg_informer_new(struct tg_kube_client *c, const struct tg_informer_spec *spec,
                                    const struct tg_informer_ops *ops, void *arg);
void tg_informer_start(struct tg_informer *inf);
/* Cancels whatever is in flight; reports nothing afterwards. */
void tg_informer_free(struct tg_informer *inf);
/* 1 once the first list has been reported. The accessors below accept NULL. */
int tg_informer_synced(const struct tg_informer *inf);
const struct tg_informer_stats *tg_informer_stats(const struct tg_informer *inf);
/* "services" or "secrets(type=kubernetes.io/tls)" — for logs and metrics. */
const char *tg_informer_describe(const struct tg_informer *inf);
/* The last resourceVersion seen ("" before the first list). */
const char *tg_informer_resource_version(const struct tg_informer *inf);

/* Builds the collection path of a resource: /api/v1[/namespaces/NS]/RES or /apis/G/V[/namespaces/NS]/RES.
 * Returns 0, or -1 when it does not fit or a part holds characters a path segment cannot. */
int tg_kube_collection_path(const char *api_version, const char *namespace_, const char *resource, char *out,
                            size_t outlen);

/* Prepares an object from the API for the cache: sets apiVersion/kind when missing, drops managedFields and
 * the last-applied annotation. Returns 0, or -1 when obj is not an object with metadata.name. */
int tg_kube_sanitize_object(json_t *obj, const char *api_version, const char *kind);

#endif
