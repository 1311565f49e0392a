/* fuzz_dp_forwarder_diff.c — differential target for the forwarder (issue 11 item 9): for every request the data
 * plane accepts, what it writes upstream must parse, with the same strict parser, as exactly one request with the
 * same method, the same (normalised) target and the same body.
 *
 * The input is a request as a client sends it. Accepted = tg_http1_parse_request OK, a target form the data
 * plane proxies (tg_http_parse_target origin/absolute) and a path tg_path_normalize takes — the steps of
 * http_server.c's target_and_path(), redone here. The head then goes through the real head builder
 * (tg_forwarder_build_head, forwarder.c) with either trust setting, the upgrade flag as the handshake check would
 * set it, and no base-path rewrite; the body bytes the forwarder relays as received are appended. Checked:
 *   - the emitted bytes parse OK as one head (TG_HTTP_OK), with the method and target the gateway decided on
 *     (target = the normalised origin-form path), HTTP/1.1, the request's authority as Host;
 *   - the same framing (none / Content-Length n / chunked), so the relayed body ends at the same byte: the body
 *     read from the emitted bytes equals the body read from the input, and nothing of it is read as another
 *     request (the bytes after it are exactly the client's next bytes). */
#include "http1_parser.h"
#include "path_normalize.h"
#include "proxy/forwarder.h"
#include "proxy/ws_handshake.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD 16384

/* The body's extent after a head: its end offset in buf[0..len), or -1 when it does not end there. */
static long body_end(const struct tg_http_head *h, const char *buf, size_t len)
{
    if (h->framing == TG_BODY_NONE)
        return (long)h->head_len;
    if (h->framing == TG_BODY_LENGTH)
        return len - h->head_len >= h->content_length ? (long)(h->head_len + h->content_length) : -1;
    struct tg_chunked_scanner sc;
    memset(&sc, 0, sizeof sc);
    size_t used = 0;
    enum tg_chunked_result r = tg_chunked_scan(&sc, buf + h->head_len, len - h->head_len, &used);
    return r == TG_CHUNKED_DONE ? (long)(h->head_len + used) : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tg_http_head in_head, out_head;
    if (size < 1 || size > 2 * MAX_HEAD)
        return 0;
    const char *in = (const char *)data + 1;
    size_t in_len = size - 1;
    int trusted = data[0] & 1;
    if (tg_http1_parse_request(in, in_len, MAX_HEAD, &in_head) != TG_HTTP_OK)
        return 0;
    long in_end = body_end(&in_head, in, in_len);

    /* http_server.c target_and_path(): the form, the authority, the normalised path */
    struct tg_http_target t;
    enum tg_target_form form = tg_http_parse_target(in_head.method, in_head.target, &t);
    struct tg_slice path = in_head.target;
    int slash = 0;
    if (form == TG_TARGET_ABSOLUTE) {
        in_head.host = t.authority;
        path = t.path;
        slash = path.len == 0 || path.ptr[0] == '?';
    } else if (form != TG_TARGET_ORIGIN) {
        return 0;
    }
    size_t plen = path.len + (size_t)slash;
    char *raw = malloc(plen + 1), *norm = malloc(plen + 1);
    raw[0] = '/';
    memcpy(raw + slash, path.ptr, path.len);
    size_t nlen = 0;
    if (tg_path_normalize(raw, plen, (data[0] & 2) ? TG_PATH_ALLOW_ENCODED_SLASH : 0, norm, plen + 1, &nlen) !=
        TG_PATH_OK) {
        free(raw);
        free(norm);
        return 0;
    }

    struct tg_proxy_cfg px;
    memset(&px, 0, sizeof px);
    px.path_prefix = ""; /* as the snapshot builder leaves it without a target path */
    struct tg_route route = {&px, "prod"};
    struct tg_forwarder f;
    memset(&f, 0, sizeof f);
    f.route = &route;
    f.peer_ip = "192.0.2.1";
    f.peer_trusted = (unsigned char)trusted;
    f.path = (struct tg_slice){norm, nlen};
    f.is_upgrade = (unsigned char)tg_ws_handshake_requested(&in_head);
    snprintf(f.method, sizeof f.method, "%.*s", (int)(in_head.method.len < 15 ? in_head.method.len : 15),
             in_head.method.ptr);

    static char out[2 * MAX_HEAD + 2 * MAX_HEAD];
    long head_len = tg_forwarder_build_head(&f, &in_head, out, 2 * MAX_HEAD);
    if (head_len > 0) {
        /* the body bytes (and whatever follows them) are relayed exactly as received */
        size_t rest = in_len - in_head.head_len;
        memcpy(out + head_len, in + in_head.head_len, rest);
        size_t out_len = (size_t)head_len + rest;
        enum tg_http_status st = tg_http1_parse_request(out, out_len, 2 * MAX_HEAD, &out_head);
        if (st != TG_HTTP_OK)
            __builtin_trap(); /* what the gateway writes must parse */
        if ((long)out_head.head_len != head_len)
            __builtin_trap(); /* exactly the head it wrote */
        if (out_head.method.len != in_head.method.len ||
            memcmp(out_head.method.ptr, in_head.method.ptr, in_head.method.len) != 0)
            __builtin_trap();
        if (out_head.target.len != nlen || memcmp(out_head.target.ptr, norm, nlen) != 0)
            __builtin_trap(); /* the normalised target, nothing else */
        if (out_head.minor_version != 1)
            __builtin_trap();
        if (out_head.host.len != in_head.host.len ||
            (in_head.host.len && memcmp(out_head.host.ptr, in_head.host.ptr, in_head.host.len) != 0))
            __builtin_trap(); /* the request's authority is the Host */
        if (out_head.framing != in_head.framing ||
            (in_head.framing == TG_BODY_LENGTH && out_head.content_length != in_head.content_length))
            __builtin_trap(); /* the same framing ... */
        long out_end = body_end(&out_head, out, out_len);
        if ((in_end < 0) != (out_end < 0))
            __builtin_trap();
        if (in_end >= 0 && (size_t)(out_end - head_len) != (size_t)in_end - in_head.head_len)
            __builtin_trap(); /* ... so the body ends at the same byte: one request, the same body */
    }
    free(raw);
    free(norm);
    return 0;
}
