/* buf.h — fixed-size I/O buffers and the per-thread pool they come from.
 *
 * Connections hold a NULL buffer while idle and take one from their thread's pool only while bytes are in
 * flight, returning it as soon as it is empty (HAProxy's BUF_NULL habit): an idle relayed WebSocket session
 * costs no buffer memory. A pool caches released buffers up to a bound and gives memory back beyond it.
 * A pool belongs to one thread; buffers must be returned to the pool they came from.
 */
#ifndef TG_BUF_H
#define TG_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define TG_BUF_SIZE (32 * 1024) /* holds a whole request head at the default 32 KiB limit */

struct tg_buf {
    struct tg_buf *next_free; /* free-list link while cached in the pool */
    uint32_t head;            /* first unconsumed byte */
    uint32_t tail;            /* one past the last byte */
    char data[TG_BUF_SIZE];
};

struct tg_buf_pool {
    struct tg_buf *free_list;
    size_t cached;            /* buffers on free_list */
    size_t max_cached;        /* release to the allocator above this */
    size_t in_use;            /* buffers handed out and not yet returned */
    size_t max_in_use;        /* 0 = unlimited; otherwise tg_buf_get fails (returns NULL) at the cap */
    _Atomic uint64_t *in_use_gauge; /* NULL, or where in_use is published for other threads (metrics) */
};

void tg_buf_pool_init(struct tg_buf_pool *pool, size_t max_cached, size_t max_in_use);
void tg_buf_pool_destroy(struct tg_buf_pool *pool);

/* An empty buffer, or NULL when the pool is at max_in_use or memory is exhausted (a wait state for the
 * caller: retry when another buffer is released). */
struct tg_buf *tg_buf_get(struct tg_buf_pool *pool);
/* Returns b (may be NULL) to the pool. */
void tg_buf_put(struct tg_buf_pool *pool, struct tg_buf *b);

static inline size_t tg_buf_len(const struct tg_buf *b) { return b ? b->tail - b->head : 0; }
static inline size_t tg_buf_room(const struct tg_buf *b) { return TG_BUF_SIZE - b->tail; }
static inline char *tg_buf_start(struct tg_buf *b) { return b->data + b->head; }
static inline char *tg_buf_end(struct tg_buf *b) { return b->data + b->tail; }
/* Moves the unconsumed bytes to the front so the whole remaining room is contiguous. */
void tg_buf_compact(struct tg_buf *b);
/* Appends len bytes; returns -1 (appending nothing) when they do not fit even after compaction. */
int tg_buf_append(struct tg_buf *b, const void *p, size_t len);
/* Marks n bytes consumed; when the buffer empties, head and tail reset to 0. */
void tg_buf_consume(struct tg_buf *b, size_t n);

#endif
