/* local_counters.c — process-wide sharded maps for quota and spike arrest (local_counters.h).
 *
 * A shard is a chained hash table over an entry array that doubles from 16 up to TG_COUNTER_SHARD_MAX entries;
 * free entries form a list through `next`. Keys are digests, so their bytes are already uniform: byte 0 picks
 * the shard, bytes 8..15 the bucket. */
#include "policy/traffic/local_counters.h"

#include "policy/traffic/rate_limit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define INITIAL_CAP 16

struct entry {
    uint8_t key[TG_COUNTER_KEY_LEN];
    uint64_t expires; /* quota: window end (wall ms); spike: next admission (monotonic µs) */
    uint64_t value;   /* quota: count; spike: unused (= expires) */
    uint32_t next;    /* chain, or free list */
};

struct shard {
    pthread_mutex_t lock;
    struct entry *entries;
    uint32_t *buckets; /* cap heads */
    uint32_t cap;
    uint32_t count;
    uint32_t free_head;
};

struct map {
    pthread_once_t once;
    struct shard shards[TG_COUNTER_SHARDS];
};

static struct map quota_map = {.once = PTHREAD_ONCE_INIT};
static struct map spike_map = {.once = PTHREAD_ONCE_INIT};

static void init_shards(struct map *m)
{
    for (size_t i = 0; i < TG_COUNTER_SHARDS; i++) {
        pthread_mutex_init(&m->shards[i].lock, NULL);
        m->shards[i].free_head = NIL;
    }
}
static void init_quota(void) { init_shards(&quota_map); }
static void init_spike(void) { init_shards(&spike_map); }

static uint32_t bucket_of(const uint8_t *key, uint32_t cap)
{
    uint64_t h;
    memcpy(&h, key + 8, sizeof h);
    return (uint32_t)(h & (cap - 1));
}

/* Re-links every used entry into a bucket array of the current cap (after growth or a sweep). */
static void rebuild(struct shard *s, const uint8_t *used)
{
    for (uint32_t i = 0; i < s->cap; i++)
        s->buckets[i] = NIL;
    s->free_head = NIL;
    for (uint32_t i = s->cap; i-- > 0;) {
        struct entry *e = &s->entries[i];
        if (used[i]) {
            uint32_t b = bucket_of(e->key, s->cap);
            e->next = s->buckets[b];
            s->buckets[b] = i;
        } else {
            e->next = s->free_head;
            s->free_head = i;
        }
    }
}

/* Marks the used entries (those reachable from buckets) into used[cap]. */
static void mark_used(const struct shard *s, uint8_t *used)
{
    memset(used, 0, s->cap);
    for (uint32_t b = 0; b < s->cap; b++)
        for (uint32_t i = s->buckets[b]; i != NIL; i = s->entries[i].next)
            used[i] = 1;
}

static int grow(struct shard *s)
{
    uint32_t ncap = s->cap ? s->cap * 2 : INITIAL_CAP;
    struct entry *ne = realloc(s->entries, (size_t)ncap * sizeof *ne);
    if (!ne)
        return -1;
    s->entries = ne;
    uint32_t *nb = realloc(s->buckets, (size_t)ncap * sizeof *nb);
    if (!nb)
        return -1;
    s->buckets = nb;
    uint8_t *used = calloc(ncap, 1);
    if (!used)
        return -1;
    mark_used(s, used); /* over the old cap; the new half is free */
    s->cap = ncap;
    rebuild(s, used);
    free(used);
    return 0;
}

/* Frees expired entries (expires ≤ now); if none was, the one expiring first. Returns -1 only on OOM. */
static int sweep(struct shard *s, uint64_t now)
{
    uint8_t *used = calloc(s->cap, 1);
    if (!used)
        return -1;
    mark_used(s, used);
    uint32_t freed = 0, first = NIL;
    for (uint32_t i = 0; i < s->cap; i++) {
        if (!used[i])
            continue;
        if (s->entries[i].expires <= now) {
            used[i] = 0;
            freed++;
        } else if (first == NIL || s->entries[i].expires < s->entries[first].expires) {
            first = i;
        }
    }
    if (freed == 0 && first != NIL) {
        used[first] = 0;
        freed = 1;
    }
    s->count -= freed;
    rebuild(s, used);
    free(used);
    return 0;
}

/* The entry for key (created with expires = 0 when absent), or NULL when out of memory. Lock held. */
static struct entry *find_or_add(struct shard *s, const uint8_t *key, uint64_t now)
{
    if (s->cap) {
        for (uint32_t i = s->buckets[bucket_of(key, s->cap)]; i != NIL; i = s->entries[i].next)
            if (memcmp(s->entries[i].key, key, TG_COUNTER_KEY_LEN) == 0)
                return &s->entries[i];
    }
    if (s->free_head == NIL) {
        if (s->cap < TG_COUNTER_SHARD_MAX) {
            if (grow(s) < 0)
                return NULL;
        } else if (sweep(s, now) < 0 || s->free_head == NIL) {
            return NULL;
        }
    }
    uint32_t i = s->free_head;
    struct entry *e = &s->entries[i];
    s->free_head = e->next;
    memcpy(e->key, key, TG_COUNTER_KEY_LEN);
    e->expires = 0;
    e->value = 0;
    uint32_t b = bucket_of(key, s->cap);
    e->next = s->buckets[b];
    s->buckets[b] = i;
    s->count++;
    return e;
}

static struct shard *shard_of(struct map *m, const uint8_t *key) { return &m->shards[key[0] % TG_COUNTER_SHARDS]; }

uint64_t tg_local_quota_incr(const uint8_t key[TG_COUNTER_KEY_LEN], uint64_t window_end_ms, uint64_t now_ms)
{
    pthread_once(&quota_map.once, init_quota);
    struct shard *s = shard_of(&quota_map, key);
    pthread_mutex_lock(&s->lock);
    struct entry *e = find_or_add(s, key, now_ms);
    uint64_t count = 1; /* out of memory: the request is counted as the window's first (fail open) */
    if (e) {
        if (e->expires != window_end_ms) { /* new, or a count of an earlier window */
            e->expires = window_end_ms;
            e->value = 0;
        }
        count = ++e->value;
    }
    pthread_mutex_unlock(&s->lock);
    return count;
}

int tg_local_spike_admit(const uint8_t key[TG_COUNTER_KEY_LEN], uint64_t now_us, uint64_t interval_us,
                         uint64_t *wait_us)
{
    pthread_once(&spike_map.once, init_spike);
    struct shard *s = shard_of(&spike_map, key);
    pthread_mutex_lock(&s->lock);
    struct entry *e = find_or_add(s, key, now_us);
    int admitted = 1;
    *wait_us = 0;
    if (e) {
        admitted = tg_spike_admit(&e->expires, now_us, interval_us, wait_us);
        e->value = e->expires;
    }
    pthread_mutex_unlock(&s->lock);
    return admitted;
}

static size_t entries(struct map *m, void (*init)(void))
{
    pthread_once(&m->once, init);
    size_t n = 0;
    for (size_t i = 0; i < TG_COUNTER_SHARDS; i++) {
        pthread_mutex_lock(&m->shards[i].lock);
        n += m->shards[i].count;
        pthread_mutex_unlock(&m->shards[i].lock);
    }
    return n;
}

size_t tg_local_quota_entries(void) { return entries(&quota_map, init_quota); }
