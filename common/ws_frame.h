/* ws_frame.h — RFC 6455 frame headers: an incremental header tracker for relays, frame building, and the
 * opening-handshake helpers (Sec-WebSocket-Key validation and Sec-WebSocket-Accept computation).
 *
 * The relay never copies or unmasks payloads: tg_ws_tracker reads a byte stream, recognises each frame
 * header (restartable across arbitrary splits, including inside the header), and reports frame boundaries,
 * message boundaries and sizes, so the caller can count messages/bytes, enforce a message-size limit before a
 * frame is forwarded, and know when it is at a frame boundary (the only place a close frame may be injected).
 * Pure: no I/O, no allocation.
 */
#ifndef TG_WS_FRAME_H
#define TG_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum tg_ws_opcode {
    TG_WS_CONT = 0x0, TG_WS_TEXT = 0x1, TG_WS_BINARY = 0x2,
    TG_WS_CLOSE = 0x8, TG_WS_PING = 0x9, TG_WS_PONG = 0xA,
};

/* Close codes used by the proxy (RFC 6455 §7.4.1). */
enum {
    TG_WS_CLOSE_NORMAL = 1000, TG_WS_CLOSE_GOING_AWAY = 1001, TG_WS_CLOSE_PROTOCOL_ERROR = 1002,
    TG_WS_CLOSE_POLICY = 1008, TG_WS_CLOSE_TOO_BIG = 1009, TG_WS_CLOSE_BAD_GATEWAY = 1014,
};

struct tg_ws_frame_header {
    int fin;                /* 1 when FIN set */
    unsigned rsv;           /* RSV1..3 bits (0..7); relayed untouched (extensions) */
    enum tg_ws_opcode opcode;
    int masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len;      /* 2..14 */
};

/* Parses one frame header from buf[0..len). Returns header_len (>0) and fills *h; 0 when more bytes are
 * needed; -1 when the header is invalid (reserved opcode, control frame with FIN=0 or payload > 125,
 * 64-bit length with the top bit set, non-minimal length encodings are accepted as RFC 6455 only SHOULDs). */
int tg_ws_parse_frame_header(const uint8_t *buf, size_t len, struct tg_ws_frame_header *h);

/* What one call of tg_ws_tracker_feed covered. */
struct tg_ws_track_event {
    size_t consumed;          /* bytes of the input covered by this event: the caller may forward them */
    int need_more;            /* the input ends inside a frame header: the consumed bytes stop before that
                                 header; the caller keeps the rest (< 14 bytes) and feeds it again, followed by
                                 more data. A header is therefore never forwarded before it has been checked. */
    int frame_started;        /* a complete frame header ends this event (its bytes are the last ones of
                                 consumed); the caller checks limits before forwarding */
    struct tg_ws_frame_header header; /* valid when frame_started */
    int frame_ended;          /* the frame's last payload byte ends this event (zero-length frames: together
                                 with frame_started); the stream is then at a frame boundary */
    int message_ended;        /* frame_ended on a FIN data frame (TEXT/BINARY/CONT): one message is complete */
    uint64_t message_bytes;   /* payload bytes of the current (or just ended) data message */
};

/* What a direction's frames must look like (RFC 6455 §5.1, §5.2; issue 11). Set once the 101 is through. */
enum tg_ws_mask_rule {
    TG_WS_MASK_ANY = 0,       /* not checked (the zero state: the tracker's behaviour before rules existed) */
    TG_WS_MASK_REQUIRED = 1,  /* client → server: every frame masked (§5.1: the server closes with 1002) */
    TG_WS_MASK_FORBIDDEN = 2, /* server → client: no frame masked (§5.1: the client closes) */
};

/* RSV bits as they appear in tg_ws_frame_header.rsv (0..7). */
enum { TG_WS_RSV1 = 4, TG_WS_RSV2 = 2, TG_WS_RSV3 = 1 };

/* Per-direction stream state; zero-initialised = at a frame boundary, no message in progress, no rules.
 * 24 bytes. */
struct tg_ws_tracker {
    uint64_t payload_left;    /* payload bytes left in the current frame */
    uint64_t message_bytes;   /* payload bytes of the current data message (including the frame in progress,
                                 counted from its header) */
    uint8_t in_message;       /* a data message is open: from its first frame's header until its FIN frame's
                                 last payload byte (at a frame boundary: a non-FIN TEXT/BINARY was seen) */
    uint8_t in_payload;       /* inside a frame's payload */
    uint8_t opcode;           /* opcode of the current frame */
    uint8_t fin;              /* FIN of the current frame */
    uint8_t rules;            /* set by tg_ws_tracker_set_rules: mask_rule and rsv_allowed are enforced */
    uint8_t mask_rule;        /* enum tg_ws_mask_rule */
    uint8_t rsv_allowed;      /* RSV bits an extension negotiated in the 101 may set (TG_WS_RSV*) */
};

enum tg_ws_track_result {
    TG_WS_TRACK_OK = 0,   /* *ev describes a prefix of the input */
    TG_WS_TRACK_BAD = -1, /* protocol error in the stream (invalid header, CONT without an open message, a new
                             TEXT/BINARY while a fragmented message is open): close 1002 */
    /* with rules set (tg_ws_tracker_set_rules), also protocol errors — close 1002 — told apart for logs: */
    TG_WS_TRACK_UNMASKED = -2, /* an unmasked frame where TG_WS_MASK_REQUIRED */
    TG_WS_TRACK_MASKED = -3,   /* a masked frame where TG_WS_MASK_FORBIDDEN */
    TG_WS_TRACK_RSV = -4,      /* an RSV bit no negotiated extension allows, or RSV1 of permessage-deflate on a
                                  continuation or control frame (RFC 7692 §6.1) */
};
/* Every result other than TG_WS_TRACK_OK means: close with 1002 (a caller testing != TG_WS_TRACK_OK is right). The
 * frame that failed is never covered by ev->consumed (consumed is 0), so it is never forwarded. */

/* Short fixed name of a result for logs ("ok", "bad", "unmasked", "masked", "rsv"). */
const char *tg_ws_track_result_str(enum tg_ws_track_result r);

/* Switches on the frame rules for one direction: mask_rule for the mask bit, allowed_rsv (TG_WS_RSV* bits) for
 * RSV. Call on a zeroed tracker (or at a frame boundary); zeroing the tracker switches them off again. A relay
 * calls it for both directions when the 101 has been relayed:
 *   client → backend: tg_ws_tracker_set_rules(&c2b, TG_WS_MASK_REQUIRED, rsv);
 *   backend → client: tg_ws_tracker_set_rules(&b2c, TG_WS_MASK_FORBIDDEN, rsv);
 * with rsv = the OR of tg_ws_extensions_rsv() over the 101 response's Sec-WebSocket-Extensions fields (what the
 * server accepted, not what the client offered). */
void tg_ws_tracker_set_rules(struct tg_ws_tracker *t, enum tg_ws_mask_rule mask_rule, unsigned allowed_rsv);

/* The RSV bits one Sec-WebSocket-Extensions field value lets frames carry (RFC 6455 §9.1 syntax: a comma list of
 * extension-token *( ";" extension-param ), params may be quoted): "permessage-deflate" (RFC 7692) and the older
 * "x-webkit-deflate-frame" / "deflate-frame" → TG_WS_RSV1; any other extension → all three bits (the relay does
 * not know which bits it uses and must not break it); an empty value or only empty elements → 0. */
unsigned tg_ws_extensions_rsv(const char *value, size_t len);

/* Advances over buf[0..len) up to the next point the caller must see: the end of a frame header
 * (frame_started), the end of a frame (frame_ended), an incomplete header (need_more), or the end of the
 * input. The caller loops, forwarding ev.consumed bytes each time, until the input is used up or need_more.
 * message_bytes includes the announced payload of the frame whose header was just read, so a limit check on
 * frame_started refuses an oversized message before any byte of that frame is forwarded. */
enum tg_ws_track_result tg_ws_tracker_feed(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                           struct tg_ws_track_event *ev);

/* What one call of tg_ws_tracker_scan covered: the relay's fast path, many frames per call. */
enum tg_ws_scan_stop {
    TG_WS_SCAN_END = 0,       /* the input is used up (consumed == len); the tracker may be inside a payload */
    TG_WS_SCAN_NEED_MORE,     /* the input ends inside a frame header: consumed stops before it (kept, fed again) */
    TG_WS_SCAN_CLOSE,         /* a close frame's header ends consumed (header is valid): the caller reads its code
                                 from the bytes after it and scans again */
    TG_WS_SCAN_TOO_BIG,       /* the next header would take its data message over max_message_bytes: consumed
                                 stops before that header and the tracker is left as it was before it */
};

struct tg_ws_scan {
    size_t consumed;          /* bytes the caller may forward */
    enum tg_ws_scan_stop stop;
    uint64_t messages;        /* data messages whose FIN frame's last byte lies within consumed */
    uint64_t message_bytes;   /* as tg_ws_track_event.message_bytes, after the last covered byte (TOO_BIG: of the
                                 refused message, its refused frame included) */
    struct tg_ws_frame_header header; /* valid for TG_WS_SCAN_CLOSE */
};

/* Advances over buf[0..len) through as many whole frames as it holds, checking every header exactly as
 * tg_ws_tracker_feed does (same results, same state afterwards), and stops only where the caller must look: the
 * end of the input, an incomplete header, a close frame's header (its code), a data message
 * growing over max_message_bytes (0: no limit), or a protocol error. On an error result the scan's consumed
 * bytes (the frames before the bad header) are valid and may be forwarded or dropped; the bad header is never
 * covered. One call replaces the loop of tg_ws_tracker_feed calls for a whole read buffer of small frames. */
enum tg_ws_track_result tg_ws_tracker_scan(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                           uint64_t max_message_bytes, struct tg_ws_scan *sc);

/* 1 when the tracker sits at a frame boundary (no payload pending). The tracker keeps no header bytes: a
 * partial header is the bytes the caller kept after need_more, so "no partial header" is the caller's part. */
int tg_ws_tracker_at_boundary(const struct tg_ws_tracker *t);

/* Builds a close frame with code and reason (reason truncated to 123 bytes at a UTF-8 boundary) into out
 * (≥ 129 bytes; 4 more when masked). mask_key non-NULL → masked (client→server direction, i.e. proxy→backend),
 * the caller supplies 4 random bytes. reason may be NULL (no reason) and is read up to its NUL or 124 bytes.
 * Returns the frame length. */
size_t tg_ws_build_close(uint8_t *out, uint16_t code, const char *reason, const uint8_t *mask_key);

/* Builds a frame (header + payload, masked when mask_key != NULL) into out; out must hold len+14 bytes.
 * Returns the frame length. Used by the demo backend, tests and the bench tool. */
size_t tg_ws_build_frame(uint8_t *out, enum tg_ws_opcode op, int fin, const uint8_t *payload, size_t len,
                         const uint8_t *mask_key);

/* Builds a frame header only (2..14 bytes) into out and returns its length: FIN, RSV bits (0..7, e.g. RSV1 of
 * a permessage-deflate message being echoed), opcode, the minimal length encoding (RFC 6455 §5.2), and the mask
 * key when mask_key != NULL (the payload is then the caller's to mask with tg_ws_mask_bytes). */
size_t tg_ws_build_header(uint8_t out[14], enum tg_ws_opcode op, int fin, unsigned rsv, uint64_t len,
                          const uint8_t *mask_key);

/* XORs buf[0..len) in place with the masking key (RFC 6455 §5.3); offset is the position of buf[0] within
 * the frame's payload, so a payload can be (un)masked piece by piece as it arrives. Masking twice undoes it. */
void tg_ws_mask_bytes(uint8_t *buf, size_t len, const uint8_t mask[4], uint64_t offset);

/* Length of the longest prefix of s[0..len) that is at most max bytes and does not end inside a UTF-8
 * sequence (the cut backs up over at most 3 continuation bytes; on input that is not UTF-8 there, it stays at
 * max). Returns len when len ≤ max. */
size_t tg_ws_utf8_truncate(const char *s, size_t len, size_t max);

/* Sec-WebSocket-Key: 1 when the value is base64 of exactly 16 bytes (RFC 6455 §4.1 item 7): 24 characters,
 * 22 from the base64 alphabet then "==". Non-zero pad bits in the 22nd symbol are tolerated (RFC 4648 §3.5
 * lets decoders accept them). */
int tg_ws_key_is_valid(const char *key, size_t len);

/* Computes Sec-WebSocket-Accept for key (base64(SHA-1(key + GUID))) into out (29 bytes incl. NUL). */
void tg_ws_accept_for_key(const char *key, size_t len, char out[29]);

#endif
