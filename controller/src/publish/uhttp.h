/* uhttp.h — a minimal libev HTTP/1.1 client for one request at a time over a Unix stream socket (the data
 * plane's control socket). Each request opens a connection, sends "Connection: close", reads the response
 * with the project's strict parser (common/http1_parser.h) and closes. Responses are bounded
 * (TG_UHTTP_MAX_RESPONSE) and every request has a deadline (one ev_timer owned by the client, beside its ev_io). */
#ifndef TG_UHTTP_H
#define TG_UHTTP_H

#include <ev.h>
#include <stddef.h>

#define TG_UHTTP_MAX_RESPONSE (1u << 20)

/* status: the HTTP status (100..999), or -1 when the request failed below HTTP (connect, I/O, timeout,
 * malformed response): error then says why. body is NUL-terminated and valid only during the call. The
 * callback may start the next request on the same client. */
typedef void (*tg_uhttp_cb)(void *arg, int status, const char *body, size_t body_len, const char *error);

struct tg_uhttp;

struct tg_uhttp *tg_uhttp_new(struct ev_loop *loop, const char *socket_path);
void tg_uhttp_free(struct tg_uhttp *c);
/* Starts method path with body[0..len) (copied; may be NULL/0). Returns 0, or -1 when a request is already in
 * flight or memory ran out (the callback is not called then). Every other failure, connect errors included,
 * is reported through cb from the loop, never from inside this call. */
int tg_uhttp_request(struct tg_uhttp *c, const char *method, const char *path, const char *body, size_t len,
                     double timeout_s, tg_uhttp_cb cb, void *arg);
int tg_uhttp_busy(const struct tg_uhttp *c);

#endif
