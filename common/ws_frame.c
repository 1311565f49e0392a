/* ws_frame.c — RFC 6455 framing: frame-header parsing, the relay's incremental header tracker, frame and close
 * building, masking, and the opening-handshake helpers (Sec-WebSocket-Key check, Sec-WebSocket-Accept).
 * See ws_frame.h for the contracts. Pure: no I/O, no allocation (OpenSSL's one-shot digest aside).
 */
#include "ws_frame.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

/* RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static int opcode_is_known(unsigned op)
{
    /* RFC 6455 §5.2: 0x3-0x7 and 0xB-0xF are reserved; receiving one fails the connection. */
    return op <= TG_WS_BINARY || (op >= TG_WS_CLOSE && op <= TG_WS_PONG);
}

static int opcode_is_control(unsigned op)
{
    return (op & 0x8) != 0; /* RFC 6455 §5.5: opcodes with the high bit set are control frames */
}

int tg_ws_parse_frame_header(const uint8_t *buf, size_t len, struct tg_ws_frame_header *h)
{
    /* Each check runs as soon as the bytes it needs are present, so an invalid header is reported the same
     * way whether it arrives whole or one byte at a time. */
    if (len < 1)
        return 0;
    unsigned b0 = buf[0];
    unsigned op = b0 & 0x0F;
    if (!opcode_is_known(op))
        return -1;
    int fin = (int)((b0 >> 7) & 1);
    if (opcode_is_control(op) && !fin)
        return -1; /* §5.5: control frames MUST NOT be fragmented */
    if (len < 2)
        return 0;
    unsigned b1 = buf[1];
    int masked = (int)((b1 >> 7) & 1);
    unsigned len7 = b1 & 0x7F;
    if (opcode_is_control(op) && len7 > 125)
        return -1; /* §5.5: control frame payloads are at most 125 bytes */

    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    size_t hlen = 2 + ext + (masked ? 4 : 0);
    uint64_t plen = len7;
    if (ext == 8 && len >= 3 && (buf[2] & 0x80))
        return -1; /* §5.2: the most significant bit of a 64-bit length MUST be 0 */
    if (len < hlen)
        return 0;
    if (ext) {
        plen = 0;
        for (size_t i = 0; i < ext; i++)
            plen = (plen << 8) | buf[2 + i];
    }

    h->fin = fin;
    h->rsv = (b0 >> 4) & 0x7;
    h->opcode = (enum tg_ws_opcode)op;
    h->masked = masked;
    if (masked)
        memcpy(h->mask, buf + 2 + ext, 4);
    else
        memset(h->mask, 0, sizeof h->mask);
    h->payload_len = plen;
    h->header_len = hlen;
    return (int)hlen;
}

static int opcode_is_data(unsigned op)
{
    return op == TG_WS_CONT || op == TG_WS_TEXT || op == TG_WS_BINARY;
}

/* The current frame (header already counted) has delivered its last payload byte. */
static void end_frame(struct tg_ws_tracker *t, struct tg_ws_track_event *ev)
{
    ev->frame_ended = 1;
    t->in_payload = 0;
    t->payload_left = 0;
    if (opcode_is_data(t->opcode) && t->fin) {
        ev->message_ended = 1;
        t->in_message = 0;
    }
}

/* The checks a header must pass on this stream, without changing the tracker: the frame rules, then RFC 6455 §5.4
 * fragmentation. *message_bytes receives the size of the data message the frame belongs to once it is counted. */
static enum tg_ws_track_result header_verdict(const struct tg_ws_tracker *t, const struct tg_ws_frame_header *h,
                                              uint64_t *message_bytes)
{
    if (t->rules) {
        /* RFC 6455 §5.1: clients mask every frame, servers none; §5.2: RSV bits only for negotiated extensions;
         * RFC 7692 §6.1: permessage-deflate's RSV1 only on the first frame of a message. */
        if (t->mask_rule == TG_WS_MASK_REQUIRED && !h->masked)
            return TG_WS_TRACK_UNMASKED;
        if (t->mask_rule == TG_WS_MASK_FORBIDDEN && h->masked)
            return TG_WS_TRACK_MASKED;
        if (h->rsv & ~(unsigned)t->rsv_allowed)
            return TG_WS_TRACK_RSV;
        if ((h->rsv & TG_WS_RSV1) && (h->opcode == TG_WS_CONT || opcode_is_control(h->opcode)))
            return TG_WS_TRACK_RSV;
    }
    /* RFC 6455 §5.4: a fragmented message is one TEXT/BINARY frame with FIN=0, then CONT frames, the last with
     * FIN=1; control frames may be injected between fragments and do not belong to the message. */
    uint64_t mb = t->message_bytes;
    if (h->opcode == TG_WS_CONT) {
        if (!t->in_message)
            return TG_WS_TRACK_BAD; /* continuation without a message to continue */
    } else if (h->opcode == TG_WS_TEXT || h->opcode == TG_WS_BINARY) {
        if (t->in_message)
            return TG_WS_TRACK_BAD; /* a new message while the previous one is still open */
        mb = 0;
    }
    if (opcode_is_data(h->opcode)) {
        uint64_t sum = mb + h->payload_len;
        mb = sum < mb ? UINT64_MAX : sum; /* saturate; payload_len < 2^63 */
    }
    *message_bytes = mb;
    return TG_WS_TRACK_OK;
}

/* Takes a checked header: the tracker is in its frame now (or past it, for an empty one: returns 1 then, with
 * *message_ended set when that completed a data message). */
static int header_commit(struct tg_ws_tracker *t, const struct tg_ws_frame_header *h, uint64_t message_bytes,
                         int *message_ended)
{
    t->message_bytes = message_bytes;
    if (opcode_is_data(h->opcode))
        t->in_message = 1; /* open until the FIN frame's last byte passes */
    t->opcode = (uint8_t)h->opcode;
    t->fin = (uint8_t)h->fin;
    *message_ended = 0;
    if (h->payload_len == 0) {
        if (opcode_is_data(h->opcode) && h->fin) {
            *message_ended = 1;
            t->in_message = 0;
        }
        t->in_payload = 0;
        t->payload_left = 0;
        return 1;
    }
    t->in_payload = 1;
    t->payload_left = h->payload_len;
    return 0;
}

enum tg_ws_track_result tg_ws_tracker_feed(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                           struct tg_ws_track_event *ev)
{
    memset(ev, 0, sizeof *ev);

    if (t->in_payload) {
        /* Payload bytes are covered without being looked at; the event ends at the frame's end or the input's. */
        uint64_t n = t->payload_left < len ? t->payload_left : len;
        ev->consumed = (size_t)n;
        t->payload_left -= n;
        if (t->payload_left == 0)
            end_frame(t, ev);
        ev->message_bytes = t->message_bytes;
        return TG_WS_TRACK_OK;
    }

    ev->message_bytes = t->message_bytes;
    if (len == 0)
        return TG_WS_TRACK_OK; /* nothing to look at; not need_more: the input is used up */

    struct tg_ws_frame_header h;
    int r = tg_ws_parse_frame_header(buf, len, &h);
    if (r < 0)
        return TG_WS_TRACK_BAD;
    if (r == 0) {
        ev->need_more = 1; /* consumed stays 0: the incomplete header is never forwarded unchecked */
        return TG_WS_TRACK_OK;
    }
    uint64_t mb;
    enum tg_ws_track_result v = header_verdict(t, &h, &mb);
    if (v != TG_WS_TRACK_OK)
        return v;
    int message_ended;
    ev->consumed = h.header_len;
    ev->frame_started = 1;
    ev->header = h;
    if (header_commit(t, &h, mb, &message_ended)) {
        ev->frame_ended = 1;
        ev->message_ended = message_ended;
    }
    ev->message_bytes = t->message_bytes;
    return TG_WS_TRACK_OK;
}

/* Ends a scan: what it covered before stopping. */
static enum tg_ws_track_result scan_end(struct tg_ws_scan *sc, const struct tg_ws_tracker *t, size_t pos,
                                        uint64_t messages, enum tg_ws_track_result r)
{
    sc->consumed = pos;
    sc->messages = messages;
    sc->message_bytes = t->message_bytes;
    return r;
}

/* The fast path of tg_ws_tracker_scan: the common header — a whole TEXT/BINARY/CONT header with a 7- or 16-bit
 * length at p[0..avail) that passes the rules and the fragmentation order and keeps its message within max
 * (no parse error is possible for such a header). Takes it and returns its length; 0 for anything else, which
 * the general path (tg_ws_parse_frame_header, header_verdict) then decides, refusals included. */
static inline size_t scan_data_header(struct tg_ws_tracker *t, const uint8_t *p, size_t avail, uint64_t max,
                                      uint64_t *messages)
{
    if (avail < 2)
        return 0;
    unsigned b0 = p[0], b1 = p[1], op = b0 & 0x0F, len7 = b1 & 0x7F;
    if (op > TG_WS_BINARY || len7 > 126)
        return 0;
    unsigned masked = b1 >> 7, rsv = (b0 >> 4) & 7, fin = b0 >> 7;
    size_t hlen = 2 + (masked << 2) + (len7 == 126 ? 2 : 0);
    if (avail < hlen)
        return 0;
    if (t->rules && ((t->mask_rule == TG_WS_MASK_REQUIRED && !masked) ||
                     (t->mask_rule == TG_WS_MASK_FORBIDDEN && masked) || (rsv & ~(unsigned)t->rsv_allowed) ||
                     ((rsv & TG_WS_RSV1) && op == TG_WS_CONT)))
        return 0;
    if ((op == TG_WS_CONT) != (t->in_message != 0))
        return 0; /* CONT without an open message, or a new message inside one */
    uint64_t plen = len7 == 126 ? ((uint64_t)p[2] << 8 | p[3]) : len7;
    uint64_t mb = (op == TG_WS_CONT ? t->message_bytes : 0) + plen; /* wrapped: mb < plen (the general path saturates) */
    if (mb < plen || (max && mb > max))
        return 0;
    t->message_bytes = mb;
    t->opcode = (uint8_t)op;
    t->fin = (uint8_t)fin;
    if (plen == 0) {
        t->in_message = (uint8_t)!fin;
        *messages += fin;
    } else {
        t->in_message = 1;
        t->in_payload = 1;
        t->payload_left = plen;
    }
    return hlen;
}

/* tg_ws_tracker_scan on a tracker the caller copied to a local: buf is bytes, which may alias anything, so a
 * tracker behind the caller's pointer would be reloaded from memory after every read of buf. */
static inline enum tg_ws_track_result scan_local(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                                 uint64_t max_message_bytes, struct tg_ws_scan *sc)
{
    size_t pos = 0;
    uint64_t messages = 0;
    sc->stop = TG_WS_SCAN_END;
    for (;;) {
        if (t->in_payload) {
            /* payload bytes are covered without being looked at */
            size_t avail = len - pos;
            if (t->payload_left > avail) {
                t->payload_left -= avail;
                pos = len;
                break;
            }
            pos += (size_t)t->payload_left;
            t->payload_left = 0;
            t->in_payload = 0;
            if (t->fin && opcode_is_data(t->opcode)) {
                messages++;
                t->in_message = 0;
            }
        }
        if (pos == len)
            break;
        size_t fast = scan_data_header(t, buf + pos, len - pos, max_message_bytes, &messages);
        if (fast) {
            pos += fast;
            continue;
        }
        /* the general path: control frames, 64-bit lengths, incomplete headers, and every refusal */
        struct tg_ws_frame_header h;
        int r = tg_ws_parse_frame_header(buf + pos, len - pos, &h);
        if (r < 0)
            return scan_end(sc, t, pos, messages, TG_WS_TRACK_BAD);
        if (r == 0) {
            sc->stop = TG_WS_SCAN_NEED_MORE; /* the incomplete header is never forwarded unchecked */
            break;
        }
        uint64_t mb;
        enum tg_ws_track_result v = header_verdict(t, &h, &mb);
        if (v != TG_WS_TRACK_OK)
            return scan_end(sc, t, pos, messages, v);
        if (max_message_bytes && opcode_is_data(h.opcode) && mb > max_message_bytes) {
            sc->stop = TG_WS_SCAN_TOO_BIG; /* refused before any byte of the frame is covered */
            scan_end(sc, t, pos, messages, TG_WS_TRACK_OK);
            sc->message_bytes = mb;
            return TG_WS_TRACK_OK;
        }
        int message_ended;
        header_commit(t, &h, mb, &message_ended);
        messages += (uint64_t)message_ended;
        pos += h.header_len;
        if (h.opcode == TG_WS_CLOSE) {
            sc->stop = TG_WS_SCAN_CLOSE;
            sc->header = h;
            break;
        }
    }
    return scan_end(sc, t, pos, messages, TG_WS_TRACK_OK);
}

enum tg_ws_track_result tg_ws_tracker_scan(struct tg_ws_tracker *t, const uint8_t *buf, size_t len,
                                           uint64_t max_message_bytes, struct tg_ws_scan *sc)
{
    struct tg_ws_tracker local = *t;
    enum tg_ws_track_result r = scan_local(&local, buf, len, max_message_bytes, sc);
    *t = local;
    return r;
}

int tg_ws_tracker_at_boundary(const struct tg_ws_tracker *t)
{
    return !t->in_payload;
}

const char *tg_ws_track_result_str(enum tg_ws_track_result r)
{
    switch (r) {
    case TG_WS_TRACK_OK:
        return "ok";
    case TG_WS_TRACK_BAD:
        return "bad";
    case TG_WS_TRACK_UNMASKED:
        return "unmasked";
    case TG_WS_TRACK_MASKED:
        return "masked";
    case TG_WS_TRACK_RSV:
        return "rsv";
    }
    return "unknown";
}

void tg_ws_tracker_set_rules(struct tg_ws_tracker *t, enum tg_ws_mask_rule mask_rule, unsigned allowed_rsv)
{
    t->rules = 1;
    t->mask_rule = (uint8_t)mask_rule;
    t->rsv_allowed = (uint8_t)(allowed_rsv & 7);
}

static int ext_is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int token_is(const char *p, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(p, name, n) == 0;
}

unsigned tg_ws_extensions_rsv(const char *value, size_t len)
{
    unsigned rsv = 0;
    size_t i = 0;
    while (i < len) {
        /* one element: OWS extension-token, then params up to a comma outside quotes */
        while (i < len && (value[i] == ' ' || value[i] == '\t'))
            i++;
        size_t start = i;
        while (i < len && ext_is_tchar((unsigned char)value[i]))
            i++;
        size_t n = i - start;
        int quoted = 0;
        while (i < len && (quoted || value[i] != ',')) {
            if (quoted && value[i] == '\\' && i + 1 < len)
                i++;
            else if (value[i] == '"')
                quoted = !quoted;
            i++;
        }
        int empty = n == 0 && i == start;
        if (n > 0 && (token_is(value + start, n, "permessage-deflate") ||
                      token_is(value + start, n, "x-webkit-deflate-frame") ||
                      token_is(value + start, n, "deflate-frame")))
            rsv |= TG_WS_RSV1;
        else if (!empty)
            rsv |= TG_WS_RSV1 | TG_WS_RSV2 | TG_WS_RSV3; /* unknown (or unparsable): allow what it may use */
        i++; /* past the comma */
    }
    return rsv;
}

void tg_ws_mask_bytes(uint8_t *buf, size_t len, const uint8_t mask[4], uint64_t offset)
{
    /* RFC 6455 §5.3: octet i of the payload is XORed with mask[i mod 4]; offset is i of buf[0]. */
    for (size_t i = 0; i < len; i++)
        buf[i] ^= mask[(offset + i) & 3];
}

size_t tg_ws_build_header(uint8_t out[14], enum tg_ws_opcode op, int fin, unsigned rsv, uint64_t len,
                          const uint8_t *mask_key)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | ((rsv & 7) << 4) | ((unsigned)op & 0x0F));
    uint8_t mbit = mask_key ? 0x80 : 0;
    /* RFC 6455 §5.2: the minimal length encoding — 7 bits up to 125, then 16 bits, then 64 bits (MSB 0). */
    if (len <= 125) {
        out[n++] = (uint8_t)(mbit | len);
    } else if (len <= 0xFFFF) {
        out[n++] = (uint8_t)(mbit | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = (uint8_t)(mbit | 127);
        len &= UINT64_C(0x7FFFFFFFFFFFFFFF);
        for (int shift = 56; shift >= 0; shift -= 8)
            out[n++] = (uint8_t)(len >> shift);
    }
    if (mask_key) {
        memcpy(out + n, mask_key, 4);
        n += 4;
    }
    return n;
}

size_t tg_ws_build_frame(uint8_t *out, enum tg_ws_opcode op, int fin, const uint8_t *payload, size_t len,
                         const uint8_t *mask_key)
{
    size_t n = tg_ws_build_header(out, op, fin, 0, len, mask_key);
    if (len) {
        memcpy(out + n, payload, len);
        if (mask_key)
            tg_ws_mask_bytes(out + n, len, mask_key, 0);
    }
    return n + len;
}

size_t tg_ws_utf8_truncate(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    /* Back up over continuation bytes (10xxxxxx) so the cut lands before a character's lead byte. A UTF-8
     * sequence has at most 3 continuation bytes (RFC 3629 §3); when no lead byte is found within them the
     * input is not UTF-8 and there is no boundary to respect, so the cut stays at max. */
    size_t cut = max;
    while (cut > 0 && max - cut < 3 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    if (((unsigned char)s[cut] & 0xC0) == 0x80)
        return max;
    return cut;
}

size_t tg_ws_build_close(uint8_t *out, uint16_t code, const char *reason, const uint8_t *mask_key)
{
    /* RFC 6455 §5.5.1: the body is a 2-byte status code then a UTF-8 reason; control payloads are ≤ 125
     * bytes, so the reason is at most 123 bytes. */
    uint8_t payload[125];
    size_t rlen = 0;
    if (reason) {
        rlen = strnlen(reason, 124);
        rlen = tg_ws_utf8_truncate(reason, rlen, 123);
    }
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    if (rlen)
        memcpy(payload + 2, reason, rlen);
    return tg_ws_build_frame(out, TG_WS_CLOSE, 1, payload, 2 + rlen, mask_key);
}

static int is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int tg_ws_key_is_valid(const char *key, size_t len)
{
    /* RFC 6455 §4.1 item 7 / §11.3.1: base64 (RFC 4648 §4, padded) of a 16-byte nonce = 22 symbols + "==". */
    if (!key || len != 24)
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!is_b64_char((unsigned char)key[i]))
            return 0;
    if (key[22] != '=' || key[23] != '=')
        return 0;
    unsigned char decoded[19];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)key, 24);
    /* EVP_DecodeBlock counts the two padding positions: 24 symbols → 18 bytes of which the last 2 are pad. */
    return n == 18;
}

static EVP_MD *sha1_md;
static pthread_key_t sha1_ctx_key; /* each thread's digest context, freed when the thread ends */
static int sha1_ctx_key_ok;
static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;

static void free_sha1_ctx(void *ctx) { EVP_MD_CTX_free(ctx); }

static void fetch_sha1(void)
{
    sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL); /* kept for the process's life */
    sha1_ctx_key_ok = pthread_key_create(&sha1_ctx_key, free_sha1_ctx) == 0;
}

/* This thread's SHA-1 context (made on first use), or NULL. */
static EVP_MD_CTX *thread_sha1_ctx(void)
{
    if (!sha1_ctx_key_ok)
        return NULL;
    EVP_MD_CTX *ctx = pthread_getspecific(sha1_ctx_key);
    if (!ctx && (ctx = EVP_MD_CTX_new()) != NULL && pthread_setspecific(sha1_ctx_key, ctx) != 0) {
        EVP_MD_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

void tg_ws_accept_for_key(const char *key, size_t len, char out[29])
{
    /* SHA-1 fetched once (OpenSSL 3's implicit fetch in EVP_sha1()/EVP_DigestInit_ex was a third of this
     * function's cost per handshake), and one digest context per thread, re-initialised for each key: the
     * one-shot EVP_Digest allocated, wiped and freed a context per call (~1.4k of its ~3.2k instructions) */
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    out[0] = '\0';
    pthread_once(&sha1_once, fetch_sha1);
    EVP_MD_CTX *ctx = sha1_md ? thread_sha1_ctx() : NULL;
    if (!ctx)
        return;
    int ok = EVP_DigestInit_ex2(ctx, sha1_md, NULL) == 1 && EVP_DigestUpdate(ctx, key, len) == 1 &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof ws_guid - 1) == 1 && EVP_DigestFinal_ex(ctx, digest, &dlen) == 1;
    if (ok && dlen == 20) /* 20 bytes → 28 base64 symbols + NUL (EVP_EncodeBlock NUL-terminates) */
        EVP_EncodeBlock((unsigned char *)out, digest, 20);
}
