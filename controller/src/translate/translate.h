/* translate.h — the pure function at the heart of the controller: store → snapshot content + problems +
 * per-object status.
 *
 * tg_translate reads only the store (never the clock, the network or the file system) and never stops at
 * the first problem: an invalid object is left out and reported, everything else is still emitted, so one
 * bad manifest cannot take the whole configuration down. The output (translation.h) is the snapshot of
 * docs/control-protocol.md without "version" and "generatedAt" (publish/snapshot_document.h adds those), in a
 * deterministic order (groups and proxies by namespace/name, endpoints sorted), so equal inputs hash equally.
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

#include "model/store.h"
#include "translate/translation.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Fills *out (which the caller zero-initialises or has freed). Returns 0, or -1 only when memory ran out
 * (then *out is freed). */
int tg_translate(struct tg_store *store, struct tg_translation *out);
/* The same with the cluster-wide TLS defaults (NULL: none): the default certificate Secret becomes the snapshot's
 * "tlsDefault", and the default options fill in what each group's spec.tlsOptions leaves unset. */
int tg_translate_with(struct tg_store *store, const struct tg_tls_defaults *tls_defaults, struct tg_translation *out);

#endif
