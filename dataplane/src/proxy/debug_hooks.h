/* debug_hooks.h — how the proxy layer reaches the debug sessions' recording store without knowing its owner
 * (the process layer owns the store: process/debug_store.c). Types only.
 *
 * The hot path reads *active once (relaxed): 0 means no debug session is live and nothing else is done. Only
 * when it is non-zero does a routed request ask wants(); a transaction is then built (credentials redacted,
 * policy/auth/auth_redact.h) and handed to record(). A WebSocket's 101 record gets a handle back, which its
 * tunnel keeps and gives to complete() when the session ends. All three are called on worker threads; the
 * store serialises them under its own lock. */
#ifndef TG_DEBUG_HOOKS_H
#define TG_DEBUG_HOOKS_H

#include "http1_parser.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>

struct tg_debug_hooks {
    void *owner;
    _Atomic int *active;  /* number of live debug sessions (the store keeps it); NULL: recording off */
    /* A request routed to proxy_id under environment: the set (bit i = store slot i) of live sessions whose
     * filters it matches; 0 when none. path is the request path as received (no query is compared). */
    uint64_t (*wants)(void *owner, const char *environment, const char *proxy_id, struct tg_slice path,
                      const struct tg_http_head *req, const char *client_ip);
    /* One finished transaction for the sessions in mask (txn: a JSON object, the reference is taken). Returns a
     * handle (> 0) when open is set (a WebSocket's 101, completed later) and some session kept it, else 0. */
    uint64_t (*record)(void *owner, uint64_t mask, json_t *txn, int open);
    /* The WebSocket session of handle ended: websocket (reference taken) is added to its record. */
    void (*complete)(void *owner, uint64_t handle, json_t *websocket);
};

#endif
