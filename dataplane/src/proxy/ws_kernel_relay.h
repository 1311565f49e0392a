/* ws_kernel_relay.h — the opt-in kernel WebSocket relay (`--kernel-relay`, issue 15 item 3), user-space side:
 * loads the embedded BPF object (dataplane/bpf/ws_relay.bpf.c) once per process, puts an established session's
 * two sockets into its sockmap so the kernel relays valid data frames socket to socket, reads the per-socket
 * counters and last activity the BPF programs keep, and takes a session back to the user-space relay (the
 * hand-back protocol of docs/performance.md, "Kernel relay") when user space must act: a close frame, a frame
 * breaking a rule or a limit, a proxy close (timeouts, expiry, revocation, drain), a lost peer.
 * Falls back to the user-space relay — and says so once in the log — when BPF cannot be loaded (no privilege,
 * old kernel) or a session cannot be offloaded (TLS without kTLS, the map full). */
#ifndef TG_WS_KERNEL_RELAY_H
#define TG_WS_KERNEL_RELAY_H

#include "timer_wheel.h"
#include "ws_frame.h"

#include <stdint.h>

/* Process start: requested = the flag. Loads and attaches the BPF programs; on failure logs once why and every
 * session stays in user space. Returns 1 when the kernel relay is on. */
int tg_krelay_setup(int requested);
/* 1 when the flag was given (sessions are offered; a session that cannot go counts as a fallback). */
int tg_krelay_requested(void);
/* Metrics: sessions in the kernel relay now, sessions that stayed in (or went back to) user space for a reason
 * other than their own protocol (load failure, TLS, map full). */
uint64_t tg_krelay_sessions_active(void);
uint64_t tg_krelay_fallbacks_total(void);

/* Events a session's owner hears (its callback). */
enum tg_krelay_event {
    TG_KRELAY_TICK = 1, /* periodic: collect the counters (tg_krelay_collect) */
    TG_KRELAY_BACK = 2, /* a take-back finished: the session is user space's again (resume relaying) */
};

struct tg_krelay_offer {
    int client_fd, backend_fd;
    int tls;                             /* either side is TLS: stays in user space */
    const struct tg_ws_tracker *c2b, *b2c; /* both at a frame boundary, nothing buffered */
    uint64_t max_message;                /* maxMessageBytes (0: none) */
    unsigned rsv;                        /* RSV bits the 101 allowed */
    struct tg_timer_wheel *wheel;        /* the owner's worker's */
    void (*cb)(void *owner, enum tg_krelay_event ev);
    void *owner;
    uint64_t session_id;                 /* for tg_krelay_pending */
    _Atomic uint32_t *kr_slot1_out;      /* set when the session goes to the kernel (tg_session.kr_slot1) */
};

struct tg_krelay_sess;

/* Offers a session whose user-space relay is idle at frame boundaries both ways (everything read was written,
 * no partial header kept). NULL: it stays in user space. */
struct tg_krelay_sess *tg_krelay_offer(const struct tg_krelay_offer *o);

/* 1 while the kernel relays the session; 0 once it has been taken back (for good). */
int tg_krelay_in_kernel(const struct tg_krelay_sess *k);
/* 1 when either socket has something for user space: a frame the kernel handed up, EOF or an error. */
int tg_krelay_has_input(const struct tg_krelay_sess *k);
/* Starts (or continues) taking the session back: from the next frame boundary each socket's input goes to
 * user space. Returns 1 when the session is user space's now (both peers have taken every byte the kernel
 * relayed to them: user space may write), 0 when it must wait — TG_KRELAY_BACK follows. */
int tg_krelay_take_back(struct tg_krelay_sess *k, uint64_t now_ms);

/* What the kernel relayed since the last call (index 0: client→backend, 1: backend→client), and the
 * monotonic ms of its last relayed frame (0: none). */
struct tg_krelay_counts {
    uint64_t bytes[2], messages[2];
    uint64_t last_activity_ms;
};
void tg_krelay_collect(struct tg_krelay_sess *k, struct tg_krelay_counts *c);
/* For /sessions (any thread): what the kernel relayed for session id in slot kr_slot1 (tg_session.kr_slot1)
 * that its counters do not hold yet, and the kernel's last activity on it (monotonic ms, as tg_now_ms; 0: none);
 * zeros when the slot serves another session by now. */
void tg_krelay_pending(uint32_t kr_slot1, uint64_t session_id, uint64_t bytes[2], uint64_t messages[2],
                       uint64_t *last_activity_ms);
/* After a take-back: the fragmentation state of each direction (a message the kernel relayed the first frames
 * of is still open) goes into the user-space trackers. */
void tg_krelay_sync_trackers(const struct tg_krelay_sess *k, struct tg_ws_tracker *c2b, struct tg_ws_tracker *b2c);
/* The proxy's maxMessageBytes changed (a new snapshot). */
void tg_krelay_set_limit(struct tg_krelay_sess *k, uint64_t max_message);
/* The session ends (its sockets are closed right after): frees its slots. */
void tg_krelay_release(struct tg_krelay_sess *k);

#endif
