/* fuzz_ws_frame.c — libFuzzer target for common/ws_frame.c. The first input byte picks a split pattern; the
 * rest is a WebSocket byte stream fed to the tracker whole and split (as a relay does: the bytes of an
 * incomplete header are kept and fed again with the next chunk). Both runs must agree on every frame/message
 * event and its stream offset, on protocol errors and where they occur, and on the bytes left over; each
 * frame_started header must round-trip through tg_ws_build_header; the close builder must stay within its
 * bounds and cut reasons on UTF-8 boundaries. The stream is then tracked again with frame rules (mask rule and
 * allowed RSV bits from the first byte, tg_ws_tracker_set_rules): whole and split must agree again, every
 * header let through obeys the rules, and the run is the rule-less run cut at its first refusal (rules only
 * ever refuse, at a header, and change nothing before it). The batch scanner (tg_ws_tracker_scan) over the same
 * cuts must forward, keep and refuse exactly what the feed does and count the same messages, with and without
 * rules; with a message limit it only ever stops earlier. tg_ws_extensions_rsv stays within the RSV bits. */
#include "ws_frame.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EVENTS 4096

struct logged {
    size_t end;
    uint64_t message_bytes;
    uint64_t payload_len;
    uint8_t started, ended, msg_ended, opcode;
};

struct run {
    struct logged ev[MAX_EVENTS];
    size_t n;
    int bad;
    size_t bad_at;
    size_t forwarded;
    size_t kept;
};

static struct run whole_run, split_run, rules_whole, rules_split;

/* Rules drive() switches on when rules_on is set. */
static int rules_on;
static enum tg_ws_mask_rule rules_mask;
static unsigned rules_rsv;

static void check_header_roundtrip(const struct tg_ws_frame_header *h)
{
    uint8_t hdr[14];
    struct tg_ws_frame_header h2;
    size_t n = tg_ws_build_header(hdr, h->opcode, h->fin, h->rsv, h->payload_len, h->masked ? h->mask : NULL);
    if (tg_ws_parse_frame_header(hdr, n, &h2) != (int)n || h2.fin != h->fin || h2.rsv != h->rsv ||
        h2.opcode != h->opcode || h2.masked != h->masked || h2.payload_len != h->payload_len ||
        memcmp(h2.mask, h->mask, 4) != 0 || n > h->header_len)
        abort();
}

/* A fresh tracker, with the rules above when rules_on is set. */
static void tracker_start(struct tg_ws_tracker *t)
{
    memset(t, 0, sizeof *t);
    if (rules_on)
        tg_ws_tracker_set_rules(t, rules_mask, rules_rsv);
}

/* A stream cut into pieces. pattern 0: whole; 1: one byte at a time; otherwise pieces of pseudo-random sizes
 * 1..3*pattern+1. */
struct cutter {
    const uint8_t *s;
    size_t len, pos, idx;
    unsigned pattern;
};

/* Starts cutting s; returns the buffer the pieces are put together in (len + 16 bytes; the caller frees it). */
static uint8_t *cut_start(struct cutter *c, const uint8_t *s, size_t len, unsigned pattern)
{
    *c = (struct cutter){s, len, 0, 0, pattern};
    uint8_t *buf = malloc(len + 16);
    if (!buf)
        abort();
    return buf;
}

/* Appends the next piece after the carry bytes kept at buf's start; returns the bytes now in buf and sets *base to
 * the stream offset of buf[0]. */
static size_t cut_next(struct cutter *c, uint8_t *buf, size_t carry, size_t *base)
{
    size_t left = c->len - c->pos;
    size_t chunk = c->pattern == 0   ? left
                   : c->pattern == 1 ? 1
                                     : 1 + ((c->idx * 2654435761u + c->pattern) % (c->pattern * 3 + 1));
    c->idx++;
    if (chunk > left)
        chunk = left;
    memcpy(buf + carry, c->s + c->pos, chunk);
    *base = c->pos - carry;
    c->pos += chunk;
    return carry + chunk;
}

static void drive(const uint8_t *s, size_t len, unsigned pattern, struct run *r)
{
    struct tg_ws_tracker t;
    tracker_start(&t);
    r->n = 0;
    r->bad = 0;
    r->bad_at = 0;
    r->forwarded = 0;
    r->kept = 0;
    struct cutter c;
    uint8_t *buf = cut_start(&c, s, len, pattern);
    size_t carry = 0;
    while (c.pos < len) {
        size_t base, blen = cut_next(&c, buf, carry, &base), off = 0;
        carry = 0;
        while (off < blen) {
            struct tg_ws_track_event ev;
            enum tg_ws_track_result res = tg_ws_tracker_feed(&t, buf + off, blen - off, &ev);
            if (res != TG_WS_TRACK_OK) {
                r->bad = 1;
                r->bad_at = base + off;
                free(buf);
                return;
            }
            if (ev.consumed > blen - off)
                abort();
            if (ev.consumed == 0 && !ev.need_more)
                abort(); /* no progress without need_more would loop forever */
            if (ev.frame_started) {
                if (ev.consumed != ev.header.header_len)
                    abort(); /* the event ends exactly after the header */
                check_header_roundtrip(&ev.header);
                if (rules_on) { /* what passed obeys the rules */
                    if ((rules_mask == TG_WS_MASK_REQUIRED && !ev.header.masked) ||
                        (rules_mask == TG_WS_MASK_FORBIDDEN && ev.header.masked) || (ev.header.rsv & ~rules_rsv))
                        abort();
                }
            }
            if (ev.message_ended && !ev.frame_ended)
                abort();
            off += ev.consumed;
            r->forwarded += ev.consumed;
            if ((ev.frame_started || ev.frame_ended) && r->n < MAX_EVENTS) {
                struct logged *l = &r->ev[r->n++];
                memset(l, 0, sizeof *l);
                l->end = base + off;
                l->message_bytes = ev.message_bytes;
                l->payload_len = ev.frame_started ? ev.header.payload_len : 0;
                l->started = (uint8_t)ev.frame_started;
                l->ended = (uint8_t)ev.frame_ended;
                l->msg_ended = (uint8_t)ev.message_ended;
                l->opcode = ev.frame_started ? (uint8_t)ev.header.opcode : 0xFF;
            }
            if (ev.need_more) {
                if (blen - off >= 14)
                    abort(); /* a header is at most 14 bytes */
                memmove(buf, buf + off, blen - off);
                carry = blen - off;
                break;
            }
        }
    }
    r->kept = carry;
    free(buf);
}

/* The batch scanner over the same stream, cut by the same pattern: what it forwards, keeps, refuses (and where)
 * and the messages it counts must be the feed's (max = 0); with a limit it stops at an over-limit message only. */
struct scan_result {
    size_t forwarded, kept, bad_at;
    uint64_t messages, too_big_mb;
    int bad, too_big;
};

static void scan_drive(const uint8_t *s, size_t len, unsigned pattern, uint64_t max, struct scan_result *r)
{
    struct tg_ws_tracker t;
    tracker_start(&t);
    memset(r, 0, sizeof *r);
    struct cutter c;
    uint8_t *buf = cut_start(&c, s, len, pattern);
    size_t carry = 0;
    while (c.pos < len) {
        size_t base, blen = cut_next(&c, buf, carry, &base), off = 0;
        carry = 0;
        while (off < blen) {
            struct tg_ws_scan sc;
            enum tg_ws_track_result res = tg_ws_tracker_scan(&t, buf + off, blen - off, max, &sc);
            if (sc.consumed > blen - off)
                abort();
            off += sc.consumed;
            r->forwarded += sc.consumed;
            r->messages += sc.messages;
            if (res != TG_WS_TRACK_OK) {
                r->bad = 1;
                r->bad_at = base + off;
                free(buf);
                return;
            }
            if (sc.stop == TG_WS_SCAN_TOO_BIG) {
                if (!max || sc.message_bytes <= max)
                    abort();
                r->too_big = 1;
                r->too_big_mb = sc.message_bytes;
                free(buf);
                return;
            }
            if (sc.stop == TG_WS_SCAN_CLOSE) {
                if (sc.header.opcode != TG_WS_CLOSE || sc.consumed < sc.header.header_len)
                    abort();
                continue;
            }
            if (sc.stop == TG_WS_SCAN_NEED_MORE) {
                if (blen - off >= 14)
                    abort();
                memmove(buf, buf + off, blen - off);
                carry = blen - off;
                break;
            }
            if (off != blen)
                abort(); /* TG_WS_SCAN_END covers all of it */
        }
    }
    r->kept = carry;
    free(buf);
}

static void compare_scan(const struct run *feed, const struct scan_result *sc)
{
    uint64_t messages = 0;
    for (size_t i = 0; i < feed->n; i++)
        messages += feed->ev[i].msg_ended;
    if (sc->bad != feed->bad || sc->forwarded != feed->forwarded || sc->kept != feed->kept ||
        (feed->bad && sc->bad_at != feed->bad_at))
        abort();
    if (feed->n < MAX_EVENTS && sc->messages != messages)
        abort();
}

static void compare(const struct run *a, const struct run *b)
{
    if (a->bad != b->bad || a->n != b->n || a->forwarded != b->forwarded || a->kept != b->kept)
        abort();
    if (a->bad && a->bad_at != b->bad_at)
        abort();
    if (a->n && memcmp(a->ev, b->ev, a->n * sizeof a->ev[0]) != 0)
        abort();
}

/* The close builder kept reason[0..kept) of full bytes: the cut may back up over at most 3 continuation
 * bytes from 123 and may land before a continuation byte only when no lead byte was within reach. */
static int reason_cut_ok(const char *reason, size_t full, size_t kept)
{
    size_t limit = 123;
    if (full < limit)
        limit = full;
    if (kept > limit || kept + 3 < limit)
        return 0;
    if (((unsigned char)reason[kept] & 0xC0) != 0x80)
        return 1;
    if (kept != 123)
        return 0;
    for (size_t i = 120; i < 123; i++)
        if (((unsigned char)reason[i] & 0xC0) != 0x80)
            return 0;
    return 1;
}

static void fuzz_close(const uint8_t *data, size_t size)
{
    /* Reason from the input (NUL-terminated copy, any bytes). */
    char reason[200];
    size_t rl = size < sizeof reason - 1 ? size : sizeof reason - 1;
    memcpy(reason, data, rl);
    reason[rl] = '\0';
    uint8_t out[160];
    uint16_t code = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 1000;
    const uint8_t *mask = size >= 4 ? data : NULL;
    size_t n = tg_ws_build_close(out, code, reason, mask);
    struct tg_ws_frame_header h;
    int hl = tg_ws_parse_frame_header(out, n, &h);
    if (hl <= 0 || h.opcode != TG_WS_CLOSE || !h.fin || h.payload_len > 125 || (size_t)hl + h.payload_len != n)
        abort();
    if (mask)
        tg_ws_mask_bytes(out + hl, (size_t)h.payload_len, h.mask, 0);
    if (((uint16_t)(out[hl] << 8 | out[hl + 1])) != code)
        abort();
    size_t kept = (size_t)h.payload_len - 2;
    size_t full = strnlen(reason, sizeof reason);
    if (kept > full || memcmp(out + hl + 2, reason, kept) != 0)
        abort();
    if (kept < full && !reason_cut_ok(reason, full, kept))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned pattern = data[0];
    const uint8_t *s = data + 1;
    size_t len = size - 1;
    drive(s, len, 0, &whole_run);
    drive(s, len, 1, &split_run);
    compare(&whole_run, &split_run);
    if (pattern > 1) {
        drive(s, len, pattern, &split_run);
        compare(&whole_run, &split_run);
    }
    struct scan_result sc, limited;
    scan_drive(s, len, pattern, 0, &sc);
    compare_scan(&whole_run, &sc);
    scan_drive(s, len, pattern, (uint64_t)pattern * 7 + 1, &limited);
    if (limited.forwarded > sc.forwarded || limited.messages > sc.messages || (!limited.too_big && !limited.bad &&
                                                                              limited.forwarded != sc.forwarded))
        abort();
    /* the same stream under frame rules */
    rules_on = 1;
    rules_mask = (enum tg_ws_mask_rule)(pattern % 3);
    rules_rsv = (pattern >> 2) & 7;
    drive(s, len, 0, &rules_whole);
    drive(s, len, 1, &rules_split);
    compare(&rules_whole, &rules_split);
    scan_drive(s, len, pattern, 0, &sc);
    compare_scan(&rules_whole, &sc);
    rules_on = 0;
    /* rules only refuse: the run is the rule-less one up to the refusal */
    if (!rules_whole.bad) {
        compare(&rules_whole, &whole_run);
    } else {
        if (whole_run.bad && whole_run.bad_at < rules_whole.bad_at)
            abort();
        if (rules_whole.n > whole_run.n || rules_whole.forwarded > whole_run.forwarded)
            abort();
        if (rules_whole.n && memcmp(rules_whole.ev, whole_run.ev, rules_whole.n * sizeof whole_run.ev[0]) != 0)
            abort();
    }
    if (tg_ws_extensions_rsv((const char *)s, len) & ~7u)
        abort();
    fuzz_close(s, len);
    if (len >= 24) {
        char acc[29];
        tg_ws_key_is_valid((const char *)s, 24);
        tg_ws_accept_for_key((const char *)s, len, acc);
        if (strlen(acc) != 28)
            abort();
    }
    return 0;
}
