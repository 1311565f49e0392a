/* translate_tls_options.h — an EnvironmentGroup's spec.tlsOptions in translation (translate_tls_options.c):
 * versions and ciphers (through translate_tls_protocol.h), the no-SNI default, the plain-HTTP redirect and HSTS.
 * Called by translate_group.c. */
#ifndef TG_TRANSLATE_TLS_OPTIONS_H
#define TG_TRANSLATE_TLS_OPTIONS_H

#include "translate/translate_fields.h"

/* Reads spec.tlsOptions (absent: nothing) into group_out's "tlsOptions", "httpsRedirect" and "hsts" fields.
 * 0, or -1 after reporting the item invalid. */
int tg__translate_tls_options(struct tg__tr *tr, struct tg__item *it, const json_t *spec, json_t *group_out);

#endif
