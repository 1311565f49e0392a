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

/* Per-direction stream state; zero-initialised = at a frame boundary, no message in progress. 24 bytes. */
struct tg_ws_tracker {
    uint64_t payload_left;    /* payload bytes left in the current frame */
    uint64_t message_bytes;   /* payload bytes of the current data message (including the frame in progress,
                                 counted from its header) */
    uint8_t in_message;       /* a fragmented data message is open (a non-FIN TEXT/BINARY was seen) */
    uint8_t in_payload;       /* inside a frame's payload */
    uint8_t opcode;           /* opcode of the current frame */
    uint8_t fin;              /* FIN of the current frame */
};

enum tg_ws_track_result {
    TG_WS_TRACK_OK = 0,   /* *ev describes a prefix of the input */
    TG_WS_TRACK_BAD = -1, /* protocol error in the stream (invalid header, CONT without an open message, a new
                             TEXT/BINARY while a fragmented message is open): close 1002 */
};

/* Advances over buf[0..len) up to the next point the caller must see: the end of a frame header
 * (frame_started), the end of a frame (frame_ended), an incomplete header (need_more), or the end of the
 * input. The caller loops, forwarding ev.consumed bytes each time, until the input is used up or need_more.
 * message_bytes includes the announced payload of the frame whose header was just read, so a limit check on
 * frame_started refuses an oversized message before any byte of that frame is forwarded. */
enum tg_ws_track_result tg_ws_tracker_feed(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                           struct tg_ws_track_event *ev);

/* 1 when the tracker sits at a frame boundary (no partial header, no payload pending). */
int tg_ws_tracker_at_boundary(const struct tg_ws_tracker *t);

/* Builds a close frame with code and reason (reason truncated to 123 bytes at a UTF-8 boundary) into out
 * (≥ 129 bytes; 4 more when masked). mask_key non-NULL → masked (client→server direction, i.e. proxy→backend),
 * the caller supplies 4 random bytes. Returns the frame length. */
size_t tg_ws_build_close(uint8_t *out, uint16_t code, const char *reason, const uint8_t *mask_key);

/* Builds a frame (header + payload, masked when mask_key != NULL) into out; out must hold len+14 bytes.
 * Returns the frame length. Used by the demo backend, tests and the bench tool. */
size_t tg_ws_build_frame(uint8_t *out, enum tg_ws_opcode op, int fin, const uint8_t *payload, size_t len,
                         const uint8_t *mask_key);

/* Sec-WebSocket-Key: 1 when the value is base64 of exactly 16 bytes (RFC 6455 §4.1 item 7). */
int tg_ws_key_is_valid(const char *key, size_t len);

/* Computes Sec-WebSocket-Accept for key (base64(SHA-1(key + GUID))) into out (29 bytes incl. NUL). */
void tg_ws_accept_for_key(const char *key, size_t len, char out[29]);

#endif
