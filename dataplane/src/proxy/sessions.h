/* sessions.h — a worker's live WebSocket sessions: the list /sessions reads from the admin thread and the drain
 * walks. Each relayed tunnel (ws_tunnel.c) embeds one struct tg_session — the read-only view of it that other
 * threads may see: who, where, since when, and the relay's message and byte counts — and is in its worker's list
 * for as long as it relays. The list is the only thing of a worker another thread touches besides counters; its
 * lock guards membership, the counts are single-writer relaxed atomics. */
#ifndef TG_SESSIONS_H
#define TG_SESSIONS_H

#include "config/snapshot.h"
#include "ip_cidr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum { TG_SESSION_C2B = 0, TG_SESSION_B2C = 1 }; /* client → backend, backend → client */

struct tg_session {
    struct tg_session *next, *prev; /* under the list's lock */
    uint64_t id;
    uint64_t started_wall_ms;
    const struct tg_proxy_cfg *proxy; /* in the snapshot the session holds a reference to */
    const char *environment;        /* the environment the proxy was reached under */
    struct tg_endpoint *ep;         /* the backend endpoint (the session holds one ep->active) */
    _Atomic uint64_t messages[2];   /* complete data messages relayed, by direction */
    _Atomic uint64_t bytes[2];      /* frame bytes relayed, headers included, by direction */
    _Atomic uint64_t last_activity_ms; /* monotonic ms (clock.h) of the last read from either side: the idle
                                          timeout's base and /sessions' idleMs; stamped once per read */
    _Atomic uint32_t kr_slot1;      /* --kernel-relay: 1 + its client socket's slot (0: none); what the kernel
                                       relayed since the last collect is added from there (tg_krelay_pending) */
    struct tg_ip client;            /* the client's address (tg_session_set_client_ip; family 0: none) */
    uint8_t closed_by;              /* the owner's: who ended it (ws_tunnel.h enum tg_closed_by) */
    uint16_t close_code;            /* the owner's: the close code of the session's end, as the client saw it */
};                                  /* 120 bytes: one per idle session (docs/performance.md) */

/* Records the client's address from its text form (what the handshake saw: a socket peer or an
 * X-Forwarded-For entry, as inet_ntop writes them). 0 when tg_session_client_ip gives the same text back; -1
 * when the text is not such an address (it then reads back as ""), so a caller that must give the exact text
 * back elsewhere (tg_ip_limit_release) keeps its own copy. */
int tg_session_set_client_ip(struct tg_session *s, const char *text);
/* The client's address as text into out[TG_IP_TEXT_MAX] ("" when none). Any thread (the bytes never change
 * while the session is listed). */
void tg_session_client_ip(const struct tg_session *s, char *out);

struct tg_session_list {
    pthread_mutex_t lock;
    struct tg_session *head;
    size_t count;
};

void tg_session_list_init(struct tg_session_list *l);
void tg_session_list_destroy(struct tg_session_list *l);
void tg_session_list_add(struct tg_session_list *l, struct tg_session *s);
void tg_session_list_remove(struct tg_session_list *l, struct tg_session *s);
size_t tg_session_list_count(struct tg_session_list *l);
/* The admin API's read-only accessor: fn(arg, s) for each live session, under the lock (fn must not block or
 * keep s). Any thread. */
void tg_session_list_each(struct tg_session_list *l, void (*fn)(void *arg, const struct tg_session *s), void *arg);

#endif
