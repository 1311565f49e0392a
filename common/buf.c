/* buf.c — see buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void tg_buf_pool_init(struct tg_buf_pool *pool, size_t max_cached, size_t max_in_use)
{
    memset(pool, 0, sizeof *pool);
    pool->max_cached = max_cached;
    pool->max_in_use = max_in_use;
}

/* Single writer (the pool's thread): a relaxed store, no locked instruction. */
static void publish(const struct tg_buf_pool *pool)
{
    if (pool->in_use_gauge)
        atomic_store_explicit(pool->in_use_gauge, pool->in_use, memory_order_relaxed);
}

void tg_buf_pool_destroy(struct tg_buf_pool *pool)
{
    while (pool->free_list) {
        struct tg_buf *b = pool->free_list;
        pool->free_list = b->next_free;
        free(b);
    }
    pool->cached = 0;
}

struct tg_buf *tg_buf_get(struct tg_buf_pool *pool)
{
    if (pool->max_in_use && pool->in_use >= pool->max_in_use)
        return NULL;
    struct tg_buf *b = pool->free_list;
    if (b) {
        pool->free_list = b->next_free;
        pool->cached--;
    } else {
        b = malloc(sizeof *b);
        if (!b)
            return NULL;
    }
    b->next_free = NULL;
    b->head = b->tail = 0;
    pool->in_use++;
    publish(pool);
    return b;
}

void tg_buf_put(struct tg_buf_pool *pool, struct tg_buf *b)
{
    if (!b)
        return;
    pool->in_use--;
    publish(pool);
    if (pool->cached >= pool->max_cached) {
        free(b);
        return;
    }
    b->next_free = pool->free_list;
    pool->free_list = b;
    pool->cached++;
}

void tg_buf_compact(struct tg_buf *b)
{
    if (b->head == 0)
        return;
    size_t len = b->tail - b->head;
    memmove(b->data, b->data + b->head, len);
    b->head = 0;
    b->tail = (uint32_t)len;
}

int tg_buf_append(struct tg_buf *b, const void *p, size_t len)
{
    if (tg_buf_room(b) < len)
        tg_buf_compact(b);
    if (tg_buf_room(b) < len)
        return -1;
    memcpy(b->data + b->tail, p, len);
    b->tail += (uint32_t)len;
    return 0;
}

void tg_buf_consume(struct tg_buf *b, size_t n)
{
    b->head += (uint32_t)n;
    if (b->head >= b->tail)
        b->head = b->tail = 0;
}
