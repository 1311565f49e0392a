/* tls_protocol.h — the TLS protocol settings of a snapshot object: its version range ("minVersion", "maxVersion":
 * "1.2" or "1.3") and cipher lists ("ciphers": TLS 1.2, OpenSSL syntax; "cipherSuites": TLS 1.3), parsed and
 * checked against this OpenSSL, then applied to an SSL_CTX or one SSL. One meaning and one set of error texts for
 * every object that carries them: a group's "tlsOptions" and "tlsDefault.tlsOptions" (config/tls_certs.c, applied
 * per handshake by the listener) and a proxy's "target.tls" (config/upstream_tls.c, applied to its client context).
 */
#ifndef TG_TLS_PROTOCOL_H
#define TG_TLS_PROTOCOL_H

#include <jansson.h>
#include <openssl/ssl.h>

struct tg_tls_protocol {
    int min_version, max_version;   /* TLS1_2_VERSION / TLS1_3_VERSION (0 only after an error was reported) */
    const char *ciphers;            /* TLS 1.2 list ("A:B"), or NULL: the context's own */
    const char *cipher_suites;      /* TLS 1.3 suites, or NULL: OpenSSL's */
};

/* The four keys of obj (an object; its other keys are the caller's) into *p: absent versions are 1.2 and 1.3,
 * absent lists NULL. The lists point into obj's strings (they live as long as the document). Appends one string
 * per problem to errors, naming path ("groups[0].tlsOptions.minVersion: must be \"1.2\" or \"1.3\""), and
 * returns -1 when there was any; a list this OpenSSL selects no cipher from is one. */
int tg_tls_protocol_parse(const json_t *obj, const char *path, struct tg_tls_protocol *p, json_t *errors);

/* *p on a context (for every connection made from it after) or on one connection (after SSL_set_SSL_CTX, which
 * does not carry these over). 0, or -1 when OpenSSL refused a setting. */
int tg_tls_protocol_apply_ctx(SSL_CTX *ctx, const struct tg_tls_protocol *p);
int tg_tls_protocol_apply_ssl(SSL *ssl, const struct tg_tls_protocol *p);

/* "1.2" / "1.3" for a version of *p (for digests and logs); "?" for anything else. */
const char *tg_tls_protocol_version_name(int version);

#endif
