/* translate_tls_defaults.h — the controller's cluster-wide TLS defaults in translation (translate_tls_defaults.c,
 * docs/tls.md "Cluster-wide defaults"), what ingress-nginx's --default-ssl-certificate and its global
 * ssl-protocols / ssl-ciphers are: a kubernetes.io/tls Secret whose certificate answers handshakes no group's
 * certificate takes (the snapshot's "tlsDefault"), and versions and cipher lists for groups whose spec.tlsOptions
 * sets none. The defaults come from the command line (struct tg_tls_defaults, translation.h), checked once at
 * start-up; translation stays a pure function of the store and these. */
#ifndef TG_TRANSLATE_TLS_DEFAULTS_H
#define TG_TRANSLATE_TLS_DEFAULTS_H

#include "translate/translate_fields.h"

#include <stddef.h>

/* Checks the defaults as given on the command line (the process layer calls it at start-up): certificate_secret
 * "namespace/name", versions "1.2" or "1.3" with min ≤ max, cipher lists of 1–32 names this OpenSSL knows joined
 * by ":". 0, or -1 with a message naming the flag in err. */
int tg_tls_defaults_check(const struct tg_tls_defaults *d, char *err, size_t errlen);

/* Fills in group_out's "tlsOptions" from d (NULL: nothing): both versions when the group sets neither (a group that
 * sets one keeps the other's built-in default, so its own pair never conflicts with the default), "ciphers" and
 * "cipherSuites" each when the group names none. */
void tg__tls_defaults_merge(const struct tg_tls_defaults *d, json_t *group_out);

/* The snapshot's "tlsDefault" from the Secret d->certificate_secret: {"secret", "certPem", "keyPem",
 * "tlsOptions"} (the default versions and lists), or — the Secret missing, of another type or unusable, reported
 * as a warning — the marker {"secret", "lastGood": true, "tlsOptions"}: the data plane keeps the default
 * certificate it serves from that Secret, if any. Nothing without a default certificate. */
void tg__translate_tls_default(struct tg__tr *tr);

#endif
