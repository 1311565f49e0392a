/* jwk.h — JSON Web Keys (RFC 7517) for JWS signature verification: strict parsing of public signature keys
 * into OpenSSL 3 EVP_PKEYs, the JWS algorithm names of RFC 7518 / RFC 8037, and strict base64url.
 *
 * Shared by the controller (which checks a JWKS key by key before it goes into a snapshot, so one bad key never
 * makes the data plane refuse a whole snapshot) and the data plane (which builds the keys it verifies tokens
 * with, from the snapshot or from a jwksUrl it fetched).
 *
 * What is accepted (everything else is refused with a reason):
 *   kty RSA  n, e (n of 2048..16384 bits, e odd and > 1)              algs RS256/384/512, PS256/384/512
 *   kty EC   crv P-256 | P-384 | P-521, x, y (exact lengths, on the curve)   alg ES256 | ES384 | ES512 (by crv)
 *   kty OKP  crv Ed25519, x (32 bytes)                                alg EdDSA (RFC 8037)
 *   "use" when present must be "sig"; "key_ops" when present must contain "verify"; "alg" when present must be
 *   one the key type can do and then pins the key to it; "kid" ≤ 255 bytes. Symmetric keys (kty oct) and private
 *   members (d, p, q, dp, dq, qi, oth, k) are refused: a JWKS of verification keys never carries them.
 * Unknown members are ignored (RFC 7517 §4). Keys are never taken from a token's own header (jwk, jku, x5u). */
#ifndef TG_JWK_H
#define TG_JWK_H

#include "base64.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* JWS algorithms as a bit set; HS* and "none" have no bit: they can never be allowed. */
enum tg_jws_alg {
    TG_JWS_RS256 = 1u << 0,
    TG_JWS_RS384 = 1u << 1,
    TG_JWS_RS512 = 1u << 2,
    TG_JWS_PS256 = 1u << 3,
    TG_JWS_PS384 = 1u << 4,
    TG_JWS_PS512 = 1u << 5,
    TG_JWS_ES256 = 1u << 6,
    TG_JWS_ES384 = 1u << 7,
    TG_JWS_ES512 = 1u << 8,
    TG_JWS_EDDSA = 1u << 9,
};
#define TG_JWS_RSA_ALGS (TG_JWS_RS256 | TG_JWS_RS384 | TG_JWS_RS512 | TG_JWS_PS256 | TG_JWS_PS384 | TG_JWS_PS512)

/* "RS256" → TG_JWS_RS256 (exact, case-sensitive per RFC 7515 §4.1.1); 0 for anything else ("none", "HS256"). */
unsigned tg_jws_alg_from_name(const char *name);

enum tg_jwk_kty { TG_JWK_RSA = 1, TG_JWK_EC, TG_JWK_OKP };

struct tg_jwk {
    char kid[256];        /* "" when the key has none */
    int has_kid;
    enum tg_jwk_kty kty;
    unsigned algs;        /* the algorithms this key may verify (its "alg", or all its type/curve allows) */
    void *pkey;           /* EVP_PKEY * (void here so users need no OpenSSL headers) */
};

struct tg_jwks {
    struct tg_jwk *keys;
    size_t count;
};

#define TG_JWKS_MAX_KEYS 64

/* Parses one JWK object. 0, or -1 with a reason in err (out then holds nothing to free). */
int tg_jwk_parse(const json_t *jwk, struct tg_jwk *out, char *err, size_t err_size);
void tg_jwk_free(struct tg_jwk *k);

/* Parses a JWK Set {"keys":[…]} (at most TG_JWKS_MAX_KEYS keys). Keys that cannot be used are skipped and
 * reported through on_skip (may be NULL). Returns 0 — also when no key was usable — or -1 with err set when set
 * is not a JWK Set at all. When public_set is not NULL it receives a new {"keys":[…]} with the usable keys'
 * public members only (kty, kid, use, alg, n, e, crv, x, y), in their order. */
int tg_jwks_parse(const json_t *set, struct tg_jwks *out, json_t **public_set,
                  void (*on_skip)(void *arg, size_t index, const char *why), void *arg, char *err, size_t err_size);
/* Same from JSON text (≤ 1 MiB, duplicate members refused). */
int tg_jwks_parse_text(const char *text, size_t len, struct tg_jwks *out, json_t **public_set,
                       void (*on_skip)(void *arg, size_t index, const char *why), void *arg, char *err,
                       size_t err_size);
void tg_jwks_free(struct tg_jwks *set);


#endif
