/* fuzz_jwt.c — libFuzzer target for the JOSE parsing of the authentication policies: common/jwk.c (strict
 * base64url, JWK and JWK Set parsing into OpenSSL keys) and dataplane/src/policy/auth/jwt.c (compact JWS
 * decoding, signature verification, claims), the latter included here (h2o's habit: the target reaches the file
 * under test directly) so the target links with common/ only. It is included by its path under dataplane/src
 * (the data plane's include root), so the target is compiled with -Idataplane/src.
 *
 * The first byte picks what the rest of the input is:
 *   0  base64url text: a decode that succeeds must re-encode to exactly the input (canonical form only);
 *   1  a JWK Set document: parsed leniently (bad keys skipped) and strictly key by key; every key kept must
 *      carry a key object and algorithms of its type;
 *   2  a compact JWS: verified against a fixed key set (RSA, P-256, Ed25519 public keys) with every
 *      algorithm allowed — must never succeed (the inputs are not signed by those keys);
 *   3  header JSON NUL claims JSON: signed here with an Ed25519 key the set knows, so the header and claims
 *      checks run on attacker-chosen JSON behind a valid signature; the result must be consistent with
 *      what the header says (an EdDSA header always verifies; another alg never admits the token). */
#include "policy/auth/jwt.c"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct tg_jwks fixed;
static EVP_PKEY *signer;

static void init(void)
{
    if (signer)
        return;
    signer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    fixed.keys = calloc(3, sizeof *fixed.keys);
    fixed.keys[0] = (struct tg_jwk){.kid = "rsa", .has_kid = 1, .kty = TG_JWK_RSA, .algs = TG_JWS_RSA_ALGS, .pkey = rsa};
    fixed.keys[1] = (struct tg_jwk){.kid = "ec", .has_kid = 1, .kty = TG_JWK_EC, .algs = TG_JWS_ES256, .pkey = ec};
    fixed.keys[2] = (struct tg_jwk){.kid = "ed", .has_kid = 1, .kty = TG_JWK_OKP, .algs = TG_JWS_EDDSA, .pkey = signer};
    fixed.count = 3;
}

static const struct tg_jwt_rules any_rules = {
    .algs = 0x3ff, .issuer = "iss", .audiences = (const char *const[]){"aud"}, .num_audiences = 1, .skew_ms = 60000,
};

static void fuzz_b64(const uint8_t *p, size_t n)
{
    uint8_t out[4096];
    long m = tg_b64url_decode((const char *)p, n, out, sizeof out);
    if (m < 0)
        return;
    char back[4096 * 4 / 3 + 8];
    size_t k = tg_b64url_encode(out, (size_t)m, back);
    if (k != n || memcmp(back, p, n) != 0)
        abort(); /* a non-canonical encoding was accepted */
}

static void fuzz_jwks(const uint8_t *p, size_t n)
{
    struct tg_jwks set;
    json_t *pub = NULL;
    char err[256];
    if (tg_jwks_parse_text((const char *)p, n, &set, &pub, NULL, NULL, err, sizeof err) == 0) {
        for (size_t i = 0; i < set.count; i++) {
            const struct tg_jwk *k = &set.keys[i];
            if (!k->pkey || !k->algs)
                abort();
            if (k->kty == TG_JWK_RSA && (k->algs & ~TG_JWS_RSA_ALGS))
                abort();
            if (k->kty == TG_JWK_OKP && k->algs != TG_JWS_EDDSA)
                abort();
        }
        if (json_array_size(json_object_get(pub, "keys")) != set.count)
            abort();
        /* the public view parses back to the same number of keys. OpenSSL's RSA public check (SP 800-56B) runs an
         * enhanced Miller-Rabin test with random bases on n, so a fuzzed modulus that is not a product of two
         * primes may be accepted on one call and refused on the next (a random base happens to reveal a factor):
         * the view is wrong only if it never parses back whole. */
        int same = 0;
        for (int attempt = 0; attempt < 8 && !same; attempt++) {
            struct tg_jwks again;
            if (tg_jwks_parse(pub, &again, NULL, NULL, NULL, err, sizeof err) == 0) {
                same = again.count == set.count;
                tg_jwks_free(&again);
            }
        }
        if (!same)
            abort();
        tg_jwks_free(&set);
        json_decref(pub);
    }
}

static void fuzz_token(const uint8_t *p, size_t n)
{
    struct tg_jwt jwt;
    enum tg_jwt_result r = tg_jwt_verify_all((const char *)p, n, &fixed, &any_rules, 1800000000000ULL, &jwt);
    if (r == TG_JWT_OK)
        abort(); /* nothing here is signed by the fixed keys */
    tg_jwt_free(&jwt);
    (void)tg_jwt_looks_like((const char *)p, n);
}

static void fuzz_signed(const uint8_t *p, size_t n)
{
    const uint8_t *nul = memchr(p, 0, n);
    if (!nul)
        return;
    size_t hl = (size_t)(nul - p), cl = n - hl - 1;
    if (hl > 1500 || cl > 5000)
        return;
    char *tok = malloc(4 * (hl + cl) / 3 + 200);
    size_t k = tg_b64url_encode(p, hl, tok);
    tok[k++] = '.';
    k += tg_b64url_encode(nul + 1, cl, tok + k);
    uint8_t sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, signer) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)tok, k) == 1) {
        tok[k++] = '.';
        k += tg_b64url_encode(sig, siglen, tok + k);
        struct tg_jwt jwt;
        enum tg_jwt_result r = tg_jwt_verify_all(tok, k, &fixed, &any_rules, 1800000000000ULL, &jwt);
        if (r == TG_JWT_OK) {
            /* admitted: the header said EdDSA, and the claims passed every check */
            if (jwt.alg != TG_JWS_EDDSA || !json_is_object(jwt.claims) || jwt.exp_ms <= 1800000000000ULL)
                abort();
            const char *scopes[] = {"a", "b"};
            (void)tg_jwt_has_scopes(jwt.claims, scopes, 2);
        } else if (r == TG_JWT_BAD_SIGNATURE && jwt.alg == TG_JWS_EDDSA) {
            abort(); /* EdDSA is only the ed key's, and its signature is valid: it cannot fail to verify */
        }
        tg_jwt_free(&jwt);
    }
    EVP_MD_CTX_free(ctx);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: fuzz_b64(p, n); break;
    case 1: fuzz_jwks(p, n); break;
    case 2: fuzz_token(p, n); break;
    default: fuzz_signed(p, n); break;
    }
    return 0;
}
