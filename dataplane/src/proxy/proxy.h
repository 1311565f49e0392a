/* proxy.h — the objects of one proxied client connection, shared by the files that drive them:
 *   http_client.c  — the client connection: reads and parses requests, routes, runs policies, answers errors,
 *                    keep-alive and pipelining (state enum tg_client_state below);
 *   http_exchange.c — one request forwarded to an upstream and its response relayed back;
 *   upstream.c     — endpoint choice, connecting, and the per-worker keep-alive pools;
 *   ws_tunnel.c    — after a 101: the WebSocket relay, which takes over both sockets.
 */
#ifndef TG_PROXY_H
#define TG_PROXY_H

#include "loop/conn.h"
#include "policy/policy.h"
#include "http1_parser.h"
#include "http_status.h"
#include "config/router.h"
#include "timer_wheel.h"
#include "loop/worker.h"

#include <stdint.h>

/* One state per client connection; each value's invariants:
 *   READING_HEAD — no request in progress; conn.in holds 0..head bytes of the next request; timer = keep-alive
 *                  idle (no bytes yet) or request-head deadline (some bytes); no upstream.
 *   POLICIES     — a request head was parsed and routed; policies are running (possibly waiting for an
 *                  asynchronous answer); nothing has been sent anywhere; reads are paused.
 *   CONNECTING   — an upstream is being connected (up != NULL, up->connecting); timer = connect deadline.
 *   FORWARDING   — the request head was queued to up; body bytes and the response are being relayed; timer =
 *                  response timeout since the last upstream progress.
 *   CLOSING      — a final answer is being flushed from conn.out; then the connection closes. No upstream.
 *   DONE         — closed and queued for freeing; nothing may touch it but the deferred free. */
enum tg_client_state {
    TG_CLIENT_READING_HEAD = 0,
    TG_CLIENT_POLICIES,
    TG_CLIENT_CONNECTING,
    TG_CLIENT_FORWARDING,
    TG_CLIENT_CLOSING,
    TG_CLIENT_DONE,
};
const char *tg_client_state_str(enum tg_client_state s);

struct tg_upstream {
    struct tg_deferred deferred;
    struct tg_conn conn;
    struct tg_worker *w;
    struct tg_endpoint *ep;
    struct tg_client *client;       /* attached client; NULL while idle in the pool */
    struct tg_upstream *pool_next;  /* idle pool link */
    struct tg_timer timer;          /* idle-in-pool expiry */
    unsigned char connecting;       /* connect(2) in progress */
    unsigned char reused;           /* came from the keep-alive pool */
    unsigned char counted_active;   /* holds one ep->active */
    uint32_t requests;              /* requests served on this connection */
};

struct tg_client {
    struct tg_deferred deferred;    /* first: freed through the worker's deferred list */
    struct tg_conn conn;
    struct tg_worker *w;
    enum tg_client_state state;
    struct tg_timer timer;
    struct tg_client *next, *prev;  /* worker's client list */
    char peer_ip[46];
    uint64_t head_started_ms;       /* first byte of the current request head (0: none yet) */
    uint32_t head_scanned;          /* bytes of conn.in the head parser has already seen (re-parse gate) */
    uint64_t request_started_ms;

    /* the request in progress (valid from POLICIES to the end of FORWARDING) */
    struct tg_http_head *req;       /* parsed head (slices into conn.in) until the upstream head is built */
    struct tg_slice path;           /* origin-form path + query of the request (from an absolute-form target too) */
    struct tg_policy_ctx *policy;   /* the policy run of this request (only for proxies with policies); kept
                                       until the response head is built (response edits), then freed */
    unsigned char policies_sync;    /* the pipeline is being started (its verdict may arrive synchronously) */
    struct tg_snapshot *snap;       /* reference held for the request's proxy config */
    const struct tg_route *route;
    struct tg_upstream *up;
    char method[16];
    unsigned char is_head, is_upgrade, keep_alive, response_started, retried;
    enum tg_body_framing req_framing;
    uint64_t req_body_left;
    uint64_t req_body_bytes;
    struct tg_chunked_scanner req_chunks;
    unsigned char req_done;
    char *retry_head;               /* copy of the upstream request head for one retry on a stale pooled conn */
    size_t retry_head_len;
    char ws_accept[29];             /* expected Sec-WebSocket-Accept */
    int status;                     /* response status relayed (or answered) */

    /* the response in progress */
    unsigned char resp_head_done;
    enum tg_body_framing resp_framing;
    uint64_t resp_body_left;
    struct tg_chunked_scanner resp_chunks;
    unsigned char resp_done, resp_keep_alive;
};

/* http_client.c */
void tg_client_accept(struct tg_worker *w, int fd, const struct sockaddr *peer);
/* Re-evaluates the client after any event (reads, parses, writes, timers, state changes). */
void tg_client_pump(struct tg_client *c);
/* Answers an error with the JSON body of DESIGN.md and closes afterwards unless keep is set. extra_headers is
 * NULL or "Name: value\r\n" lines. */
void tg_client_answer(struct tg_client *c, int status, const char *code, const char *message,
                      const char *extra_headers, int keep);
/* Answers without an error body (a CORS preflight answered by the gateway): status, no body. */
void tg_client_answer_empty(struct tg_client *c, int status, const char *extra_headers);
/* Ends the current request; the client goes back to READING_HEAD (keep-alive) or closes. */
void tg_client_finish_request(struct tg_client *c);
void tg_client_close(struct tg_client *c);
/* Forgets the client without closing its socket (the tunnel adopted it) and queues the object for freeing. */
void tg_client_detach(struct tg_client *c);
void tg_client_refresh_timer(struct tg_client *c);
/* Drain: close idle keep-alive clients now; the rest close after their current request. */
void tg_clients_drain(struct tg_worker *w);

/* http_exchange.c */
/* Called once policies let the request through: choose an endpoint, connect or reuse, forward. */
void tg_exchange_start(struct tg_client *c);
/* Moves bytes both ways for a client in CONNECTING/FORWARDING; returns -1 when the client was closed. */
int tg_exchange_pump(struct tg_client *c);
void tg_exchange_on_timeout(struct tg_client *c);
/* Releases the upstream (to the pool when reusable) and the request's resources. */
void tg_exchange_release(struct tg_client *c, int reusable);

/* upstream.c */
struct tg_endpoint *tg_upstream_choose(struct tg_worker *w, struct tg_proxy_cfg *proxy);
/* An idle pooled connection to ep, or a new connecting one; NULL with errno on immediate failure. */
struct tg_upstream *tg_upstream_acquire(struct tg_worker *w, struct tg_endpoint *ep, uint32_t connect_timeout_ms);
/* Finishes a connect: 0 connected, TG_IO_AGAIN still in progress, -1 failed (errno set). */
int tg_upstream_finish_connect(struct tg_upstream *up);
void tg_upstream_release(struct tg_upstream *up, int reusable);
void tg_upstream_pools_close_all(struct tg_worker *w);
void tg_upstream_io_cb(struct ev_loop *loop, ev_io *io, int revents);

/* ws_tunnel.c */
/* Takes over the client's and the upstream's sockets after a valid 101 and frees both objects. */
void tg_tunnel_start(struct tg_client *c);
struct tg_tunnel;
enum tg_closed_by;
/* Proxy-initiated close of a session: close frames with these codes to each side (0: none), then the end. */
void tg_tunnel_close(struct tg_tunnel *t, uint16_t code_to_client, const char *reason_to_client,
                     uint16_t code_to_backend, const char *reason_to_backend, enum tg_closed_by closed_by);
/* Ends a session at once (worker exit after the drain timeout). */
void tg_tunnel_destroy_now(struct tg_tunnel *t);
/* Drain: every session of the worker gets close 1001 both ways. */
void tg_tunnels_drain(struct tg_worker *w);
size_t tg_tunnels_count(struct tg_worker *w);

/* error_response.c */
/* Formats a complete error response (status line, headers, JSON body) into out; returns its length. */
size_t tg_format_error_response(char *out, size_t size, int status, const char *code, const char *message,
                                const char *extra_headers, int close);

#endif
