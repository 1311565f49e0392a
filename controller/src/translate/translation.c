/* translation.c — the lifetime of a translation's results (translation.h): freeing, status lookup, and the
 * copies the status layer keeps of an object's status. */
#include "translate/translation.h"

#include <stdlib.h>
#include <string.h>

void tg_object_status_clear(struct tg_object_status *st)
{
    free(st->accepted.message);
    free(st->resolved_refs.message);
    json_decref(st->hostnames);
    memset(st, 0, sizeof *st);
}

int tg_object_status_copy(struct tg_object_status *dst, const struct tg_object_status *src)
{
    *dst = *src;
    dst->accepted.message = strdup(src->accepted.message ? src->accepted.message : "");
    dst->resolved_refs.message = strdup(src->resolved_refs.message ? src->resolved_refs.message : "");
    dst->hostnames = json_incref(src->hostnames); /* never modified once translation returned */
    if (!dst->accepted.message || !dst->resolved_refs.message) {
        tg_object_status_clear(dst);
        return -1;
    }
    return 0;
}

void tg_translation_free(struct tg_translation *t)
{
    json_decref(t->snapshot);
    json_decref(t->tls_refs);
    tg_diags_free(&t->diags);
    for (size_t i = 0; i < t->nstatuses; i++)
        tg_object_status_clear(&t->statuses[i]);
    free(t->statuses);
    memset(t, 0, sizeof *t);
}

const struct tg_object_status *tg_translation_status(const struct tg_translation *t, enum tg_kind kind,
                                                     const char *ns, const char *name)
{
    for (size_t i = 0; i < t->nstatuses; i++)
        if (t->statuses[i].kind == kind && strcmp(t->statuses[i].namespace_, ns) == 0 &&
            strcmp(t->statuses[i].name, name) == 0)
            return &t->statuses[i];
    return NULL;
}
