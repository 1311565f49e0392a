/* path_normalize.h — the one canonical form of a request path that routing, every policy and the backend see.
 *
 * Owns: turning an origin-form request target ("/a/b?q") into its normal form the way Envoy's normalize_path +
 * merge_slashes and nginx's location matching read it (RFC 3986 §6.2.2 syntax-based normalisation, §5.2.4
 * remove_dot_segments), so that "//chat/secret", "/ch%61t/secret" or "/x/%2E%2E/chat/secret" can no longer
 * reach a location that "/chat/secret" would not (issue 11, path bypass). Pure: no I/O, no allocation, no
 * globals; O(n) time.
 *
 * Rules, in the order a path byte meets them (only the path: from the leading '/' up to the first '?'):
 *  1. The path must start with '/' (origin form; the caller handles "*" and takes the path out of an
 *     absolute-form target first) → else TG_PATH_BAD.
 *  2. Percent-encodings must be '%' HEXDIG HEXDIG → else TG_PATH_BAD. "%00" → TG_PATH_BAD (a NUL truncates
 *     paths in C backends). "%C0" / "%C1" → TG_PATH_BAD (bytes that only start overlong UTF-8 encodings, the
 *     classic "%c0%ae%c0%ae" = ".." of backends with lax UTF-8 decoders).
 *  3. An encoding of an unreserved character (ALPHA / DIGIT / "-" / "." / "_" / "~", RFC 3986 §2.3) is decoded
 *     ("%61" → "a", "%2E" → "."); every other encoding is kept, its hex digits upper-cased ("%3a" → "%3A"), and
 *     never decoded twice ("%252F" stays "%252F").
 *  4. An encoded slash "%2F" or encoded backslash "%5C" → TG_PATH_ENCODED_SLASH, unless the caller passes
 *     TG_PATH_ALLOW_ENCODED_SLASH: then it stays encoded ("%2F") and is NOT a segment delimiter, so "a%2F.." is
 *     one ordinary segment (Envoy's path_with_escaped_slashes_action: KEEP_UNCHANGED). The backend may decode it
 *     differently from this proxy; that is what opting in accepts (docs/security.md). With
 *     TG_PATH_DECODE_ENCODED_SLASH instead, "%2F" and "%5C" are decoded to '/' and delimit segments like it, so
 *     "/x%2F..%2Fchat" is "/chat" (Envoy's UNESCAPE_AND_FORWARD; "%5C" becomes '/' as a backslash does in
 *     Envoy's and WHATWG's normalisation). "%252F" is still never decoded twice.
 *  5. A raw backslash '\' → TG_PATH_BAD, always: it is not a URI character (RFC 3986 §2) and several servers
 *     and URL parsers (WHATWG for http(s), IIS) read it as '/'. '#' → TG_PATH_BAD: a request target has no
 *     fragment (RFC 9112 §3.2) and servers disagree on where such a path ends. Other bytes are kept as
 *     received (the HTTP parser has already limited the target to VCHAR).
 *  6. Segments are split on raw '/' only. Empty segments are dropped (merge_slashes: "//a///b" → "/a/b"),
 *     "." segments are dropped, ".." drops the previous segment and never climbs above the root ("/../a" →
 *     "/a") — judged after step 3, so "%2e%2E" is "..". A path that ended with "/", "/." or "/.." keeps a
 *     trailing "/" ("/a/b/.." → "/a/", "/a/" → "/a/"); "/" stays "/".
 *  7. The query ("?" and everything after it) is copied unchanged.
 * The result is idempotent (normalising it again with the same flags changes nothing), never longer than the
 * input, never contains "//", a "." or ".." segment, or an encoding of an unreserved character, and starts
 * with "/".
 */
#ifndef TG_PATH_NORMALIZE_H
#define TG_PATH_NORMALIZE_H

#include <stddef.h>

enum tg_path_status {
    TG_PATH_OK = 0,             /* *out_len bytes of normal form in out */
    TG_PATH_BAD = -1,           /* not a usable origin-form path (no leading '/', bad or NUL escape, raw '\',
                                   '#', overlong-UTF-8 lead byte): answer 400 */
    TG_PATH_ENCODED_SLASH = -2, /* "%2F" or "%5C" in the path without TG_PATH_ALLOW_ENCODED_SLASH: answer 400 */
    TG_PATH_TOO_LONG = -3,      /* out_cap ran out: the result does not fit, or (out_cap < len only) segments that
                                   a later ".." removes did not fit on the way. Never when out_cap >= len.
                                   Answer 414 */
};

/* Flags for tg_path_normalize. */
enum {
    TG_PATH_ALLOW_ENCODED_SLASH = 1u << 0,  /* keep "%2F"/"%5C" encoded, as part of their segment */
    TG_PATH_DECODE_ENCODED_SLASH = 1u << 1, /* decode "%2F"/"%5C" to '/', a delimiter (wins over ALLOW) */
};

/* What a "%2F" / "%5C" in a request path does (Envoy's path_with_escaped_slashes_action): the data plane's
 * --encoded-slashes default and an ApiProxy's spec.encodedSlashes ("reject", "keep", "decode"). */
enum tg_encoded_slashes {
    TG_ENCODED_SLASHES_REJECT = 0, /* 400 request.encoded_slash (the default; Envoy REJECT_REQUEST) */
    TG_ENCODED_SLASHES_KEEP,       /* kept encoded, part of its segment (Envoy KEEP_UNCHANGED); refused when the
                                      decoded path would route to another proxy */
    TG_ENCODED_SLASHES_DECODE,     /* decoded to '/' before normalisation, routed and forwarded decoded (Envoy
                                      UNESCAPE_AND_FORWARD) */
};

/* "reject", "keep" or "decode" (exactly) → *mode and 0; anything else → -1. */
int tg_encoded_slashes_parse(const char *s, enum tg_encoded_slashes *mode);

/* Whether the path part of in[0..len) (up to the first '?') holds "%2F" or "%5C" (any case): the paths whose
 * normal form depends on the encoded-slash mode. */
int tg_path_has_encoded_slash(const char *in, size_t len);

/* Normalises in[0..len) (an origin-form target: path and optional "?query") into out[0..out_cap) and sets
 * *out_len. in and out must not overlap. An out_cap of len bytes always suffices. On any status but TG_PATH_OK
 * *out_len is 0 and out holds nothing useful. */
enum tg_path_status tg_path_normalize(const char *in, size_t len, unsigned flags, char *out, size_t out_cap,
                                      size_t *out_len);

/* Short fixed name of a status for logs ("ok", "bad", "encoded_slash", "too_long"). */
const char *tg_path_status_str(enum tg_path_status st);

/* The HTTP status code to answer a failed normalisation with: 400 (BAD, ENCODED_SLASH), 414 (TOO_LONG); 0 for
 * TG_PATH_OK. */
int tg_path_status_answer(enum tg_path_status st);

#endif
