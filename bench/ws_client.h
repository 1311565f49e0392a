/* ws_client.h — the bench tool's WebSocket client connection on a libev loop: non-blocking connect, the
 * RFC 6455 §4.1 opening handshake (checked: 101, Upgrade, Connection, Sec-WebSocket-Accept), sending N copies of
 * one pre-built masked frame without copying it, and counting the complete data messages that come back.
 *
 * Built for measurement, not as a general client: every message a connection sends is the same frame (payload
 * and masking key chosen once per connection, RFC 6455 §5.3 asks for a fresh key per frame from browsers; a
 * load generator may reuse one), received payloads are counted and skipped, not kept. */
#ifndef TG_BENCH_WS_CLIENT_H
#define TG_BENCH_WS_CLIENT_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "bench.h"

enum tg_bench_conn_state {
    TG_BC_NEW = 0,     /* not started */
    TG_BC_CONNECTING,  /* TCP connect in progress (waiting for writability) */
    TG_BC_HANDSHAKE,   /* upgrade request being written / 101 being read; hs holds the bytes */
    TG_BC_OPEN,        /* WebSocket open: frames flow */
    TG_BC_CLOSED,      /* fd closed, watchers stopped; on_closed has been called (unless closed by the owner) */
};

struct tg_bench_conn;

struct tg_bench_conn_ops {
    void (*on_open)(struct tg_bench_conn *c);
    /* A complete data message (FIN frame of TEXT/BINARY/CONT) arrived with payload_bytes in total. */
    void (*on_message)(struct tg_bench_conn *c, uint64_t payload_bytes);
    /* The connection failed or the peer closed it; why is a static string, or NULL for a clean end: the close
     * handshake the client began with tg_bench_conn_send_close completed (the server's close frame, then its
     * FIN). c is CLOSED when this runs and must not be freed inside the callback (the owner frees its
     * connections after the loop); it may be started again (tg_bench_conn_start) from the callback. */
    void (*on_closed)(struct tg_bench_conn *c, const char *why);
};

struct tg_bench_conn {
    struct ev_loop *loop;
    ev_io rio, wio;
    int fd;
    enum tg_bench_conn_state state;
    const struct tg_bench_conn_ops *ops;
    const struct tg_bench_target *target;
    void *user;
    char key[25];            /* Sec-WebSocket-Key sent */
    char *hs;                /* handshake bytes (request, then response) while HANDSHAKE; NULL otherwise */
    size_t hs_len, hs_off;
    /* send side: frames_pending copies of frame[0..frame_len), the first one from frame_off on */
    uint8_t *frame;
    size_t frame_len, frame_off;
    uint64_t frames_pending;
    /* receive side: frame-header carry and payload accounting */
    uint8_t hdr[14];
    uint8_t hdr_have;
    uint8_t cur_opcode, cur_fin;
    uint64_t payload_left;
    uint64_t msg_bytes;
    uint8_t close_sent;      /* our close frame went out: the server's close frame and FIN end the session */
    uint8_t close_got;       /* the server's close frame arrived: waiting for its FIN */
    /* free for the scenario driving the connection */
    uint64_t stamp_ns;
    uint64_t messages;
};

/* Builds the frame this connection will send: a masked BINARY message of payload_len random bytes.
 * 0 / -1 (allocation). May be called before or after tg_bench_conn_start, not while frames are pending. */
int tg_bench_conn_set_message(struct tg_bench_conn *c, size_t payload_len);

/* Starts connecting c (zero-initialised or freshly reset) to target on loop. Returns 0, or -1 when the socket
 * could not even be created (errno set; on_closed is not called). Later failures arrive via on_closed. */
int tg_bench_conn_start(struct tg_bench_conn *c, struct ev_loop *loop, const struct tg_bench_target *target,
                        const struct tg_bench_conn_ops *ops, void *user);

/* Queues n more copies of the connection's frame and writes as much as the socket takes now. */
void tg_bench_conn_send(struct tg_bench_conn *c, uint64_t n);

/* Sends a masked close frame (1000, RFC 6455 §5.5.1) on an OPEN connection that has nothing else pending; the
 * server's close frame and the end of the TCP stream then end it with on_closed(c, NULL). */
void tg_bench_conn_send_close(struct tg_bench_conn *c);

/* Closes the socket and stops the watchers without calling on_closed. Idempotent. */
void tg_bench_conn_close(struct tg_bench_conn *c);

/* Closes (if needed) and frees what the connection owns (not c itself). */
void tg_bench_conn_dispose(struct tg_bench_conn *c);

#endif
