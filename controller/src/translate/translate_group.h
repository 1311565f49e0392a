/* translate_group.h — EnvironmentGroups in translation (translate_group.c): one group → its snapshot entry, and
 * the hostname conflict pass. Called by the driver (translate.c); uses only translate_fields.h and
 * translate_backend.h. */
#ifndef TG_TRANSLATE_GROUP_H
#define TG_TRANSLATE_GROUP_H

#include "translate/translate_fields.h"

void tg__translate_group(struct tg__tr *tr, struct tg__item *it);
void tg__resolve_hostnames(struct tg__tr *tr, struct tg__item *groups, size_t n);


#endif
