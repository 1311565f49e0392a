/* auth_location.h — where the authentication policies find a credential in a request: "header:NAME",
 * "query:NAME", and (oauthV2 only) "subprotocol:PREFIX", the Sec-WebSocket-Protocol bearer convention that
 * browsers use because their WebSocket API cannot set headers.
 *
 * Subprotocol convention (documented in docs/policy-auth.md), for a location "subprotocol:P":
 *   - an entry equal to P is a marker and the NEXT entry is the token   ("bearer, eyJhbGc..., chat");
 *   - an entry "P.<token>" carries the token after the dot             ("bearer.eyJhbGc..., chat");
 *     when P itself ends with "." the token is simply what follows P    ("base64url.bearer.authorization.k8s.io.TOKEN").
 * Entries are compared case-sensitively (RFC 6455 §4.1: subprotocol names are case-sensitive). Every field of
 * Sec-WebSocket-Protocol is read (it may be repeated, RFC 6455 §11.3.4). The entries that carried the token are
 * not forwarded: the caller sets the request's Sec-WebSocket-Protocol to `rest` (or removes it when empty), so
 * the backend never sees the token and never picks the marker as the session's protocol. */
#ifndef TG_AUTH_LOCATION_H
#define TG_AUTH_LOCATION_H

#include "http1_parser.h"

#include <jansson.h>
#include <stddef.h>

#define TG_CRED_MAX_LOCATIONS 8

enum tg_cred_loc_kind { TG_LOC_HEADER = 0, TG_LOC_QUERY, TG_LOC_SUBPROTOCOL };

struct tg_cred_location {
    enum tg_cred_loc_kind kind;
    char spec[272]; /* the whole "kind:NAME", as given */
    const char *name; /* points into spec, after the colon */
};

/* Parses "header:NAME" / "query:NAME" / "subprotocol:PREFIX" (NAME: 1..256 RFC 9110 token characters).
 * Subprotocol locations only when allow_subprotocol. 0, or -1 with a reason in err. */
int tg_cred_location_parse(const char *spec, int allow_subprotocol, struct tg_cred_location *out, char *err,
                           size_t err_size);
/* The list field of an authentication policy (verifyApiKey "keyFrom", oauthV2 "tokenFrom") in spec: an array of
 * 1 to TG_CRED_MAX_LOCATIONS strings, each parsed as above into out; *n is set on success. 0, or -1 with
 * "<field>: ..." or "<field>[i]: <reason>" in err. */
int tg_cred_locations_compile(const json_t *spec, const char *field, int allow_subprotocol,
                              struct tg_cred_location out[TG_CRED_MAX_LOCATIONS], size_t *n, char *err,
                              size_t err_size);

/* Reads the credential at loc into out (NUL-terminated). Returns its length; 0 when the location holds nothing;
 * -1 when a value is there but unusable (too long for out, bad percent-escape, empty). For subprotocol
 * locations `rest` receives the remaining entries ("a, b"), or "" (rest may be NULL for other kinds); -2 when
 * they do not fit in rest_size. */
long tg_cred_location_read(const struct tg_http_head *req, const struct tg_cred_location *loc, char *out,
                           size_t out_size, char *rest, size_t rest_size);

/* Parameter pollution (docs/security.md "One credential"): 1 when one of the n locations holds more than one
 * credential — a header location's field appears twice, a query location's parameter twice (names compared
 * after percent-decoding, as a backend would read them) — else 0. Subprotocol locations are not counted (their
 * entries are a list by design). The same credential in two different locations is not a repetition. */
int tg_cred_locations_repeated(const struct tg_http_head *req, const struct tg_cred_location *locs, size_t n);

#endif
