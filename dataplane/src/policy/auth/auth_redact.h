/* auth_redact.h — redaction of requests for whoever records them (log lines, debug sessions, analytics): which
 * parts of a request carry credentials, and loggable copies of a request with those parts replaced by
 * "[redacted]".
 *
 * What carries a credential, for requests to a proxy px (px may be NULL: unrouted requests):
 *   - the header fields and query parameters px's verifyApiKey / oauthV2 policies read keys and tokens from
 *     (their keyFrom / tokenFrom locations; each policy answers for its own state: tg_verify_api_key_reads,
 *     tg_oauth_v2_reads);
 *   - whatever the policies: the fields Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key
 *     (any case) and the query parameters apikey, api_key, access_token (any case);
 *   - in Sec-WebSocket-Protocol, the entries that carry a token under px's "subprotocol:" locations (the entry
 *     after a marker, "PREFIX.<token>" entries); the other entries (the protocols offered) stay readable.
 * Query parameter names are compared after percent-decoding, so "?api%6Bey=..." is redacted too.
 *
 * The proxy layer calls tg_redact_request (or the two pieces) before a request's target or fields reach a log
 * line or a record; common/log.c scrubs every line once more for credential-shaped text (log.h), but only
 * this file knows a proxy's own header and query names. Every function writes at most out_size - 1 bytes and
 * a NUL (out_size > 0), cuts long output rather than failing, and returns the length written; a credential is
 * replaced before anything is written, so a cut never shows part of one. */
#ifndef TG_AUTH_REDACT_H
#define TG_AUTH_REDACT_H

#include "config/snapshot.h"
#include "http1_parser.h"

#include <stddef.h>

#define TG_REDACTED "[redacted]"

/* 1 when the header field name (any case) may hold a credential for requests to px. */
int tg_auth_is_credential_header(const struct tg_proxy_cfg *px, const char *name, size_t len);
/* 1 when the query parameter name (as decoded) may hold a credential for requests to px. */
int tg_auth_is_credential_query(const struct tg_proxy_cfg *px, const char *name, size_t len);
/* Writes the Sec-WebSocket-Protocol value with every entry that could carry a token under px's subprotocol
 * locations replaced by "[redacted]" (entries equal to a marker are kept, the entry after a marker is
 * replaced). */
size_t tg_auth_redact_subprotocols(const struct tg_proxy_cfg *px, const char *value, size_t len, char *out,
                                   size_t out_size);

/* A loggable request target: the path as received; each query parameter that may carry a credential keeps
 * its name and gets the value "[redacted]" ("/chat?apikey=[redacted]&room=1"); userinfo of an absolute-form
 * target ("http://user:pw@host/") becomes "[redacted]". */
size_t tg_redact_target(const struct tg_proxy_cfg *px, struct tg_slice target, char *out, size_t out_size);
/* A loggable header field value: "[redacted]" for a credential field (Authorization and Proxy-Authorization
 * keep their scheme: "Bearer [redacted]"), Sec-WebSocket-Protocol as tg_auth_redact_subprotocols, any other
 * field as received. */
size_t tg_redact_header_value(const struct tg_proxy_cfg *px, struct tg_slice name, struct tg_slice value,
                              char *out, size_t out_size);
/* A loggable one-line summary of a request head: "GET /chat?apikey=[redacted] HTTP/1.1 | Host: a |
 * Authorization: Bearer [redacted] | ..." (every field, in order, each value as tg_redact_header_value). */
size_t tg_redact_request(const struct tg_proxy_cfg *px, const struct tg_http_head *req, char *out,
                         size_t out_size);

/* A loggable URL of a peer the policies call (JWKS, introspection): userinfo becomes "[redacted]" and a query,
 * whatever its names, "?[redacted]" ("https://[redacted]@idp.example/jwks?[redacted]"). */
size_t tg_redact_url(const char *url, char *out, size_t out_size);

/* Each auth policy answers for its own compiled state (policy_verify_api_key.c, policy_oauth_v2.c): 1 when it
 * reads a credential from the header/query parameter name (kind: enum tg_cred_loc_kind); for subprotocol entries
 * 1 when the entry carries a token, 2 when it is a marker (the next entry is the token). */
int tg_verify_api_key_reads(const void *state, int kind, const char *name, size_t len);
int tg_oauth_v2_reads(const void *state, int kind, const char *name, size_t len);

#endif
