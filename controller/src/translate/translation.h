/* translation.h — what one translation produces (types only, plus their lifetime): the snapshot content, every
 * problem, and one status per EnvironmentGroup and ApiProxy. Apart from translate.h (the function) so that the
 * translate_*.c files and the status layer can share these types without including the driver.
 *
 * struct tg_object_status is the controller's one status shape: translation fills it, the status layer
 * (status/kube_status.h) keeps copies of it and writes it as Gateway-API-style conditions. Programmed is not in
 * it: that follows from the version the data plane acknowledged (a snapshot in which `in_snapshot` was set).
 */
#ifndef TG_TRANSLATION_H
#define TG_TRANSLATION_H

#include "model/diag.h"
#include "model/store.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Condition reasons (static strings; compare by strcmp). */
#define TG_REASON_ACCEPTED "Accepted"
#define TG_REASON_INVALID "Invalid"
#define TG_REASON_CONFLICTED "Conflicted"
#define TG_REASON_INVALID_POLICY "InvalidPolicy"
#define TG_REASON_RESOLVED_REFS "ResolvedRefs"
#define TG_REASON_BACKEND_NOT_FOUND "BackendNotFound"
#define TG_REASON_REF_NOT_FOUND "RefNotFound"
#define TG_REASON_INVALID_REF "InvalidRef"
#define TG_REASON_SECRET_NOT_FOUND "SecretNotFound"
#define TG_REASON_INVALID_CERTIFICATE_REF "InvalidCertificateRef" /* a group TLS Secret that is unusable (Gateway API) */

/* One condition. reason: CamelCase ([A-Za-z][A-Za-z0-9_,:]*), a static string; message: owned free text
 * ("; "-joined problems; never NULL after tg_translate). */
struct tg_condition {
    int status;                     /* 1 = True, 0 = False */
    const char *reason;
    char *message;
};

/* What translation made of one EnvironmentGroup or ApiProxy. */
struct tg_object_status {
    enum tg_kind kind;              /* TG_KIND_ENVIRONMENT_GROUP or TG_KIND_API_PROXY */
    char namespace_[64];
    char name[254];
    int64_t generation;             /* metadata.generation (observedGeneration), 0 when absent */
    struct tg_condition accepted;   /* TG_REASON_ACCEPTED | _INVALID | _CONFLICTED | _INVALID_POLICY */
    struct tg_condition resolved_refs; /* TG_REASON_RESOLVED_REFS | _BACKEND_NOT_FOUND | _REF_NOT_FOUND |
                                        * _INVALID_REF | _SECRET_NOT_FOUND */
    int in_snapshot;                /* the object (or part of it) is in the emitted snapshot */
    int endpoints;                  /* ApiProxy: ready endpoints emitted; -1 for a group (no status.endpoints) */
    json_t *hostnames;              /* ApiProxy: hostnames of the groups routing to it ([] when none; owned);
                                     * NULL for a group (no status.hostnames) */
};

struct tg_translation {
    json_t *snapshot;               /* {"groups":[…],"proxies":[…]} */
    struct tg_diags diags;          /* every problem, in a stable order */
    struct tg_object_status *statuses; /* groups first, then proxies, each in namespace/name order */
    size_t nstatuses;
    /* one object per EnvironmentGroup spec.tls entry that named a Secret: {"group": "ns/name", "secret":
     * "ns/name", "hostnames": [...], "entry": the emitted snapshot entry (the same object, referenced), or
     * "marker": the emitted {"lastGood": true} entry when the Secret was missing or unusable} — for the pipeline's
     * last-good memory (process/tls_last_good.h) */
    json_t *tls_refs;
};

/* The controller's cluster-wide TLS defaults (--tls-default-*, chart controller.tls; docs/tls.md "Cluster-wide
 * defaults"), checked at start-up (translate_tls_defaults.h). A NULL field is not set. */
struct tg_tls_defaults {
    const char *certificate_secret; /* "namespace/name" of a kubernetes.io/tls Secret: the snapshot's "tlsDefault" */
    const char *min_version;        /* "1.2" | "1.3": for groups whose spec.tlsOptions sets no version */
    const char *max_version;
    const char *ciphers;            /* TLS 1.2 names joined by ":", for groups that name none */
    const char *cipher_suites;      /* TLS 1.3 suites joined by ":", likewise */
};

void tg_translation_free(struct tg_translation *t);

/* Status lookup (linear); NULL when the object was not translated. */
const struct tg_object_status *tg_translation_status(const struct tg_translation *t, enum tg_kind kind,
                                                     const char *ns, const char *name);

/* Deep copy (messages duplicated, hostnames referenced) into *dst, which must not hold anything. Returns 0, or
 * -1 when memory ran out (then *dst holds nothing). */
int tg_object_status_copy(struct tg_object_status *dst, const struct tg_object_status *src);
/* Releases what *st owns and zeroes it. */
void tg_object_status_clear(struct tg_object_status *st);

#endif
