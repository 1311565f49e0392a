/* ws_relay.bpf.c — the kernel WebSocket relay (issue 15 item 3): a sockmap whose stream parser cuts each
 * relayed socket's input at WebSocket frame boundaries and whose verdict redirects every complete, valid data or
 * ping/pong frame to the peer socket, counting bytes, messages and the last activity in the socket's slot of
 * kr_socks (ws_relay_abi.h). Everything user space must see is handed back, never dropped: a close frame, a frame
 * breaking a rule (mask, RSV, opcode, control-frame size, fragmentation), a message over maxMessageBytes, or
 * user space asking (kr_sock.handback) — always at a frame boundary: a frame longer than KR_MAX_FRAME is relayed
 * in pieces of at most that size, and a hand-back asked for in the middle of one waits for its last piece.
 * Complete frames that are all there already (up to KR_BATCH) make one message: one redirect for them all. From that frame on the socket is "passing":
 * every byte goes to the socket's own receive queue (SK_PASS), in order, so user space reads the stream from a
 * frame boundary exactly where the kernel stopped. The hand-back protocol is written out in docs/performance.md
 * ("Kernel relay"). Compiled with clang -target bpf; embedded into the data plane (Makefile).
 *
 * Offsets: the strparser hands the parser the skb a message starts in, from that skb's first byte, while the
 * message may start further in (the previous message ended inside the same skb); the BPF context has no field
 * for that offset. The programs keep it themselves: the verdict sees the whole message skb and records how many
 * bytes follow the message in its last skb (kr_sock.extra); the next message's head is that skb again, so its
 * start is skb->len - extra at the first parse of the message (0 when nothing followed: a fresh skb). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ws_relay_abi.h"

char LICENSE[] SEC("license") = "GPL"; /* sockmap helpers are GPL-only */

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, KR_MAX_SLOTS);
    __type(key, __u32);
    __type(value, struct kr_sock);
} kr_socks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, KR_MAX_SLOTS);
    __type(key, __u64);   /* socket cookie */
    __type(value, __u32); /* slot */
} kr_cookies SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_SOCKMAP);
    __uint(max_entries, KR_MAX_SLOTS);
    __type(key, __u32);
    __type(value, __u32);
} kr_sockmap SEC(".maps");

static __always_inline struct kr_sock *slot_of(struct __sk_buff *skb, __u32 *slot_out)
{
    __u64 cookie = bpf_get_socket_cookie(skb);
    __u32 *slot = bpf_map_lookup_elem(&kr_cookies, &cookie);
    if (!slot)
        return 0;
    *slot_out = *slot;
    return bpf_map_lookup_elem(&kr_socks, slot);
}

/* From here on the socket's input is user space's: the message is everything there is now (and so on). */
static __always_inline int pass_from_here(struct __sk_buff *skb, struct kr_sock *s, unsigned int reason)
{
    if (!s->passing)
        s->passing = reason;
    s->cur_kind = 1;
    s->cur_len = skb->len - s->cur_off;
    return (int)s->cur_len;
}

/* The frame header at pos (avail bytes there): its length (> 0) with *plen, *op, *fin; 0 when more bytes are
 * needed; minus a kr_pass_reason when the frame is user space's. RFC 6455 §5.2 (reserved opcodes), §5.5 (control
 * frames: FIN, ≤ 125 bytes), §5.1 (masking), §5.2 and RFC 7692 §6.1 (RSV bits), §5.4 (fragmentation): the same
 * rules as common/ws_frame.c's tracker. */
static __always_inline int frame_header(struct __sk_buff *skb, __u32 pos, __u32 avail, const struct kr_sock *s,
                                        unsigned int in_message, __u64 *plen, unsigned int *op_out,
                                        unsigned int *fin_out)
{
    __u8 h[8];
    if (avail < 2 || bpf_skb_load_bytes(skb, pos, h, 2))
        return 0;
    unsigned int op = h[0] & 0x0F, fin = h[0] >> 7, rsv = (h[0] >> 4) & 7;
    unsigned int masked = h[1] >> 7, len7 = h[1] & 0x7F;
    unsigned int control = op & 8;
    if (!(op <= 2 || (op >= 8 && op <= 10)))
        return -KR_PASS_RULE;
    if (control && (!fin || len7 > 125))
        return -KR_PASS_RULE;
    if ((s->mask_rule == KR_MASK_REQUIRED && !masked) || (s->mask_rule == KR_MASK_FORBIDDEN && masked))
        return -KR_PASS_RULE;
    if ((rsv & ~s->rsv_allowed) || ((rsv & 4) && (op == 0 || control)))
        return -KR_PASS_RULE;
    if ((op == 0 && !in_message) || ((op == 1 || op == 2) && in_message))
        return -KR_PASS_RULE;
    if (op == 8)
        return -KR_PASS_CLOSE;
    __u64 n = len7;
    int hlen = 2;
    if (len7 == 126) {
        if (avail < 4 || bpf_skb_load_bytes(skb, pos + 2, h, 2))
            return 0;
        n = ((__u64)h[0] << 8) | h[1];
        hlen = 4;
    } else if (len7 == 127) {
        if (avail < 10 || bpf_skb_load_bytes(skb, pos + 2, h, 8))
            return 0;
        if (h[0] & 0x80)
            return -KR_PASS_RULE;
        n = 0;
#pragma unroll
        for (int i = 0; i < 8; i++)
            n = (n << 8) | h[i];
        hlen = 10;
    }
    if (masked)
        hlen += 4;
    *plen = n;
    *op_out = op;
    *fin_out = fin;
    return hlen;
}

SEC("sk_skb/stream_parser")
int kr_parse(struct __sk_buff *skb)
{
    __u32 slot;
    struct kr_sock *s = slot_of(skb, &slot);
    if (!s)
        return (int)skb->len;
    if (!s->cur_started) { /* the first look at a new message: place it */
        s->cur_started = 1;
        s->cur_off = s->extra && s->extra < skb->len ? skb->len - s->extra : 0;
    }
    if (s->passing)
        return pass_from_here(skb, s, s->passing);
    if (s->payload_left) { /* the next piece of a long frame */
        __u64 piece = s->payload_left < KR_MAX_FRAME ? s->payload_left : KR_MAX_FRAME;
        s->cur_kind = 0;
        s->cur_piece = 1;
        s->cur_set_state = 0; /* the message state moved at the frame's first piece */
        s->cur_payload_left = s->payload_left - piece;
        s->cur_msgs = s->cur_payload_left == 0 && s->frame_msg_end;
        s->cur_len = (__u32)piece;
        return (int)s->cur_len;
    }
    if (*(volatile unsigned int *)&s->handback)
        return pass_from_here(skb, s, KR_PASS_ASKED);

    __u32 off = s->cur_off;
    if (off >= skb->len)
        return 0;
    __u32 avail = skb->len - off;
    unsigned int in_message = s->in_message, op = 0, fin = 0, msgs = 0;
    __u64 message_bytes = s->message_bytes, plen = 0;
    int hl = frame_header(skb, off, avail, s, in_message, &plen, &op, &fin);
    if (hl == 0)
        return 0;
    if (hl < 0)
        return pass_from_here(skb, s, (unsigned int)-hl);
    __u64 first = plen > KR_MAX_FRAME - hl ? KR_MAX_FRAME - hl : plen; /* the strparser holds whole messages */
    if (op <= 2) {
        message_bytes = (op == 0 ? message_bytes : 0) + plen;
        if (s->max_message && message_bytes > s->max_message)
            return pass_from_here(skb, s, KR_PASS_LIMIT); /* user space closes 1009 before any byte of it */
        in_message = !fin;
        msgs = fin && first == plen;
    }
    s->frame_msg_end = op <= 2 && fin;
    __u32 total = (__u32)(hl + first);
    __u64 left = plen - first; /* payload of the first frame for later pieces (then nothing joins it) */
    if (left == 0) {
        /* more frames that are all there already join this message: one redirect for them all; the message
         * ends before the first frame that is incomplete, too long, or user space's */
        for (int i = 1; i < KR_BATCH; i++) {
            if (total >= avail)
                break;
            hl = frame_header(skb, off + total, avail - total, s, in_message, &plen, &op, &fin);
            if (hl <= 0 || plen > KR_MAX_FRAME || total + hl + plen > avail || total + hl + plen > KR_MAX_FRAME)
                break;
            if (op <= 2) {
                __u64 mb = (op == 0 ? message_bytes : 0) + plen;
                if (s->max_message && mb > s->max_message)
                    break;
                message_bytes = mb;
                in_message = !fin;
                msgs += fin;
            }
            total += (__u32)(hl + plen);
        }
    }
    s->cur_kind = 0;
    s->cur_piece = 0;
    s->cur_set_state = 1;
    s->cur_payload_left = left;
    s->cur_in_message = in_message;
    s->cur_message_bytes = message_bytes;
    s->cur_msgs = msgs;
    s->cur_len = total;
    return (int)total;
}

SEC("sk_skb/stream_verdict")
int kr_verdict(struct __sk_buff *skb)
{
    __u32 slot;
    struct kr_sock *s = slot_of(skb, &slot);
    if (!s)
        return SK_PASS;
    /* where the next message starts (see the top) */
    __u64 len = s->cur_len;
    __u32 end = s->cur_off + s->cur_len;
    s->extra = skb->len > end ? skb->len - end : 0;
    s->cur_started = 0;
    if (s->cur_kind)
        return SK_PASS;
    /* Counted before handback is read; user space sets handback before it reads the count (both full
     * barriers): either this frame sees handback and stays here, or user space sees it counted and waits
     * until the peer socket has taken it. */
    __sync_fetch_and_add(&s->bytes, len);
    if (!s->cur_piece && *(volatile unsigned int *)&s->handback) {
        __sync_fetch_and_sub(&s->bytes, len);
        if (!s->passing)
            s->passing = KR_PASS_ASKED;
        s->cur_kind = 1;
        return SK_PASS;
    }
    if (bpf_sk_redirect_map(skb, &kr_sockmap, slot ^ 1, 0) != SK_PASS) {
        __sync_fetch_and_sub(&s->bytes, len); /* no peer in the map: user space gets it */
        if (!s->passing)
            s->passing = KR_PASS_NO_PEER; /* (the peer is closing: a piece handed up mid-frame ends there) */
        s->cur_kind = 1;
        return SK_PASS;
    }
    s->payload_left = s->cur_payload_left;
    if (s->cur_set_state) {
        s->in_message = s->cur_in_message;
        s->message_bytes = s->cur_message_bytes;
    }
    if (s->cur_msgs)
        __sync_fetch_and_add(&s->messages, s->cur_msgs);
    s->last_ns = bpf_ktime_get_ns();
    return SK_PASS;
}
