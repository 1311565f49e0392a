/* ws_relay_abi.h — what the kernel WebSocket relay's BPF programs (dataplane/bpf/ws_relay.bpf.c) and their
 * user-space side (ws_kernel_relay.c) share: the per-socket slot of the `kr_socks` array map and the constants.
 * One slot per relayed socket; a session owns the pair (2i, 2i+1): client, backend; a slot's peer is slot ^ 1.
 * Plain C types only, so both the BPF target and the data plane compile it. */
#ifndef TG_WS_RELAY_ABI_H
#define TG_WS_RELAY_ABI_H

#define KR_MAX_SLOTS 16384u        /* relayed sockets (two per session) */
/* Frames the parser puts into one strparser message when they are all there already (one redirect for many). */
#define KR_BATCH 16
/* Largest piece the stream parser makes a message of: a longer frame is relayed in pieces of this size (the
 * strparser holds a whole message and fails the socket past its receive buffer). A frame is never handed back
 * in the middle: hand-backs wait for the frame's last piece. */
#define KR_MAX_FRAME 65536u

enum kr_mask_rule { KR_MASK_REQUIRED = 1, KR_MASK_FORBIDDEN = 2 };

/* Why a direction was handed back (kr_sock.passing). */
enum kr_pass_reason {
    KR_PASS_NONE = 0, KR_PASS_ASKED = 1, KR_PASS_CLOSE = 2, KR_PASS_RULE = 3, KR_PASS_LIMIT = 4,
    KR_PASS_NO_PEER = 6,
};

struct kr_sock {
    /* written by user space (atomic stores into the mmapped map) */
    unsigned int active;            /* the slot is in use */
    unsigned int handback;          /* 1: pass every byte from the next frame boundary on to user space */
    unsigned int mask_rule;         /* enum kr_mask_rule for frames read from this socket */
    unsigned int rsv_allowed;       /* RSV bits (4,2,1) negotiated extensions allow */
    unsigned long long max_message; /* maxMessageBytes (0: none) */
    unsigned long long owner;       /* the session id the slot serves (/sessions checks it before reading) */
    unsigned long long seen_bytes, seen_messages; /* what the session's own counters hold already */
    /* written by the BPF programs */
    unsigned int passing;           /* enum kr_pass_reason: this socket's input goes to user space for good */
    unsigned int cur_kind;          /* the parser's verdict on the message in flight: 0 relay, 1 pass */
    unsigned int cur_msgs;          /* data messages the message in flight completes */
    unsigned int cur_set_state;     /* the message in flight starts with a frame header: apply cur_in_message... */
    unsigned int in_message;        /* a fragmented data message is open (its frames so far were relayed) */
    unsigned int cur_in_message;    /* in_message once the message in flight is relayed */
    unsigned int cur_started;       /* the parser has placed the message in flight (cur_off is valid) */
    unsigned int cur_off;           /* where the message in flight starts in the skb the parser sees */
    unsigned int cur_len;           /* its length, as the parser returned it */
    unsigned int extra;             /* bytes after the last message in its last skb: where the next one starts,
                                       counted from that skb's end (0: at the start of a fresh skb) */
    unsigned long long payload_left;    /* payload bytes of the frame in progress not yet relayed (its pieces) */
    unsigned long long cur_payload_left; /* payload_left once the piece in flight is relayed */
    unsigned int cur_piece;         /* the message in flight continues a frame (relayed whatever handback says) */
    unsigned int frame_msg_end;     /* the frame in progress ends a data message (FIN data frame) */
    unsigned long long message_bytes;   /* payload bytes of the open (or last) data message */
    unsigned long long cur_message_bytes; /* message_bytes once the frame in flight is relayed */
    unsigned long long bytes;       /* bytes of frames relayed from this socket to its peer */
    unsigned long long messages;    /* data messages completed */
    unsigned long long last_ns;     /* CLOCK_MONOTONIC of the last relayed frame (0: none yet) */
};

#endif
