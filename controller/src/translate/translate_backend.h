/* translate_backend.h — the references translation follows (translate_backend.c): Service → endpoints, Secret
 * values, PEM checks. Used by the group, proxy and policy files. */
#ifndef TG_TRANSLATE_BACKEND_H
#define TG_TRANSLATE_BACKEND_H

#include "translate/translate_fields.h"

/* Fills endpoints (a JSON array) for target.service of the proxy; reports missing refs. */
void tg__service_endpoints(struct tg__tr *tr, struct tg__item *it, const json_t *service, json_t *endpoints);
/* Looks up Secret ns/name key (stringData wins over base64 data). Returns a malloc'ed NUL-terminated copy
 * (*len bytes), or NULL with *why set to a static reason. */
char *tg__secret_value(struct tg__tr *tr, const char *ns, const char *name, const char *key, size_t *len,
                       const char **why);
/* Checks PEM text: a certificate chain (and, when key != NULL, a private key matching the first cert).
 * Returns NULL or a static reason. */
const char *tg__check_pem(const char *cert, const char *key);


#endif
