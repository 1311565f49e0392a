/* traffic_identifier.h — what quota and spikeArrest count separately: the "identifier" of their snapshot
 * objects (docs/policy-traffic.md).
 *
 *   (absent)        one counter for every request to the proxy
 *   "apikey"        the API key admitted by an earlier verifyApiKey: its app (the tollgate.dev/app label, so
 *                   that the keys of one app share a count and a rotated key keeps it), or its Secret
 *                   namespace/name when it has no app
 *   "client_ip"     the client address (the TCP peer, or what an earlier accessControl derived from
 *                   X-Forwarded-For behind trusted proxies)
 *   "claim:NAME"    a claim of the token admitted by an earlier oauthV2 ("jwt:NAME" is the same)
 *   "header:NAME"   the value of a request header (the first field of that name)
 * When the request has no such value (no key admitted yet, no claim, no header) the client address is used
 * instead, as Kong's rate limiting does, so a missing value never merges everybody into one counter.
 *
 * The value becomes a short printable text that names the counter (in Redis keys, too): "app:chat-client",
 * "ip:203.0.113.9", "claim:alice", "all"; a header value, and any value over 128 bytes or with bytes outside
 * visible ASCII, is replaced by "<kind>#" and the first 32 hex digits of its SHA-256, so credentials sent in
 * headers never end up in Redis in the clear. */
#ifndef TG_TRAFFIC_IDENTIFIER_H
#define TG_TRAFFIC_IDENTIFIER_H

#include "rate_identifier.h"

#include <jansson.h>
#include <stddef.h>

struct tg_policy_ctx;

#define TG_IDENT_TEXT_MAX 160

/* Reads the optional "identifier" field of a quota or spikeArrest object (absent: ALL). 0, or -1 with
 * "identifier: <reason>" in err (a JSON null or another non-string is "must be a string"). */
int tg_identifier_compile(const json_t *spec, struct tg_identifier *out, char *err, size_t err_size);

/* The counter name of this request into out[TG_IDENT_TEXT_MAX]; returns its length. */
size_t tg_identifier_text(const struct tg_identifier *id, const struct tg_policy_ctx *ctx, char *out);

#endif
