/* test_dp_policy_auth.c — the authentication building blocks of the data plane: strict base64url, JWK parsing
 * (common/jwk.c), JWT verification edge cases (dataplane/src/policy/auth/jwt.c: every algorithm, alg confusion, none,
 * bad signatures, exp/nbf/iat with skew, aud string/array, iss, kid selection, duplicate members, crit),
 * scopes, the digest set, and credential locations including the Sec-WebSocket-Protocol bearer convention.
 * Keys are generated and tokens signed here with OpenSSL, so every case is built from first principles. */
#include "policy/auth/auth_location.h"
#include "policy/auth/auth_redact.h"
#include "policy/auth/digest_set.h"
#include "hex.h"
#include "jwk.h"
#include "policy/auth/jwt.h"
#include "policy/policy.h"
#include "config/snapshot.h"
#include "tg_test.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1800000000000ULL /* fixed wall clock of the tests (2027-01-15) */
#define NOW_S (NOW_MS / 1000)

/* ---- key and token construction -------------------------------------------------------------------- */

static EVP_PKEY *gen_rsa(int bits) { return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits); }
static EVP_PKEY *gen_ec(const char *curve) { return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve); }
static EVP_PKEY *gen_ed25519(void) { return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); }

static void b64(const uint8_t *in, size_t len, char *out) { tg_b64url_encode(in, len, out); }

static void bn_b64(EVP_PKEY *k, const char *param, char *out)
{
    BIGNUM *bn = NULL;
    EVP_PKEY_get_bn_param(k, param, &bn);
    uint8_t buf[1100];
    int n = BN_bn2bin(bn, buf);
    b64(buf, (size_t)n, out);
    BN_free(bn);
}

/* The public JWK of k (extra: more members, e.g. "\"alg\":\"RS256\","). */
static json_t *jwk_of(EVP_PKEY *k, const char *kid, const char *extra)
{
    char text[4096], a[1500], b[200];
    const char *kidm = kid ? kid : "";
    char kidpart[300] = "";
    if (kid)
        snprintf(kidpart, sizeof kidpart, "\"kid\":\"%s\",", kidm);
    if (EVP_PKEY_is_a(k, "RSA")) {
        bn_b64(k, OSSL_PKEY_PARAM_RSA_N, a);
        bn_b64(k, OSSL_PKEY_PARAM_RSA_E, b);
        snprintf(text, sizeof text, "{%s%s\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}", kidpart, extra ? extra : "", a, b);
    } else if (EVP_PKEY_is_a(k, "EC")) {
        char group[32];
        EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL);
        uint8_t pt[200];
        size_t ptlen = 0;
        EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &ptlen);
        size_t coord = (ptlen - 1) / 2;
        char x[100], y[100];
        b64(pt + 1, coord, x);
        b64(pt + 1 + coord, coord, y);
        const char *crv = coord == 32 ? "P-256" : coord == 48 ? "P-384" : "P-521";
        snprintf(text, sizeof text, "{%s%s\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", kidpart,
                 extra ? extra : "", crv, x, y);
    } else {
        uint8_t raw[32];
        size_t rl = sizeof raw;
        EVP_PKEY_get_raw_public_key(k, raw, &rl);
        b64(raw, rl, a);
        snprintf(text, sizeof text, "{%s%s\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}", kidpart,
                 extra ? extra : "", a);
    }
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "bad test JWK %s: %s\n", text, e.text);
    return j;
}

static const EVP_MD *md_of(const char *alg)
{
    if (strstr(alg, "256"))
        return EVP_sha256();
    if (strstr(alg, "384"))
        return EVP_sha384();
    if (strstr(alg, "512"))
        return EVP_sha512();
    return NULL;
}

/* header_json.claims_json signed with k under alg ("none": empty signature; "HS256": HMAC with hmac_key). */
static char *sign_token(const char *alg, EVP_PKEY *k, const char *header_json, const char *claims_json,
                        const uint8_t *hmac_key, size_t hmac_len)
{
    char *tok = malloc(16384);
    size_t n = tg_b64url_encode((const uint8_t *)header_json, strlen(header_json), tok);
    tok[n++] = '.';
    n += tg_b64url_encode((const uint8_t *)claims_json, strlen(claims_json), tok + n);
    size_t signed_len = n;
    tok[n++] = '.';
    tok[n] = '\0';
    uint8_t sig[2048];
    size_t siglen = sizeof sig;
    if (strcmp(alg, "none") == 0)
        return tok;
    if (strncmp(alg, "HS", 2) == 0) {
        unsigned int l = 0;
        HMAC(md_of(alg), hmac_key, (int)hmac_len, (const uint8_t *)tok, signed_len, sig, &l);
        siglen = l;
    } else {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pctx = NULL;
        EVP_DigestSignInit(ctx, &pctx, strcmp(alg, "EdDSA") == 0 ? NULL : md_of(alg), NULL, k);
        if (alg[0] == 'P') {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        EVP_DigestSign(ctx, sig, &siglen, (const uint8_t *)tok, signed_len);
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'E' && alg[1] == 'S') { /* DER → R||S */
            size_t coord = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
            const uint8_t *p = sig;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
            const BIGNUM *r, *s;
            ECDSA_SIG_get0(es, &r, &s);
            BN_bn2binpad(r, sig, (int)coord);
            BN_bn2binpad(s, sig + coord, (int)coord);
            siglen = 2 * coord;
            ECDSA_SIG_free(es);
        }
    }
    n += tg_b64url_encode(sig, siglen, tok + n);
    tok[n] = '\0';
    return tok;
}

static char *claims(const char *extra)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"sub\":\"alice\",\"exp\":%llu%s%s}",
             (unsigned long long)NOW_S + 600, extra ? "," : "", extra ? extra : "");
    return buf;
}

static const char *const audiences[] = {"chat", "other"};
static struct tg_jwt_rules rules = {
    .algs = TG_JWS_RSA_ALGS | TG_JWS_ES256 | TG_JWS_ES384 | TG_JWS_ES512 | TG_JWS_EDDSA,
    .issuer = "https://issuer.test",
    .audiences = audiences,
    .num_audiences = 2,
    .skew_ms = 60000,
};

static struct tg_jwks make_set(json_t *keys_array)
{
    json_t *set = json_pack("{s:o}", "keys", keys_array);
    struct tg_jwks out;
    char err[256];
    int r = tg_jwks_parse(set, &out, NULL, NULL, NULL, err, sizeof err);
    CHECK_EQ_INT(r, 0);
    json_decref(set);
    return out;
}

static enum tg_jwt_result check(const char *tok, const struct tg_jwks *set, const struct tg_jwt_rules *r)
{
    struct tg_jwt jwt;
    enum tg_jwt_result res = tg_jwt_verify_all(tok, strlen(tok), set, r, NOW_MS, &jwt);
    tg_jwt_free(&jwt);
    return res;
}

/* ---- tests ------------------------------------------------------------------------------------------- */

static void test_b64url(void)
{
    uint8_t out[16];
    CHECK_EQ_INT(tg_b64url_decode("aGk", 3, out, sizeof out), 2);
    CHECK(memcmp(out, "hi", 2) == 0);
    CHECK_EQ_INT(tg_b64url_decode("aGk=", 4, out, sizeof out), -1); /* padding refused */
    CHECK_EQ_INT(tg_b64url_decode("aGl", 3, out, sizeof out), -1);  /* non-zero leftover bits */
    CHECK_EQ_INT(tg_b64url_decode("a", 1, out, sizeof out), -1);
    CHECK_EQ_INT(tg_b64url_decode("a+/A", 4, out, sizeof out), -1); /* base64, not base64url */
    CHECK_EQ_INT(tg_b64url_decode("-_-_", 4, out, sizeof out), 3);
    CHECK_EQ_INT(tg_b64url_decode("AAAAAAAA", 8, out, 5), -1);     /* does not fit */
    CHECK_EQ_INT(tg_b64url_decode("", 0, out, sizeof out), 0);
    char enc[16];
    CHECK_EQ_INT(tg_b64url_encode((const uint8_t *)"\xfb\xff", 2, enc), 3);
    CHECK_EQ_STR(enc, "-_8");
}

static void test_jwk_parsing(void)
{
    char err[256];
    struct tg_jwk k;
    EVP_PKEY *rsa = gen_rsa(2048), *ec = gen_ec("P-256"), *ed = gen_ed25519();
    json_t *j = jwk_of(rsa, "r1", "\"use\":\"sig\",\"alg\":\"PS256\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), 0);
    CHECK_EQ_INT(k.algs, TG_JWS_PS256);
    CHECK_EQ_STR(k.kid, "r1");
    tg_jwk_free(&k);
    json_decref(j);

    j = jwk_of(ec, NULL, NULL);
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), 0);
    CHECK_EQ_INT(k.algs, TG_JWS_ES256);
    CHECK(!k.has_kid);
    tg_jwk_free(&k);
    /* off-curve point: change y */
    char y[64];
    snprintf(y, sizeof y, "%s", json_string_value(json_object_get(j, "y")));
    y[5] = y[5] == 'A' ? 'B' : 'A';
    json_object_set_new(j, "y", json_string(y));
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    /* short coordinate */
    json_object_set_new(j, "y", json_string("AAAA"));
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);

    j = jwk_of(ed, "e1", NULL);
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), 0);
    CHECK_EQ_INT(k.algs, TG_JWS_EDDSA);
    tg_jwk_free(&k);
    json_decref(j);

    /* refused: private members, symmetric keys, encryption keys, alg of another type, key_ops without verify,
     * small RSA, unknown kty/crv */
    j = jwk_of(rsa, "r1", "\"d\":\"AAAA\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    CHECK(strstr(err, "private") != NULL);
    json_decref(j);
    j = json_pack("{s:s,s:s}", "kty", "oct", "k", "c2VjcmV0");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = json_pack("{s:s,s:s}", "kty", "oct", "kid", "x");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    CHECK(strstr(err, "symmetric") != NULL);
    json_decref(j);
    j = jwk_of(rsa, "r1", "\"use\":\"enc\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = jwk_of(rsa, "r1", "\"alg\":\"ES256\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = jwk_of(rsa, "r1", "\"alg\":\"HS256\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = jwk_of(ec, "e", "\"alg\":\"ES384\",");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1); /* P-256 key cannot do ES384 */
    json_decref(j);
    j = jwk_of(rsa, "r1", "\"key_ops\":[\"encrypt\"],");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = jwk_of(rsa, "r1", "\"key_ops\":[\"verify\"],");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), 0);
    tg_jwk_free(&k);
    json_decref(j);
    EVP_PKEY *small = gen_rsa(1024);
    j = jwk_of(small, "s", NULL);
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    CHECK(strstr(err, "1024 bits") != NULL);
    json_decref(j);
    EVP_PKEY_free(small);
    j = json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "X25519", "x", "AAAA");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = json_pack("{s:s}", "kty", "RSA");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);
    j = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", "AAA=", "e", "AQAB");
    CHECK_EQ_INT(tg_jwk_parse(j, &k, err, sizeof err), -1);
    json_decref(j);

    /* a set: unusable keys are skipped (and reported), the public view keeps only public members */
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(rsa, "good", "\"x5c\":[\"MII...\"],"));
    json_array_append_new(keys, json_pack("{s:s,s:s}", "kty", "oct", "k", "AAAA"));
    json_array_append_new(keys, jwk_of(ed, "ed", NULL));
    json_t *set = json_pack("{s:o}", "keys", keys);
    struct tg_jwks js;
    json_t *pub = NULL;
    CHECK_EQ_INT(tg_jwks_parse(set, &js, &pub, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(js.count, 2);
    CHECK_EQ_INT(json_array_size(json_object_get(pub, "keys")), 2);
    CHECK(json_object_get(json_array_get(json_object_get(pub, "keys"), 0), "x5c") == NULL);
    tg_jwks_free(&js);
    json_decref(pub);
    json_decref(set);
    CHECK_EQ_INT(tg_jwks_parse_text("{\"keys\":[],\"keys\":[]}", 22, &js, NULL, NULL, NULL, err, sizeof err), -1);
    CHECK_EQ_INT(tg_jwks_parse_text("[1]", 3, &js, NULL, NULL, NULL, err, sizeof err), -1);
    CHECK_EQ_INT(tg_jwks_parse_text("{\"keys\":[]}", 11, &js, NULL, NULL, NULL, err, sizeof err), 0);
    CHECK_EQ_INT(js.count, 0);
    tg_jwks_free(&js);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
}

static void test_every_algorithm(void)
{
    static const struct {
        const char *alg;
        const char *kind;
    } cases[] = {
        {"RS256", "RSA"}, {"RS384", "RSA"}, {"RS512", "RSA"}, {"PS256", "RSA"}, {"PS384", "RSA"},
        {"PS512", "RSA"}, {"ES256", "P-256"}, {"ES384", "P-384"}, {"ES512", "P-521"}, {"EdDSA", "Ed25519"},
    };
    EVP_PKEY *rsa = gen_rsa(2048);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        EVP_PKEY *k = strcmp(cases[i].kind, "RSA") == 0       ? EVP_PKEY_dup(rsa)
                      : strcmp(cases[i].kind, "Ed25519") == 0 ? gen_ed25519()
                                                              : gen_ec(cases[i].kind);
        json_t *keys = json_array();
        json_array_append_new(keys, jwk_of(k, "k1", NULL));
        struct tg_jwks set = make_set(keys);
        char header[128];
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"k1\",\"typ\":\"JWT\"}", cases[i].alg);
        char *tok = sign_token(cases[i].alg, k, header, claims(NULL), NULL, 0);
        enum tg_jwt_result r = check(tok, &set, &rules);
        if (r != TG_JWT_OK)
            fprintf(stderr, "alg %s: %s\n", cases[i].alg, tg_jwt_result_str(r));
        CHECK_EQ_INT(r, TG_JWT_OK);
        /* one flipped bit of the signature */
        size_t n = strlen(tok);
        tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_BAD_SIGNATURE);
        /* the algorithm not allowed by the configuration */
        struct tg_jwt_rules narrow = rules;
        narrow.algs = tg_jws_alg_from_name(cases[i].alg) == TG_JWS_RS256 ? TG_JWS_ES256 : TG_JWS_RS256;
        tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(check(tok, &set, &narrow), TG_JWT_BAD_ALG);
        free(tok);
        tg_jwks_free(&set);
        EVP_PKEY_free(k);
    }
    EVP_PKEY_free(rsa);
}

static void test_alg_confusion_and_none(void)
{
    EVP_PKEY *rsa = gen_rsa(2048), *ec = gen_ec("P-256");
    json_t *keys = json_array();
    json_t *rj = jwk_of(rsa, "r", NULL);
    json_array_append(keys, rj);
    json_array_append_new(keys, jwk_of(ec, "e", NULL));
    struct tg_jwks set = make_set(keys);
    /* HS256 keyed with the RSA public key's bytes (the classic confusion): refused before any key is used */
    char *pub = json_dumps(rj, JSON_COMPACT);
    char *tok = sign_token("HS256", NULL, "{\"alg\":\"HS256\",\"kid\":\"r\"}", claims(NULL), (uint8_t *)pub, strlen(pub));
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_BAD_ALG);
    free(tok);
    free(pub);
    tok = sign_token("none", NULL, "{\"alg\":\"none\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_MALFORMED); /* empty signature part */
    free(tok);
    tok = sign_token("none", NULL, "{\"alg\":\"none\"}", claims(NULL), NULL, 0);
    strcat(tok, "AAAA");
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_BAD_ALG);
    free(tok);
    tok = sign_token("RS256", rsa, "{\"alg\":\"None\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_BAD_ALG);
    free(tok);
    /* ES256 header over an RSA kid: the RSA key cannot do ES256 → no key */
    tok = sign_token("RS256", rsa, "{\"alg\":\"ES256\",\"kid\":\"r\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_NO_KEY);
    free(tok);
    /* kid miss */
    tok = sign_token("RS256", rsa, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_NO_KEY);
    free(tok);
    /* no kid: keys of the fitting type are tried */
    tok = sign_token("RS256", rsa, "{\"alg\":\"RS256\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_OK);
    free(tok);
    tok = sign_token("ES256", ec, "{\"alg\":\"ES256\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_OK);
    free(tok);
    /* crit, duplicate members, bad shapes */
    tok = sign_token("RS256", rsa, "{\"alg\":\"RS256\",\"crit\":[\"exp\"],\"exp\":1}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_BAD_ALG);
    free(tok);
    tok = sign_token("RS256", rsa, "{\"alg\":\"HS256\",\"alg\":\"RS256\"}", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_MALFORMED);
    free(tok);
    char dup[512];
    snprintf(dup, sizeof dup, "{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":%llu,\"exp\":%llu}",
             (unsigned long long)NOW_S + 600, (unsigned long long)NOW_S + 99999);
    tok = sign_token("RS256", rsa, "{\"alg\":\"RS256\"}", dup, NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_MALFORMED);
    free(tok);
    tok = sign_token("RS256", rsa, "[\"alg\"]", claims(NULL), NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_MALFORMED);
    free(tok);
    tok = sign_token("RS256", rsa, "{\"alg\":\"RS256\"}", "[1,2]", NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &rules), TG_JWT_MALFORMED);
    free(tok);
    CHECK_EQ_INT(check("a.b", &set, &rules), TG_JWT_MALFORMED);
    CHECK_EQ_INT(check("a.b.c.d", &set, &rules), TG_JWT_MALFORMED);
    CHECK_EQ_INT(check("..", &set, &rules), TG_JWT_MALFORMED);
    CHECK_EQ_INT(check("eyJ=.e.e", &set, &rules), TG_JWT_MALFORMED);
    CHECK(tg_jwt_looks_like("aa.bb.cc", 8));
    CHECK(!tg_jwt_looks_like("opaque-token", 12));
    CHECK(!tg_jwt_looks_like("a.b.c d", 7));
    /* ES256 signature of the wrong size */
    tok = sign_token("ES256", ec, "{\"alg\":\"ES256\",\"kid\":\"e\"}", claims(NULL), NULL, 0);
    size_t n = strlen(tok);
    tok[n - 4] = '\0';
    CHECK(check(tok, &set, &rules) != TG_JWT_OK);
    free(tok);
    tg_jwks_free(&set);
    json_decref(rj);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void test_claims(void)
{
    EVP_PKEY *k = gen_ec("P-256");
    json_t *keys = json_array();
    json_array_append_new(keys, jwk_of(k, "k", NULL));
    struct tg_jwks set = make_set(keys);
    const char *h = "{\"alg\":\"ES256\",\"kid\":\"k\"}";
    char c[1024];
    struct {
        const char *fmt;
        long long a;
        enum tg_jwt_result want;
    } cases[] = {
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":%lld}", (long long)NOW_S + 1, TG_JWT_OK},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":%lld}", (long long)NOW_S, TG_JWT_EXPIRED},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":%lld.5}", (long long)NOW_S - 1, TG_JWT_EXPIRED},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":%lld.5}", (long long)NOW_S, TG_JWT_OK},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"nbf\":%lld}", (long long)NOW_S, TG_JWT_NO_EXP},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":\"%lld\"}", (long long)NOW_S + 60, TG_JWT_MALFORMED},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":-%lld}", 5, TG_JWT_MALFORMED},
        /* nbf / iat: 60 s skew */
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":9999999999,\"nbf\":%lld}", (long long)NOW_S + 59, TG_JWT_OK},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":9999999999,\"nbf\":%lld}", (long long)NOW_S + 61, TG_JWT_NOT_YET_VALID},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":9999999999,\"iat\":%lld}", (long long)NOW_S + 59, TG_JWT_OK},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":9999999999,\"iat\":%lld}", (long long)NOW_S + 120, TG_JWT_ISSUED_IN_FUTURE},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chat\",\"exp\":9999999999,\"nbf\":\"x%lld\"}", 1, TG_JWT_MALFORMED},
        /* iss */
        {"{\"iss\":\"https://evil.test\",\"aud\":\"chat\",\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_ISSUER},
        {"{\"aud\":\"chat\",\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_ISSUER},
        {"{\"iss\":[\"https://issuer.test\"],\"aud\":\"chat\",\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_ISSUER},
        /* aud: string, array, missing, wrong type */
        {"{\"iss\":\"https://issuer.test\",\"aud\":[\"x\",\"other\"],\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_OK},
        {"{\"iss\":\"https://issuer.test\",\"aud\":[\"x\",\"y\"],\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_AUDIENCE},
        {"{\"iss\":\"https://issuer.test\",\"aud\":\"chatx\",\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_AUDIENCE},
        {"{\"iss\":\"https://issuer.test\",\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_BAD_AUDIENCE},
        {"{\"iss\":\"https://issuer.test\",\"aud\":[\"chat\",7],\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_MALFORMED},
        {"{\"iss\":\"https://issuer.test\",\"aud\":7,\"exp\":%lld}", (long long)NOW_S + 60, TG_JWT_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(c, sizeof c, cases[i].fmt, cases[i].a);
        char *tok = sign_token("ES256", k, h, c, NULL, 0);
        enum tg_jwt_result r = check(tok, &set, &rules);
        if (r != cases[i].want)
            fprintf(stderr, "claims case %zu (%s): got %s\n", i, c, tg_jwt_result_str(r));
        CHECK_EQ_INT(r, cases[i].want);
        free(tok);
    }
    /* no audiences configured: aud is not checked */
    struct tg_jwt_rules any_aud = rules;
    any_aud.num_audiences = 0;
    snprintf(c, sizeof c, "{\"iss\":\"https://issuer.test\",\"exp\":%lld}", (long long)NOW_S + 60);
    char *tok = sign_token("ES256", k, h, c, NULL, 0);
    CHECK_EQ_INT(check(tok, &set, &any_aud), TG_JWT_OK);
    struct tg_jwt jwt;
    CHECK_EQ_INT(tg_jwt_verify_all(tok, strlen(tok), &set, &any_aud, NOW_MS, &jwt), TG_JWT_OK);
    CHECK_EQ_INT(jwt.exp_ms, (NOW_S + 60) * 1000);
    tg_jwt_free(&jwt);
    free(tok);
    tg_jwks_free(&set);
    EVP_PKEY_free(k);
}

static void test_scopes(void)
{
    const char *need[] = {"chat:connect", "chat:read"};
    json_t *c = json_pack("{s:s}", "scope", "openid chat:read  chat:connect");
    CHECK(tg_jwt_has_scopes(c, need, 2));
    json_decref(c);
    c = json_pack("{s:s}", "scope", "chat:connectx chat:read");
    CHECK(!tg_jwt_has_scopes(c, need, 2));
    json_decref(c);
    c = json_pack("{s:[s,s]}", "scp", "chat:read", "chat:connect");
    CHECK(tg_jwt_has_scopes(c, need, 2));
    json_decref(c);
    c = json_pack("{s:s}", "scp", "chat:read chat:connect");
    CHECK(tg_jwt_has_scopes(c, need, 2));
    json_decref(c);
    c = json_pack("{s:[s]}", "scp", "chat:read");
    CHECK(!tg_jwt_has_scopes(c, need, 2));
    CHECK(tg_jwt_has_scopes(c, need, 0));
    json_decref(c);
    c = json_object();
    CHECK(!tg_jwt_has_scopes(c, need, 1));
    json_decref(c);
}

static void test_digest_set(void)
{
    struct tg_digest_set s;
    CHECK_EQ_INT(tg_digest_set_init(&s, 100), 0);
    uint8_t d[100][32];
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf(key, sizeof key, "key-%d", i);
        tg_sha256(key, strlen(key), d[i]);
        CHECK_EQ_INT(tg_digest_set_add(&s, d[i], (void *)(intptr_t)(i + 1)), 1);
    }
    CHECK_EQ_INT(tg_digest_set_add(&s, d[7], (void *)1), 0);
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT((intptr_t)tg_digest_set_get(&s, d[i]), i + 1);
    uint8_t other[32];
    tg_sha256("nope", 4, other);
    CHECK(tg_digest_set_get(&s, other) == NULL);
    tg_digest_set_free(&s);
    char hex[65];
    tg_hex_encode(d[0], 32, hex);
    uint8_t back[32];
    CHECK_EQ_INT(tg_hex_decode(hex, 64, back, 32), 0);
    CHECK(memcmp(back, d[0], 32) == 0);
    CHECK_EQ_INT(tg_hex_decode(hex, 63, back, 32), -1);
    hex[3] = 'g';
    CHECK_EQ_INT(tg_hex_decode(hex, 64, back, 32), -1);
}

static int parse_req(const char *text, struct tg_http_head *h)
{
    return tg_http1_parse_request(text, strlen(text), 32768, h);
}

/* Parameter pollution: a location repeated within itself, never two locations holding the same key */
static void test_locations_repeated(void)
{
    char err[256];
    struct tg_cred_location locs[2];
    CHECK_EQ_INT(tg_cred_location_parse("query:apikey", 0, &locs[0], err, sizeof err), 0);
    CHECK_EQ_INT(tg_cred_location_parse("header:x-api-key", 0, &locs[1], err, sizeof err), 0);
    struct tg_http_head *h = malloc(sizeof *h);
    static const char *const repeated[] = {
        "GET /c?apikey=a&apikey=b HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /c?apikey=a&api%6Bey=b HTTP/1.1\r\nHost: x\r\n\r\n", /* the name as a backend decodes it */
        "GET /c?apikey&apikey=a HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: x\r\nX-Api-Key: a\r\nx-api-key: b\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: x\r\nX-Api-Key: a\r\nX-Api-Key: a\r\n\r\n", /* even the same value */
    };
    for (size_t i = 0; i < sizeof repeated / sizeof repeated[0]; i++) {
        CHECK_EQ_INT(parse_req(repeated[i], h), TG_HTTP_OK);
        CHECK_EQ_INT(tg_cred_locations_repeated(h, locs, 2), 1);
    }
    static const char *const fine[] = {
        "GET /c?apikey=a HTTP/1.1\r\nHost: x\r\nX-Api-Key: a\r\n\r\n", /* two locations, one each */
        "GET /c?apikey=a&apikeys=b&xapikey=c HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /c HTTP/1.1\r\nHost: x\r\nX-Api-Key-2: a\r\nX-Api-Key: b\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        CHECK_EQ_INT(parse_req(fine[i], h), TG_HTTP_OK);
        CHECK_EQ_INT(tg_cred_locations_repeated(h, locs, 2), 0);
    }
    free(h);
}

static void test_locations(void)
{
    char err[256], out[512], rest[384];
    struct tg_cred_location loc;
    CHECK_EQ_INT(tg_cred_location_parse("query:apikey", 0, &loc, err, sizeof err), 0);
    CHECK_EQ_INT(tg_cred_location_parse("subprotocol:bearer", 0, &loc, err, sizeof err), -1);
    CHECK_EQ_INT(tg_cred_location_parse("cookie:x", 1, &loc, err, sizeof err), -1);
    CHECK_EQ_INT(tg_cred_location_parse("header:", 1, &loc, err, sizeof err), -1);
    CHECK_EQ_INT(tg_cred_location_parse("header:a b", 1, &loc, err, sizeof err), -1);

    struct tg_http_head *h = malloc(sizeof *h);
    CHECK_EQ_INT(parse_req("GET /v1/ws?a=1&apikey=k%20ey&b HTTP/1.1\r\nHost: x\r\nX-Api-Key: hk\r\n"
                           "Authorization: Bearer  tok.en\r\n\r\n", h), TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_parse("query:apikey", 0, &loc, err, sizeof err), 0);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 4);
    CHECK_EQ_STR(out, "k ey");
    tg_cred_location_parse("query:b", 0, &loc, err, sizeof err);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 0); /* present, empty: absent */
    tg_cred_location_parse("query:c", 0, &loc, err, sizeof err);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 0);
    tg_cred_location_parse("header:x-api-key", 0, &loc, err, sizeof err);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 2);
    tg_cred_location_parse("header:authorization", 0, &loc, err, sizeof err);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 6);
    CHECK_EQ_STR(out, "tok.en");
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, 4, NULL, 0), -1); /* too long for the buffer */
    CHECK_EQ_INT(parse_req("GET /?apikey=%zz HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcg==\r\n\r\n", h),
                 TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), 0); /* Basic: not a bearer token */
    tg_cred_location_parse("query:apikey", 0, &loc, err, sizeof err);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, NULL, 0), -1); /* bad escape */

    /* the subprotocol bearer convention */
    CHECK_EQ_INT(tg_cred_location_parse("subprotocol:bearer", 1, &loc, err, sizeof err), 0);
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: chat, bearer, aa.bb.cc\r\n"
                           "Sec-WebSocket-Protocol: v2\r\n\r\n", h), TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, rest, sizeof rest), 8);
    CHECK_EQ_STR(out, "aa.bb.cc");
    CHECK_EQ_STR(rest, "chat, v2");
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: bearer.aa.bb.cc\r\n\r\n", h),
                 TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, rest, sizeof rest), 8);
    CHECK_EQ_STR(out, "aa.bb.cc");
    CHECK_EQ_STR(rest, "");
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: chat, bearerx, Bearer.t\r\n\r\n", h),
                 TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, rest, sizeof rest), 0);
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: chat, bearer\r\n\r\n", h),
                 TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, rest, sizeof rest), -1); /* marker, no token */
    CHECK_EQ_INT(tg_cred_location_parse("subprotocol:base64url.bearer.authorization.k8s.io.", 1, &loc, err,
                                        sizeof err), 0);
    CHECK_EQ_INT(parse_req("GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: base64url.bearer.authorization."
                           "k8s.io.dG9r, channel.k8s.io\r\n\r\n", h), TG_HTTP_OK);
    CHECK_EQ_INT(tg_cred_location_read(h, &loc, out, sizeof out, rest, sizeof rest), 4);
    CHECK_EQ_STR(out, "dG9r");
    CHECK_EQ_STR(rest, "channel.k8s.io");
    free(h);
}

static void test_redaction(void)
{
    json_t *vak = json_pack("{s:[s,s],s:[]}", "keyFrom", "query:key", "header:x-client-key", "keys");
    json_t *oauth = json_pack("{s:[s,s],s:{s:s,s:[],s:[s],s:{s:[]}},s:n,s:[],s:[]}", "tokenFrom", "subprotocol:bearer",
                              "query:tok", "jwt", "issuer", "i", "audiences", "algorithms", "ES256", "jwks", "keys",
                              "introspection", "requiredScopes", "revoked");
    char err[256] = "";
    int failed = 0;
    const struct tg_policy_type *tv = tg_policy_type_find("verifyApiKey"), *to = tg_policy_type_find("oauthV2");
    CHECK(tv && to);
    struct tg_compiled_policy pols[2] = {{tv, tv->compile(vak, err, sizeof err, &failed)},
                                         {to, to->compile(oauth, err, sizeof err, &failed)}};
    CHECK_EQ_INT(failed, 0);
    struct tg_proxy_cfg px;
    memset(&px, 0, sizeof px);
    px.policies = pols;
    px.num_policies = 2;
    CHECK(tg_auth_is_credential_header(&px, "X-Client-Key", 12));
    CHECK(tg_auth_is_credential_header(&px, "authorization", 13));
    CHECK(tg_auth_is_credential_header(NULL, "Cookie", 6));
    CHECK(!tg_auth_is_credential_header(&px, "X-Client", 8));
    CHECK(tg_auth_is_credential_query(&px, "key", 3));
    CHECK(tg_auth_is_credential_query(&px, "tok", 3));
    CHECK(tg_auth_is_credential_query(&px, "access_token", 12));
    CHECK(!tg_auth_is_credential_query(&px, "Key", 3));
    char out[256];
    const char *v = "chat, bearer, eyJ.a.b, bearer.eyJ.c.d, v2";
    tg_auth_redact_subprotocols(&px, v, strlen(v), out, sizeof out);
    CHECK_EQ_STR(out, "chat, bearer, [redacted], [redacted], v2");
    tg_auth_redact_subprotocols(&px, "x", 1, out, 4);
    CHECK_EQ_STR(out, "x");
    for (int i = 0; i < 2; i++)
        pols[i].type->free_state(pols[i].state);
    json_decref(vak);
    json_decref(oauth);
}

int main(void)
{
    test_b64url();
    test_jwk_parsing();
    test_every_algorithm();
    test_alg_confusion_and_none();
    test_claims();
    test_scopes();
    test_digest_set();
    test_locations();
    test_locations_repeated();
    test_redaction();
    TG_TEST_MAIN_END();
}
