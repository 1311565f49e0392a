/* ws_handshake.h — the WebSocket opening handshake as a proxy sees it (RFC 6455 §4): is a request an upgrade,
 * is it a valid one (§4.2.1: GET, HTTP/1.1, Sec-WebSocket-Version 13, a Sec-WebSocket-Key of 16 base64 bytes, no
 * body) and which Sec-WebSocket-Accept its backend must answer with (§4.2.2), and is the backend's 101 a valid
 * switch to WebSocket. Pure functions over parsed heads; no I/O. */
#ifndef TG_WS_HANDSHAKE_H
#define TG_WS_HANDSHAKE_H

#include "http1_parser.h"

/* Why a handshake is refused: the gateway's answer. */
struct tg_ws_refusal {
    int status;
    const char *code;
    const char *message;
    const char *extra_headers;      /* NULL or "Name: value\r\n" lines */
};

/* 1 when the request asks to switch to WebSocket (Connection carries "upgrade", Upgrade names "websocket"). */
int tg_ws_handshake_requested(const struct tg_http_head *req);
/* 1 for "Upgrade: websocket" without the Connection token: a broken handshake, not plain HTTP. */
int tg_ws_handshake_half(const struct tg_http_head *req);
/* Checks an upgrade request (RFC 6455 §4.2.1). 0 with accept (29 bytes, NUL-terminated) set to the value the
 * backend's Sec-WebSocket-Accept must carry; or -1 with why filled in. */
int tg_ws_handshake_check_request(const struct tg_http_head *req, char accept[29], struct tg_ws_refusal *why);
/* 1 when a backend's 101 switches to WebSocket with the expected Sec-WebSocket-Accept (RFC 6455 §4.1). */
int tg_ws_handshake_response_valid(const struct tg_http_head *resp, const char accept[29]);

#endif
