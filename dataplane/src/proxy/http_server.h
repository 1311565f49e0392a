/* http_server.h — the inbound side of the proxy: a worker's HTTP/1.1 server connections (the clients' TCP
 * connections to the gateway), from the accepted socket to the point where a request is proxied, and back to the
 * next request (keep-alive, pipelining) or to the connection's end.
 *
 * A server connection reads and parses request heads (strict, bounded), routes them on the worker's snapshot,
 * checks WebSocket handshakes (ws_handshake.h), runs the policies (policy/policy.h), answers the gateway's own
 * errors, and hands an admitted request to its embedded forwarder (forwarder.h), acting on what the forwarder
 * returns; after a valid 101 both sockets move into a tunnel (ws_tunnel.h) and the connection object is freed.
 * The owner (the proxy's per-worker object) gives it accepted sockets and tells it about swaps and the drain.
 */
#ifndef TG_HTTP_SERVER_H
#define TG_HTTP_SERVER_H

#include "config/router.h"
#include "http1_parser.h"
#include "loop/conn.h"
#include "loop/counters.h"
#include "loop/worker.h"
#include "policy/policy.h"
#include "proxy/analytics_hooks.h"
#include "proxy/debug_hooks.h"
#include "proxy/metrics_hooks.h"
#include "proxy/forwarder.h"
#include "proxy/proxy_settings.h"
#include "proxy/ws_tunnel.h"
#include "timer_wheel.h"

#include <stdint.h>
#include <sys/socket.h>

/* One state per server connection; each value's invariants:
 *   READING_HEAD — no request in progress; conn.in holds 0..head bytes of the next request; timer = keep-alive
 *                  idle (no bytes yet) or request-head deadline (some bytes); no upstream.
 *   POLICIES     — a request head was parsed and routed; policies are running (possibly waiting for an
 *                  asynchronous answer); nothing has been sent anywhere; reads are paused.
 *   CONNECTING   — the forwarder's upstream is being connected (fwd.up->connecting); timer = connect deadline.
 *   FORWARDING   — the request head was queued to the upstream; body bytes and the response are being relayed;
 *                  timer = response timeout since the last progress.
 *   CLOSING      — a final answer is being flushed from conn.out; then the connection closes. No upstream.
 *   DONE         — closed (or handed to a tunnel) and queued for freeing; nothing may touch it but the free. */
enum tg_server_state {
    TG_SERVER_READING_HEAD = 0,
    TG_SERVER_POLICIES,
    TG_SERVER_CONNECTING,
    TG_SERVER_FORWARDING,
    TG_SERVER_CLOSING,
    TG_SERVER_DONE,
};
const char *tg_server_state_str(enum tg_server_state s);

struct tg_http_server;

struct tg_server_conn {
    struct tg_deferred deferred;    /* first: freed through the worker's deferred list */
    struct tg_conn conn;
    struct tg_http_server *server;
    enum tg_server_state state;
    struct tg_timer timer;
    struct tg_server_conn *next, *prev; /* the server's list (for the drain) */
    char peer_ip[46];
    unsigned char ip_counted;       /* holds a slot of slot_ip in settings->ip_limit (released at close or by the
                                       tunnel; for a trusted proxy's connection at the end of each request) */
    char slot_ip[46];               /* whose slot: peer_ip, or for a trusted proxy the request's client_ip */
    char client_ip[46];             /* the client: peer_ip, or from X-Forwarded-For when the peer is trusted */
    unsigned char peer_trusted;     /* the peer is in --trusted-proxies */
    uint64_t head_started_ms;       /* first byte of the current request head (0: none yet) */
    uint64_t request_started_ns;    /* the current request's head was complete (request duration metric) */
    unsigned char in_exchange;      /* a request of it is admitted and not finished (server->exchanges) */
    unsigned char parked;           /* waiting in server->parked for the buffer budget (its socket unread) */
    unsigned char parked_need;      /* buffers of the budget it waits for: 1 (a head buffer), 4 (an exchange) */
    struct tg_server_conn *park_next, *park_prev;
    uint32_t head_scanned;          /* bytes of conn.in the head parser has already seen (re-parse gate) */

    /* the request in progress (valid from POLICIES to the end of FORWARDING) */
    struct tg_http_head *req;       /* parsed head (slices into conn.in) until the forwarder has built its own */
    char *path_buf;                 /* the normalised path + query (req->target and fwd.path point here) */
    struct tg_slice raw_path;       /* the path + query as received (in conn.in): forwardNormalizedPath false */
    unsigned char encoded_slash;    /* the path has "%2F"/"%5C": path_buf holds its decoded form until routed */
    struct tg_policy_ctx *policy;   /* the policy run of this request (only for proxies with policies); kept
                                       until the request ends (response edits), then freed */
    unsigned char policies_sync;    /* the pipeline is being started (its verdict may arrive synchronously) */
    struct tg_snapshot *snap;       /* reference held for the request's proxy config */
    struct tg_forwarder fwd;        /* the request's attributes and its exchange with the upstream */
    struct tg_debug_capture *debug; /* the request's debug-session record (NULL: none wants it) */
    uint64_t debug_handle;          /* the store's handle of a recorded 101, for the tunnel */
    struct tg_analytics_capture *an; /* the request's analytics record (NULL: analytics off) */
};

/* One per worker: what its server connections share. */
struct tg_http_server {
    struct tg_worker *w;
    const struct tg_proxy_settings *settings;
    struct tg_counters *counters;
    struct tg_snapshot *snapshot;   /* the snapshot in force on this worker (the owner's reference); NULL: none */
    struct tg_forward_env forward;
    const struct tg_tunnel_env *tunnels;
    struct tg_http_head scratch_head; /* parse target for request heads (copied out once complete) */
    struct tg_server_conn *conns;
    size_t num_conns;
    /* --max-buffer-memory (settings->max_buffers_per_worker): requests admitted and not finished, each reserving
     * TG_EXCHANGE_BUFFERS of the budget; connections waiting for it, oldest first — [0]
     * for a head buffer, [1] with a complete head for its exchange — and the watcher that resumes them */
    size_t exchanges;
    struct tg_server_conn *parked_head[2], *parked_tail[2];
    ev_prepare unpark;
    int draining;
    const struct tg_metrics_hooks *metrics; /* labelled metrics (metrics_hooks.h); NULL: none */
    const struct tg_debug_hooks *debug; /* debug sessions' store (debug_capture.h); may be NULL */
    const struct tg_analytics_hooks *analytics; /* analytics sink (analytics_record.h); NULL: off */
};

void tg_http_server_init(struct tg_http_server *s, struct tg_worker *w, const struct tg_proxy_settings *settings,
                         struct tg_counters *counters, struct tg_upstream_pool *pool,
                         const struct tg_tunnel_env *tunnels);
/* Takes an accepted socket (non-blocking): a new server connection, or the socket closed at the connection
 * cap; the request is read at once (it usually arrived before the accept). secure, when given, puts the new
 * connection on TLS first (0, or -1: the connection closes). */
void tg_http_server_accept(struct tg_http_server *s, int fd, const struct sockaddr *peer,
                           int (*secure)(struct tg_conn *conn, void *arg), void *secure_arg);
/* The drain: idle keep-alive connections close now; the rest after their current request. */
void tg_http_server_drain(struct tg_http_server *s);
/* Worker exit: every connection closes now. */
void tg_http_server_close_all(struct tg_http_server *s);

#endif
