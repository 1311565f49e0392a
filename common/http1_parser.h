/* http1_parser.h — the project's strict, pure HTTP/1.1 message-head parser and body framers.
 *
 * Owns: parsing a request or response head (start line + header fields) out of a byte buffer, the
 * RFC 9112 framing decision (Content-Length, chunked, close-delimited, none), Connection/Upgrade token
 * lists, and an incremental chunked-body scanner that finds where a chunked body ends without copying it.
 *
 * Pure: no I/O, no allocation, no globals. Restartable: a caller that has only part of a head calls
 * again with more bytes (the parser re-scans from the start; heads are bounded by max_head_bytes, so this
 * is cheap) and gets TG_HTTP_INCOMPLETE until the terminating empty line arrives. The chunked scanner is
 * a true state machine and can be fed one byte at a time.
 *
 * Strictness (RFC 9112 §2.2, §3, §5, §6, §7): rejects bare CR, obs-fold, whitespace between field name
 * and colon, invalid token characters in method/field names, control characters in values, requests with
 * both Content-Length and Transfer-Encoding, repeated or listed Content-Length (requests; differing ones in
 * responses), a Connection field nominating framing fields (requests), a Transfer-Encoding whose
 * final coding is not chunked (requests), bad chunk sizes, HTTP versions other than 1.0/1.1.
 * Line terminators: CRLF only. RFC 9112 §2.2 lets a recipient accept a lone LF; this parser rejects it (and a
 * bare CR) so that no peer behind the proxy can split the same bytes into different messages (smuggling).
 * The one leniency RFC 9112 §2.2 asks of servers is kept: empty lines (CRLF) before a request-line are skipped
 * (they count in head_len).
 *
 * Determinism (the restartable contract, checked by tests/fuzz/fuzz_http1_parser.c): bytes are judged left to
 * right, so if a prefix of some input gets a final answer (anything but TG_HTTP_INCOMPLETE), the whole input
 * gets the same answer, and a complete head gives the same head whatever follows it. A prefix that ends inside
 * a line that can no longer become valid (e.g. a control character in a method) is rejected at once.
 *
 * Cost: every call re-scans from buf[0] (about 20 us for a full 32 KiB head). A peer that sends a head one byte
 * per read would make that quadratic (~0.8 s of CPU for 32 KiB), so callers should gate re-parses with
 * tg_http1_need_reparse(): only a new LF or reaching the limit can change INCOMPLETE into OK or a limit error,
 * and other final answers (an early BAD) are then reported at the next LF instead, identically.
 */
#ifndef TG_HTTP1_PARSER_H
#define TG_HTTP1_PARSER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum tg_http_status {
    TG_HTTP_OK = 0,            /* a complete head was parsed; see head_len */
    TG_HTTP_INCOMPLETE = -1,   /* need more bytes (and the bytes seen so far are valid) */
    TG_HTTP_BAD = -2,          /* malformed / ambiguous: answer 400 and close */
    TG_HTTP_HEAD_TOO_LARGE = -3, /* head (or a single line) is over the limit: answer 431 */
    TG_HTTP_TOO_MANY_HEADERS = -4, /* more than TG_HTTP_MAX_HEADERS fields: answer 431 */
    TG_HTTP_BAD_VERSION = -5,  /* not HTTP/1.0 or HTTP/1.1: answer 505 */
    TG_HTTP_BAD_CONNECTION = -6, /* requests: Connection nominates a framing or handshake field (Content-Length,
                                    Transfer-Encoding, Host; Sec-WebSocket-* on an upgrade): answer 400 and close */
    TG_HTTP_UNKNOWN_CODING = -7, /* requests: Transfer-Encoding is well-formed and ends in chunked but lists
                                    another coding too ("gzip, chunked"): answer 501 and close (RFC 9112 §6.1) */
};

/* Every status other than OK and INCOMPLETE is final: the connection is answered and closed. What to answer:
 * BAD, BAD_CONNECTION → 400; HEAD_TOO_LARGE, TOO_MANY_HEADERS → 431; BAD_VERSION → 505; UNKNOWN_CODING → 501.
 * A caller that maps only the first five to their own answers and the rest to 400 stays safe (it refuses),
 * it merely answers 400 where 501 is due. tg_http_status_answer() gives the status code. */

#define TG_HTTP_MAX_HEADERS 128

/* A slice of the caller's buffer (not NUL-terminated). */
struct tg_slice {
    const char *ptr;
    size_t len;
};

struct tg_http_header {
    struct tg_slice name;  /* as received (case preserved) */
    struct tg_slice value; /* leading and trailing OWS removed */
};

enum tg_body_framing {
    TG_BODY_NONE = 0,       /* no body (requests without CL/TE, 1xx/204/304, responses to HEAD) */
    TG_BODY_LENGTH,         /* exactly content_length bytes */
    TG_BODY_CHUNKED,        /* chunked; use tg_chunked_scanner to find the end */
    TG_BODY_UNTIL_CLOSE,    /* responses only: body runs until the server closes */
};

/* Connection header tokens and other facts derived from the fields (RFC 9110 §7.6.1). */
enum {
    TG_CONN_CLOSE = 1u << 0,      /* "close" token present */
    TG_CONN_KEEP_ALIVE = 1u << 1, /* "keep-alive" token present */
    TG_CONN_UPGRADE = 1u << 2,    /* "upgrade" token present (token list: "keep-alive, Upgrade" counts) */
    TG_CONN_OTHER = 1u << 3,      /* a non-empty token other than those three: it names a field to drop */
};

struct tg_http_head {
    /* request line (requests) */
    struct tg_slice method;
    struct tg_slice target;       /* request-target as received (origin-form or absolute-form) */
    /* status line (responses) */
    int status;                   /* 100..999 */
    struct tg_slice reason;
    /* both */
    int minor_version;            /* 0 or 1 */
    size_t head_len;              /* bytes of the head including the final CRLF CRLF */
    size_t num_headers;
    struct tg_http_header headers[TG_HTTP_MAX_HEADERS];
    /* derived */
    enum tg_body_framing framing;
    uint64_t content_length;      /* valid when framing == TG_BODY_LENGTH */
    unsigned connection_flags;    /* TG_CONN_* */
    int keep_alive;               /* 1 when the connection persists after this message (version + tokens) */
    struct tg_slice host;         /* Host field value (requests), empty when absent */
    struct tg_slice upgrade;      /* Upgrade field value, empty when absent */
    /* set on every final answer other than TG_HTTP_OK: a short fixed text for logs and error bodies
     * ("duplicate Content-Length", ...); NULL on OK and INCOMPLETE */
    const char *error;
};

/* Parses a request head from buf[0..len). On TG_HTTP_OK fills *head (slices point into buf); on any other
 * result *head holds nothing useful. Bytes after head_len (a body, the next pipelined request) are not looked at.
 * max_head_bytes bounds the whole head (request line + fields + final CRLF): a head of exactly max_head_bytes is
 * accepted; once len >= max_head_bytes and buf[0..max_head_bytes) holds no complete head →
 * TG_HTTP_HEAD_TOO_LARGE, without waiting for the rest. Requests (RFC 9112 §3.2, §6.1, §6.3): HTTP/1.1 without
 * Host → TG_HTTP_BAD; more than one Host, or a Host value with characters outside RFC 3986 host[:port] → BAD;
 * TE present on HTTP/1.0 → BAD; CL+TE → BAD; TE whose last coding is not "chunked", "chunked" twice, or
 * "chunked" with parameters → BAD; Content-Length not exactly one field of 1*DIGIT → BAD (a repeated field or a
 * comma list is refused even when the values agree: RFC 9110 §8.6 lets a recipient reject it, and a peer that
 * reads "5, 5" differently must never see it); a Connection field naming Content-Length, Transfer-Encoding or
 * Host, or (when Connection has the "upgrade" token) Sec-WebSocket-Key/-Version/-Protocol/-Extensions →
 * BAD_CONNECTION (a hop-by-hop removal of those would change the message's framing, routing or handshake; the
 * "upgrade" token itself is the handshake and is fine); a well-formed TE ending in chunked that lists any other
 * coding ("gzip, chunked", two TE fields "gzip" and "chunked") → UNKNOWN_CODING (501: only chunked is
 * implemented, as nginx does). Precedence when several apply: BAD, then BAD_CONNECTION, then UNKNOWN_CODING.
 * Framing: TE chunked → CHUNKED; CL → LENGTH (also when 0); neither → NONE.
 * keep_alive: HTTP/1.1 unless a "close" token; HTTP/1.0 only with a "keep-alive" token and no "close".
 * The target is only checked to be 1*VCHAR; its form (origin/absolute/authority/asterisk) is the caller's job,
 * as is preferring an absolute-form target's authority over Host (RFC 9112 §3.2.2). */
enum tg_http_status tg_http1_parse_request(const char *buf, size_t len, size_t max_head_bytes,
                                           struct tg_http_head *head);

/* Parses a response head. request_method is the method of the request it answers ("HEAD" → no body),
 * so framing is right (RFC 9112 §6.3, in this order): HEAD, 1xx (incl. 101), 204, 304, and 2xx to CONNECT →
 * NONE; TE whose final coding is chunked → CHUNKED; TE otherwise → UNTIL_CLOSE; CL → LENGTH; otherwise
 * UNTIL_CLOSE. CL+TE: TE wins and keep_alive = 0 (a forwarding caller must drop the Content-Length field).
 * UNTIL_CLOSE always has keep_alive = 0. TE on an HTTP/1.0 response, "chunked" twice, a bad or differing CL
 * → BAD (answer 502). The status line may omit the reason phrase, with or without its SP. */
enum tg_http_status tg_http1_parse_response(const char *buf, size_t len, size_t max_head_bytes,
                                            struct tg_slice request_method, struct tg_http_head *head);

/* After a parse of buf[0..prev_len) returned TG_HTTP_INCOMPLETE and more bytes arrived (len > prev_len): 1 when
 * parsing buf[0..len) is worth doing now — the new bytes hold a '\n' or len reached max_head_bytes — else 0.
 * Skipping a parse when this says 0 never changes the final answer, only delays an early TG_HTTP_BAD (or
 * TOO_MANY_HEADERS / BAD_VERSION) to the next line end. prev_len 0 = nothing parsed yet: always 1. */
int tg_http1_need_reparse(const char *buf, size_t prev_len, size_t len, size_t max_head_bytes);

/* The four request-target forms (RFC 9112 §3.2). */
enum tg_target_form {
    TG_TARGET_BAD = -1,      /* none of the forms, the wrong form for the method, or an absolute-form / authority-form
                                authority that is not a valid host[:port]: answer 400 */
    TG_TARGET_ORIGIN = 0,    /* "/path?query" */
    TG_TARGET_ABSOLUTE = 1,  /* "http://authority/path?query" ("http" or "https", any case) */
    TG_TARGET_AUTHORITY = 2, /* "host:port", CONNECT only */
    TG_TARGET_ASTERISK = 3,  /* "*", OPTIONS only */
};

struct tg_http_target {
    struct tg_slice authority; /* absolute- and authority-form: host[:port] as received; else empty */
    struct tg_slice path;      /* origin-form: the whole target; absolute-form: what follows the authority (may be
                                  empty or start with '?': its origin-form is then "/" + path, §3.2.2); else empty */
};

/* Classifies a request target and splits an absolute-form one (RFC 9112 §3.2, §3.2.2): the authority of an
 * absolute-form target replaces Host for routing AND for what is forwarded, and is validated like Host (the
 * characters of host[:port], a non-empty host, a numeric port of at most 5 digits, no userinfo — RFC 9110
 * §4.2.4 forbids "user@"); another scheme than http/https → BAD. CONNECT takes authority-form only (with a
 * port), "*" goes with OPTIONS only, every other method takes origin- or absolute-form. */
enum tg_target_form tg_http_parse_target(struct tg_slice method, struct tg_slice target, struct tg_http_target *out);

/* Short fixed name of a status for logs ("ok", "incomplete", "bad", ...). */
const char *tg_http_status_str(enum tg_http_status st);

/* The HTTP status code a server answers a final parse result with (400, 431, 501, 505); 0 for OK/INCOMPLETE. */
int tg_http_status_answer(enum tg_http_status st);

/* Case-insensitive field lookup; returns the first match or NULL. */
const struct tg_http_header *tg_http_find_header(const struct tg_http_head *head, const char *name);

/* 1 when the comma-separated token list in value contains token (case-insensitive, OWS trimmed; an element
 * matches only as a whole, so "upgradex" or "upgrade;x" do not match "upgrade"). */
int tg_http_list_has_token(struct tg_slice value, const char *token);

/* 1 when a[0..n) equals b[0..n), ignoring ASCII case. */
int tg_mem_eq_nocase(const char *a, const char *b, size_t n);

/* 1 when the slice equals the NUL-terminated string, ignoring ASCII case. Inline so that the compiler folds the
 * length of a literal and most mismatches end at the length compare (the out-of-line version's strlen per
 * call was ~1.5k instructions of a WebSocket handshake; issue 15). */
static inline int tg_slice_eq_nocase(struct tg_slice s, const char *str)
{
    size_t n = strlen(str);
    return s.len == n && tg_mem_eq_nocase(s.ptr, str, n);
}

/* Incremental chunked-body scanner (RFC 9112 §7.1): feed it the raw body bytes as they arrive; it tells how
 * many of them belong to the body (chunk sizes, extensions, data, last-chunk, trailer section, final CRLF)
 * so the caller can forward exactly those bytes and keep the rest (the next pipelined message).
 * Chunk-size lines (size + extensions) and trailer lines are bounded by TG_CHUNK_LINE_MAX bytes (CRLF not
 * counted), the whole trailer section by TG_CHUNK_TRAILER_MAX, and sizes by 2^62 (leading zeros are fine).
 * Grammar enforced: chunk-size = 1*HEXDIG, chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS (token /
 * quoted-string) ] ), CRLF right after each chunk's data, trailer lines are field lines (token ":" value,
 * no obs-fold), and the body ends with an empty line. State is carried across calls, so any split works.
 * Trailer fields that must never appear after the content (RFC 9110 §6.5.1: framing, routing, connection
 * management) are refused with TG_CHUNKED_BAD, decided on the ':' that ends the name: Content-Length,
 * Transfer-Encoding, Host, Trailer, Connection, Keep-Alive, Proxy-Connection, TE, Upgrade (any case). *error
 * then says "forbidden trailer field"; every BAD sets error (a fixed text). */
#define TG_CHUNK_LINE_MAX 4096
#define TG_CHUNK_TRAILER_MAX 32768
struct tg_chunked_scanner {
    int state;                 /* internal; zero-initialised = start of body */
    uint64_t remaining;        /* data bytes left in the current chunk (the size being read, in a size line) */
    size_t line_len;           /* length of the current size/trailer line so far */
    uint64_t body_bytes;       /* total decoded data bytes so far (for body limits) */
    size_t trailer_bytes;      /* bytes of the trailer section so far (bounded by TG_CHUNK_TRAILER_MAX) */
    unsigned trailer_match;    /* internal: forbidden trailer names the current trailer name still matches */
    const char *error;         /* set with TG_CHUNKED_BAD: a short fixed text for logs ("forbidden trailer field") */
};

enum tg_chunked_result {
    TG_CHUNKED_MORE = 0,   /* all of the input belongs to the body; more is needed */
    TG_CHUNKED_DONE = 1,   /* the body ended; *consumed says where */
    TG_CHUNKED_BAD = -1,   /* malformed chunk framing: 400 / close */
};

/* Scans buf[0..len). *consumed = bytes that belong to the body (== len for MORE; up to and including the
 * final LF for DONE; the offset of the offending byte for BAD). Once DONE or BAD, later calls return the same
 * result with *consumed = 0. Zero the scanner (= {0}) to start a new body. */
enum tg_chunked_result tg_chunked_scan(struct tg_chunked_scanner *sc, const char *buf, size_t len,
                                       size_t *consumed);

#endif
