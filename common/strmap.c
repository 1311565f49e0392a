/* strmap.c — see strmap.h. FNV-1a hashing, linear probing, load factor ≤ 1/2. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void tg_strmap_init(struct tg_strmap *m) { memset(m, 0, sizeof *m); }

void tg_strmap_free(struct tg_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static struct tg_strmap_entry *find_slot(struct tg_strmap_entry *slots, size_t cap, const char *key, size_t len,
                                         uint64_t hash)
{
    size_t i = (size_t)hash & (cap - 1);
    for (;;) {
        struct tg_strmap_entry *e = &slots[i];
        if (!e->key || (e->hash == hash && e->len == len && memcmp(e->key, key, len) == 0))
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static int grow(struct tg_strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    struct tg_strmap_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct tg_strmap_entry *old = &m->slots[i];
        if (old->key)
            *find_slot(slots, cap, old->key, old->len, old->hash) = *old;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

void *tg_strmap_put(struct tg_strmap *m, const char *key, size_t len, void *value, int *err)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) {
        if (err)
            *err = -1;
        return NULL;
    }
    uint64_t hash = hash_bytes(key, len);
    struct tg_strmap_entry *e = find_slot(m->slots, m->cap, key, len, hash);
    void *previous = e->key ? e->value : NULL;
    if (!e->key)
        m->count++;
    e->key = key;
    e->len = len;
    e->hash = hash;
    e->value = value;
    return previous;
}

void *tg_strmap_get(const struct tg_strmap *m, const char *key, size_t len)
{
    if (m->count == 0)
        return NULL;
    struct tg_strmap_entry *e = find_slot(m->slots, m->cap, key, len, hash_bytes(key, len));
    return e->key ? e->value : NULL;
}
