/* source.h — where the controller's objects come from, behind one small ops table, so the process layer selects
 * a source by its --source value and the pipeline never knows which one runs.
 *
 * A source does one thing: it fills the store on the controller's loop and says so through the events it was
 * given — `changed` when the store moved in what translation reads (debounced by the source; only once its
 * initial load/list is complete), `status_seen` when only the status of one of our objects moved (a status
 * write coming back from the watch: no translation needed, the status layer may look at it). It never calls
 * the translation, the publisher or the status layer: the process layer wires those.
 *
 * Sources: "dir:PATH" (dir_source.c, tg_dir_source_ops) and "kube" (kube_source.c, tg_kube_source_ops).
 */
#ifndef TG_SOURCE_H
#define TG_SOURCE_H

#include "model/diag.h"
#include "model/store.h"

#include <ev.h>
#include <stddef.h>

struct tg_kube_client;

struct tg_source_config {
    const char *dir;                /* dir: the directory (what follows "dir:") */
    struct tg_kube_client *client;  /* kube: the API client, owned by the caller, outlives the source */
    const char *namespace_;         /* kube: --namespace (NULL or "" = all) */
    const char *tls_secret;         /* kube: "ns/name" of a kubernetes.io/tls Secret to watch even outside
                                     * --namespace (--tls-default-certificate), or NULL */
};

struct tg_source_events {
    /* The store changed in what translation reads (debounced; only after the initial load). */
    void (*changed)(void *arg);
    /* Only the status (or resourceVersion) of EnvironmentGroup/ApiProxy ns/name changed; may be NULL. */
    void (*status_seen)(void *arg, enum tg_kind kind, const char *ns, const char *name);
    void *arg;
};

struct tg_source_ops {
    const char *name;
    /* Builds the source; nothing runs before start. NULL with err filled on failure. events is copied. */
    void *(*create)(struct ev_loop *loop, struct tg_store *store, const struct tg_source_config *cfg,
                    const struct tg_source_events *events, char *err, size_t errlen);
    /* Starts loading/watching. Returns 0, or -1 with err filled. */
    int (*start)(void *self, char *err, size_t errlen);
    void (*destroy)(void *self);
    /* 1 once the initial load/list is complete. */
    int (*synced)(const void *self);
    /* Problems of the last load that translation cannot see (files that failed to parse); may be NULL. */
    const struct tg_diags *(*diags)(const void *self);
    /* Appends Prometheus text; returns bytes written; may be NULL. */
    size_t (*metrics)(const void *self, char *out, size_t outlen);
};

extern const struct tg_source_ops tg_dir_source_ops;
extern const struct tg_source_ops tg_kube_source_ops;

#endif
