/* upstream_tls.h — a proxy's TLS toward its backends (the snapshot's proxies[].target.tls, docs/control-protocol.md):
 * parsed once, on the main thread, into a client SSL_CTX that every worker then shares read-only (OpenSSL
 * reference-counts it: a connection started on it keeps it alive after its snapshot is gone).
 *
 * What the context does: TLS 1.2–1.3 (or the minVersion–maxVersion asked), OpenSSL's cipher lists (or the
 * "ciphers" / "cipherSuites" asked: config/tls_protocol.h, as a group's tlsOptions), ALPN http/1.1,
 * SSL_MODE_RELEASE_BUFFERS; the backend's certificate is verified against caPem (the bundle's certificates are
 * trust anchors, an intermediate included) or, without it, the system store, and must name serverName (or, without
 * one, the endpoint's IP address) — unless insecureSkipVerify, which is logged when the snapshot is built; with
 * crlPem (at most 64 CRLs; not with insecureSkipVerify) the leaf certificate is also checked for revocation, and a
 * missing or expired CRL of its issuer fails the verification as a revoked certificate does; an optional client
 * certificate and key (mTLS); new sessions go to the caller's slots (tls_transport.h) for resumption.
 *
 * Key material: the PEM text is read from the snapshot document and never copied, logged or put in an error.
 * The settings' digest (`profile`) keys the endpoints (endpoint.h), so connections of different settings never
 * share a keep-alive pool or a cached session.
 */
#ifndef TG_UPSTREAM_TLS_H
#define TG_UPSTREAM_TLS_H

#include "config/tls_protocol.h"

#include <jansson.h>
#include <openssl/ssl.h>

struct tg_upstream_tls {
    SSL_CTX *ctx;                   /* one reference */
    const char *server_name;        /* SNI and the name verified; "" = no SNI, the endpoint's IP is verified */
    int verify;                     /* 0 only with insecureSkipVerify */
    int client_cert;                /* a client certificate is presented */
    int crl_check;                  /* the leaf certificate is checked against crlPem's CRLs */
    struct tg_tls_protocol protocol; /* versions and cipher lists (its lists point into the snapshot document) */
    char profile[33];               /* hex digest of every setting above (and the PEM texts) */
};

/* Parses obj (a proxy's "tls" object with "enabled": true; path names it in errors: "proxies[2].target.tls") and
 * builds the context. proxy_id names the proxy in the insecureSkipVerify warning. Returns NULL after appending
 * one string per problem to errors. */
struct tg_upstream_tls *tg_upstream_tls_build(const json_t *obj, const char *path, const char *proxy_id,
                                              json_t *errors);
void tg_upstream_tls_free(struct tg_upstream_tls *t);

#endif
