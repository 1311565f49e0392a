/* header_rules.h — which header edits a policy may make (assignMessage, CORS header lists), shared by the
 * controller (translation errors) and the data plane (snapshot validation) so both judge alike.
 *
 * Names are RFC 9110 §5.1 tokens. An edit name has at most TG_EDIT_NAME_MAX characters and is not a field the
 * proxy owns: framing and hop-by-hop fields (Connection, Upgrade, Content-Length, Transfer-Encoding, TE,
 * Trailer, Keep-Alive, Proxy-Connection; RFC 9110 §7.6.1, RFC 9112 §6), the Sec-WebSocket-* handshake fields
 * (RFC 6455 §4), and on requests Host. Values (RFC 9110 §5.5 field-value) have at most TG_EDIT_VALUE_MAX bytes
 * of VCHAR, obs-text, SP and HTAB, without leading or trailing whitespace: no CR, LF, NUL or other controls,
 * so an edit can never inject a header line. The limits are those of struct tg_header_edit (policy.h). */
#ifndef TG_HEADER_RULES_H
#define TG_HEADER_RULES_H

#include <stddef.h>

#define TG_EDIT_NAME_MAX 63
#define TG_EDIT_VALUE_MAX 383
#define TG_EDITS_MAX 16 /* request (or response) edits per request: TG_POLICY_MAX_EDITS */

/* 1 when s[0..len) is a token of 1..max characters. */
int tg_http_token_ok(const char *s, size_t len, size_t max);
/* NULL when name may be edited (request: toward the target; else: toward the client), or a static reason. */
const char *tg_header_edit_name_check(const char *name, int request);
/* NULL when value (len bytes) may be set, or a static reason. */
const char *tg_header_edit_value_check(const char *value, size_t len);

#endif
