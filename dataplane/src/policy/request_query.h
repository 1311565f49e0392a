/* request_query.h — the query string of a request target (RFC 3986 §3.4), as the policies read it: split into
 * "name=value" pairs at '&', names compared byte for byte (case-sensitive, not decoded), values decoded as
 * application/x-www-form-urlencoded (WHATWG URL §5.1: "%XX" escapes, "+" is a space).
 *
 * Pure functions over the target slice: no allocation, no I/O. Used by the credential locations ("query:NAME",
 * auth_location.h) and by redaction (auth_redact.h), which walks every pair with tg_query_next. */
#ifndef TG_REQUEST_QUERY_H
#define TG_REQUEST_QUERY_H

#include "http1_parser.h"

#include <stddef.h>

/* One pair of a query string: slices into the target, as received (not decoded). A pair without "=" has
 * has_value = 0 and an empty value. */
struct tg_query_pair {
    struct tg_slice name;
    struct tg_slice value;
    int has_value;
};

/* Walks the pairs of target's query: start with *pos = 0; each call fills *pair and returns 1, or returns 0
 * after the last pair. *pos is an offset into target (the caller keeps it opaque). Empty pairs ("a=1&&b=2")
 * are returned as pairs with an empty name. A target without '?' has no pairs. */
int tg_query_next(struct tg_slice target, size_t *pos, struct tg_query_pair *pair);

/* The first pair named name (exact bytes); 1 with *pair filled, or 0 when absent. */
int tg_query_find(struct tg_slice target, const char *name, struct tg_query_pair *pair);

/* Decodes one form-urlencoded value into out (NUL-terminated). Returns its length, or -1 on a bad escape
 * ("%" not followed by two hex digits) or when it does not fit in out_size - 1 bytes. */
long tg_query_decode(struct tg_slice value, char *out, size_t out_size);

/* The decoded value of the first pair named name into out: its length (0 for "name=" or a bare "name"), or -1
 * when absent or undecodable (tg_query_decode). */
long tg_query_param(struct tg_slice target, const char *name, char *out, size_t out_size);

#endif
