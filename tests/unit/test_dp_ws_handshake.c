/* test_dp_ws_handshake.c — proxy/ws_handshake.c: which requests are upgrades (RFC 6455 §4.1: Connection carries
 * "upgrade", Upgrade names "websocket"), the server-side checks of §4.2.1 with the gateway's answer for each
 * refusal, the Sec-WebSocket-Accept the backend must send (§4.2.2, the RFC's own example), and the validation of
 * the backend's 101. */
#include "proxy/ws_handshake.h"
#include "tg_test.h"

#include <string.h>

static struct tg_http_head req(const char *text)
{
    struct tg_http_head h;
    memset(&h, 0, sizeof h);
    CHECK_EQ_INT(tg_http1_parse_request(text, strlen(text), 32768, &h), TG_HTTP_OK);
    return h;
}

static struct tg_http_head resp(const char *text)
{
    struct tg_http_head h;
    memset(&h, 0, sizeof h);
    struct tg_slice get = {"GET", 3};
    CHECK_EQ_INT(tg_http1_parse_response(text, strlen(text), 32768, get, &h), TG_HTTP_OK);
    return h;
}

#define UPGRADE "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

int main(void)
{
    char accept[29];
    struct tg_ws_refusal why;

    struct tg_http_head h = req("GET /chat HTTP/1.1\r\nHost: a\r\n" UPGRADE "Sec-WebSocket-Version: 13\r\n" KEY "\r\n");
    CHECK(tg_ws_handshake_requested(&h));
    CHECK(!tg_ws_handshake_half(&h));
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), 0);
    CHECK_EQ_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 §1.3 */

    /* plain requests and the half handshake (Upgrade without the Connection token) */
    h = req("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(!tg_ws_handshake_requested(&h) && !tg_ws_handshake_half(&h));
    h = req("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n");
    CHECK(!tg_ws_handshake_requested(&h));
    CHECK(tg_ws_handshake_half(&h));
    h = req("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n");
    CHECK(!tg_ws_handshake_requested(&h) && !tg_ws_handshake_half(&h));

    /* each refusal and its answer */
    h = req("POST /chat HTTP/1.1\r\nHost: a\r\n" UPGRADE "Sec-WebSocket-Version: 13\r\n" KEY "\r\n");
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), -1);
    CHECK_EQ_INT(why.status, 400);
    CHECK_EQ_STR(why.code, "websocket.bad_method");
    h = req("GET /chat HTTP/1.0\r\nHost: a\r\n" UPGRADE "Sec-WebSocket-Version: 13\r\n" KEY "\r\n");
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), -1);
    CHECK_EQ_STR(why.code, "websocket.bad_version");
    h = req("GET /chat HTTP/1.1\r\nHost: a\r\n" UPGRADE KEY "\r\n");
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), -1);
    CHECK_EQ_INT(why.status, 426);
    CHECK_EQ_STR(why.extra_headers, "Sec-WebSocket-Version: 13\r\n");
    h = req("GET /chat HTTP/1.1\r\nHost: a\r\n" UPGRADE "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n");
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), -1);
    CHECK_EQ_STR(why.code, "websocket.bad_key");
    h = req("GET /chat HTTP/1.1\r\nHost: a\r\n" UPGRADE "Sec-WebSocket-Version: 13\r\n" KEY "Content-Length: 2\r\n\r\n");
    CHECK_EQ_INT(tg_ws_handshake_check_request(&h, accept, &why), -1);
    CHECK_EQ_STR(why.code, "websocket.unexpected_body");

    /* the backend's 101 */
    const char *good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
    h = resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    CHECK(tg_ws_handshake_response_valid(&h, good));
    h = resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n");
    CHECK(!tg_ws_handshake_response_valid(&h, good));
    h = resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    CHECK(!tg_ws_handshake_response_valid(&h, good)); /* no Connection: Upgrade */
    h = resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    CHECK(!tg_ws_handshake_response_valid(&h, good));
    h = resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    CHECK(!tg_ws_handshake_response_valid(&h, good));
    TG_TEST_MAIN_END();
}
