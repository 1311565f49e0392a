/* test_dp_tls_certs.c — the TLS listener's certificate table (config/tls_certs.c): exact hostname, longest
 * wildcard, the group's default, nothing for a name no group serves; ECDSA and RSA loaded side by side into one
 * context; bad PEM, a key of another certificate and unknown fields refused with the field named and no key
 * material in the message. Certificates are made here with OpenSSL (self-signed, in memory). */
#include "config/tls_certs.h"
#include "tg_test.h"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

struct pem {
    char cert[4096];
    char key[4096];
};

static void to_pem(struct pem *out, X509 *x, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    int n = BIO_read(b, out->cert, sizeof out->cert - 1);
    out->cert[n > 0 ? n : 0] = 0;
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    n = BIO_read(b, out->key, sizeof out->key - 1);
    out->key[n > 0 ? n : 0] = 0;
    BIO_free(b);
}

/* A self-signed certificate for cn ("ec" or "rsa" key). */
static void make_cert(struct pem *out, const char *cn, int rsa)
{
    EVP_PKEY *k = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    to_pem(out, x, k);
    X509_free(x);
    EVP_PKEY_free(k);
}

/* The CN of the certificate of ctx for key type pkey_id (EVP_PKEY_EC / EVP_PKEY_RSA), or "". */
static const char *cn_of(const struct tg_tls_site *site, int want_rsa)
{
    SSL_CTX *ctx = site ? site->ctx : NULL;
    static char text[64];
    text[0] = 0;
    if (!ctx)
        return "(none)";
    int rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST);
    while (rc == 1) {
        X509 *x = SSL_CTX_get0_certificate(ctx);
        if (x && (EVP_PKEY_get_base_id(X509_get0_pubkey(x)) == EVP_PKEY_RSA) == want_rsa) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, text, sizeof text);
            break;
        }
        rc = SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT);
    }
    return text;
}

static json_t *entry(const char *hosts_json, const struct pem *p)
{
    json_t *e = json_pack("{s:s,s:s}", "certPem", p->cert, "keyPem", p->key);
    if (hosts_json)
        json_object_set_new(e, "hostnames", json_loads(hosts_json, 0, NULL));
    return e;
}

int main(void)
{
    struct pem api_ec, api_rsa, wild, deep, other;
    make_cert(&api_ec, "api-ec", 0);
    make_cert(&api_rsa, "api-rsa", 1);
    make_cert(&wild, "wild", 0);
    make_cert(&deep, "deep", 0);
    make_cert(&other, "other", 0);

    json_t *g0 = json_pack("{s:s,s:[s,s,s,s]}", "id", "a/one", "hostnames", "api.example.com", "*.example.com",
                           "*.ws.example.com", "plain.test");
    json_object_set_new(g0, "tls", json_pack("[o,o,o,o]", entry("[\"api.example.com\"]", &api_ec),
                                             entry("[\"api.example.com\"]", &api_rsa),
                                             entry("[\"*.example.com\"]", &wild),
                                             entry("[\"*.ws.example.com\"]", &deep)));
    json_t *g1 = json_pack("{s:s,s:[s]}", "id", "a/two", "hostnames", "two.test");
    json_t *g2 = json_pack("{s:s,s:[s],s:[o]}", "id", "a/three", "hostnames", "three.test", "tls",
                           entry(NULL, &other));
    json_t *groups = json_pack("[o,o,o]", g0, g1, g2);
    json_t *errors = json_array();
    struct tg_tls_certs *t = tg_tls_certs_build(groups, NULL, errors);
    CHECK(t != NULL);
    CHECK_EQ_INT((int)json_array_size(errors), 0);

#define FIND(name, gi) tg_tls_certs_find(t, name, strlen(name), gi)
    /* exact: both key types in one context */
    CHECK_EQ_STR(cn_of(FIND("api.example.com", 0), 0), "api-ec");
    CHECK_EQ_STR(cn_of(FIND("api.example.com", 0), 1), "api-rsa");
    /* wildcards: the longest wins, one label or more */
    CHECK_EQ_STR(cn_of(FIND("x.example.com", 0), 0), "wild");
    CHECK_EQ_STR(cn_of(FIND("a.ws.example.com", 0), 0), "deep");
    CHECK_EQ_STR(cn_of(FIND("a.b.ws.example.com", 0), 0), "deep");
    CHECK_EQ_STR(cn_of(FIND("ws.example.com", 0), 0), "wild");
    CHECK(FIND("example.com", SIZE_MAX) == NULL);
    /* a name of the group that no entry names: the group's default (the first ECDSA entry) */
    CHECK_EQ_STR(cn_of(FIND("plain.test", 0), 0), "api-ec");
    CHECK_EQ_STR(cn_of(FIND("plain.test", 0), 1), "api-rsa");
    /* an entry without hostnames covers the whole group */
    CHECK_EQ_STR(cn_of(FIND("three.test", 2), 0), "other");
    /* a group without certificates, and a name nobody serves */
    CHECK(FIND("two.test", 1) == NULL);
    CHECK(FIND("nowhere.test", SIZE_MAX) == NULL);
    /* no group asked to be the default certificate; every policy is the listener's default */
    CHECK(t->fallback == NULL);
    CHECK_EQ_INT(FIND("api.example.com", 0)->policy->min_version, TLS1_2_VERSION);
    CHECK(FIND("api.example.com", 0)->policy->ciphers == NULL);
#undef FIND
    tg_tls_certs_free(t);
    json_decref(groups);

    /* tlsOptions: versions and lists reach the group's sites; defaultCertificate makes the group the fallback */
    {
        json_t *opts = json_pack("{s:s,s:s,s:s,s:s,s:b}", "minVersion", "1.3", "maxVersion", "1.3", "ciphers",
                                 "ECDHE-ECDSA-AES256-GCM-SHA384", "cipherSuites", "TLS_CHACHA20_POLY1305_SHA256",
                                 "defaultCertificate", 1);
        json_t *g = json_pack("[{s:s,s:[s],s:[o]},{s:s,s:[s],s:[o],s:o}]", "id", "c/plain", "hostnames", "p.test",
                              "tls", entry(NULL, &other), "id", "c/strict", "hostnames", "s.test", "tls",
                              entry(NULL, &api_ec), "tlsOptions", opts);
        json_t *errs = json_array();
        struct tg_tls_certs *tp = tg_tls_certs_build(g, NULL, errs);
        CHECK(tp != NULL);
        const struct tg_tls_site *site = tp ? tg_tls_certs_find(tp, "s.test", 6, 1) : NULL;
        CHECK(site && site->policy->min_version == TLS1_3_VERSION && site->policy->max_version == TLS1_3_VERSION);
        CHECK(site && strcmp(site->policy->cipher_suites, "TLS_CHACHA20_POLY1305_SHA256") == 0);
        CHECK(tp && tp->fallback == site);
        CHECK_EQ_STR(cn_of(tp ? tp->fallback : NULL, 0), "api-ec");
        site = tp ? tg_tls_certs_find(tp, "p.test", 6, 0) : NULL;
        CHECK(site && site->policy->min_version == TLS1_2_VERSION && site->policy->cipher_suites == NULL);
        tg_tls_certs_free(tp);
        json_decref(errs);
        json_decref(g);
    }

    /* refusals: the field is named, the key never appears */
    struct {
        json_t *tls;
        const char *expect;
    } bad[] = {
        {json_pack("[{s:s,s:s}]", "certPem", "garbage", "keyPem", api_ec.key), "groups[0].tls[0].certPem: not a PEM"},
        {json_pack("[{s:s,s:s}]", "certPem", api_ec.cert, "keyPem", "garbage"), "groups[0].tls[0].keyPem: not a PEM"},
        {json_pack("[{s:s,s:s}]", "certPem", api_ec.cert, "keyPem", other.key), "keyPem: does not match"},
        {json_pack("[{s:s,s:s,s:b}]", "certPem", api_ec.cert, "keyPem", api_ec.key, "ocsp", 1), "tls[0].ocsp: unknown"},
        {json_pack("[{s:s}]", "certPem", api_ec.cert), "certPem and keyPem are required"},
    };
    /* lastGood markers take what the snapshot in use served for their Secret; one nothing matches is dropped */
    {
        json_t *served = entry(NULL, &api_ec);
        json_object_set_new(served, "secret", json_string("a/api-tls"));
        json_t *prev = json_pack("[{s:s,s:[s],s:[o]}]", "id", "a/x", "hostnames", "x.test", "tls", served);
        json_t *next = json_pack("[{s:s,s:[s],s:[{s:s,s:b},{s:s,s:b}]}]", "id", "a/x", "hostnames", "x.test", "tls",
                                 "secret", "a/api-tls", "lastGood", 1, "secret", "a/never-good", "lastGood", 1);
        tg_tls_certs_keep_last_good(next, prev);
        json_t *tls = json_object_get(json_array_get(next, 0), "tls");
        CHECK_EQ_INT((int)json_array_size(tls), 1);
        CHECK(json_object_get(json_array_get(tls, 0), "lastGood") == NULL);
        CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(tls, 0), "certPem")), api_ec.cert);
        json_t *errs = json_array();
        struct tg_tls_certs *tk = tg_tls_certs_build(next, NULL, errs);
        CHECK(tk != NULL);
        CHECK_EQ_STR(cn_of(tk ? tg_tls_certs_find(tk, "x.test", 6, 0) : NULL, 0), "api-ec");
        tg_tls_certs_free(tk);
        /* without a snapshot in use, every marker goes */
        json_t *alone = json_pack("[{s:s,s:[s],s:[{s:s,s:b}]}]", "id", "a/x", "hostnames", "x.test", "tls", "secret",
                                  "a/api-tls", "lastGood", 1);
        tg_tls_certs_keep_last_good(alone, NULL);
        CHECK_EQ_INT((int)json_array_size(json_object_get(json_array_get(alone, 0), "tls")), 0);
        json_decref(alone);
        json_decref(errs);
        json_decref(next);
        json_decref(prev);
    }

    /* tlsOptions refusals */
    struct {
        json_t *opts;
        const char *expect;
    } bad_opts[] = {
        {json_pack("{s:s}", "minVersion", "1.1"), "tlsOptions.minVersion: must be"},
        {json_pack("{s:s,s:s}", "minVersion", "1.3", "maxVersion", "1.2"), "maxVersion is below minVersion"},
        {json_pack("{s:s}", "ciphers", "NOT-A-CIPHER"), "tlsOptions.ciphers: selects no cipher"},
        {json_pack("{s:s}", "cipherSuites", "TLS_NOPE"), "tlsOptions.cipherSuites: selects no cipher"},
        {json_pack("{s:i}", "defaultCertificate", 1), "defaultCertificate: must be true or false"},
        {json_pack("{s:b}", "sessionTickets", 0), "tlsOptions.sessionTickets: unknown field"},
    };
    for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
        json_t *g = json_pack("[{s:s,s:[s],s:[o],s:o}]", "id", "b/x", "hostnames", "x.test", "tls",
                              entry(NULL, &other), "tlsOptions", bad_opts[i].opts);
        json_t *errs = json_array();
        CHECK(tg_tls_certs_build(g, NULL, errs) == NULL);
        char *text = json_dumps(errs, 0);
        CHECK(text && strstr(text, bad_opts[i].expect) != NULL);
        if (text && !strstr(text, bad_opts[i].expect))
            fprintf(stderr, "options case %zu: expected \"%s\" in %s\n", i, bad_opts[i].expect, text);
        free(text);
        json_decref(errs);
        json_decref(g);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *g = json_pack("[{s:s,s:[s],s:o}]", "id", "b/x", "hostnames", "x.test", "tls", bad[i].tls);
        json_t *errs = json_array();
        CHECK(tg_tls_certs_build(g, NULL, errs) == NULL);
        char *text = json_dumps(errs, 0);
        CHECK(text && strstr(text, bad[i].expect) != NULL);
        CHECK(text && strstr(text, "PRIVATE KEY") == NULL);
        if (text && !strstr(text, bad[i].expect))
            fprintf(stderr, "case %zu: expected \"%s\" in %s\n", i, bad[i].expect, text);
        free(text);
        json_decref(errs);
        json_decref(g);
    }

    /* "tlsDefault" (the controller's default certificate): the fallback with its own options unless a group claims
     * defaultCertificate; its unknown fields refused; its lastGood marker keeps the previous snapshot's PEM */
    {
        json_t *g = json_pack("[{s:s,s:[s],s:[o]}]", "id", "d/one", "hostnames", "one.test", "tls",
                              entry(NULL, &other));
        json_t *def = json_pack("{s:s,s:s,s:s,s:{s:s}}", "secret", "ops/default", "certPem", wild.cert, "keyPem",
                                wild.key, "tlsOptions", "minVersion", "1.3");
        json_t *errs = json_array();
        struct tg_tls_certs *td = tg_tls_certs_build(g, def, errs);
        CHECK(td != NULL && json_array_size(errs) == 0);
        if (td) {
            CHECK(td->fallback == td->last_resort);
            CHECK_EQ_STR(cn_of(td->fallback, 0), "wild");
            CHECK_EQ_INT(td->fallback->policy->min_version, TLS1_3_VERSION);
            CHECK(tg_tls_certs_find(td, "x.test", 6, SIZE_MAX) == NULL); /* only as the fallback */
            CHECK_EQ_INT((int)td->num_certs, 2);
        }
        tg_tls_certs_free(td);
        /* a group with defaultCertificate comes first */
        json_object_set_new(json_array_get(g, 0), "tlsOptions", json_pack("{s:b}", "defaultCertificate", 1));
        td = tg_tls_certs_build(g, def, errs);
        CHECK(td != NULL && td->fallback != td->last_resort);
        CHECK_EQ_STR(cn_of(td ? td->fallback : NULL, 0), "other");
        tg_tls_certs_free(td);
        /* strict fields: no defaultCertificate, no hostnames in tlsDefault */
        json_t *strict = json_deep_copy(def);
        json_object_set_new(json_object_get(strict, "tlsOptions"), "defaultCertificate", json_true());
        json_object_set_new(strict, "hostnames", json_pack("[s]", "x.test"));
        CHECK(tg_tls_certs_build(g, strict, errs) == NULL);
        char *text = json_dumps(errs, 0);
        CHECK(text && strstr(text, "tlsDefault.tlsOptions.defaultCertificate") && strstr(text, "tlsDefault.hostnames: unknown"));
        free(text);
        json_decref(strict);
        /* the lastGood marker: the previous document's PEM for the same Secret, else no tlsDefault */
        json_t *prev = json_pack("{s:O}", "tlsDefault", def);
        json_t *next = json_pack("{s:{s:s,s:b}}", "tlsDefault", "secret", "ops/default", "lastGood", 1);
        tg_tls_certs_keep_last_good_default(next, prev);
        CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(next, "tlsDefault"), "certPem")), wild.cert);
        CHECK(json_object_get(json_object_get(next, "tlsDefault"), "lastGood") == NULL);
        json_decref(next);
        next = json_pack("{s:{s:s,s:b}}", "tlsDefault", "secret", "ops/other", "lastGood", 1);
        tg_tls_certs_keep_last_good_default(next, prev);
        CHECK(json_object_get(next, "tlsDefault") == NULL);
        json_decref(next);
        json_decref(prev);
        json_decref(errs);
        json_decref(def);
        json_decref(g);
    }

    /* the listener's settings */
    SSL_CTX *ctx = tg_tls_server_ctx_new();
    CHECK(ctx != NULL);
    CHECK_EQ_INT((int)SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    CHECK_EQ_INT((int)SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    CHECK((SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS) != 0);
    CHECK(SSL_CTX_get_read_ahead(ctx) == 1); /* several records per read(2): loop/tls_transport.c drains them */
    CHECK((SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION) != 0);
    SSL_CTX_free(ctx);
    json_decref(errors);
    TG_TEST_MAIN_END();
}
