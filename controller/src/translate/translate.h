/* translate.h — the pure function at the heart of the controller: store → snapshot content + problems +
 * per-object status.
 *
 * tg_translate reads only the store (never the clock, the network or the file system) and never stops at
 * the first problem: an invalid object is left out and reported, everything else is still emitted, so one
 * bad manifest cannot take the whole configuration down. The output is the snapshot of
 * docs/control-protocol.md without "version" and "generatedAt" (snapshot.h adds those), in a deterministic
 * order (groups and proxies by namespace/name, endpoints sorted), so equal inputs hash equally.
 *
 * Rules (DESIGN.md, docs/controller.md): CRD defaults are applied; hostnames are lower-cased; a hostname in
 * two groups stays with the older group (creationTimestamp, then namespace/name; objects without a timestamp
 * are the oldest); two proxies claiming one base path in one group: the older wins; a Service target whose
 * Service is missing is still routed with no endpoints (503) and reported BackendNotFound.
 *
 * Messages read "ORIGIN doc N: Kind ns/name: field.path: reason" (ORIGIN omitted for the kube source).
 */
#ifndef TG_TRANSLATE_H
#define TG_TRANSLATE_H

#include "model/diag.h"
#include "model/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Condition reasons (static strings; compare by strcmp). */
#define TG_REASON_ACCEPTED "Accepted"
#define TG_REASON_INVALID "Invalid"
#define TG_REASON_CONFLICTED "Conflicted"
#define TG_REASON_RESOLVED_REFS "ResolvedRefs"
#define TG_REASON_BACKEND_NOT_FOUND "BackendNotFound"
#define TG_REASON_REF_NOT_FOUND "RefNotFound"
#define TG_REASON_INVALID_REF "InvalidRef"

/* What translation made of one EnvironmentGroup or ApiProxy — what the kube source writes back as status
 * conditions (Gateway API style; the controller converts it to kube_status.h's struct tg_object_status).
 * Programmed is not decided here: it becomes True when the data plane acknowledged a snapshot in which
 * `in_snapshot` was set. */
struct tg_translate_status {
    enum tg_kind kind;              /* TG_KIND_ENVIRONMENT_GROUP or TG_KIND_API_PROXY */
    char namespace_[64];
    char name[254];
    int64_t generation;             /* metadata.generation (observedGeneration), 0 when absent */
    int accepted;                   /* Accepted condition status */
    const char *accepted_reason;    /* TG_REASON_ACCEPTED | _INVALID | _CONFLICTED */
    char *accepted_message;         /* "; "-joined, never NULL after tg_translate */
    int resolved_refs;              /* ResolvedRefs condition status */
    const char *resolved_reason;    /* TG_REASON_RESOLVED_REFS | _BACKEND_NOT_FOUND | _REF_NOT_FOUND | _INVALID_REF */
    char *resolved_message;
    int in_snapshot;                /* the object (or part of it) is in the emitted snapshot */
    int endpoints;                  /* ApiProxy: ready endpoints emitted */
    json_t *hostnames;              /* ApiProxy in the snapshot: hostnames of the groups routing to it (owned) */
};

struct tg_translation {
    json_t *snapshot;               /* {"groups":[…],"proxies":[…]} */
    struct tg_diags diags;          /* every problem, in a stable order */
    struct tg_translate_status *statuses; /* groups first, then proxies, each in namespace/name order */
    size_t nstatuses;
};

/* Fills *out (which the caller zero-initialises or has freed). Returns 0, or -1 only when memory ran out
 * (then *out is freed). */
int tg_translate(struct tg_store *store, struct tg_translation *out);
void tg_translation_free(struct tg_translation *t);

/* Status lookup (linear); NULL when the object was not translated. */
const struct tg_translate_status *tg_translation_status(const struct tg_translation *t, enum tg_kind kind,
                                                     const char *ns, const char *name);

#endif
