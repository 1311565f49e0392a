/* translate_backend.h — the references translation follows (translate_backend.c): Service → endpoints, Secret
 * values, PEM checks (certificates, keys, CRLs). Used by the group, proxy and policy files. */
#ifndef TG_TRANSLATE_BACKEND_H
#define TG_TRANSLATE_BACKEND_H

#include "translate/translate_fields.h"

/* Fills endpoints (a JSON array) for target.service of the proxy; reports missing refs. */
void tg__service_endpoints(struct tg__tr *tr, struct tg__item *it, const json_t *service, json_t *endpoints);
/* 1 when Secret ns/name exists and has key (in stringData or data), whatever its value. */
int tg__secret_has_key(struct tg__tr *tr, const char *ns, const char *name, const char *key);
/* Looks up Secret ns/name key (stringData wins over base64 data). Returns a malloc'ed NUL-terminated copy
 * (*len bytes), or NULL with *why set to a static reason. */
char *tg__secret_value(struct tg__tr *tr, const char *ns, const char *name, const char *key, size_t *len,
                       const char **why);
/* Checks PEM text: a certificate chain (and, when key != NULL, a private key matching the first cert).
 * Returns NULL or a static reason. */
const char *tg__check_pem(const char *cert, const char *key);
/* Checks PEM text meant to be certificate revocation lists: one or more "X509 CRL" blocks (at most 64), every PEM
 * block of it a readable CRL. Returns NULL or a static reason. */
const char *tg__check_pem_crls(const char *crls);

#endif
