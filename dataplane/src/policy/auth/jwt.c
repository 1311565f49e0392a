/* jwt.c — see jwt.h. Signatures are checked with OpenSSL 3's EVP_DigestVerify; an ECDSA signature arrives as
 * the fixed-size R||S of RFC 7518 §3.4 and is re-encoded as the DER ECDSA-Sig-Value OpenSSL verifies. */
#include "policy/auth/jwt.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_BYTES 2048
#define MAX_KEYS_TRIED 8

const char *tg_jwt_result_str(enum tg_jwt_result r)
{
    switch (r) {
    case TG_JWT_OK: return "valid";
    case TG_JWT_MALFORMED: return "the token is malformed";
    case TG_JWT_BAD_ALG: return "the token's signing algorithm is not accepted";
    case TG_JWT_NO_KEY: return "no key is known for the token";
    case TG_JWT_BAD_SIGNATURE: return "the token's signature does not verify";
    case TG_JWT_BAD_ISSUER: return "the token's issuer is not accepted";
    case TG_JWT_BAD_AUDIENCE: return "the token's audience is not accepted";
    case TG_JWT_NO_EXP: return "the token has no expiry";
    case TG_JWT_EXPIRED: return "the token has expired";
    case TG_JWT_NOT_YET_VALID: return "the token is not valid yet";
    case TG_JWT_ISSUED_IN_FUTURE: return "the token was issued in the future";
    }
    return "invalid token";
}

static int is_b64url_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Splits token into its three parts; -1 unless exactly two dots and base64url characters elsewhere. */
static int split(const char *token, size_t len, size_t dots[2])
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (n == 2)
                return -1;
            dots[n++] = i;
        } else if (!is_b64url_char((unsigned char)token[i])) {
            return -1;
        }
    }
    return n == 2 && dots[0] > 0 && dots[1] > dots[0] + 1 && dots[1] + 1 < len ? 0 : -1;
}

int tg_jwt_looks_like(const char *token, size_t len)
{
    size_t dots[2];
    return len <= TG_JWT_MAX_BYTES && split(token, len, dots) == 0;
}

/* Decodes one base64url part holding a JSON object (duplicate members refused). */
static json_t *decode_json_part(const char *p, size_t len, size_t max)
{
    uint8_t *buf = malloc(max + 1);
    if (!buf)
        return NULL;
    long n = tg_b64url_decode(p, len, buf, max);
    json_t *v = NULL;
    if (n > 0) {
        json_error_t jerr;
        v = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
        if (v && !json_is_object(v)) {
            json_decref(v);
            v = NULL;
        }
    }
    free(buf);
    return v;
}

void tg_jwt_free(struct tg_jwt *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->claims);
    memset(jwt, 0, sizeof *jwt);
}

enum tg_jwt_result tg_jwt_decode_header(const char *token, size_t len, unsigned algs, struct tg_jwt *jwt)
{
    memset(jwt, 0, sizeof *jwt);
    size_t dots[2];
    if (len > TG_JWT_MAX_BYTES || split(token, len, dots) < 0)
        return TG_JWT_MALFORMED;
    jwt->header = decode_json_part(token, dots[0], MAX_HEADER_BYTES);
    if (!jwt->header)
        return TG_JWT_MALFORMED;
    const json_t *alg = json_object_get(jwt->header, "alg"), *kid = json_object_get(jwt->header, "kid");
    if (!json_is_string(alg) || (kid && !json_is_string(kid)))
        return TG_JWT_MALFORMED;
    /* RFC 7515 §4.1.11: a recipient that does not understand a critical extension must refuse the JWS */
    if (json_object_get(jwt->header, "crit"))
        return TG_JWT_BAD_ALG;
    jwt->alg = tg_jws_alg_from_name(json_string_value(alg));
    if (!jwt->alg || !(jwt->alg & algs))
        return TG_JWT_BAD_ALG;
    jwt->kid = kid ? json_string_value(kid) : NULL;
    return TG_JWT_OK;
}

static const EVP_MD *alg_md(unsigned alg)
{
    switch (alg) {
    case TG_JWS_RS256: case TG_JWS_PS256: case TG_JWS_ES256: return EVP_sha256();
    case TG_JWS_RS384: case TG_JWS_PS384: case TG_JWS_ES384: return EVP_sha384();
    case TG_JWS_RS512: case TG_JWS_PS512: case TG_JWS_ES512: return EVP_sha512();
    default: return NULL; /* EdDSA: no separate digest (RFC 8032 signs the message itself) */
    }
}

/* R||S (RFC 7518 §3.4) → DER ECDSA-Sig-Value; returns the DER length or -1. *der is malloc'ed. */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t siglen, size_t coord, uint8_t **der)
{
    if (siglen != 2 * coord)
        return -1;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL), *s = BN_bin2bn(sig + coord, (int)coord, NULL);
    int n = -1;
    if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        *der = NULL;
        n = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return n > 0 ? n : -1;
}

/* 1 when sig is alg's signature of msg under pkey. */
static int verify_with(void *pkey, unsigned alg, const char *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
    uint8_t *der = NULL;
    if (alg & (TG_JWS_ES256 | TG_JWS_ES384 | TG_JWS_ES512)) {
        size_t coord = alg == TG_JWS_ES256 ? 32 : alg == TG_JWS_ES384 ? 48 : 66;
        int n = ecdsa_raw_to_der(sig, sig_len, coord, &der);
        if (n < 0)
            return 0;
        sig = der;
        sig_len = (size_t)n;
    }
    int ok = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    if (!ctx || EVP_DigestVerifyInit(ctx, &pctx, alg_md(alg), NULL, pkey) != 1)
        goto done;
    if (alg & (TG_JWS_PS256 | TG_JWS_PS384 | TG_JWS_PS512)) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg_md(alg)) != 1)
            goto done;
    } else if (alg & (TG_JWS_RS256 | TG_JWS_RS384 | TG_JWS_RS512)) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
            goto done;
    }
    ok = EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)msg, msg_len) == 1;
done:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

enum tg_jwt_result tg_jwt_verify(const char *token, size_t len, const struct tg_jwks *set, struct tg_jwt *jwt)
{
    size_t dots[2];
    if (!jwt->header || split(token, len, dots) < 0)
        return TG_JWT_MALFORMED;
    uint8_t sigbuf[2048]; /* the largest signature: RSA with a 16384-bit modulus */
    long sig_len = tg_b64url_decode(token + dots[1] + 1, len - dots[1] - 1, sigbuf, sizeof sigbuf);
    if (sig_len <= 0)
        return TG_JWT_MALFORMED;
    size_t tried = 0;
    int verified = 0;
    for (size_t i = 0; i < set->count && tried < MAX_KEYS_TRIED && !verified; i++) {
        const struct tg_jwk *k = &set->keys[i];
        if (!(k->algs & jwt->alg))
            continue;
        if (jwt->kid && (!k->has_kid || strcmp(k->kid, jwt->kid) != 0))
            continue;
        tried++;
        verified = verify_with(k->pkey, jwt->alg, token, dots[1], sigbuf, (size_t)sig_len);
    }
    if (!tried)
        return TG_JWT_NO_KEY;
    if (!verified)
        return TG_JWT_BAD_SIGNATURE;
    jwt->claims = decode_json_part(token + dots[0] + 1, dots[1] - dots[0] - 1, TG_JWT_MAX_BYTES);
    return jwt->claims ? TG_JWT_OK : TG_JWT_MALFORMED;
}

/* A NumericDate (RFC 7519 §2) in milliseconds; -1 when not a number in [0, year 10000). */
static int64_t numeric_date_ms(const json_t *v)
{
    double d;
    if (json_is_integer(v))
        d = (double)json_integer_value(v);
    else if (json_is_real(v))
        d = json_real_value(v);
    else
        return -1;
    if (!(d >= 0 && d < 253402300800.0))
        return -1;
    return (int64_t)(d * 1000.0);
}

static int string_in(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

enum tg_jwt_result tg_jwt_check_claims(struct tg_jwt *jwt, const struct tg_jwt_rules *rules, uint64_t now_ms)
{
    const json_t *c = jwt->claims;
    if (!json_is_object(c))
        return TG_JWT_MALFORMED;
    const json_t *iss = json_object_get(c, "iss");
    if (rules->issuer && (!json_is_string(iss) || strcmp(json_string_value(iss), rules->issuer) != 0))
        return TG_JWT_BAD_ISSUER;
    if (rules->num_audiences) {
        const json_t *aud = json_object_get(c, "aud");
        int ok = 0;
        if (json_is_string(aud)) {
            ok = string_in(json_string_value(aud), rules->audiences, rules->num_audiences);
        } else if (json_is_array(aud)) {
            size_t i;
            json_t *a;
            json_array_foreach(aud, i, a) {
                if (!json_is_string(a))
                    return TG_JWT_MALFORMED;
                ok |= string_in(json_string_value(a), rules->audiences, rules->num_audiences);
            }
        } else if (aud) {
            return TG_JWT_MALFORMED;
        }
        if (!ok)
            return TG_JWT_BAD_AUDIENCE;
    }
    const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf"), *iat = json_object_get(c, "iat");
    if (!exp)
        return TG_JWT_NO_EXP;
    int64_t exp_ms = numeric_date_ms(exp), nbf_ms = nbf ? numeric_date_ms(nbf) : 0,
            iat_ms = iat ? numeric_date_ms(iat) : 0;
    if (exp_ms < 0 || nbf_ms < 0 || iat_ms < 0)
        return TG_JWT_MALFORMED;
    if ((uint64_t)exp_ms <= now_ms)
        return TG_JWT_EXPIRED;
    if (nbf && (uint64_t)nbf_ms > now_ms + rules->skew_ms)
        return TG_JWT_NOT_YET_VALID;
    if (iat && (uint64_t)iat_ms > now_ms + rules->skew_ms)
        return TG_JWT_ISSUED_IN_FUTURE;
    jwt->exp_ms = (uint64_t)exp_ms;
    return TG_JWT_OK;
}

enum tg_jwt_result tg_jwt_verify_all(const char *token, size_t len, const struct tg_jwks *set,
                                     const struct tg_jwt_rules *rules, uint64_t now_ms, struct tg_jwt *jwt)
{
    enum tg_jwt_result r = tg_jwt_decode_header(token, len, rules->algs, jwt);
    if (r == TG_JWT_OK)
        r = tg_jwt_verify(token, len, set, jwt);
    if (r == TG_JWT_OK)
        r = tg_jwt_check_claims(jwt, rules, now_ms);
    return r;
}

/* 1 when the space-separated list s (RFC 6749 §3.3 scope) contains want. */
static int scope_list_has(const char *s, const char *want)
{
    size_t wl = strlen(want);
    for (const char *p = s; *p;) {
        while (*p == ' ')
            p++;
        const char *e = p;
        while (*e && *e != ' ')
            e++;
        if ((size_t)(e - p) == wl && memcmp(p, want, wl) == 0)
            return 1;
        p = e;
    }
    return 0;
}

int tg_jwt_has_scopes(const json_t *claims, const char *const *required, size_t n)
{
    const json_t *scope = json_object_get(claims, "scope"), *scp = json_object_get(claims, "scp");
    for (size_t i = 0; i < n; i++) {
        int ok = json_is_string(scope) && scope_list_has(json_string_value(scope), required[i]);
        if (!ok && json_is_string(scp))
            ok = scope_list_has(json_string_value(scp), required[i]);
        if (!ok && json_is_array(scp)) {
            size_t j;
            json_t *v;
            json_array_foreach(scp, j, v) {
                ok |= json_is_string(v) && strcmp(json_string_value(v), required[i]) == 0;
            }
        }
        if (!ok)
            return 0;
    }
    return 1;
}
