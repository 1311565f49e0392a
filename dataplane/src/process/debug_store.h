/* debug_store.h — the debug sessions of the admin API (DESIGN.md "Debug and analytics"): up to
 * TG_DEBUG_MAX_SESSIONS sessions, each with its filters (environment, proxy, path prefix, a header's value,
 * client IP), its end (duration, transaction cap, DELETE) and its recorded transactions. Owned by the process
 * (one per data plane, outside any snapshot: sessions survive config pushes); the workers reach it only through
 * the struct tg_debug_hooks it fills in (proxy/debug_hooks.h). One mutex guards everything; the hot path reads
 * only the relaxed atomic count of live sessions, so a data plane with no live session never takes the lock.
 * Memory is bounded: sessions × maxTransactions (≤ 100) records, each of bounded size (debug_capture.c). */
#ifndef TG_DEBUG_STORE_H
#define TG_DEBUG_STORE_H

#include "proxy/debug_hooks.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define TG_DEBUG_MAX_SESSIONS 16
#define TG_DEBUG_DEFAULT_SECONDS 600
#define TG_DEBUG_MAX_SECONDS 900
#define TG_DEBUG_DEFAULT_TRANSACTIONS 20
#define TG_DEBUG_MAX_TRANSACTIONS 100

struct tg_debug_session {
    int used;
    int live;                       /* recording (else ended: still readable until deleted or evicted) */
    const char *end_reason;         /* "duration", "maxTransactions", "deleted" */
    char id[33];
    char environment[128], proxy[256];
    char path_prefix[256], header_name[128], header_value[256], client_ip[46];
    uint64_t started_wall_ms, ends_mono_ms, ended_wall_ms;
    int duration_s, max_txn;
    json_t *txns;                   /* array of transaction objects */
    uint64_t handles[TG_DEBUG_MAX_TRANSACTIONS]; /* per recorded transaction: its open 101's handle, or 0 */
};

struct tg_debug_store {
    pthread_mutex_t lock;
    _Atomic int active;             /* live sessions (read relaxed on the hot path) */
    _Atomic uint64_t proxies;       /* one bit per live session's proxy id (a hash's low 6 bits; all bits for a
                                       session without a proxy): a request whose bit is clear matches no session
                                       and is not looked at under the lock (issue 15) */
    uint64_t next_handle;
    struct tg_debug_session s[TG_DEBUG_MAX_SESSIONS];
    struct tg_debug_hooks hooks;    /* what the proxy layer is given */
    uint64_t (*now_ms)(void);       /* monotonic clock (tests replace it) */
};

void tg_debug_store_init(struct tg_debug_store *st);
void tg_debug_store_destroy(struct tg_debug_store *st);
static inline const struct tg_debug_hooks *tg_debug_store_hooks(struct tg_debug_store *st) { return &st->hooks; }

/* Starts a session from the POST body (an object). Returns its id (JSON object {"id":...}) or NULL with a message
 * in err (status 400, or 409 when every slot holds a live session). */
json_t *tg_debug_store_start(struct tg_debug_store *st, const json_t *body, char *err, size_t err_size, int *status);
/* GET /debug/sessions/{id}: a new JSON object, NULL when unknown. */
json_t *tg_debug_store_get(struct tg_debug_store *st, const char *id);
/* GET /debug/sessions: the sessions without their transactions. */
json_t *tg_debug_store_list(struct tg_debug_store *st);
/* DELETE /debug/sessions/{id}: 0, or -1 when unknown. */
int tg_debug_store_delete(struct tg_debug_store *st, const char *id);
/* Ends sessions whose duration passed (a main-loop timer calls it every 250 ms; reads call it too). */
void tg_debug_store_expire(struct tg_debug_store *st);

#endif
