/* tls_certs.h — the TLS listener's certificates of one snapshot: the "tls" entries of the snapshot's groups
 * (docs/control-protocol.md: {"hostnames", "certPem", "keyPem"}) parsed once, on the main thread, into server
 * SSL_CTXs keyed by hostname, then read-only from every worker (an SSL_CTX is reference-counted and safe to
 * share; a handshake that picked one keeps it alive after its snapshot is gone, which is why a swap never
 * touches an established session).
 *
 * Several entries may cover one hostname: their certificates are loaded side by side into that hostname's
 * context (OpenSSL keeps one certificate per key type, so an ECDSA and an RSA certificate coexist and the
 * client's signature algorithms pick; of two with one key type the earlier entry wins). An entry without
 * "hostnames" covers all of its group's. A group's default context (for a name the group serves that no entry
 * names, e.g. under a wildcard) holds all of the group's entries.
 *
 * A group's "tlsOptions" give its protocol versions and cipher lists (parsed and checked against OpenSSL by
 * config/tls_protocol.h, applied per handshake by the listener) and "defaultCertificate": its certificates answer
 * a ClientHello without SNI or with a name no certificate covers (the first such group; the controller lets only
 * the oldest say so). The snapshot's "tlsDefault" (the controller's cluster-wide default certificate, with its own
 * "tlsOptions") answers them when no group says so.
 *
 * Key material: the PEM text is read from the snapshot document and never copied, logged or put in an error
 * (errors name the field and OpenSSL's reason only).
 */
#ifndef TG_TLS_CERTS_H
#define TG_TLS_CERTS_H

#include "config/tls_protocol.h"
#include "strmap.h"

#include <jansson.h>
#include <openssl/ssl.h>
#include <stddef.h>

/* What a handshake is given: a certificate context and the policy of the group it belongs to (its "tlsOptions",
 * docs/control-protocol.md: applied to each handshake whose certificate it chose; a NULL cipher list there is the
 * listener's default). */
struct tg_tls_site {
    SSL_CTX *ctx;
    const struct tg_tls_protocol *policy;
};

struct tg_tls_certs {
    struct tg_strmap exact;         /* "api.example.com" → struct tg_tls_site* */
    struct tg_strmap wildcard;      /* ".ws.example.com" ("*" removed) → struct tg_tls_site* */
    struct tg_tls_site **group_default; /* by group index; NULL where the group has no certificate */
    struct tg_tls_protocol *policies; /* by group index */
    size_t num_groups;
    const struct tg_tls_site *fallback; /* the default of the first group with "defaultCertificate", else
                                         * last_resort (NULL: neither) */
    const struct tg_tls_site *last_resort; /* "tlsDefault", or NULL */
    struct tg_tls_protocol last_resort_policy;
    struct tg_tls_site **owned;     /* every site built (its context holds one reference) */
    size_t num_owned;
    size_t num_certs;               /* certificates parsed (for /config and logs) */
};

/* A server context with the listener's settings: TLS 1.2–1.3, the modern cipher list, ALPN http/1.1,
 * SSL_MODE_RELEASE_BUFFERS, no renegotiation, one session-id context (so a session resumes whichever
 * certificate context the handshake ends on). NULL on failure. */
SSL_CTX *tg_tls_server_ctx_new(void);

/* Builds the certificates of groups (the snapshot's "groups" array, already checked to be an array of
 * objects) and of tls_default (the snapshot's "tlsDefault" object, or NULL). Appends one string per problem to
 * errors ("groups[0].tls[1].keyPem: does not match the certificate (...)") and returns NULL when there was any;
 * an empty result (no group has "tls") is valid. */
struct tg_tls_certs *tg_tls_certs_build(const json_t *groups, const json_t *tls_default, json_t *errors);
void tg_tls_certs_free(struct tg_tls_certs *t);

/* Before tg_tls_certs_build: each entry {"hostnames", "secret", "lastGood": true} of groups (a Secret that has no
 * usable content now) takes "certPem" and "keyPem" from the entry of prev_groups (the snapshot in use; NULL:
 * none) that came from the same "secret"; a marker nothing matches is removed (its hostnames go without that
 * certificate) and logged. Edits groups in place. */
void tg_tls_certs_keep_last_good(json_t *groups, const json_t *prev_groups);

/* The same for the snapshot document's "tlsDefault" {"secret", "lastGood": true, "tlsOptions"}: it takes "certPem"
 * and "keyPem" from prev_doc's "tlsDefault" (NULL: none) when that came from the same "secret"; otherwise
 * "tlsDefault" is removed (logged). */
void tg_tls_certs_keep_last_good_default(json_t *doc, const json_t *prev_doc);

/* The site for SNI name (lower-case, no trailing dot; len bytes): the exact hostname, else the longest
 * wildcard, else the default of group_index (the group that serves name, SIZE_MAX: none). NULL: none. */
const struct tg_tls_site *tg_tls_certs_find(const struct tg_tls_certs *t, const char *name, size_t len, size_t group_index);

#endif
