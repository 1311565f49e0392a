/* tls_protocol.c — see tls_protocol.h: version range and cipher lists of a snapshot object, parsed and applied. */
#include "config/tls_protocol.h"

#include "json_util.h"
#include "pem.h"

#include <string.h>

#define MAX_CIPHER_STRING 2048

/* "1.2" / "1.3" → TLS1_2_VERSION / TLS1_3_VERSION; dflt when absent; 0 after reporting. */
static int parse_version(const json_t *obj, const char *path, const char *key, int dflt, json_t *errors)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return dflt;
    const char *s = json_string_value(v);
    if (s && strcmp(s, "1.2") == 0)
        return TLS1_2_VERSION;
    if (s && strcmp(s, "1.3") == 0)
        return TLS1_3_VERSION;
    tg_json_errors_append(errors, "%s.%s: must be \"1.2\" or \"1.3\"", path, key);
    return 0;
}

/* A cipher list of obj checked on a scratch context (tls13: TLS 1.3 suites); NULL when absent or reported
 * (*bad set then). */
static const char *parse_ciphers(const json_t *obj, const char *path, const char *key, int tls13, json_t *errors,
                                 int *bad)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    const char *s = json_string_value(v);
    if (!s || !s[0] || strlen(s) > MAX_CIPHER_STRING) {
        tg_json_errors_append(errors, "%s.%s: must be a non-empty OpenSSL cipher string of at most %d bytes", path,
                              key, MAX_CIPHER_STRING);
        *bad = 1;
        return NULL;
    }
    SSL_CTX *probe = SSL_CTX_new(TLS_method());
    int ok = probe && (tls13 ? SSL_CTX_set_ciphersuites(probe, s) : SSL_CTX_set_cipher_list(probe, s)) == 1;
    SSL_CTX_free(probe);
    if (!ok) {
        tg_json_errors_append(errors, "%s.%s: selects no cipher this OpenSSL knows (%s)", path, key,
                              tg_pem_reason());
        *bad = 1;
        return NULL;
    }
    return s;
}

int tg_tls_protocol_parse(const json_t *obj, const char *path, struct tg_tls_protocol *p, json_t *errors)
{
    int bad = 0;
    p->min_version = parse_version(obj, path, "minVersion", TLS1_2_VERSION, errors);
    p->max_version = parse_version(obj, path, "maxVersion", TLS1_3_VERSION, errors);
    if (!p->min_version || !p->max_version)
        bad = 1;
    else if (p->min_version > p->max_version) {
        tg_json_errors_append(errors, "%s: maxVersion is below minVersion", path);
        bad = 1;
    }
    p->ciphers = parse_ciphers(obj, path, "ciphers", 0, errors, &bad);
    p->cipher_suites = parse_ciphers(obj, path, "cipherSuites", 1, errors, &bad);
    return bad ? -1 : 0;
}

int tg_tls_protocol_apply_ctx(SSL_CTX *ctx, const struct tg_tls_protocol *p)
{
    if (SSL_CTX_set_min_proto_version(ctx, p->min_version) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, p->max_version) != 1)
        return -1;
    if (p->ciphers && SSL_CTX_set_cipher_list(ctx, p->ciphers) != 1)
        return -1;
    if (p->cipher_suites && SSL_CTX_set_ciphersuites(ctx, p->cipher_suites) != 1)
        return -1;
    return 0;
}

int tg_tls_protocol_apply_ssl(SSL *ssl, const struct tg_tls_protocol *p)
{
    if (SSL_set_min_proto_version(ssl, p->min_version) != 1 || SSL_set_max_proto_version(ssl, p->max_version) != 1)
        return -1;
    if (p->ciphers && SSL_set_cipher_list(ssl, p->ciphers) != 1)
        return -1;
    if (p->cipher_suites && SSL_set_ciphersuites(ssl, p->cipher_suites) != 1)
        return -1;
    return 0;
}

const char *tg_tls_protocol_version_name(int version)
{
    return version == TLS1_2_VERSION ? "1.2" : version == TLS1_3_VERSION ? "1.3" : "?";
}
