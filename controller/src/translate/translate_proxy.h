/* translate_proxy.h — ApiProxies in translation (translate_proxy.c): one proxy → its snapshot entry, and the
 * base-path conflict pass. Called by the driver (translate.c); uses translate_fields.h, translate_backend.h and
 * translate_policy.h. */
#ifndef TG_TRANSLATE_PROXY_H
#define TG_TRANSLATE_PROXY_H

#include "translate/translate_fields.h"

void tg__translate_proxy(struct tg__tr *tr, struct tg__item *it);
void tg__resolve_base_paths(struct tg__tr *tr, struct tg__item *proxies, size_t n, const struct tg__item *groups,
                            size_t ngroups);


#endif
