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
 * Input is the translation's own status shape (translate/translation.h, struct tg_object_status), kept as a
 * copy per object with the snapshot version it first shipped in; nothing else describes an object's status.
 * Writing is switched on and off by leadership: off cancels in-flight writes and drops the queue at once.
 * Timers: two ev_timers (retry, coalesce) on the controller's one loop, owned by the writer.
 */
#ifndef TG_KUBE_STATUS_H
#define TG_KUBE_STATUS_H

#include "model/store.h"
#include "translate/translation.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct tg_kube_client;
struct tg_kube_events;

struct tg_kube_status_stats {
    uint64_t writes, write_failures, skipped_unchanged;
};

struct tg_kube_status;

struct tg_kube_status *tg_kube_status_new(struct tg_kube_client *c, struct tg_store *store,
                                          struct tg_kube_events *events);
void tg_kube_status_free(struct tg_kube_status *w);

/* Replaces the desired state with the statuses of translation t, which became snapshot `version` (copied: t may
 * be freed after the call). An object whose status did not change keeps the version it first shipped in. */
void tg_kube_status_report(struct tg_kube_status *w, uint64_t version, const struct tg_translation *t);
/* The data plane applied `version`. */
void tg_kube_status_acknowledged(struct tg_kube_status *w, uint64_t version);
/* Leadership: 1 = write (and re-check everything), 0 = stop writing now. */
void tg_kube_status_set_enabled(struct tg_kube_status *w, int enabled);
/* Re-checks one object against the store soon: the source saw its status change (our own write coming back, or
 * someone else's edit, which is then overwritten). Nothing when the object is not reported or writing is off. */
void tg_kube_status_recheck(struct tg_kube_status *w, enum tg_kind kind, const char *ns, const char *name);
const struct tg_kube_status_stats *tg_kube_status_stats(const struct tg_kube_status *w);

/* Builds the status object for one object's translated status (pure; exposed for tests): conditions with
 * observedGeneration, lastTransitionTime taken from `current` (the object's present status, may be NULL) when a
 * condition's status is unchanged, else now_rfc3339; programmed: 1 True, 0 Pending, -1 Invalid. Returns a new
 * reference, and sets *changed to 1 when it differs from current in anything but lastTransitionTime. */
json_t *tg_kube_status_build(const struct tg_object_status *st, int programmed, const json_t *current,
                             const char *now_rfc3339, int *changed);

#endif
