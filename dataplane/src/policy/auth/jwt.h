/* jwt.h — verification of JWS-signed JWTs in compact serialization (RFC 7515 §7.1, RFC 7519) against a JWK Set
 * (common/jwk.h): header and algorithm, signature, then the registered claims. Pure: no I/O, no global state,
 * safe on every worker at once (the keys are shared read-only; each verification has its own OpenSSL context).
 *
 * Rules (docs/policy-auth.md):
 *   - the token is header.payload.signature, each strict base64url; ≤ TG_JWT_MAX_BYTES; JSON members must be
 *     unique (a duplicated "alg" or "exp" is refused, never "last one wins");
 *   - "alg" must be in the configured set; "none" and HS* are never in any set (no bit for them), so the
 *     HS256-with-an-RSA-public-key confusion cannot happen; "crit" is refused (no extension is understood);
 *     keys named by the token itself (jwk, jku, x5u, x5c) are ignored: keys come from the configured set only;
 *   - the key: "kid" selects the keys with that kid; without kid every key whose type and "alg" fit is tried
 *     (at most 8); a key is used only for an algorithm it allows (its "alg", its curve);
 *   - ES*: the signature is R||S of the curve's size (RFC 7518 §3.4); PS*: salt length = hash length (§3.5);
 *   - claims: "iss" equals the issuer; "aud" (string or array) contains one of the audiences when any are
 *     configured; "exp" is required and now < exp (no skew: the session is closed at exp); "nbf" ≤ now + skew;
 *     "iat" ≤ now + skew. NumericDates may be fractional. */
#ifndef TG_JWT_H
#define TG_JWT_H

#include "jwk.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define TG_JWT_MAX_BYTES 8192

enum tg_jwt_result {
    TG_JWT_OK = 0,
    TG_JWT_MALFORMED,        /* not three base64url parts of JSON objects, or a claim of the wrong type */
    TG_JWT_BAD_ALG,          /* alg not allowed (none, HS*, not configured) or crit present */
    TG_JWT_NO_KEY,           /* no key of the set fits the kid/alg */
    TG_JWT_BAD_SIGNATURE,
    TG_JWT_BAD_ISSUER,
    TG_JWT_BAD_AUDIENCE,
    TG_JWT_NO_EXP,
    TG_JWT_EXPIRED,
    TG_JWT_NOT_YET_VALID,    /* nbf in the future (beyond the skew) */
    TG_JWT_ISSUED_IN_FUTURE, /* iat in the future (beyond the skew) */
};

/* A short, credential-free description ("signature does not verify"). */
const char *tg_jwt_result_str(enum tg_jwt_result r);

struct tg_jwt_rules {
    unsigned algs;              /* allowed algorithms (TG_JWS_* bits) */
    const char *issuer;         /* required iss */
    const char *const *audiences; /* accepted aud values (none: aud not checked) */
    size_t num_audiences;
    uint64_t skew_ms;           /* for nbf and iat */
};

struct tg_jwt {
    json_t *header;             /* owned */
    json_t *claims;             /* owned, set once the signature verified */
    unsigned alg;
    const char *kid;            /* into header, or NULL */
    uint64_t exp_ms;            /* after tg_jwt_check_claims */
};

/* 1 when token has the shape of a compact JWS (two dots, base64url characters only) — how oauthV2 tells a JWT
 * from an opaque token. */
int tg_jwt_looks_like(const char *token, size_t len);

/* Decodes the header and checks the algorithm against rules->algs. On TG_JWT_OK, jwt->header is set (free with
 * tg_jwt_free, also on errors). */
enum tg_jwt_result tg_jwt_decode_header(const char *token, size_t len, unsigned algs, struct tg_jwt *jwt);
/* Verifies the signature with the fitting keys of set, then decodes the claims into jwt->claims. */
enum tg_jwt_result tg_jwt_verify(const char *token, size_t len, const struct tg_jwks *set, struct tg_jwt *jwt);
/* Checks iss, aud, exp, nbf, iat at now_ms (wall clock); sets jwt->exp_ms. */
enum tg_jwt_result tg_jwt_check_claims(struct tg_jwt *jwt, const struct tg_jwt_rules *rules, uint64_t now_ms);
/* All three in order. */
enum tg_jwt_result tg_jwt_verify_all(const char *token, size_t len, const struct tg_jwks *set,
                                     const struct tg_jwt_rules *rules, uint64_t now_ms, struct tg_jwt *jwt);
void tg_jwt_free(struct tg_jwt *jwt);

/* 1 when the granted scopes — "scope" (space-separated string, RFC 8693 §4.2 / RFC 9068 §2.2.3) or "scp"
 * (array of strings, or a space-separated string) of claims — include every one of required. */
int tg_jwt_has_scopes(const json_t *claims, const char *const *required, size_t n);

#endif
