/* auth_redact.h — which parts of a request carry credentials, for whoever records requests (debug sessions,
 * analytics, logs): the locations the proxy's verifyApiKey / oauthV2 policies read keys and tokens from, plus
 * the fields that carry credentials whatever the policies (Authorization, Proxy-Authorization, Cookie,
 * X-Api-Key) and the usual query parameters (apikey, api_key, access_token). A recorder replaces such values
 * with "[redacted]"; for Sec-WebSocket-Protocol it keeps the entries tg_auth_redact_subprotocols leaves. */
#ifndef TG_AUTH_REDACT_H
#define TG_AUTH_REDACT_H

#include "config/snapshot.h"

#include <stddef.h>

/* 1 when the header field name (any case) may hold a credential for requests to px (px may be NULL). */
int tg_auth_is_credential_header(const struct tg_proxy_cfg *px, const char *name, size_t len);
/* 1 when the query parameter name (exact) may hold a credential for requests to px (px may be NULL). */
int tg_auth_is_credential_query(const struct tg_proxy_cfg *px, const char *name, size_t len);
/* Writes the Sec-WebSocket-Protocol value with every entry that could carry a token under px's subprotocol
 * locations replaced by "[redacted]" (entries equal to a marker are kept, the entry after a marker is
 * replaced). Returns the length written (truncated to out_size - 1). */
size_t tg_auth_redact_subprotocols(const struct tg_proxy_cfg *px, const char *value, size_t len, char *out,
                                   size_t out_size);

/* Each auth policy answers for its own compiled state (policy_verify_api_key.c, policy_oauth_v2.c): 1 when it
 * reads a credential from the header/query parameter name (kind: enum tg_cred_loc_kind); for subprotocol entries
 * 1 when the entry carries a token, 2 when it is a marker (the next entry is the token). */
int tg_verify_api_key_reads(const void *state, int kind, const char *name, size_t len);
int tg_oauth_v2_reads(const void *state, int kind, const char *name, size_t len);

#endif
