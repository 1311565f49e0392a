/* ws_handshake.c — see ws_handshake.h. */
#include "proxy/ws_handshake.h"

#include "ws_frame.h"

#include <string.h>

int tg_ws_handshake_requested(const struct tg_http_head *h)
{
    return (h->connection_flags & TG_CONN_UPGRADE) && tg_http_list_has_token(h->upgrade, "websocket");
}

int tg_ws_handshake_half(const struct tg_http_head *h)
{
    const struct tg_http_header *f = tg_http_find_header(h, "upgrade");
    return !tg_ws_handshake_requested(h) && f && tg_slice_eq_nocase(f->value, "websocket");
}

static int refuse(struct tg_ws_refusal *why, int status, const char *code, const char *message,
                  const char *extra_headers)
{
    why->status = status;
    why->code = code;
    why->message = message;
    why->extra_headers = extra_headers;
    return -1;
}

int tg_ws_handshake_check_request(const struct tg_http_head *h, char accept[29], struct tg_ws_refusal *why)
{
    if (!tg_slice_eq_nocase(h->method, "GET"))
        return refuse(why, 400, "websocket.bad_method", "a WebSocket handshake must use GET", NULL);
    if (h->minor_version != 1)
        return refuse(why, 400, "websocket.bad_version", "a WebSocket handshake needs HTTP/1.1", NULL);
    const struct tg_http_header *version = tg_http_find_header(h, "sec-websocket-version");
    if (!version || !tg_slice_eq_nocase(version->value, "13"))
        return refuse(why, 426, "websocket.unsupported_version", "only Sec-WebSocket-Version 13 is supported",
                      "Sec-WebSocket-Version: 13\r\n");
    const struct tg_http_header *key = tg_http_find_header(h, "sec-websocket-key");
    if (!key || !tg_ws_key_is_valid(key->value.ptr, key->value.len))
        return refuse(why, 400, "websocket.bad_key", "Sec-WebSocket-Key must be base64 of 16 bytes", NULL);
    if (h->framing != TG_BODY_NONE)
        return refuse(why, 400, "websocket.unexpected_body", "a WebSocket handshake carries no body", NULL);
    tg_ws_accept_for_key(key->value.ptr, key->value.len, accept);
    return 0;
}

int tg_ws_handshake_response_valid(const struct tg_http_head *h, const char accept[29])
{
    const struct tg_http_header *f = tg_http_find_header(h, "sec-websocket-accept");
    return h->status == 101 && (h->connection_flags & TG_CONN_UPGRADE) &&
           tg_http_list_has_token(h->upgrade, "websocket") && f && f->value.len == 28 &&
           memcmp(f->value.ptr, accept, 28) == 0;
}
