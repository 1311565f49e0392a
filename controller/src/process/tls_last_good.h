/* tls_last_good.h — the controller's memory of the last good TLS certificate of each kubernetes.io/tls Secret
 * an EnvironmentGroup names (issue 12 "rotation"): a Secret updated with something unusable (bad PEM, a key
 * that does not match, an expired certificate) must not take the hostname's certificate away — the data plane
 * keeps serving the last certificate that was good, and the problem is reported on the group's ResolvedRefs
 * condition and in the diagnostics.
 *
 * A Secret without usable content reaches the snapshot as a marker entry {"hostnames", "secret", "lastGood": true};
 * when this memory has the Secret's last good content, the marker is replaced by it, otherwise it goes to the data
 * plane, which keeps serving what it served for that Secret (config/tls_certs.h) — so a controller restart does
 * not take a certificate away either, as long as the data plane runs.
 *
 * The controller's default certificate (the snapshot's "tlsDefault", --tls-default-certificate) is handled the same
 * way: remembered while good, taken out when expired, restored from memory while its Secret is unusable.
 *
 * Translation is pure (translate.h: no clock, no memory of earlier runs), so both the memory and the expiry
 * check live here, applied by the pipeline to each fresh translation before it is hashed and pushed.
 */
#ifndef TG_TLS_LAST_GOOD_H
#define TG_TLS_LAST_GOOD_H

#include "translate/translation.h"

#include <jansson.h>
#include <stdint.h>

struct tg_tls_last_good {
    json_t *by_secret;              /* "ns/name" → {"certPem","keyPem"} of its last usable content */
};

void tg_tls_last_good_init(struct tg_tls_last_good *m);
void tg_tls_last_good_fini(struct tg_tls_last_good *m);
/* Applies m to t (its tls_refs, and its "tlsDefault"): entries whose certificate is expired at now_sec (Unix seconds) are taken out
 * and reported; usable entries are remembered; a Secret without a usable entry this time gets its remembered
 * content back into the group's "tls" (a warning says so). Returns how many entries were restored. */
int tg_tls_last_good_apply(struct tg_tls_last_good *m, struct tg_translation *t, int64_t now_sec);

#endif
