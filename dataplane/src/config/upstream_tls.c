/* upstream_tls.c — see upstream_tls.h. */
#include "config/upstream_tls.h"
#include "config/tls_protocol.h"

#include "host_port.h"
#include "json_util.h"
#include "log.h"
#include "pem.h"
#include "loop/tls_transport.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEM_BYTES (1u << 20)    /* one bundle or chain; the control socket bounds the document anyway */
#define MAX_CA_CERTS 512
#define MAX_CLIENT_CHAIN 16 /* intermediates after the client certificate */

/* Optional string field: "" when absent; NULL (reported) when of another type or too long. */
static const char *opt_string(const json_t *obj, const char *key, const char *path, json_t *errors)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return "";
    if (!json_is_string(v) || json_string_length(v) > MAX_PEM_BYTES) {
        tg_json_errors_append(errors, "%s.%s: must be a string of at most %u bytes", path, key, MAX_PEM_BYTES);
        return NULL;
    }
    return json_string_value(v);
}

/* RFC 1123 host name (lower case, no wildcard, not digits and dots only: no IPv4 address) — what SNI may carry
 * (RFC 6066 §3). */
static int server_name_ok(const char *h)
{
    return tg_host_name_ok(h, 0) && h[strspn(h, "0123456789.")] != '\0';
}

/* caPem: every certificate of the bundle becomes a trust anchor of ctx. */
static int load_ca(SSL_CTX *ctx, const char *pem, const char *path, json_t *errors)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509) *certs = tg_pem_read_certs(pem, MAX_CA_CERTS + 1);
    if (!certs) {
        tg_json_errors_append(errors, "%s.caPem: no PEM certificate (%s)", path, tg_pem_reason());
        return -1;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < sk_X509_num(certs) && i < MAX_CA_CERTS; i++)
        if (X509_STORE_add_cert(store, sk_X509_value(certs, i)) != 1) {
            tg_json_errors_append(errors, "%s.caPem: certificate %d cannot be used (%s)", path, i, tg_pem_reason());
            rc = -1;
        }
    if (rc == 0 && sk_X509_num(certs) > MAX_CA_CERTS) {
        tg_json_errors_append(errors, "%s.caPem: more than %d certificates", path, MAX_CA_CERTS);
        rc = -1;
    }
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* crlPem: every CRL of it goes into ctx's store, and the backend's leaf certificate is checked against them (the
 * CRL of its issuer must be there and current: OpenSSL's rules). A CRL past its nextUpdate is said in the log now,
 * as every handshake with a certificate of its issuer will fail. */
static int load_crls(SSL_CTX *ctx, const char *pem, const char *path, const char *proxy_id, json_t *errors)
{
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    STACK_OF(X509_CRL) *crls = tg_pem_read_crls(pem, TG_PEM_MAX_CRLS + 1);
    if (!crls) {
        tg_json_errors_append(errors, "%s.crlPem: no PEM CRL (%s)", path, tg_pem_reason());
        return -1;
    }
    int rc = 0;
    if (sk_X509_CRL_num(crls) > TG_PEM_MAX_CRLS) {
        tg_json_errors_append(errors, "%s.crlPem: more than %d CRLs", path, TG_PEM_MAX_CRLS);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < sk_X509_CRL_num(crls); i++) {
        X509_CRL *crl = sk_X509_CRL_value(crls, i);
        if (X509_STORE_add_crl(store, crl) != 1) {
            tg_json_errors_append(errors, "%s.crlPem: CRL %d cannot be used (%s)", path, i, tg_pem_reason());
            rc = -1;
            continue;
        }
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
        if (next && X509_cmp_current_time(next) < 0) {
            char issuer[256];
            X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof issuer);
            tg_warn("proxy %s: %s.crlPem: CRL %d (issuer %s) is past its nextUpdate: handshakes with backends whose "
                    "certificate it covers fail (\"CRL has expired\") until a current one is configured",
                    proxy_id ? proxy_id : "?", path, i, issuer);
        }
    }
    if (rc == 0)
        X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_CRL_CHECK);
    sk_X509_CRL_pop_free(crls, X509_CRL_free);
    return rc;
}

/* clientCertPem (leaf, then its chain) and clientKeyPem, matching. */
static int load_client_cert(SSL_CTX *ctx, const char *cert_pem, const char *key_pem, const char *path,
                            json_t *errors)
{
    int rc = -1;
    EVP_PKEY *key = NULL;
    X509 *cert;
    STACK_OF(X509) *chain;
    if (tg_pem_read_cert_chain(cert_pem, MAX_CLIENT_CHAIN, &cert, &chain) != 0) {
        tg_json_errors_append(errors, "%s.clientCertPem: not a PEM certificate (%s)", path, tg_pem_reason());
        return -1;
    }
    key = tg_pem_read_key(key_pem);
    if (!key) {
        tg_json_errors_append(errors, "%s.clientKeyPem: not an unencrypted PEM private key (%s)", path,
                              tg_pem_reason());
        goto out;
    }
    if (SSL_CTX_use_cert_and_key(ctx, cert, key, chain, 1) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        tg_json_errors_append(errors, "%s.clientKeyPem: does not match clientCertPem (%s)", path, tg_pem_reason());
        goto out;
    }
    rc = 0;
out:
    X509_free(cert);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* The settings' digest: SHA-256 over every setting, NUL-separated, its first 16 bytes in hex. */
static void make_profile(struct tg_upstream_tls *t, const char *ca, const char *cert, const char *key,
                         const char *crl)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    const struct tg_tls_protocol *p = &t->protocol;
    const char *parts[] = {"tls1", t->server_name, ca, cert, key, t->verify ? "verify" : "insecure",
                           tg_tls_protocol_version_name(p->min_version), tg_tls_protocol_version_name(p->max_version),
                           p->ciphers ? p->ciphers : "", p->cipher_suites ? p->cipher_suites : "", crl};
    int ok = m && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < sizeof parts / sizeof *parts; i++)
        ok = EVP_DigestUpdate(m, parts[i], strlen(parts[i]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(m, md, &md_len) == 1 && md_len >= 16;
    EVP_MD_CTX_free(m);
    for (size_t i = 0; i < 16; i++)
        snprintf(t->profile + 2 * i, 3, "%02x", ok ? md[i] : 0);
}

static SSL_CTX *client_ctx_new(void)
{
    static const unsigned char alpn[] = "\x08http/1.1";
    /* a backend that closes without close_notify (most do) ends its stream like TCP's end, as in nginx and curl:
     * a response delimited by the close is whole, a tunnel sees the end */
    SSL_CTX *ctx = tg_tls_ctx_new(TLS_client_method(), SSL_OP_IGNORE_UNEXPECTED_EOF, 0);
    if (!ctx)
        return NULL;
    /* ALPN: we speak HTTP/1.1 (and WebSocket over it) only; 0 means success for this call */
    if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1) != 0 || tg_tls_client_ctx_cache_sessions(ctx) != 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

struct tg_upstream_tls *tg_upstream_tls_build(const json_t *obj, const char *path, const char *proxy_id,
                                              json_t *errors)
{
    const char *ca = opt_string(obj, "caPem", path, errors);
    const char *cert = opt_string(obj, "clientCertPem", path, errors);
    const char *key = opt_string(obj, "clientKeyPem", path, errors);
    const char *sni = opt_string(obj, "serverName", path, errors);
    const char *crl = opt_string(obj, "crlPem", path, errors);
    const json_t *skip = json_object_get(obj, "insecureSkipVerify");
    int insecure = json_is_true(skip);
    if (skip && !json_is_boolean(skip)) {
        tg_json_errors_append(errors, "%s.insecureSkipVerify: must be true or false", path);
        return NULL;
    }
    struct tg_tls_protocol protocol;
    if (tg_tls_protocol_parse(obj, path, &protocol, errors) != 0 || !ca || !cert || !key || !sni || !crl)
        return NULL;
    if (*sni && !server_name_ok(sni)) {
        tg_json_errors_append(errors,
                              "%s.serverName: \"%.253s\" must be a lower-case DNS name (no wildcard, no IP literal)",
                  path, sni);
        return NULL;
    }
    if (!*cert != !*key) {
        tg_json_errors_append(errors, "%s: clientCertPem and clientKeyPem go together", path);
        return NULL;
    }
    if (insecure && *ca) {
        tg_json_errors_append(errors, "%s: caPem and insecureSkipVerify exclude each other", path);
        return NULL;
    }
    int crl_present = json_object_get(obj, "crlPem") != NULL;
    if (insecure && crl_present) {
        tg_json_errors_append(errors, "%s: crlPem and insecureSkipVerify exclude each other", path);
        return NULL;
    }
    struct tg_upstream_tls *t = calloc(1, sizeof *t);
    if (!t || !(t->ctx = client_ctx_new())) {
        free(t);
        tg_json_errors_append(errors, "%s: out of memory for the TLS context", path);
        return NULL;
    }
    t->server_name = sni;
    t->verify = !insecure;
    t->client_cert = *cert != '\0';
    t->protocol = protocol;
    t->crl_check = crl_present;
    if (tg_tls_protocol_apply_ctx(t->ctx, &t->protocol) != 0) {
        tg_json_errors_append(errors, "%s: the versions or cipher lists cannot be set (%s)", path, tg_pem_reason());
        goto fail;
    }
    if (t->verify) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        if (*ca) {
            if (load_ca(t->ctx, ca, path, errors) != 0)
                goto fail;
            X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(t->ctx), X509_V_FLAG_PARTIAL_CHAIN);
        } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
            tg_json_errors_append(errors, "%s: the system trust store cannot be loaded (%s)", path, tg_pem_reason());
            goto fail;
        }
        if (t->crl_check && load_crls(t->ctx, crl, path, proxy_id, errors) != 0)
            goto fail;
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    if (t->client_cert && load_client_cert(t->ctx, cert, key, path, errors) != 0)
        goto fail;
    make_profile(t, ca, cert, key, crl);
    if (insecure)
        tg_warn("proxy %s: target.tls.insecureSkipVerify is set: the backend's certificate is NOT verified "
                "(anyone on the path can impersonate it)", proxy_id ? proxy_id : "?");
    return t;
fail:
    tg_upstream_tls_free(t);
    return NULL;
}

void tg_upstream_tls_free(struct tg_upstream_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}
