/* ws_tunnel.h — the WebSocket relay after a 101 (one object: the tunnel relays, and its embedded struct
 * tg_session is what /sessions sees of it, through sessions.h). A tunnel is created from two moved connections
 * (the client's and the backend's), the snapshot reference its proxy config lives in, the endpoint's active
 * count and a copy of the credential that admitted it; from then on it owns them all and ends them itself:
 * idle timeout, max lifetime, token expiry or revocation, a peer's close, a lost side, the drain.
 * Per idle session the proxy holds this struct and nothing else: no buffers, one timer-wheel entry. */
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

/* One direction of the relay (client→backend or backend→client). */
struct tg_ws_direction {
    struct tg_ws_tracker tracker;
    uint32_t validated;              /* bytes at the front of the source's in-buffer checked and ready to write */
    unsigned char close_seen;        /* a close frame from the source was relayed */
    unsigned char eof;               /* the source's read side ended (EOF or error) */
    unsigned char stop;              /* relay nothing more (proxy close: stop at the next frame boundary) */
    unsigned char stop_at_boundary;  /* set stop when the current frame ends */
    unsigned char inject_pending;    /* a proxy close frame must be written to the destination */
    unsigned char injected;          /* it was queued */
    uint16_t inject_code;
    uint32_t budget_iteration;       /* the loop iteration budget_used counts for (tg_worker_iteration) */
    uint32_t budget_used;            /* bytes read from the source in that iteration */
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

/* What the tunnels of one worker share (the owner's). */
struct tg_ip_limit;

struct tg_tunnel_env {
    struct tg_worker *w;
    struct tg_counters *counters;
    struct tg_session_list *sessions;
    const struct tg_debug_hooks *debug; /* debug sessions' store: a recorded 101 is completed at the end */
    const struct tg_metrics_hooks *metrics; /* labelled metrics (metrics_hooks.h): told each session's end */
};

struct tg_analytics_capture;
struct tg_krelay_sess;

struct tg_tunnel {
    struct tg_deferred deferred;
    struct tg_worker *w;
    const struct tg_tunnel_env *env;
    struct tg_session session;       /* in env->sessions while relaying (its counters are the relay's) */
    struct tg_conn client;
    struct tg_conn backend;
    struct tg_ws_direction c2b, b2c;
    struct tg_timer timer;
    struct tg_snapshot *snap;        /* session.proxy lives in it (follows the worker's, tg_tunnels_follow) */
    struct tg_ip_limit *ip_limit;    /* holds a slot of session.client_ip in it (NULL: none) */
    uint64_t started_ms;
    uint64_t closing_deadline_ms;
    uint64_t close_started_ms;       /* a peer's close frame was relayed: the handshake must finish in time */
    struct tg_credential *cred;      /* the credential that admitted the session (NULL: none) */
    uint64_t cred_expiry_ms;         /* monotonic deadline of cred's expiry (0: none) */
    uint64_t next_recheck_ms;        /* monotonic time of the next introspection recheck (0: none) */
    unsigned char recheck_pending;   /* a recheck is in flight: the object is freed only after its answer */
    unsigned char krelay_offered;    /* --kernel-relay: the session was offered to the kernel relay once */
    enum tg_tunnel_state state;
    enum tg_closed_by closed_by;
    uint16_t close_code;             /* the close code of the session's end, as the client saw it */
    uint64_t debug_handle;           /* its 101's debug-session record (0: none) */
    struct tg_analytics_capture *analytics; /* its analytics record, written at the end (NULL: off) */
    struct tg_krelay_sess *krelay;   /* its sockets are in the kernel relay's sockmap (NULL: never were) */
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
    struct tg_ip_limit *ip_limit;    /* the client address's slot moves to the tunnel (NULL: none held) */
    unsigned ws_rsv;                 /* RSV bits the 101's Sec-WebSocket-Extensions allow (tg_ws_extensions_rsv) */
    int draining;                    /* the worker is draining: close 1001 at once */
    uint64_t debug_handle;           /* the debug-session record of its 101 (0: none) */
    struct tg_analytics_capture *analytics; /* moved to the tunnel (analytics_record.h) */
};

/* Starts relaying. NULL (nothing moved, the caller still owns everything) when out of memory. */
struct tg_tunnel *tg_tunnel_start(const struct tg_tunnel_env *env, const struct tg_tunnel_setup *setup);
/* Proxy-initiated close of a session: close frames with these codes to each side (0: none), then the end. */
void tg_tunnel_close(struct tg_tunnel *t, uint16_t code_to_client, const char *reason_to_client,
                     uint16_t code_to_backend, const char *reason_to_backend, enum tg_closed_by closed_by);

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
