/* ws_tunnel.h — a relayed WebSocket session (the state ws_tunnel.c owns), visible to the admin API's /sessions.
 * Per idle session the proxy holds this struct and nothing else: no buffers, one timer-wheel entry. */
#ifndef TG_WS_TUNNEL_H
#define TG_WS_TUNNEL_H

#include "loop/conn.h"
#include "config/snapshot.h"
#include "timer_wheel.h"
#include "loop/worker.h"
#include "policy/policy.h"
#include "ws_frame.h"

#include <stdatomic.h>
#include <stdint.h>

/* One direction of the relay (client→backend or backend→client). */
struct tg_ws_direction {
    struct tg_ws_tracker tracker;
    _Atomic uint64_t messages;       /* complete data messages relayed (read by /sessions from another thread) */
    _Atomic uint64_t bytes;          /* frame bytes relayed, headers included */
    uint32_t validated;              /* bytes at the front of the source's in-buffer checked and ready to write */
    unsigned char close_seen;        /* a close frame from the source was relayed */
    unsigned char eof;               /* the source's read side ended (EOF or error) */
    unsigned char stop;              /* relay nothing more (proxy close: stop at the next frame boundary) */
    unsigned char stop_at_boundary;  /* set stop when the current frame ends */
    unsigned char inject_pending;    /* a proxy close frame must be written to the destination */
    unsigned char injected;          /* it was queued */
    uint16_t inject_code;
    const char *inject_reason;
};

/* States: OPEN — relaying both ways. CLOSING — the proxy is closing the session (timeout, limit, shutdown,
 * backend/client lost): no new frame is relayed, close frames are injected at frame boundaries, then both sides
 * are shut and the sockets closed when they end or at closing_deadline_ms. FINISHING — a peer-initiated close
 * handshake is complete (or a side ended after sending its close): remaining bytes are flushed, then both
 * sockets close (at the latest at closing_deadline_ms). */
enum tg_tunnel_state { TG_TUNNEL_OPEN = 0, TG_TUNNEL_CLOSING, TG_TUNNEL_FINISHING, TG_TUNNEL_DONE };

enum tg_closed_by { TG_CLOSED_BY_NONE = 0, TG_CLOSED_BY_CLIENT, TG_CLOSED_BY_BACKEND, TG_CLOSED_BY_PROXY };
const char *tg_closed_by_str(enum tg_closed_by who);

struct tg_tunnel {
    struct tg_deferred deferred;
    struct tg_worker *w;
    struct tg_conn client;
    struct tg_conn backend;
    struct tg_ws_direction c2b, b2c;
    struct tg_timer timer;
    struct tg_snapshot *snap;
    const struct tg_proxy_cfg *proxy;
    const char *environment;
    struct tg_endpoint *ep;
    uint64_t id;
    uint64_t started_wall_ms;
    uint64_t started_ms;
    uint64_t last_activity_ms;
    uint64_t closing_deadline_ms;
    uint64_t close_started_ms;       /* a peer's close frame was relayed: the handshake must finish in time */
    struct tg_tunnel *next, *prev;   /* worker's session list (under w->sessions_lock) */
    struct tg_credential *cred;      /* the credential that admitted the session (NULL: none) */
    uint64_t cred_expiry_ms;         /* monotonic deadline of cred's expiry (0: none) */
    uint64_t next_recheck_ms;        /* monotonic time of the next introspection recheck (0: none) */
    unsigned char recheck_pending;   /* a recheck is in flight: the object is freed only after its answer */
    enum tg_tunnel_state state;
    enum tg_closed_by closed_by;
    uint16_t close_code;             /* the close code of the session's end, as the client saw it */
    char client_ip[46];
};

/* After a snapshot swap: closes (1008 "token revoked") every session of the worker whose credential the new
 * snapshot no longer accepts — a revoked jti, a deleted or expired API key. */
void tg_tunnels_check_credentials(struct tg_worker *w, const struct tg_snapshot *snap);

#endif
