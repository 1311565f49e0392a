/* kube_source.h — `--source kube`: fills the controller's store from the Kubernetes API and tells the
 * pipeline when to translate and push again. The controller's only way into the kube_* modules.
 *
 * Owns: the API client and its configuration, one informer per watched resource — EnvironmentGroup and
 * ApiProxy (tollgate.dev/v1alpha1), Service, EndpointSlice (discovery.k8s.io/v1), Secrets of the two types
 * Tollgate reads (kubernetes.io/tls and tollgate.dev/api-key, by field selector on `type`), and the Secrets
 * and ConfigMaps that ApiProxies name (spec keys ending in "SecretName" / "ConfigMapName": one informer per
 * referenced name, started and stopped as references come and go); which informer put which object into
 * the store (so a relist replaces exactly its own objects); and the debounce that turns a burst of watch
 * events into one "changed" call: debounce_ms after the last event, but never later than max_wait_ms after
 * the first, and not before every base informer finished its first list.
 *
 * Status, Events and leader election (kube_status.h, kube_events.h, kube_lease.h) hang off the source too:
 * the pipeline reports what it translated and what the data plane acknowledged; the source writes status
 * only while it leads.
 */
#ifndef TG_KUBE_SOURCE_H
#define TG_KUBE_SOURCE_H

#include "status/kube_status.h"
#include "model/store.h"
#include "translate/translate.h"

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct tg_kube_source_opts {
    const char *kubeconfig;      /* --kubeconfig; NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    const char *namespace_;      /* --namespace; NULL or "" = all namespaces */
    uint32_t debounce_ms;        /* 0 = 100 */
    uint32_t max_wait_ms;        /* 0 = 1000 */
    int leader_elect;            /* --leader-elect; without it this replica always writes status */
    uint32_t lease_duration_ms;  /* 0 = 15 s */
    uint32_t renew_deadline_ms;  /* 0 = 10 s */
    uint32_t retry_period_ms;    /* 0 = 2 s */
    const char *lease_name;      /* NULL = "tollgate-controller" */
    const char *lease_namespace; /* NULL = --namespace, else the pod's namespace, else "default" */
    const char *identity;        /* NULL = hostname + "_" + random */
    int write_status;            /* 0 disables status and Events entirely (read-only RBAC) */
};

/* Called on the loop when the store changed and is worth translating (debounced, caches synced). */
typedef void (*tg_kube_source_changed_cb)(void *arg);

struct tg_kube_source;

/* Loads the configuration and builds everything; nothing touches the network until start. Returns NULL
 * with a message in err. */
struct tg_kube_source *tg_kube_source_new(struct ev_loop *loop, struct tg_store *store,
                                          const struct tg_kube_source_opts *opts, tg_kube_source_changed_cb cb,
                                          void *arg, char *err, size_t errlen);
void tg_kube_source_start(struct tg_kube_source *s);
/* Releases the lease (when held) with a short best-effort request, then stops. */
void tg_kube_source_free(struct tg_kube_source *s);

/* 1 once every base informer has listed (for /readyz). */
int tg_kube_source_synced(const struct tg_kube_source *s);
/* 1 while this replica may write status (leader, or leader election off). */
int tg_kube_source_is_leader(const struct tg_kube_source *s);

/* The pipeline translated the store into snapshot `version`: statuses[0..n) says, for every ApiProxy and
 * EnvironmentGroup in the store, what the translation made of it. Copied. */
void tg_kube_source_report(struct tg_kube_source *s, uint64_t version, const struct tg_object_status *statuses,
                           size_t n);
/* The same, straight from tg_translate()'s result (the usual call after each translation). */
void tg_kube_source_report_translation(struct tg_kube_source *s, uint64_t version, const struct tg_translation *t);
/* The data plane acknowledged snapshot `version` (the objects reported with it become Programmed). */
void tg_kube_source_acknowledged(struct tg_kube_source *s, uint64_t version);

/* Appends Prometheus text (watch restarts, relists, objects by kind, leader state, status writes) to out.
 * Returns the number of bytes written (truncated output is cut at a line boundary). */
size_t tg_kube_source_metrics(const struct tg_kube_source *s, char *out, size_t outlen);

#endif
