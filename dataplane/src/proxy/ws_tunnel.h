/* ws_tunnel.h — the WebSocket relay after a 101 (one object: the tunnel relays, and its embedded struct
 * tg_session is what /sessions sees of it, through sessions.h). A tunnel is created from two moved connections
 * (the client's and the backend's), the snapshot reference its proxy config lives in, the endpoint's active
 * count and a copy of the credential that admitted it; from then on it owns them all and ends them itself:
 * idle timeout, max lifetime, token expiry or revocation, a peer's close, a lost side, the drain.
 * Per idle session the proxy holds this struct and nothing else: no buffers, one timer-wheel entry. It is kept
 * small (448 bytes with malloc's header; docs/performance.md "Memory per idle session"): what only some sessions
 * use — a credential to enforce, a debug or analytics record, the kernel relay — lives in a side allocation made
 * only for them, and the fields of one phase of a session's life share their bytes with those of another. */
#ifndef TG_WS_TUNNEL_H
#define TG_WS_TUNNEL_H

#include "config/router.h"
#include "loop/conn.h"
#include "loop/counters.h"
#include "loop/worker.h"
#include "policy/policy.h"
#include "proxy/debug_hooks.h"
#include "proxy/metrics_hooks.h"
#include "proxy/sessions.h"
#include "timer_wheel.h"
#include "ws_frame.h"

#include <stdatomic.h>
#include <stdint.h>

/* One direction of the relay (client→backend or backend→client): 32 bytes. */
struct tg_ws_direction {
    struct tg_ws_tracker tracker;
    uint16_t validated;              /* bytes at the front of the source's in-buffer checked and ready to write
                                        (≤ one buffer: ws_tunnel.c checks it fits) */
    unsigned close_seen : 1;         /* a close frame from the source was relayed */
    unsigned eof : 1;                /* the source's read side ended (EOF or error) */
    unsigned stop : 1;               /* relay nothing more (proxy close: stop at the next frame boundary) */
    unsigned stop_at_boundary : 1;   /* set stop when the current frame ends */
    unsigned inject_pending : 1;     /* the proxy's close frame (the tunnel's close_reason) must be written to
                                        the destination */
    unsigned injected : 1;           /* it was queued */
    uint32_t budget_used;            /* bytes read from the source in the tunnel's budget_iteration */
};

/* States: OPEN — relaying both ways. CLOSING — the proxy is closing the session (timeout, limit, shutdown,
 * backend/client lost): no new frame is relayed, close frames are injected at frame boundaries, then both sides
 * are shut and the sockets closed when they end or at closing_deadline_ms. FINISHING — a peer-initiated close
 * handshake is complete (or a side ended after sending its close): remaining bytes are flushed, then both
 * sockets close (at the latest at closing_deadline_ms). */
enum tg_tunnel_state { TG_TUNNEL_OPEN = 0, TG_TUNNEL_CLOSING, TG_TUNNEL_FINISHING, TG_TUNNEL_DONE };

enum tg_closed_by { TG_CLOSED_BY_NONE = 0, TG_CLOSED_BY_CLIENT, TG_CLOSED_BY_BACKEND, TG_CLOSED_BY_PROXY };
const char *tg_closed_by_str(enum tg_closed_by who);

/* Why the proxy closes a session: each reason has fixed close frames (code and reason text) for the client and
 * for the backend (code 0: that side gets none), listed in ws_tunnel.c. */
enum tg_tunnel_close_reason {
    TG_TUNNEL_SHUTDOWN = 0,      /* 1001 "server shutting down" both ways */
    TG_TUNNEL_PROTOCOL_ERROR,    /* 1002 "protocol error" both ways */
    TG_TUNNEL_TOO_BIG,           /* 1009 "message too big" both ways */
    TG_TUNNEL_CLIENT_GONE,       /* to the backend only: 1001 "client went away" */
    TG_TUNNEL_BACKEND_LOST,      /* to the client only: 1014 "backend connection lost" */
    TG_TUNNEL_TOKEN_REVOKED,     /* 1008 to the client, 1001 to the backend, "token revoked" */
    TG_TUNNEL_TOKEN_EXPIRED,     /* 1008 to the client, 1001 to the backend, "token expired" */
    TG_TUNNEL_MAX_LIFETIME,      /* 1001 "max lifetime reached" both ways */
    TG_TUNNEL_IDLE_TIMEOUT,      /* 1001 "idle timeout" both ways */
};

/* What the tunnels of one worker share (the owner's). */
struct tg_ip_limit;

struct tg_tunnel_env {
    struct tg_worker *w;
    struct tg_counters *counters;
    struct tg_session_list *sessions;
    const struct tg_debug_hooks *debug; /* debug sessions' store: a recorded 101 is completed at the end */
    const struct tg_metrics_hooks *metrics; /* labelled metrics (metrics_hooks.h): told each session's end */
    struct tg_ip_limit *ip_limit;    /* --max-connections-per-ip's (NULL: off): a session holding a slot gives
                                        it back here */
};

struct tg_tunnel_rare; /* what only some sessions need (ws_tunnel.c): NULL for the others */

struct tg_tunnel {
    struct tg_session session;       /* in env->sessions while relaying (its counters are the relay's) */
    struct tg_conn client;
    struct tg_conn backend;
    struct tg_ws_direction c2b, b2c;
    union {
        struct tg_timer timer;       /* until the end (state DONE) */
        struct tg_deferred deferred; /* from then on: the worker frees the tunnel after this loop iteration */
    };
    const struct tg_tunnel_env *env;
    struct tg_snapshot *snap;        /* session.proxy lives in it (follows the worker's, tg_tunnels_follow) */
    struct tg_tunnel_rare *rare;     /* credential, debug and analytics records, kernel relay (NULL: none) */
    uint64_t started_ms;
    union {
        uint64_t close_started_ms;    /* OPEN: a peer's close frame was relayed at this time, the handshake must
                                         finish in time (0: none) */
        uint64_t closing_deadline_ms; /* CLOSING, FINISHING: both sockets close at the latest then */
    };
    uint32_t budget_iteration;       /* the loop iteration both directions' budget_used count for */
    uint8_t state;                   /* enum tg_tunnel_state */
    uint8_t close_reason;            /* enum tg_tunnel_close_reason: what the injected close frames say */
    unsigned ip_counted : 1;         /* holds a slot of the client's address in env->ip_limit */
    unsigned krelay_offered : 1;     /* --kernel-relay: the session was offered to the kernel relay once */
};

/* What a tunnel is made of. The connections are moved into it; the snapshot reference and the endpoint count
 * become its own. */
struct tg_tunnel_setup {
    struct tg_conn *client;          /* moved: the 101 may still be queued on its out buffer */
    struct tg_conn *backend;         /* moved */
    struct tg_snapshot *snap;        /* reference moved to the tunnel */
    const struct tg_route *route;    /* the proxy config (in snap) and the environment it is served under */
    struct tg_endpoint *ep;
    int ep_counted;                  /* the caller holds one ep->active, which moves to the tunnel */
    const struct tg_credential *credential; /* copied; NULL or kind NONE: no credential to enforce */
    const char *client_ip;
    struct tg_ip_limit *ip_limit;    /* the client address's slot moves to the tunnel (NULL: none held); it is
                                        env->ip_limit (the one a tunnel gives slots back to) */
    unsigned ws_rsv;                 /* RSV bits the 101's Sec-WebSocket-Extensions allow (tg_ws_extensions_rsv) */
    int draining;                    /* the worker is draining: close 1001 at once */
    uint64_t debug_handle;           /* the debug-session record of its 101 (0: none) */
    struct tg_analytics_capture *analytics; /* moved to the tunnel (analytics_record.h) */
};

/* Starts relaying. NULL (nothing moved, the caller still owns everything) when out of memory. */
struct tg_tunnel *tg_tunnel_start(const struct tg_tunnel_env *env, const struct tg_tunnel_setup *setup);
/* Proxy-initiated close of a session: the reason's close frames to each side, then the end. */
void tg_tunnel_close(struct tg_tunnel *t, enum tg_tunnel_close_reason why, enum tg_closed_by closed_by);

/* The sessions of one worker (the env's list): */
/* After a snapshot swap: closes (1008 "token revoked") every session whose credential the new snapshot no longer
 * accepts — a revoked jti, a deleted or expired API key. */
void tg_tunnels_check_credentials(const struct tg_tunnel_env *env, const struct tg_snapshot *snap);
/* After a snapshot swap (and tg_tunnels_check_credentials): every session whose proxy is still in snap, under
 * the same environment and with the admitting policy of the same type at the same place, moves its reference to
 * snap and follows that proxy's settings from now on (idle timeout, lifetime, message limit, rechecks). So a
 * long session never keeps an old snapshot alive; only a session whose proxy left or changed shape keeps the
 * snapshot it was admitted under. */
void tg_tunnels_follow(const struct tg_tunnel_env *env, struct tg_snapshot *snap);
/* Drain: every session gets close 1001 both ways. */
void tg_tunnels_drain(const struct tg_tunnel_env *env);
/* Worker exit: every session ends now. */
void tg_tunnels_destroy_all(const struct tg_tunnel_env *env);

#endif
