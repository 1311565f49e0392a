/* forwarder.h — one request proxied to an upstream and its response relayed back: the exchange between an
 * inbound connection (borrowed from its owner, the HTTP/1 server connection) and an upstream connection (taken
 * from the worker's pool, owned by the forwarder until released or handed over).
 *
 * The owner fills in the request (tg_forwarder_begin, then the fields under "the request"), starts it, and
 * calls tg_forwarder_pump on every event of either side; upstream socket events reach the owner through the
 * wake callback it gave. Every call returns what happened (enum tg_forward_result) and the owner acts on it —
 * the forwarder never calls its owner by name: it answers no errors itself (TG_FORWARD_FAILED carries the
 * answer), and never closes or frees the inbound connection.
 */
#ifndef TG_FORWARDER_H
#define TG_FORWARDER_H

#include "config/router.h"
#include "http1_parser.h"
#include "loop/conn.h"
#include "loop/counters.h"
#include "loop/worker.h"
#include "policy/policy.h"
#include "proxy/upstream_pool.h"

#include <stdint.h>

/* What the forwarders of one worker share (the owner's). */
struct tg_forward_env {
    struct tg_worker *w;
    struct tg_upstream_pool *pool;
    struct tg_counters *counters;
    struct tg_http_head *scratch_head; /* parse target for response heads (used within one call) */
    size_t max_head_bytes;
};

enum tg_forward_result {
    TG_FORWARD_BUSY = 0, /* in progress (or nothing to do): wait for events */
    TG_FORWARD_DONE,     /* the response was relayed whole and the upstream released: the request is over */
    TG_FORWARD_UPGRADED, /* a valid 101 was queued on the inbound connection: hand both sockets to a tunnel
                            (tg_forwarder_take_upstream) */
    TG_FORWARD_FAILED,   /* nothing of a response reached the client: answer `error` (the upstream is released) */
    TG_FORWARD_ABORT,    /* the inbound connection must close (it failed, or a response was cut short) */
};

struct tg_forward_error {
    int status;
    const char *code;
    const char *message;                /* static text */
};

struct tg_forwarder {
    /* set once by the owner */
    const struct tg_forward_env *env;
    struct tg_conn *client;             /* the inbound connection (the owner's) */
    void (*wake)(void *owner);          /* an upstream socket event: the owner pumps */
    void *owner;

    /* the request (filled by the owner between tg_forwarder_begin and tg_forwarder_start) */
    const struct tg_route *route;
    const struct tg_policy_ctx *policy; /* its request/response edits; NULL without policies */
    const char *peer_ip;
    unsigned char peer_trusted;         /* the peer is in --trusted-proxies: its X-Forwarded-* / Forwarded stay */
    struct tg_slice path;               /* origin-form path + query */
    char method[16];
    unsigned char is_head, is_upgrade;
    unsigned char client_http10;        /* an HTTP/1.0 client: never chunked, never 1xx (RFC 9110 §15.2, §6.1) */
    unsigned char keep_alive;           /* the client may send another request (cleared when it cannot) */
    unsigned char req_done;             /* the request body was forwarded whole (or there is none) */
    enum tg_body_framing req_framing;
    uint64_t req_body_left;
    char ws_accept[29];                 /* expected Sec-WebSocket-Accept of an upgrade */
    unsigned ws_rsv;                    /* after a 101: the RSV bits its Sec-WebSocket-Extensions allow */
    uint64_t started_ms;                /* the request (or its retry) began: the connect deadline counts from it */
    const char *response_header;        /* NULL, or "Name: value\r\n" put on the final response (HSTS over TLS),
                                         * replacing the backend's field of that name; not on a 101 */

    /* progress */
    struct tg_upstream *up;
    unsigned char response_started;     /* response bytes went to the client: no answer of ours can follow */
    unsigned char retried;
    unsigned char progressed;           /* something moved since the owner last looked (it re-arms its timer) */
    uint64_t req_body_bytes;
    struct tg_chunked_scanner req_chunks;
    char *retry_head;                   /* copy of the upstream request head for one retry on a stale pooled conn */
    size_t retry_head_len;
    int status;                         /* response status relayed */
    unsigned char resp_head_done, resp_done, resp_keep_alive;
    unsigned char dechunk;              /* the chunked response body is decoded for an HTTP/1.0 client */
    enum tg_body_framing resp_framing;
    uint64_t resp_body_left;
    struct tg_chunked_scanner resp_chunks;
    struct tg_forward_error error;      /* with TG_FORWARD_FAILED */
    /* for debug sessions (debug_capture.h): the endpoint chosen, when its connection was ready (read only while
     * on_response_head is set), and the owner's look at the final response head (NULL unless a debug session
     * records this request) */
    struct tg_endpoint *endpoint;
    uint64_t connected_ms;
    uint64_t resp_body_bytes;           /* response body bytes relayed to the client (analytics) */
    void (*on_response_head)(void *arg, const struct tg_http_head *h);
    void *on_response_head_arg;
};

/* RFC 9110 §9.2.2: 1 for GET, HEAD, OPTIONS, TRACE, PUT, DELETE (only those are retried). */
int tg_method_idempotent(const char *method);
/* Decodes chunked bytes in[0..len) into out[0..cap): the chunk data only. *used = input bytes taken, *made =
 * output bytes written; stops when out is full. Returns the scanner's result (DONE: *used ends the body). */
enum tg_chunked_result tg_dechunk(struct tg_chunked_scanner *sc, const char *in, size_t len, char *out, size_t cap,
                                  size_t *used, size_t *made);

/* The upstream request head tg_forwarder_start writes, for f's request (route, policy edits, peer, path, upgrade)
 * and the client's head h: its length in out, or -1 when it does not fit in cap. Pure (the differential fuzz
 * target tests/fuzz/fuzz_dp_forwarder_diff.c drives it). */
long tg_forwarder_build_head(const struct tg_forwarder *f, const struct tg_http_head *h, char *out, size_t cap);

/* Once per inbound connection. */
void tg_forwarder_init(struct tg_forwarder *f, const struct tg_forward_env *env, struct tg_conn *client,
                       void (*wake)(void *owner), void *owner);
/* Clears the per-request state for the next request (releases nothing: call after release). */
void tg_forwarder_begin(struct tg_forwarder *f);
/* Chooses an endpoint, builds the upstream request head from *head (hop-by-hop fields removed, X-Forwarded-*,
 * base path rewritten, policy edits), connects or reuses a pooled connection. Once the head is built its bytes
 * leave the inbound buffer and *head is freed (set to NULL); a FAILED start before that leaves both alone. */
enum tg_forward_result tg_forwarder_start(struct tg_forwarder *f, struct tg_http_head **head);
/* Moves bytes both ways. */
enum tg_forward_result tg_forwarder_pump(struct tg_forwarder *f);
/* The owner's deadline passed (connect or response timeout). */
enum tg_forward_result tg_forwarder_timeout(struct tg_forwarder *f);
/* The client did not deliver the request body within --request-body-timeout: FAILED with 408 while nothing of
 * the response reached the client, else ABORT. */
enum tg_forward_result tg_forwarder_client_timeout(struct tg_forwarder *f);
/* Ends the forwarder's use of the upstream (back to the pool when reusable); frees the retry copy. */
void tg_forwarder_release(struct tg_forwarder *f, int reusable);
/* After TG_FORWARD_UPGRADED: the upstream, for its connection to be moved into a tunnel. f forgets it. */
struct tg_upstream *tg_forwarder_take_upstream(struct tg_forwarder *f);
/* The client events the forwarder needs besides the owner's own: EV_WRITE while relayed response bytes wait. */
int tg_forwarder_client_events(const struct tg_forwarder *f);

#endif
