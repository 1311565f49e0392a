/* introspection.h — OAuth 2.0 Token Introspection (RFC 7662) from a worker: the POST to the authorization
 * server's endpoint on the worker's loop (curl_loop.h), answers cached per worker, identical concurrent
 * questions coalesced into one request, and the tokens of live sessions kept for their periodic rechecks.
 *
 * Request (RFC 7662 §2.1): POST url, Content-Type application/x-www-form-urlencoded,
 *   token=<token>&token_type_hint=access_token, Authorization: Basic base64(urlenc(client_id):urlenc(secret))
 *   (RFC 6749 §2.3.1). Answer (§2.2): 200 with a JSON object whose "active" is a boolean; "exp", "scope",
 *   "sub"/"username"/"client_id", "jti" are read when present. Anything else (a non-200 status, bad JSON, a
 *   timeout, an unreachable server) is UNAVAILABLE: the gateway cannot decide, the policy answers 503.
 * Cache (per worker, keyed by SHA-256(endpoint, client id, token digest), never by the clear token): an active
 *   answer is used until min(its exp, now + ttl) where ttl is the recheck interval (30 s when rechecks are off);
 *   an inactive one for at most 30 s; unavailable answers are not cached. At most TG_INTROSPECT_MAX_ENTRIES
 *   entries; least recently used entries are evicted first, never one in flight or pinned.
 * Pinning: a WebSocket session admitted by introspection must be re-checked, which needs the token itself. The
 *   clear token is kept (only) in its pinned cache entry, for 2 × recheck interval + 10 s after the admission or
 *   the last recheck; then it is wiped (OPENSSL_cleanse) and dropped. Every other copy is wiped after use. */
#ifndef TG_INTROSPECTION_H
#define TG_INTROSPECTION_H

#include <stddef.h>
#include <stdint.h>

struct tg_worker;
struct tg_introspect_wait;

#define TG_INTROSPECT_MAX_ENTRIES 65536

/* An introspection endpoint as one compiled policy uses it (immutable, shared by the workers). */
struct tg_introspection_cfg {
    char *url;
    char *auth_header;     /* "Authorization: Basic …" */
    uint8_t endpoint_key[32]; /* SHA-256(url, client id): the cache namespace of this endpoint */
    uint64_t recheck_ms;   /* 0 = sessions are not re-checked */
    uint32_t timeout_ms;
};

int tg_introspection_cfg_init(struct tg_introspection_cfg *cfg, const char *url, const char *client_id,
                              const char *client_secret, uint64_t recheck_ms, char *err, size_t err_size);
void tg_introspection_cfg_free(struct tg_introspection_cfg *cfg);

enum tg_introspect_state { TG_INTROSPECT_ACTIVE = 0, TG_INTROSPECT_INACTIVE, TG_INTROSPECT_UNAVAILABLE };

struct tg_introspection_result {
    enum tg_introspect_state state;
    uint64_t exp_wall_ms; /* 0 when the answer had no exp */
    const char *scope;    /* "" when none */
    const char *subject;  /* sub, else username, else client_id; "" when none */
    const char *jti;      /* "" when none */
    const void *claims;   /* the answer's JSON object (json_t *), NULL when unavailable */
};

#define TG_INTROSPECT_PIN 1u   /* keep the token for the rechecks of a session */
#define TG_INTROSPECT_FRESH 2u /* do not answer from the cache */

/* Asks about token (digest = its SHA-256). Returns 1 when answered at once (*now is filled; its strings stay
 * valid until control returns to the loop), 0 when pending (cb(arg, result) follows on the loop unless
 * tg_introspect_cancel(*wait) is called first), -1 when the question cannot be asked (out of memory, cache
 * full): treat as UNAVAILABLE. The token is copied into the request and wiped after it. */
int tg_introspect(struct tg_worker *w, const struct tg_introspection_cfg *cfg, const char *token, size_t len,
                  const uint8_t digest[32], unsigned flags, struct tg_introspection_result *now,
                  void (*cb)(void *arg, const struct tg_introspection_result *r), void *arg,
                  struct tg_introspect_wait **wait);
/* A fresh question about the pinned token whose digest is given (a session's recheck); renews the pin.
 * Returns 0 (pending, as above) or -1 when the token is not kept (the session cannot be re-checked). */
int tg_introspect_recheck(struct tg_worker *w, const struct tg_introspection_cfg *cfg, const uint8_t digest[32],
                          void (*cb)(void *arg, const struct tg_introspection_result *r), void *arg,
                          struct tg_introspect_wait **wait);
void tg_introspect_cancel(struct tg_introspect_wait *wait);

#endif
