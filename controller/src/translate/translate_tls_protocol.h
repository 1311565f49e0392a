/* translate_tls_protocol.h — the TLS protocol settings an object may ask for, read one way wherever they appear
 * (translate_tls_protocol.c): minVersion / maxVersion and the cipher lists, each name checked against this
 * OpenSSL. Used by translate_tls_options.c (an EnvironmentGroup's spec.tlsOptions, toward clients), by
 * translate_proxy.c (an ApiProxy's spec.target.tls, toward its backend) and by translate_tls_defaults.c (the
 * --tls-default-* flags); uses only translate_fields.h. */
#ifndef TG_TRANSLATE_TLS_PROTOCOL_H
#define TG_TRANSLATE_TLS_PROTOCOL_H

#include "translate/translate_fields.h"

/* 1 when name is one OpenSSL name of a cipher (TLS 1.2 list, tls13 = 0) or suite (tls13 = 1) this build knows
 * (one name: no list syntax). */
int tg__tls_cipher_known(const char *name, int tls13);

/* Reads the fields minVersion, maxVersion ("1.2" | "1.3", also spelled "TLSv1.2" | "TLSv1.3"), ciphers (TLS 1.2)
 * and cipherSuites (TLS 1.3; both lists of OpenSSL names) of the mapping obj, found at path (e.g.
 * "spec.target.tls": problems are reported at "spec.target.tls.minVersion"), into out as the snapshot spells them:
 * "minVersion" / "maxVersion" "1.2" or "1.3", each list its names joined by ':'. Absent fields (or obj NULL)
 * write nothing. 0, or -1 after reporting the item invalid (a version that is neither, a maxVersion below
 * minVersion, an empty or over-long list, a name this OpenSSL does not know). */
int tg__tls_protocol_fields(struct tg__tr *tr, struct tg__item *it, const json_t *obj, const char *path,
                            json_t *out);

#endif
