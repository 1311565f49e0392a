/* mini_http_server.h — the small HTTP/1.1 server of the project's side channels: the data plane's admin API and
 * control socket, the controller's health endpoint. One request per connection (answered with Connection:
 * close), bounded head and body and connection count, on one libev loop, over TCP or a Unix socket. Handlers may
 * answer later (the control socket waits for every worker to switch snapshots). */
#ifndef TG_MINI_HTTP_SERVER_H
#define TG_MINI_HTTP_SERVER_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

struct tg_mini_request {
    char method[16];
    char path[1024];          /* without the query */
    char query[1024];
    const char *body;         /* NUL-terminated copy of the body */
    size_t body_len;
    char authorization[512];  /* the Authorization field ("" when absent or longer than this) */
    void *conn;               /* opaque: pass to tg_mini_respond */
};

typedef void (*tg_mini_handler)(struct tg_mini_request *req, void *ctx);

struct tg_mini_server {
    struct ev_loop *loop;
    int fd;
    ev_io accept_io;
    tg_mini_handler handler;
    void *ctx;
    size_t max_body;
    size_t max_conns;         /* 0 = unlimited; connections over it are closed at once */
    size_t num_conns;
    uint32_t timeout_ms;      /* a connection's whole life, request and answer (0: 30 s); set after listen */
    /* Optional: a request handed to the handler and not answered yet is being abandoned (its connection timed
     * out and gets 408): the handler must forget req->conn now, it is freed after that answer. */
    void (*on_abandon)(struct tg_mini_request *req, void *ctx);
};

/* Listens on "ADDR:PORT" (TCP), or on a Unix socket: "unix:PATH", or any string with a "/" or without a ":"
 * (a stale socket file at the path is replaced). Returns 0 or -1 with a logged error. */
int tg_mini_server_listen(struct tg_mini_server *s, struct ev_loop *loop, const char *where, size_t max_body,
                          tg_mini_handler handler, void *ctx);
void tg_mini_server_close(struct tg_mini_server *s);

/* Answers the request (once) and closes its connection after the write. body may be NULL. */
void tg_mini_respond(void *conn, int status, const char *content_type, const char *body, size_t body_len);
/* Convenience: a JSON body given as a NUL-terminated string. */
void tg_mini_respond_json(void *conn, int status, const char *json);

#endif
