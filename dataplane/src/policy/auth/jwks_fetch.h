/* jwks_fetch.h — JSON Web Key Sets fetched by the data plane from an oauthV2 policy's jwksUrl (the choice is
 * documented in docs/policy-auth.md: translation stays pure, key rotation is picked up by the component that
 * meets the new kid, and no controller round trip is needed). Per worker, on the worker's loop (curl_loop.h):
 *   - the first token for a URL waits for the first fetch (the request is held, not the loop);
 *   - keys older than TG_JWKS_REFRESH_MS are refreshed in the background while the old ones keep serving;
 *   - a token whose kid no known key has triggers a refresh (waited for), at most once per TG_JWKS_KID_MISS_MS
 *     per URL and worker;
 *   - a failed fetch keeps the keys known before; with no keys at all the URL is "unavailable" (503); either
 *     way the next fetch waits a jittered backoff (common/backoff.h) from TG_JWKS_RETRY_MS doubling up to
 *     TG_JWKS_REFRESH_MS, reset by a success — never a fetch per request against a failing server;
 *   - bodies over 1 MiB, non-200 answers and documents that are not a JWK Set are failures; keys that cannot
 *     be used are skipped (common/jwk.h rules) and logged once per fetch. */
#ifndef TG_JWKS_FETCH_H
#define TG_JWKS_FETCH_H

#include "jwk.h"

struct tg_worker;
struct tg_jwks_wait;

#define TG_JWKS_REFRESH_MS 300000
#define TG_JWKS_KID_MISS_MS 30000
#define TG_JWKS_RETRY_MS 5000

/* Returns 1 with *keys (valid until control returns to the loop), 0 when pending (cb(arg, keys or NULL) follows
 * unless tg_jwks_fetch_cancel(*wait) is called first), -1 when unavailable now. refresh: the caller met an
 * unknown kid — fetch again (rate-limited; when limited, the known keys are returned). */
int tg_jwks_fetch_get(struct tg_worker *w, const char *url, int refresh, const struct tg_jwks **keys,
                      void (*cb)(void *arg, const struct tg_jwks *keys), void *arg, struct tg_jwks_wait **wait);
void tg_jwks_fetch_cancel(struct tg_jwks_wait *wait);

#endif
