/* test_common_pem.c — pem.c (certificates, chains, bundles bounded, CRLs bounded, keys, encrypted keys refused, the
 * failure reason) and host_port.c's host-name check, on a key, certificate and CRL made here with OpenSSL. */
#include "host_port.h"
#include "pem.h"
#include "tg_test.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What b holds, as a malloc'd NUL-terminated string. */
static char *bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *s = malloc((size_t)n + 1);
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

int main(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    CHECK(key && x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"pem.test", -1,
                               -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    CHECK(X509_sign(x, key, EVP_sha256()) > 0);

    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem()), *eb = BIO_new(BIO_s_mem());
    for (int i = 0; i < 3; i++)
        PEM_write_bio_X509(cb, x); /* a bundle of three */
    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL);
    PEM_write_bio_PrivateKey(eb, key, EVP_aes_128_cbc(), (unsigned char *)"secret", 6, NULL, NULL);
    char *certs_pem = bio_text(cb), *key_pem = bio_text(kb), *enc_pem = bio_text(eb);

    STACK_OF(X509) *all = tg_pem_read_certs(certs_pem, 10);
    CHECK(all && sk_X509_num(all) == 3);
    sk_X509_pop_free(all, X509_free);
    STACK_OF(X509) *two = tg_pem_read_certs(certs_pem, 2); /* bounded */
    CHECK(two && sk_X509_num(two) == 2);
    sk_X509_pop_free(two, X509_free);

    X509 *leaf;
    STACK_OF(X509) *chain;
    CHECK_EQ_INT(tg_pem_read_cert_chain(certs_pem, 16, &leaf, &chain), 0);
    CHECK(leaf && X509_cmp(leaf, x) == 0 && sk_X509_num(chain) == 2);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    CHECK_EQ_INT(tg_pem_read_cert_chain(certs_pem, 1, &leaf, &chain), 0);
    CHECK(sk_X509_num(chain) == 1);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    CHECK_EQ_INT(tg_pem_read_cert_chain("not PEM", 16, &leaf, &chain), -1);
    CHECK(leaf == NULL && chain == NULL);
    CHECK(strlen(tg_pem_reason()) > 0);
    CHECK(tg_pem_read_certs(key_pem, 10) == NULL); /* a key is no certificate */
    tg_pem_reason();

    EVP_PKEY *k = tg_pem_read_key(key_pem);
    CHECK(k && EVP_PKEY_eq(k, key) == 1);
    EVP_PKEY_free(k);
    CHECK(tg_pem_read_key(enc_pem) == NULL); /* encrypted: refused, never prompted for */
    CHECK(strlen(tg_pem_reason()) > 0);
    CHECK(tg_pem_read_key(certs_pem) == NULL);
    CHECK(strlen(tg_pem_reason()) > 0);
    CHECK_EQ_STR(tg_pem_reason(), "no PEM block"); /* the queue was cleared by the call before */

    /* CRLs: read among other blocks (a certificate in between is skipped), bounded, none is a failure */
    X509_CRL *crl = X509_CRL_new();
    CHECK(crl && X509_CRL_set_issuer_name(crl, X509_get_subject_name(x)) == 1);
    ASN1_TIME *now = ASN1_TIME_set(NULL, time(NULL));
    X509_CRL_set1_lastUpdate(crl, now);
    CHECK(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    BIO *rb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(rb, crl);
    PEM_write_bio_X509(rb, x);
    PEM_write_bio_X509_CRL(rb, crl);
    char *crls_pem = bio_text(rb);
    STACK_OF(X509_CRL) *crls = tg_pem_read_crls(crls_pem, 10);
    CHECK(crls && sk_X509_CRL_num(crls) == 2 && X509_CRL_cmp(sk_X509_CRL_value(crls, 0), crl) == 0);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    crls = tg_pem_read_crls(crls_pem, 1);
    CHECK(crls && sk_X509_CRL_num(crls) == 1);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    CHECK(tg_pem_read_crls(certs_pem, 10) == NULL); /* a certificate is no CRL */
    CHECK(strlen(tg_pem_reason()) > 0);
    CHECK(tg_pem_read_crls("", 10) == NULL);
    tg_pem_reason();
    free(crls_pem);
    BIO_free(rb);
    ASN1_TIME_free(now);
    X509_CRL_free(crl);

    CHECK_EQ_INT(tg_host_name_ok("api.example.com", 0), 1);
    CHECK_EQ_INT(tg_host_name_ok("a-b.c1", 0), 1);
    CHECK_EQ_INT(tg_host_name_ok("*.example.com", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("*.example.com", 1), 1);
    CHECK_EQ_INT(tg_host_name_ok("*.", 1), 0);
    CHECK_EQ_INT(tg_host_name_ok("", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("Api.example.com", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("-a.example.com", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("a-.example.com", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("a..b", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("a.b.", 0), 0);
    CHECK_EQ_INT(tg_host_name_ok("a_b.c", 0), 0);
    char label[80];
    memset(label, 'a', 64);
    label[64] = '\0';
    CHECK_EQ_INT(tg_host_name_ok(label, 0), 0); /* a 64-character label */
    label[63] = '\0';
    CHECK_EQ_INT(tg_host_name_ok(label, 0), 1);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    for (size_t i = 50; i < sizeof longname; i += 51)
        longname[i] = '.';
    longname[254] = '\0';
    CHECK_EQ_INT(tg_host_name_ok(longname, 0), 0); /* 254 characters */
    longname[253] = '\0';
    CHECK_EQ_INT(tg_host_name_ok(longname, 0), longname[252] != '.');

    free(certs_pem);
    free(key_pem);
    free(enc_pem);
    BIO_free(cb);
    BIO_free(kb);
    BIO_free(eb);
    X509_free(x);
    EVP_PKEY_free(key);
    TG_TEST_MAIN_END();
}
