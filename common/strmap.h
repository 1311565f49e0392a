/* strmap.h — an open-addressing hash map from byte strings to pointers, for lookups on hot paths (hostnames,
 * base paths, endpoints). Keys are NOT copied: they must outlive the map (they point into the owner's data).
 * Lookups take (pointer, length) so a slice of a request buffer can be looked up without copying. */
#ifndef TG_STRMAP_H
#define TG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct tg_strmap_entry {
    const char *key;
    size_t len;
    uint64_t hash;
    void *value;
};

struct tg_strmap {
    struct tg_strmap_entry *slots;
    size_t cap;   /* power of two, or 0 */
    size_t count;
};

void tg_strmap_init(struct tg_strmap *m);
void tg_strmap_free(struct tg_strmap *m);
/* Inserts or replaces; returns the previous value (NULL if none), or sets *err = -1 on allocation failure. */
void *tg_strmap_put(struct tg_strmap *m, const char *key, size_t len, void *value, int *err);
void *tg_strmap_get(const struct tg_strmap *m, const char *key, size_t len);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

#endif
