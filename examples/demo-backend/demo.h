/* demo.h — the demo backend's shared types: the server (one libev loop, one listener), connections (HTTP/1.1
 * that may upgrade to WebSocket), and the functions the files call across each other.
 *
 * Files: main.c (command line, listener, accept, signals, the loop), demo_conn.c (socket I/O, output queue,
 * backpressure, deferred free), demo_http.c (requests, routes, JSON echo), demo_ws.c (handshake, echo and
 * chat frame handling), chat_room.c (broadcast room), chat_page.c (the HTML page).
 */
#ifndef TG_DEMO_H
#define TG_DEMO_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http1_parser.h"
#include "ws_frame.h"

#define DEMO_IN_CAP ((size_t)64 * 1024)       /* input buffer per connection (bytes waiting to be processed) */
#define DEMO_MAX_HEAD ((size_t)32 * 1024)     /* request head limit → 431 */
#define DEMO_OUT_HIGH ((size_t)1024 * 1024)   /* stop reading a client whose output queue is above this */
#define DEMO_BIG_LOW ((size_t)256 * 1024)     /* /big refills the queue when it drains below this */
#define DEMO_CHAT_MAX_MSG ((size_t)64 * 1024) /* largest chat message (1009 above) */
#define DEMO_CHAT_MAX_QUEUE ((size_t)8 * 1024 * 1024) /* a chat member that lets this much pile up is dropped */
#define DEMO_MAX_SLOW_MS 600000
#define DEMO_MAX_BIG_BYTES (UINT64_C(1) << 40)
#define DEMO_LINGER_MS 2000

/* What a connection is doing; each value says which input is expected and whether reading goes on. */
enum demo_mode {
    DEMO_HTTP_HEAD = 0, /* waiting for (more of) a request head; reads */
    DEMO_HTTP_BODY,     /* counting a request body (Content-Length or chunked); reads */
    DEMO_HTTP_SLOW,     /* /slow: the answer waits for a timer; pipelined input stays buffered, no reads */
    DEMO_HTTP_BIG,      /* /big: the body is produced as the output queue drains; no reads */
    DEMO_WS,            /* upgraded: frames in, frames out; reads */
    DEMO_CLOSING,       /* the last bytes are queued; after they are written the write side is shut and the
                           input discarded until EOF or the linger timer */
};

/* The request being answered (HTTP modes). Strings are copies: the head's slices die with the input. */
struct demo_request {
    char *method;
    char *target;
    json_t *headers;          /* lower-cased name → value (duplicates joined with ", ") */
    int minor_version;
    int keep_alive;
    int is_head;              /* HEAD: no body in the answer */
    enum tg_body_framing framing;
    uint64_t body_left;       /* Content-Length bytes still to come */
    struct tg_chunked_scanner chunked;
    uint64_t body_bytes;      /* decoded body bytes counted */
    uint64_t big_left;        /* /big bytes still to produce */
};

/* WebSocket state of an upgraded connection. */
struct demo_ws {
    unsigned chat : 1;          /* /chat/ws: broadcast room instead of echo */
    unsigned deflate : 1;       /* permessage-deflate negotiated: RSV1 allowed on a message's first frame */
    unsigned in_message : 1;    /* a fragmented data message is open */
    unsigned in_payload : 1;    /* inside a data frame's payload */
    unsigned frame_fin : 1;     /* FIN of the data frame in progress */
    unsigned chat_drop : 1;     /* chat: the message in progress is not broadcast (binary) */
    unsigned close_received : 1;
    unsigned close_sent : 1;
    uint8_t mask[4];
    uint64_t payload_left;
    uint64_t mask_off;
    char *msg;                  /* chat: the text message being assembled */
    size_t msg_len;
};

struct demo_server;

struct demo_conn {
    struct demo_server *srv;
    int fd;
    ev_io rio, wio;
    ev_timer timer;             /* /slow delay, or the linger after closing */
    enum demo_mode mode;
    unsigned dead : 1;          /* closed; freed by the reaper at a safe point */
    unsigned eof : 1;           /* the peer shut its write side */
    unsigned pending : 1;       /* on the server's pending-write list */
    unsigned shut_wr : 1;       /* our write side is shut (CLOSING) */
    uint8_t *in;                /* taken lazily, returned when empty */
    size_t in_len;
    uint8_t *out;               /* output queue: out[out_off..out_len) is still to be written */
    size_t out_off, out_len, out_cap;
    struct demo_request req;
    struct demo_ws ws;
    unsigned chat_id;
    struct demo_conn *chat_prev, *chat_next;
    struct demo_conn *all_prev, *all_next;
    struct demo_conn *pending_next; /* pending-write list */
    struct demo_conn *dead_next;
};

struct chat_room {
    struct demo_conn *head;
    unsigned next_id;
    size_t members;
};

struct demo_server {
    struct ev_loop *loop;
    const char *name;
    char **subprotocols;        /* --subprotocols: accepted ones; NULL = accept any */
    size_t n_subprotocols;
    char *subprotocol_buf;      /* the --subprotocols copy the entries point into */
    int listen_fd;
    ev_io accept_io;
    ev_timer accept_retry;      /* EMFILE: pause accepting for a moment */
    ev_prepare before_sleep;    /* flushes pending writes, frees dead connections */
    ev_signal sigint, sigterm;
    struct demo_conn *all;
    struct demo_conn *pending;
    struct demo_conn *dead;
    size_t n_conns;
    struct chat_room chat;
};

/* demo_conn.c */
struct demo_conn *demo_conn_new(struct demo_server *srv, int fd);
/* Queues bytes for the peer (written before the loop sleeps). Returns -1 when out of memory (the connection is
 * then closed). Ignored on a dead connection. */
int demo_conn_send(struct demo_conn *c, const void *data, size_t len);
size_t demo_conn_out_pending(const struct demo_conn *c);
/* Stops reading and closes once the queued output is written. */
void demo_conn_close_after_flush(struct demo_conn *c);
/* Closes now (no more output); the memory is freed by the reaper. */
void demo_conn_close(struct demo_conn *c);
/* Re-examines a connection after its mode changed outside a read (timer, drained output): processes buffered
 * input and sets the watchers. */
void demo_conn_kick(struct demo_conn *c);
void demo_conn_before_sleep(struct demo_server *srv);
void demo_conn_close_all(struct demo_server *srv);

/* demo_http.c — consume bytes in the HTTP modes; return bytes consumed (0 = need more or paused). */
size_t demo_http_on_head(struct demo_conn *c, uint8_t *buf, size_t len);
size_t demo_http_on_body(struct demo_conn *c, uint8_t *buf, size_t len);
/* Produces more of a /big body when the queue is low. */
void demo_http_produce(struct demo_conn *c);
void demo_http_on_timer(struct demo_conn *c);
/* A complete answer: head with status, content type, extra header lines (each ending CRLF, may be NULL) and
 * body; honours HEAD and keep-alive, then returns to DEMO_HTTP_HEAD or closes. */
void demo_http_respond(struct demo_conn *c, int status, const char *content_type, const char *extra_headers,
                       const void *body, size_t body_len);
void demo_http_request_reset(struct demo_request *req);


/* demo_ws.c */
/* Answers an upgrade request (101, or 400/403/426): head is the parsed request, path its path. */
void demo_ws_handshake(struct demo_conn *c, const struct tg_http_head *head, const char *path, size_t path_len);
size_t demo_ws_on_data(struct demo_conn *c, uint8_t *buf, size_t len);
void demo_ws_release(struct demo_conn *c);
/* Queues close 1001 unless a close was sent already (server shutdown). */
void demo_ws_going_away(struct demo_conn *c);

/* chat_room.c */
void chat_join(struct chat_room *room, struct demo_conn *c);
void chat_leave(struct chat_room *room, struct demo_conn *c);
/* Sends a text message from member c ("userN: text") to every member. */
void chat_say(struct chat_room *room, struct demo_conn *c, const char *text, size_t len);

/* chat_page.c */
const char *chat_page_html(size_t *len);

#endif
