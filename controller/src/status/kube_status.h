/* kube_status.h — writes ApiProxy and EnvironmentGroup status back to the API server.
 *
 * Owns: turning what translation made of each object into Gateway-API-style conditions — Accepted,
 * ResolvedRefs (reasons such as Conflicted, BackendNotFound, SecretNotFound, InvalidPolicy come from the
 * translation) and Programmed (True only once the data plane acknowledged a snapshot version that contains
 * the object's current generation; False/Pending before, False/Invalid when not accepted) — with
 * observedGeneration and lastTransitionTime (kept while a condition's status does not change), plus
 * status.endpoints and status.hostnames; writing them through the status subresource (JSON merge patch),
 * only when they differ from what the object already shows, a bounded number of writes at a time; and, on
 * each change to a user-fixable error, one Kubernetes Event (kube_events.h).
 *
 * Writing is switched on and off by leadership: off cancels in-flight writes and drops the queue at once.
 */
#ifndef TG_KUBE_STATUS_H
#define TG_KUBE_STATUS_H

#include "model/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tg_kube_client;
struct tg_kube_events;

/* One condition as translation sees it. reason: CamelCase ([A-Za-z][A-Za-z0-9_,:]*); message: free text. */
struct tg_condition_input {
    int status;            /* 1 = True, 0 = False, -1 = Unknown */
    const char *reason;
    const char *message;
};

/* What translation made of one ApiProxy or EnvironmentGroup. Strings and JSON are borrowed for the call. */
struct tg_object_status {
    enum tg_kind kind;                 /* TG_KIND_API_PROXY or TG_KIND_ENVIRONMENT_GROUP */
    const char *namespace_, *name;
    int64_t generation;                /* metadata.generation of the object translated */
    int in_snapshot;                   /* 1 when the snapshot serves it (Programmed follows its ack) */
    struct tg_condition_input accepted;
    struct tg_condition_input resolved_refs;
    int endpoints;                     /* ApiProxy: ready endpoints; < 0 = leave status.endpoints out */
    json_t *hostnames;                 /* ApiProxy: array of strings routing to it, or NULL */
};

struct tg_kube_status_stats {
    uint64_t writes, write_failures, skipped_unchanged;
};

struct tg_kube_status;

struct tg_kube_status *tg_kube_status_new(struct tg_kube_client *c, struct tg_store *store,
                                          struct tg_kube_events *events);
void tg_kube_status_free(struct tg_kube_status *w);

/* Replaces the desired state with statuses[0..n) translated into snapshot `version` (copied). */
void tg_kube_status_report(struct tg_kube_status *w, uint64_t version, const struct tg_object_status *statuses,
                           size_t n);
/* The data plane applied `version`. */
void tg_kube_status_acknowledged(struct tg_kube_status *w, uint64_t version);
/* Leadership: 1 = write (and re-check everything), 0 = stop writing now. */
void tg_kube_status_set_enabled(struct tg_kube_status *w, int enabled);
/* Re-checks every object against the store (after the store changed). */
void tg_kube_status_recheck(struct tg_kube_status *w);
const struct tg_kube_status_stats *tg_kube_status_stats(const struct tg_kube_status *w);

/* Builds the status object for one report (pure; exposed for tests): conditions with observedGeneration,
 * lastTransitionTime taken from `current` (the object's present status, may be NULL) when a condition's
 * status is unchanged, else now_rfc3339; programmed: 1 True, 0 Pending, -1 Invalid. Returns a new reference,
 * and sets *changed to 1 when it differs from current in anything but lastTransitionTime. */
json_t *tg_kube_status_build(const struct tg_object_status *st, int programmed, const json_t *current,
                             const char *now_rfc3339, int *changed);

#endif
