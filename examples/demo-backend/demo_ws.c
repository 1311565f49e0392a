/* demo_ws.c — the demo backend's WebSocket side: the opening handshake (RFC 6455 §4.2), subprotocol and
 * permessage-deflate negotiation, and the frames of an upgraded connection:
 *   echo (any path but /chat/ws*): every data frame goes back as received — same opcode, FIN and RSV bits,
 *     unmasked — payload streamed as it arrives, so a 16 MiB message never sits in memory whole; ping → pong;
 *     close → close with the same code. A permessage-deflate message echoed compressed is still a valid
 *     permessage-deflate message for the client (its own compressor's output, in order), so negotiating the
 *     extension without implementing it is sound.
 *   chat (/chat/ws*): text messages are assembled (≤ DEMO_CHAT_MAX_MSG) and broadcast by chat_room.c.
 *   /reject-upgrade answers 403, /bad-accept answers 101 with a wrong Sec-WebSocket-Accept (test backends).
 */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Next comma-separated element of *list (OWS trimmed); 0 when none is left. Empty elements are skipped
 * (RFC 9110 §5.6.1 list syntax). */
static int next_elem(struct tg_slice *list, struct tg_slice *elem, char sep)
{
    while (list->len) {
        const char *p = list->ptr, *end = p + list->len;
        const char *comma = memchr(p, sep, list->len);
        const char *stop = comma ? comma : end;
        list->ptr = comma ? comma + 1 : end;
        list->len = (size_t)(end - list->ptr);
        while (p < stop && (*p == ' ' || *p == '\t'))
            p++;
        while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        if (stop > p) {
            elem->ptr = p;
            elem->len = (size_t)(stop - p);
            return 1;
        }
    }
    return 0;
}

static int subprotocol_allowed(const struct demo_server *srv, struct tg_slice proto)
{
    if (!srv->subprotocols)
        return 1;
    for (size_t i = 0; i < srv->n_subprotocols; i++)
        if (strlen(srv->subprotocols[i]) == proto.len && memcmp(srv->subprotocols[i], proto.ptr, proto.len) == 0)
            return 1;
    return 0;
}

/* RFC 6455 §4.2.2 item 5.4: the server selects one of the offered subprotocols (the first acceptable one, in
 * the client's order of preference) or none. */
static int select_subprotocol(const struct demo_server *srv, const struct tg_http_head *head, struct tg_slice *out)
{
    for (size_t i = 0; i < head->num_headers; i++) {
        if (!tg_slice_eq_nocase(head->headers[i].name, "sec-websocket-protocol"))
            continue;
        struct tg_slice list = head->headers[i].value, elem;
        while (next_elem(&list, &elem, ','))
            if (elem.len <= 128 && subprotocol_allowed(srv, elem)) {
                *out = elem;
                return 1;
            }
    }
    return 0;
}

/* RFC 7692 §5, §7.1: accept a permessage-deflate offer that asks nothing of the server's compressor (no
 * server_no_context_takeover, no server_max_window_bits), answering with no parameters. The echo returns the
 * client's own compressed output, which the client's decompressor (window 15, context kept) reads correctly
 * whatever client_* parameters it chose. */
static int deflate_offered(const struct tg_http_head *head)
{
    for (size_t i = 0; i < head->num_headers; i++) {
        if (!tg_slice_eq_nocase(head->headers[i].name, "sec-websocket-extensions"))
            continue;
        struct tg_slice list = head->headers[i].value, offer;
        while (next_elem(&list, &offer, ',')) {
            struct tg_slice params = offer, name, param;
            if (!next_elem(&params, &name, ';') || !tg_slice_eq_nocase(name, "permessage-deflate"))
                continue;
            int acceptable = 1;
            while (next_elem(&params, &param, ';'))
                if (param.len >= 7 && strncmp(param.ptr, "server_", 7) == 0)
                    acceptable = 0;
            if (acceptable)
                return 1;
        }
    }
    return 0;
}

static void refuse(struct demo_conn *c, int status, const char *extra, const char *message)
{
    char body[256];
    int n = snprintf(body, sizeof body, "{\"backend\":\"%s\",\"error\":{\"status\":%d,\"message\":\"%s\"}}\n",
                     c->srv->name, status, message);
    demo_http_respond(c, status, "application/json", extra, body, n > 0 && (size_t)n < sizeof body ? (size_t)n : 0);
}

void demo_ws_handshake(struct demo_conn *c, const struct tg_http_head *head, const char *path, size_t path_len)
{
    /* RFC 6455 §4.2.1: a GET, HTTP/1.1 or later, Sec-WebSocket-Version 13, a Sec-WebSocket-Key of 16 bytes. */
    if (strcmp(c->req.method, "GET") != 0 || head->minor_version < 1) {
        c->req.keep_alive = 0;
        refuse(c, 400, NULL, "a WebSocket upgrade is a GET over HTTP/1.1");
        return;
    }
    const struct tg_http_header *version = tg_http_find_header(head, "sec-websocket-version");
    if (!version || version->value.len != 2 || memcmp(version->value.ptr, "13", 2) != 0) {
        /* §4.4: answer 426 with the versions we speak. */
        refuse(c, 426, "Sec-WebSocket-Version: 13\r\n", "unsupported Sec-WebSocket-Version");
        return;
    }
    const struct tg_http_header *key = tg_http_find_header(head, "sec-websocket-key");
    if (!key || !tg_ws_key_is_valid(key->value.ptr, key->value.len)) {
        c->req.keep_alive = 0;
        refuse(c, 400, NULL, "missing or invalid Sec-WebSocket-Key");
        return;
    }
    if (path_len == 15 && memcmp(path, "/reject-upgrade", 15) == 0) {
        refuse(c, 403, NULL, "upgrade refused");
        return;
    }

    int chat = path_len >= 8 && memcmp(path, "/chat/ws", 8) == 0;
    char accept[29];
    tg_ws_accept_for_key(key->value.ptr, key->value.len, accept);
    if (path_len == 11 && memcmp(path, "/bad-accept", 11) == 0)
        tg_ws_accept_for_key("not-the-key", 11, accept); /* a well-formed but wrong value */

    char resp[1024];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\nX-Backend: %s\r\n",
                     accept, c->srv->name);
    struct tg_slice proto;
    if (n > 0 && select_subprotocol(c->srv, head, &proto))
        n += snprintf(resp + n, sizeof resp - (size_t)n, "Sec-WebSocket-Protocol: %.*s\r\n", (int)proto.len,
                      proto.ptr);
    int deflate = !chat && deflate_offered(head);
    if (deflate && n > 0 && (size_t)n < sizeof resp)
        n += snprintf(resp + n, sizeof resp - (size_t)n, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    if (n > 0 && (size_t)n < sizeof resp)
        n += snprintf(resp + n, sizeof resp - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n >= sizeof resp) {
        demo_conn_close(c);
        return;
    }
    demo_conn_send(c, resp, (size_t)n);
    demo_http_request_reset(&c->req);
    memset(&c->ws, 0, sizeof c->ws);
    c->ws.chat = (unsigned)chat;
    c->ws.deflate = (unsigned)deflate;
    c->mode = DEMO_WS;
    if (chat)
        chat_join(&c->srv->chat, c);
}

void demo_ws_release(struct demo_conn *c)
{
    free(c->ws.msg);
    c->ws.msg = NULL;
    c->ws.msg_len = 0;
}

/* Sends a close frame and closes after it is written (RFC 6455 §7.1.7 "Fail the WebSocket Connection" for
 * errors; for an answered close the server closes the TCP connection first, §7.1.1). */
static void send_close(struct demo_conn *c, int code, const char *reason)
{
    uint8_t frame[160];
    size_t n;
    if (code == 0)
        n = tg_ws_build_frame(frame, TG_WS_CLOSE, 1, NULL, 0, NULL); /* answering a close without a code */
    else
        n = tg_ws_build_close(frame, (uint16_t)code, reason, NULL);
    demo_conn_send(c, frame, n);
    c->ws.close_sent = 1;
    demo_conn_close_after_flush(c);
}

void demo_ws_going_away(struct demo_conn *c)
{
    if (c->mode == DEMO_WS && !c->ws.close_sent)
        send_close(c, TG_WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* RFC 6455 §7.4: codes an endpoint may send (1000-1003, 1007-1014 as registered with IANA, 3000-4999). */
static int close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* RFC 3629 §3 well-formed UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). */
static int utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        size_t n;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 1;
            cp = b & 0x1F;
        } else if ((b & 0xF0) == 0xE0) {
            n = 2;
            cp = b & 0x0F;
        } else if ((b & 0xF8) == 0xF0) {
            n = 3;
            cp = b & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

static void on_control(struct demo_conn *c, const struct tg_ws_frame_header *h, uint8_t *payload)
{
    size_t len = (size_t)h->payload_len;
    if (h->opcode == TG_WS_PING) {
        uint8_t frame[140];
        size_t n = tg_ws_build_frame(frame, TG_WS_PONG, 1, payload, len, NULL); /* §5.5.3: same payload */
        demo_conn_send(c, frame, n);
    } else if (h->opcode == TG_WS_CLOSE) {
        c->ws.close_received = 1;
        if (len == 0) {
            send_close(c, 0, NULL);
        } else if (len == 1) {
            send_close(c, TG_WS_CLOSE_PROTOCOL_ERROR, "close payload of one byte");
        } else {
            unsigned code = (unsigned)payload[0] << 8 | payload[1];
            if (!close_code_valid(code) || !utf8_valid(payload + 2, len - 2))
                send_close(c, TG_WS_CLOSE_PROTOCOL_ERROR, "invalid close code or reason");
            else
                send_close(c, (int)code, NULL); /* §5.5.1: echo the status code received */
        }
    }
    /* pong: unsolicited pongs need no answer (§5.5.3) */
}

/* The last byte of a data frame has been handled. */
static void data_frame_done(struct demo_conn *c)
{
    struct demo_ws *ws = &c->ws;
    ws->in_payload = 0;
    if (!ws->chat || !ws->frame_fin)
        return;
    if (!ws->chat_drop) {
        if (!utf8_valid((const uint8_t *)ws->msg, ws->msg_len)) {
            send_close(c, 1007, "text is not UTF-8"); /* RFC 6455 §8.1 */
        } else {
            chat_say(&c->srv->chat, c, ws->msg ? ws->msg : "", ws->msg_len);
        }
    }
    demo_ws_release(c);
    ws->chat_drop = 0;
}

size_t demo_ws_on_data(struct demo_conn *c, uint8_t *buf, size_t len)
{
    struct demo_ws *ws = &c->ws;
    size_t off = 0;
    while (off < len && !c->dead && c->mode == DEMO_WS && demo_conn_out_pending(c) <= DEMO_OUT_HIGH) {
        if (ws->in_payload) {
            size_t n = ws->payload_left < len - off ? (size_t)ws->payload_left : len - off;
            uint8_t *p = buf + off;
            tg_ws_mask_bytes(p, n, ws->mask, ws->mask_off); /* unmask in place: the input is ours */
            ws->mask_off += n;
            if (!ws->chat) {
                demo_conn_send(c, p, n);
            } else if (!ws->chat_drop) {
                char *m = realloc(ws->msg, ws->msg_len + n + 1);
                if (!m) {
                    demo_conn_close(c);
                    return len;
                }
                memcpy(m + ws->msg_len, p, n);
                ws->msg = m;
                ws->msg_len += n;
            }
            off += n;
            ws->payload_left -= n;
            if (ws->payload_left == 0)
                data_frame_done(c);
            continue;
        }

        struct tg_ws_frame_header h;
        int hl = tg_ws_parse_frame_header(buf + off, len - off, &h);
        if (hl == 0)
            break;
        if (hl < 0) {
            send_close(c, TG_WS_CLOSE_PROTOCOL_ERROR, "invalid frame header");
            return len;
        }
        /* §5.1: a server closes the connection on an unmasked client frame. §5.2: RSV bits only with an
         * extension that defines them — RSV1 for permessage-deflate, on a message's first frame (RFC 7692 §6). */
        unsigned allowed_rsv = ws->deflate && (h.opcode == TG_WS_TEXT || h.opcode == TG_WS_BINARY) ? 4u : 0u;
        if (!h.masked || (h.rsv & ~allowed_rsv)) {
            send_close(c, TG_WS_CLOSE_PROTOCOL_ERROR, h.masked ? "unexpected RSV bits" : "client frames are masked");
            return len;
        }
        if (h.opcode & 0x8) {
            size_t need = (size_t)hl + (size_t)h.payload_len;
            if (len - off < need)
                break; /* control frames (≤ 131 bytes) are handled whole */
            uint8_t *p = buf + off + hl;
            tg_ws_mask_bytes(p, (size_t)h.payload_len, h.mask, 0);
            off += need;
            if (!ws->close_received)
                on_control(c, &h, p);
            continue;
        }
        /* §5.4: fragments of one message, CONT after a non-FIN TEXT/BINARY only. */
        if ((h.opcode == TG_WS_CONT) != ws->in_message) {
            send_close(c, TG_WS_CLOSE_PROTOCOL_ERROR, "unexpected fragment");
            return len;
        }
        ws->in_message = !h.fin;
        off += (size_t)hl;
        if (ws->chat) {
            if (h.opcode == TG_WS_BINARY)
                ws->chat_drop = 1; /* the room speaks text */
            if (!ws->chat_drop && ws->msg_len + h.payload_len > DEMO_CHAT_MAX_MSG) {
                send_close(c, TG_WS_CLOSE_TOO_BIG, "chat messages are at most 64 KiB");
                return len;
            }
        } else {
            uint8_t hdr[14];
            size_t n = tg_ws_build_header(hdr, h.opcode, h.fin, h.rsv, h.payload_len, NULL);
            demo_conn_send(c, hdr, n);
        }
        memcpy(ws->mask, h.mask, 4);
        ws->mask_off = 0;
        ws->payload_left = h.payload_len;
        ws->frame_fin = (unsigned)h.fin;
        ws->in_payload = 1;
        if (h.payload_len == 0)
            data_frame_done(c);
    }
    return off;
}
