/* jwk.c — see jwk.h. Keys are built with OpenSSL 3's provider API (EVP_PKEY_fromdata, raw Ed25519 keys) and
 * checked with EVP_PKEY_public_check; this file only decodes and vets the JSON members. */
#include "jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned alg;
} alg_names[] = {
    {"RS256", TG_JWS_RS256}, {"RS384", TG_JWS_RS384}, {"RS512", TG_JWS_RS512}, {"PS256", TG_JWS_PS256},
    {"PS384", TG_JWS_PS384}, {"PS512", TG_JWS_PS512}, {"ES256", TG_JWS_ES256}, {"ES384", TG_JWS_ES384},
    {"ES512", TG_JWS_ES512}, {"EdDSA", TG_JWS_EDDSA},
};

unsigned tg_jws_alg_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof alg_names / sizeof alg_names[0]; i++)
        if (strcmp(alg_names[i].name, name) == 0)
            return alg_names[i].alg;
    return 0;
}


/* ---- one key ------------------------------------------------------------------------------------------ */

/* A base64url member of exactly/at most n bytes into buf; returns its length or -1 (reason in err). */
static long member_bytes(const json_t *jwk, const char *name, uint8_t *buf, size_t max, char *err, size_t err_size)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (!s) {
        snprintf(err, err_size, "\"%s\" is required (a base64url string)", name);
        return -1;
    }
    long n = tg_b64url_decode(s, json_string_length(json_object_get(jwk, name)), buf, max);
    if (n <= 0) {
        snprintf(err, err_size, "\"%s\" is not base64url (unpadded) or is too long", name);
        return -1;
    }
    return n;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static int public_check(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = ctx && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static EVP_PKEY *rsa_key(const json_t *jwk, char *err, size_t err_size)
{
    uint8_t n[2049], e[9];
    long nlen = member_bytes(jwk, "n", n, sizeof n, err, err_size);
    if (nlen < 0)
        return NULL;
    long elen = member_bytes(jwk, "e", e, sizeof e - 1, err, err_size);
    if (elen < 0)
        return NULL;
    const uint8_t *np = n;
    while (nlen > 1 && np[0] == 0) { /* tolerate a leading zero octet */
        np++;
        nlen--;
    }
    BIGNUM *bn_n = BN_bin2bn(np, (int)nlen, NULL), *bn_e = BN_bin2bn(e, (int)elen, NULL);
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    int bits = bn_n ? BN_num_bits(bn_n) : 0;
    if (!bn_n || !bn_e) {
        snprintf(err, err_size, "out of memory");
        goto done;
    }
    if (bits < 2048 || bits > 16384) {
        snprintf(err, err_size, "RSA modulus of %d bits (2048 to 16384 are accepted)", bits);
        goto done;
    }
    if (!BN_is_odd(bn_e) || BN_is_one(bn_e)) {
        snprintf(err, err_size, "RSA exponent must be odd and greater than 1");
        goto done;
    }
    bld = OSSL_PARAM_BLD_new();
    if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) || !(pkey = from_params("RSA", bld))) {
        snprintf(err, err_size, "OpenSSL refused the RSA key");
        goto done;
    }
done:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *ec_key(const json_t *jwk, const char *crv, unsigned *algs, char *err, size_t err_size)
{
    size_t coord;
    const char *group;
    if (strcmp(crv, "P-256") == 0) {
        coord = 32;
        group = "P-256";
        *algs = TG_JWS_ES256;
    } else if (strcmp(crv, "P-384") == 0) {
        coord = 48;
        group = "P-384";
        *algs = TG_JWS_ES384;
    } else if (strcmp(crv, "P-521") == 0) {
        coord = 66;
        group = "P-521";
        *algs = TG_JWS_ES512;
    } else {
        snprintf(err, err_size, "EC curve \"%.32s\" is not supported (P-256, P-384, P-521)", crv);
        return NULL;
    }
    uint8_t point[1 + 2 * 66];
    point[0] = 0x04; /* uncompressed point, SEC 1 §2.3.3 */
    long xl = member_bytes(jwk, "x", point + 1, coord, err, err_size);
    if (xl < 0)
        return NULL;
    long yl = member_bytes(jwk, "y", point + 1 + coord, coord, err, err_size);
    if (yl < 0)
        return NULL;
    if ((size_t)xl != coord || (size_t)yl != coord) { /* RFC 7518 §6.2.1.2: full-length coordinates */
        snprintf(err, err_size, "EC coordinates must be %zu bytes each for %s", coord, crv);
        return NULL;
    }
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * coord))
        pkey = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    if (!pkey)
        snprintf(err, err_size, "the EC point is not on curve %s", crv);
    return pkey;
}

static EVP_PKEY *okp_key(const json_t *jwk, const char *crv, char *err, size_t err_size)
{
    if (strcmp(crv, "Ed25519") != 0) {
        snprintf(err, err_size, "OKP curve \"%.32s\" is not supported (Ed25519)", crv);
        return NULL;
    }
    uint8_t x[32];
    long xl = member_bytes(jwk, "x", x, sizeof x, err, err_size);
    if (xl < 0)
        return NULL;
    if (xl != 32) {
        snprintf(err, err_size, "an Ed25519 public key is 32 bytes");
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof x);
    if (!pkey)
        snprintf(err, err_size, "OpenSSL refused the Ed25519 key");
    return pkey;
}

int tg_jwk_parse(const json_t *jwk, struct tg_jwk *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(jwk)) {
        snprintf(err, err_size, "a key must be a JSON object");
        return -1;
    }
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL};
    for (size_t i = 0; private_members[i]; i++) {
        if (json_object_get(jwk, private_members[i])) {
            snprintf(err, err_size, "has private key material (\"%s\"): only public keys belong in a JWKS",
                     private_members[i]);
            return -1;
        }
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const json_t *kid = json_object_get(jwk, "kid"), *use = json_object_get(jwk, "use");
    const json_t *ops = json_object_get(jwk, "key_ops"), *alg = json_object_get(jwk, "alg");
    if (!kty) {
        snprintf(err, err_size, "\"kty\" is required");
        return -1;
    }
    if (kid && (!json_is_string(kid) || json_string_length(kid) >= sizeof out->kid)) {
        snprintf(err, err_size, "\"kid\" must be a string of at most 255 bytes");
        return -1;
    }
    if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
        snprintf(err, err_size, "not a signature key (\"use\" is not \"sig\")");
        return -1;
    }
    if (ops) {
        int verify = 0;
        size_t i;
        json_t *op;
        if (!json_is_array(ops)) {
            snprintf(err, err_size, "\"key_ops\" must be an array");
            return -1;
        }
        json_array_foreach(ops, i, op) {
            verify |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
        }
        if (!verify) {
            snprintf(err, err_size, "\"key_ops\" does not allow \"verify\"");
            return -1;
        }
    }
    if (alg && !json_is_string(alg)) {
        snprintf(err, err_size, "\"alg\" must be a string");
        return -1;
    }
    const char *crv = json_string_value(json_object_get(jwk, "crv"));
    EVP_PKEY *pkey = NULL;
    unsigned algs = 0;
    if (strcmp(kty, "RSA") == 0) {
        out->kty = TG_JWK_RSA;
        algs = TG_JWS_RSA_ALGS;
        pkey = rsa_key(jwk, err, err_size);
    } else if (strcmp(kty, "EC") == 0 || strcmp(kty, "OKP") == 0) {
        if (!crv) {
            snprintf(err, err_size, "\"crv\" is required for kty %s", kty);
            return -1;
        }
        out->kty = kty[0] == 'E' ? TG_JWK_EC : TG_JWK_OKP;
        algs = TG_JWS_EDDSA;
        pkey = out->kty == TG_JWK_EC ? ec_key(jwk, crv, &algs, err, err_size) : okp_key(jwk, crv, err, err_size);
    } else if (strcmp(kty, "oct") == 0) {
        snprintf(err, err_size, "symmetric keys (kty oct) are never accepted");
        return -1;
    } else {
        snprintf(err, err_size, "kty \"%.16s\" is not supported (RSA, EC, OKP)", kty);
        return -1;
    }
    if (!pkey)
        return -1;
    if (alg) {
        unsigned a = tg_jws_alg_from_name(json_string_value(alg));
        if (!a || !(a & algs)) {
            snprintf(err, err_size, "\"alg\" %.16s cannot be used with this %s key", json_string_value(alg), kty);
            EVP_PKEY_free(pkey);
            return -1;
        }
        algs = a; /* pinned */
    }
    if (!public_check(pkey)) {
        snprintf(err, err_size, "the public key does not pass OpenSSL's checks");
        EVP_PKEY_free(pkey);
        return -1;
    }
    if (kid) {
        memcpy(out->kid, json_string_value(kid), json_string_length(kid) + 1);
        out->has_kid = 1;
    }
    out->algs = algs;
    out->pkey = pkey;
    return 0;
}

void tg_jwk_free(struct tg_jwk *k)
{
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
}

/* ---- sets --------------------------------------------------------------------------------------------- */

static json_t *public_members(const json_t *jwk)
{
    static const char *const keep[] = {"kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", NULL};
    json_t *out = json_object();
    for (size_t i = 0; out && keep[i]; i++) {
        json_t *v = json_object_get(jwk, keep[i]);
        if (v)
            json_object_set(out, keep[i], v);
    }
    return out;
}

int tg_jwks_parse(const json_t *set, struct tg_jwks *out, json_t **public_set,
                  void (*on_skip)(void *arg, size_t index, const char *why), void *arg, char *err, size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (public_set)
        *public_set = NULL;
    const json_t *keys = json_object_get(set, "keys");
    if (!json_is_object(set) || !json_is_array(keys)) {
        snprintf(err, err_size, "a JWK Set is a JSON object with a \"keys\" array");
        return -1;
    }
    if (json_array_size(keys) > TG_JWKS_MAX_KEYS) {
        snprintf(err, err_size, "a JWK Set of more than %d keys is refused", TG_JWKS_MAX_KEYS);
        return -1;
    }
    out->keys = calloc(json_array_size(keys) + 1, sizeof *out->keys);
    json_t *pub = public_set ? json_array() : NULL;
    if (!out->keys || (public_set && !pub)) {
        snprintf(err, err_size, "out of memory");
        json_decref(pub);
        free(out->keys);
        out->keys = NULL;
        return -1;
    }
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k) {
        char why[200];
        if (tg_jwk_parse(k, &out->keys[out->count], why, sizeof why) < 0) {
            if (on_skip)
                on_skip(arg, i, why);
            continue;
        }
        out->count++;
        if (pub)
            json_array_append_new(pub, public_members(k));
    }
    if (public_set)
        *public_set = json_pack("{s:o}", "keys", pub);
    return 0;
}

int tg_jwks_parse_text(const char *text, size_t len, struct tg_jwks *out, json_t **public_set,
                       void (*on_skip)(void *arg, size_t index, const char *why), void *arg, char *err,
                       size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (public_set)
        *public_set = NULL;
    if (len > (1u << 20)) {
        snprintf(err, err_size, "a JWK Set larger than 1 MiB is refused");
        return -1;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, err_size, "not JSON: %s (line %d)", jerr.text, jerr.line);
        return -1;
    }
    int r = tg_jwks_parse(doc, out, public_set, on_skip, arg, err, err_size);
    json_decref(doc);
    return r;
}

void tg_jwks_free(struct tg_jwks *set)
{
    for (size_t i = 0; set->keys && i < set->count; i++)
        tg_jwk_free(&set->keys[i]);
    free(set->keys);
    memset(set, 0, sizeof *set);
}
