/* test_dp_upstream_tls.c — a proxy's target.tls (config/upstream_tls.c) with its protocol settings and CRLs:
 * versions and cipher lists reach the client context, crlPem turns on revocation checking with its CRLs in the
 * store; a bad version, maxVersion below minVersion, a list selecting nothing, a crlPem holding no CRL (or too
 * many), crlPem with insecureSkipVerify and an unknown key refuse it with the field named; every new setting
 * changes the profile digest (so no pool or session is shared across them). The CA and its CRLs are made here. */
#include "config/snapshot.h"
#include "config/upstream_tls.h"
#include "tg_test.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PATH "proxies[0].target.tls"

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static char ca_pem[4096];

/* What b holds, into out (NUL-terminated, cut at size - 1). */
static void bio_to(BIO *b, char *out, size_t size)
{
    int n = BIO_read(b, out, (int)size - 1);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

static void make_ca(void)
{
    ca_key = EVP_EC_gen("P-256");
    ca_cert = X509_new();
    X509_set_version(ca_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(ca_cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(ca_cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(ca_cert), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(ca_cert), "CN", MBSTRING_ASC,
                               (const unsigned char *)"upstream test CA", -1, -1, 0);
    X509_set_issuer_name(ca_cert, X509_get_subject_name(ca_cert));
    X509_set_pubkey(ca_cert, ca_key);
    X509_sign(ca_cert, ca_key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, ca_cert);
    bio_to(b, ca_pem, sizeof ca_pem);
}

/* A CRL of the CA revoking serial (0: none), valid from now for next_update_s seconds (negative: expired),
 * repeated copies times, as PEM into out. */
static void make_crl(char *out, size_t size, long serial, long next_update_s, int copies)
{
    X509_CRL *crl = X509_CRL_new();
    X509_CRL_set_version(crl, 1);
    X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert));
    ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, next_update_s < 0 ? next_update_s * 2 : 0);
    X509_CRL_set1_lastUpdate(crl, t);
    ASN1_TIME_adj(t, time(NULL), 0, next_update_s);
    X509_CRL_set1_nextUpdate(crl, t);
    if (serial) {
        X509_REVOKED *r = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        ASN1_INTEGER_set(sn, serial);
        X509_REVOKED_set_serialNumber(r, sn);
        X509_REVOKED_set_revocationDate(r, t);
        X509_CRL_add0_revoked(crl, r);
        ASN1_INTEGER_free(sn);
    }
    X509_CRL_sort(crl);
    X509_CRL_sign(crl, ca_key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    for (int i = 0; i < copies; i++)
        PEM_write_bio_X509_CRL(b, crl);
    bio_to(b, out, size);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
}

/* 1 when one of errors contains want (printing them otherwise). */
static int has_error(const json_t *errors, const char *want)
{
    for (size_t i = 0; i < json_array_size(errors); i++)
        if (strstr(json_string_value(json_array_get(errors, i)), want))
            return 1;
    json_dumpf(errors, stderr, 0);
    fprintf(stderr, "\n(wanted \"%s\")\n", want);
    return 0;
}

static size_t crls_in_store(SSL_CTX *ctx)
{
    STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
    size_t n = 0;
    for (int i = 0; i < sk_X509_OBJECT_num(objs); i++)
        n += X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) == X509_LU_CRL;
    return n;
}

static int ctx_offers(SSL_CTX *ctx, const char *cipher)
{
    STACK_OF(SSL_CIPHER) *list = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(list); i++)
        if (strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(list, i)), cipher) == 0)
            return 1;
    return 0;
}

static void test_settings_reach_the_context(const char *crl_pem)
{
    json_t *obj = json_pack("{s:b,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "enabled", 1, "serverName", "b.example", "caPem",
                            ca_pem, "minVersion", "1.3", "maxVersion", "1.3", "ciphers",
                            "ECDHE-ECDSA-AES256-GCM-SHA384", "cipherSuites", "TLS_CHACHA20_POLY1305_SHA256", "crlPem",
                            crl_pem);
    json_t *errors = json_array();
    struct tg_upstream_tls *t = tg_upstream_tls_build(obj, PATH, "t/x", errors);
    CHECK(t != NULL);
    CHECK_EQ_INT(json_array_size(errors), 0);
    if (t) {
        CHECK_EQ_INT(t->protocol.min_version, TLS1_3_VERSION);
        CHECK_EQ_INT(t->protocol.max_version, TLS1_3_VERSION);
        CHECK_EQ_STR(t->protocol.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384");
        CHECK_EQ_STR(t->protocol.cipher_suites, "TLS_CHACHA20_POLY1305_SHA256");
        CHECK_EQ_INT(SSL_CTX_get_min_proto_version(t->ctx), TLS1_3_VERSION);
        CHECK_EQ_INT(SSL_CTX_get_max_proto_version(t->ctx), TLS1_3_VERSION);
        CHECK(ctx_offers(t->ctx, "ECDHE-ECDSA-AES256-GCM-SHA384"));
        CHECK(!ctx_offers(t->ctx, "ECDHE-RSA-AES128-GCM-SHA256"));
        CHECK(ctx_offers(t->ctx, "TLS_CHACHA20_POLY1305_SHA256") && !ctx_offers(t->ctx, "TLS_AES_256_GCM_SHA384"));
        CHECK(t->crl_check && t->verify);
        CHECK(X509_VERIFY_PARAM_get_flags(SSL_CTX_get0_param(t->ctx)) & X509_V_FLAG_CRL_CHECK);
        CHECK_EQ_INT(crls_in_store(t->ctx), 1);
    }
    tg_upstream_tls_free(t);

    /* none of them: TLS 1.2-1.3, OpenSSL's lists, no revocation checking */
    json_t *plain = json_pack("{s:b,s:s,s:s}", "enabled", 1, "serverName", "b.example", "caPem", ca_pem);
    t = tg_upstream_tls_build(plain, PATH, "t/x", errors);
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_INT(t->protocol.min_version, TLS1_2_VERSION);
        CHECK_EQ_INT(t->protocol.max_version, TLS1_3_VERSION);
        CHECK(t->protocol.ciphers == NULL && t->protocol.cipher_suites == NULL && !t->crl_check);
        CHECK_EQ_INT(SSL_CTX_get_min_proto_version(t->ctx), TLS1_2_VERSION);
        CHECK(!(X509_VERIFY_PARAM_get_flags(SSL_CTX_get0_param(t->ctx)) & X509_V_FLAG_CRL_CHECK));
        CHECK_EQ_INT(crls_in_store(t->ctx), 0);
        CHECK(ctx_offers(t->ctx, "TLS_AES_256_GCM_SHA384"));
    }
    tg_upstream_tls_free(t);

    /* CRLs with the system store (no caPem), and an expired CRL: accepted (OpenSSL fails the handshakes) */
    char expired[4096];
    make_crl(expired, sizeof expired, 0, -3600, 1);
    json_t *sys = json_pack("{s:b,s:s,s:s}", "enabled", 1, "serverName", "b.example", "crlPem", expired);
    t = tg_upstream_tls_build(sys, PATH, "t/x", errors);
    CHECK(t != NULL && t->crl_check);
    CHECK(t && crls_in_store(t->ctx) == 1);
    tg_upstream_tls_free(t);
    CHECK_EQ_INT(json_array_size(errors), 0);
    json_decref(sys);
    json_decref(plain);
    json_decref(obj);
    json_decref(errors);
}

/* Each refusal names its field; nothing is built. */
static void test_refusals(const char *crl_pem)
{
    static char too_many[64 * 1024];
    make_crl(too_many, sizeof too_many, 0, 3600, 65);
    const struct {
        const char *key;
        json_t *value;
        const char *want;
    } bad[] = {
        {"minVersion", json_string("1.1"), PATH ".minVersion: must be \"1.2\" or \"1.3\""},
        {"maxVersion", json_real(1.3), PATH ".maxVersion: must be \"1.2\" or \"1.3\""},
        {"maxVersion", json_string("1.2"), PATH ": maxVersion is below minVersion"}, /* with minVersion 1.3 below */
        {"ciphers", json_string("NOT-A-CIPHER"), PATH ".ciphers: selects no cipher this OpenSSL knows"},
        {"ciphers", json_string(""), PATH ".ciphers: must be a non-empty OpenSSL cipher string"},
        {"cipherSuites", json_string("TLS_NOPE"), PATH ".cipherSuites: selects no cipher this OpenSSL knows"},
        {"cipherSuites", json_integer(1), PATH ".cipherSuites: must be a non-empty OpenSSL cipher string"},
        {"crlPem", json_string(ca_pem), PATH ".crlPem: no PEM CRL"},
        {"crlPem", json_string(""), PATH ".crlPem: no PEM CRL"},
        {"crlPem", json_string(too_many), PATH ".crlPem: more than 64 CRLs"},
        {"crlPem", json_true(), PATH ".crlPem: must be a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *obj = json_pack("{s:b,s:s,s:s}", "enabled", 1, "serverName", "b.example", "caPem", ca_pem);
        if (strcmp(bad[i].key, "maxVersion") == 0 && json_is_string(bad[i].value))
            json_object_set_new(obj, "minVersion", json_string("1.3"));
        json_object_set_new(obj, bad[i].key, bad[i].value);
        json_t *errors = json_array();
        struct tg_upstream_tls *t = tg_upstream_tls_build(obj, PATH, "t/x", errors);
        CHECK(t == NULL);
        CHECK(has_error(errors, bad[i].want));
        tg_upstream_tls_free(t);
        json_decref(errors);
        json_decref(obj);
    }

    /* crlPem only together with verification */
    json_t *obj = json_pack("{s:b,s:s,s:b,s:s}", "enabled", 1, "serverName", "b.example", "insecureSkipVerify", 1,
                            "crlPem", crl_pem);
    json_t *errors = json_array();
    CHECK(tg_upstream_tls_build(obj, PATH, "t/x", errors) == NULL);
    CHECK(has_error(errors, PATH ": crlPem and insecureSkipVerify exclude each other"));
    json_decref(errors);
    json_decref(obj);
}

/* Unknown keys of target.tls keep refusing the snapshot (snapshot.c's list knows the new ones). */
static void test_unknown_key(void)
{
    static const char *fmt =
        "{\"version\":1,\"groups\":[],\"proxies\":["
        " {\"id\":\"t/tls\",\"environments\":[\"p\"],\"basePath\":\"/b\",\"target\":{\"endpoints\":"
        "  [{\"address\":\"10.0.0.7\",\"port\":443}],\"tls\":{\"enabled\":true,\"serverName\":\"b.example\",%s}}}]}";
    const char *cases[][2] = {
        {"\"minVersion\":\"1.2\",\"maxVersion\":\"1.3\",\"ciphers\":\"ECDHE-RSA-AES128-GCM-SHA256\","
         "\"cipherSuites\":\"TLS_AES_128_GCM_SHA256\"", NULL},
        {"\"minTlsVersion\":\"1.2\"", "proxies[0].target.tls.minTlsVersion: unknown field"},
        {"\"crl\":\"x\"", "proxies[0].target.tls.crl: unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[1024];
        snprintf(text, sizeof text, fmt, cases[i][0]);
        json_error_t jerr;
        json_t *doc = json_loads(text, 0, &jerr), *errors = json_array();
        CHECK(doc != NULL);
        struct tg_snapshot *s = doc ? tg_snapshot_build(doc, NULL, errors) : NULL;
        CHECK((s != NULL) == (cases[i][1] == NULL));
        if (cases[i][1])
            CHECK(has_error(errors, cases[i][1]));
        tg_snapshot_unref(s);
        json_decref(doc);
        json_decref(errors);
    }
}

/* The profile of obj with key set to value (NULL: obj as it is), into out. */
static void profile_with(const json_t *base, const char *key, const char *value, char out[33])
{
    json_t *obj = json_deep_copy(base), *errors = json_array();
    if (key)
        json_object_set_new(obj, key, json_string(value));
    struct tg_upstream_tls *t = tg_upstream_tls_build(obj, PATH, "t/x", errors);
    CHECK(t != NULL);
    snprintf(out, 33, "%s", t ? t->profile : "(none)");
    tg_upstream_tls_free(t);
    json_decref(errors);
    json_decref(obj);
}

static void test_profile_digest(const char *crl_pem)
{
    char other_crl[4096];
    make_crl(other_crl, sizeof other_crl, 7, 3600, 1);
    json_t *base = json_pack("{s:b,s:s,s:s}", "enabled", 1, "serverName", "b.example", "caPem", ca_pem);
    const char *variants[][2] = {
        {NULL, NULL},
        {"minVersion", "1.3"},
        {"maxVersion", "1.2"},
        {"ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {"ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {"cipherSuites", "TLS_AES_128_GCM_SHA256"},
        {"cipherSuites", "TLS_AES_256_GCM_SHA384"},
        {"crlPem", crl_pem},
        {"crlPem", other_crl},
    };
    enum { N = sizeof variants / sizeof *variants };
    char profiles[N][33];
    for (size_t i = 0; i < N; i++)
        profile_with(base, variants[i][0], variants[i][1], profiles[i]);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < N; j++)
            CHECK(strcmp(profiles[i], profiles[j]) != 0);
    /* the same settings, the same digest; a default written out is the same setting */
    char again[33];
    profile_with(base, "crlPem", crl_pem, again);
    CHECK_EQ_STR(again, profiles[7]);
    profile_with(base, "minVersion", "1.2", again);
    CHECK_EQ_STR(again, profiles[0]);
    json_decref(base);
}

int main(void)
{
    make_ca();
    char crl_pem[4096];
    make_crl(crl_pem, sizeof crl_pem, 2, 3600, 1);
    test_settings_reach_the_context(crl_pem);
    test_refusals(crl_pem);
    test_unknown_key();
    test_profile_digest(crl_pem);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
    TG_TEST_MAIN_END();
}
