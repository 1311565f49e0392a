/* source.c — see source.h: the table of sources selectable with --source. */
#include "source/source.h"

#include <string.h>

const struct tg_source_ops *tg_source_lookup(const char *spec, const char **arg)
{
    *arg = NULL;
    if (strcmp(spec, "kube") == 0)
        return &tg_kube_source_ops;
    if (strncmp(spec, "dir:", 4) == 0 && spec[4] != '\0') {
        *arg = spec + 4;
        return &tg_dir_source_ops;
    }
    return NULL;
}
