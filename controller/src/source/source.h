/* source.h — where the controller's objects come from, behind one small ops table, so main.c selects a source
 * by its --source value and the pipeline (controller.c) never knows which one runs.
 *
 * A source fills the store on the controller's loop and calls `changed` when the store is worth translating
 * (debounced by the source; only after its initial load/list is complete). It may also take the translation
 * results back (status writing) and the data plane's acknowledgements.
 *
 * Sources: "dir:PATH" (dir_source.c) and "kube" (source_kube.c → kube_source.h).
 */
#ifndef TG_SOURCE_H
#define TG_SOURCE_H

#include "model/diag.h"
#include "model/store.h"
#include "translate/translate.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct tg_source_config {
    const char *arg;          /* the text after "dir:" (the directory); NULL for kube */
    const char *kubeconfig;   /* --kubeconfig (NULL: $KUBECONFIG, in-cluster, ~/.kube/config) */
    const char *namespace_;   /* --namespace (NULL: all) */
    int leader_elect;         /* --leader-elect */
    int write_status;         /* 0 in --once/--print runs: a one-shot run writes no status */
    /* kube leader election (--lease-*; 0/NULL = the defaults of kube_source.h) */
    const char *lease_name;        /* --lease-name */
    const char *lease_namespace;   /* --lease-namespace */
    uint32_t lease_duration_ms;    /* --lease-duration */
    uint32_t renew_deadline_ms;    /* --renew-deadline */
    uint32_t retry_period_ms;      /* --retry-period */
};

typedef void (*tg_source_changed_cb)(void *arg);

struct tg_source_ops {
    const char *name;
    /* Builds the source; nothing runs before start. NULL with err filled on failure. */
    void *(*create)(struct ev_loop *loop, struct tg_store *store, const struct tg_source_config *cfg,
                    tg_source_changed_cb changed, void *arg, char *err, size_t errlen);
    /* Starts loading/watching. Returns 0, or -1 with err filled. */
    int (*start)(void *self, char *err, size_t errlen);
    void (*destroy)(void *self);
    /* 1 once the initial load/list is complete. */
    int (*synced)(const void *self);
    /* Problems of the last load that translation cannot see (files that failed to parse); may be NULL. */
    const struct tg_diags *(*diags)(const void *self);
    /* Translation `t` became snapshot `version`; may be NULL. */
    void (*report)(void *self, uint64_t version, const struct tg_translation *t);
    /* The data plane applied `version`; may be NULL. */
    void (*acknowledged)(void *self, uint64_t version);
    /* Appends Prometheus text; returns bytes written; may be NULL. */
    size_t (*metrics)(const void *self, char *out, size_t outlen);
};

extern const struct tg_source_ops tg_dir_source_ops;
extern const struct tg_source_ops tg_kube_source_ops;

/* Maps a --source value ("kube", "dir:PATH") to its ops; *arg receives what follows "dir:" (or NULL).
 * NULL when the value names no source. */
const struct tg_source_ops *tg_source_lookup(const char *spec, const char **arg);

#endif
