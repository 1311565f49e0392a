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
 * both Content-Length and Transfer-Encoding, differing duplicate Content-Length, a Transfer-Encoding whose
 * final coding is not chunked (requests), bad chunk sizes, HTTP versions other than 1.0/1.1.
 * Accepts a lone LF as line terminator only where RFC 9112 §2.2 allows (it does not: CRLF is required
 * and a bare LF is rejected too, to avoid request smuggling through differing interpretations).
 */
#ifndef TG_HTTP1_PARSER_H
#define TG_HTTP1_PARSER_H

#include <stddef.h>
#include <stdint.h>

enum tg_http_status {
    TG_HTTP_OK = 0,            /* a complete head was parsed; see head_len */
    TG_HTTP_INCOMPLETE = -1,   /* need more bytes (and the bytes seen so far are valid) */
    TG_HTTP_BAD = -2,          /* malformed / ambiguous: answer 400 and close */
    TG_HTTP_HEAD_TOO_LARGE = -3, /* head (or a single line) is over the limit: answer 431 */
    TG_HTTP_TOO_MANY_HEADERS = -4, /* more than TG_HTTP_MAX_HEADERS fields: answer 431 */
    TG_HTTP_BAD_VERSION = -5,  /* not HTTP/1.0 or HTTP/1.1: answer 505 */
};

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
};

/* Parses a request head from buf[0..len). On TG_HTTP_OK fills *head (slices point into buf).
 * max_head_bytes bounds the whole head (request line + fields); over it → TG_HTTP_HEAD_TOO_LARGE even when
 * the head is not complete yet. Requests: HTTP/1.1 without Host → TG_HTTP_BAD; more than one Host → BAD;
 * TE present on HTTP/1.0 → BAD; CL+TE → BAD; TE whose last coding is not "chunked" → BAD. */
enum tg_http_status tg_http1_parse_request(const char *buf, size_t len, size_t max_head_bytes,
                                           struct tg_http_head *head);

/* Parses a response head. request_method is the method of the request it answers ("HEAD" → no body),
 * so framing is right: 1xx/204/304 → NONE; TE chunked → CHUNKED; CL → LENGTH; otherwise UNTIL_CLOSE. */
enum tg_http_status tg_http1_parse_response(const char *buf, size_t len, size_t max_head_bytes,
                                            struct tg_slice request_method, struct tg_http_head *head);

/* Case-insensitive field lookup; returns the first match or NULL. */
const struct tg_http_header *tg_http_find_header(const struct tg_http_head *head, const char *name);

/* 1 when the comma-separated token list in value contains token (case-insensitive, OWS trimmed). */
int tg_http_list_has_token(struct tg_slice value, const char *token);

/* 1 when the slice equals the NUL-terminated string, ignoring ASCII case. */
int tg_slice_eq_nocase(struct tg_slice s, const char *str);

/* Incremental chunked-body scanner (RFC 9112 §7.1): feed it the raw body bytes as they arrive; it tells how
 * many of them belong to the body (chunk sizes, extensions, data, last-chunk, trailer section, final CRLF)
 * so the caller can forward exactly those bytes and keep the rest (the next pipelined message).
 * Chunk-size lines are bounded (TG_CHUNK_LINE_MAX) and sizes are bounded to 2^62. */
#define TG_CHUNK_LINE_MAX 4096
struct tg_chunked_scanner {
    int state;                 /* internal; zero-initialised = start of body */
    uint64_t remaining;        /* data bytes left in the current chunk */
    size_t line_len;           /* length of the current size/trailer line so far */
    uint64_t body_bytes;       /* total decoded data bytes so far (for body limits) */
};

enum tg_chunked_result {
    TG_CHUNKED_MORE = 0,   /* all of the input belongs to the body; more is needed */
    TG_CHUNKED_DONE = 1,   /* the body ended; *consumed says where */
    TG_CHUNKED_BAD = -1,   /* malformed chunk framing: 400 / close */
};

/* Scans buf[0..len). *consumed = bytes that belong to the body (== len for MORE). */
enum tg_chunked_result tg_chunked_scan(struct tg_chunked_scanner *sc, const char *buf, size_t len,
                                       size_t *consumed);

#endif
