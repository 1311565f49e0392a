"""The rows of DESIGN.md "Behaviour at the edges" that exist without policies, as clients see them: status,
JSON error body, extra headers, and whether the connection stays open. Raw sockets where the request must be
byte-exact (malformed HTTP), real WebSocket clients where the handshake is the point."""

from __future__ import annotations

import time

import pytest
import websockets

import tollgate_it as it


def _error(r: it.Response, status: int, code: str | None = None) -> dict:
    assert r.status == status, (r.status, r.body)
    assert r.header("content-type") == "application/json", r.headers
    err = r.json()["error"]
    assert err["status"] == status and err["message"], err
    if code:
        assert err["code"] == code, err
    return err


def _one(dp, data: bytes, check_closed: bool = False) -> tuple[it.Response, bool | None]:
    """Sends data on a fresh connection; returns the response and, when asked, whether the proxy then closed the
    connection (waiting up to 2 s for it)."""
    with it.RawHttp(dp.port) as c:
        c.send(data)
        r = c.read_response()
        return r, (c.closed_by_peer(2.0) if check_closed else None)


# ---- routing misses: 404 with a JSON body, the connection stays usable


def test_404_no_group_keeps_connection(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/x", host="unknown.test"))
        _error(c.read_response(), 404, "routing.no_group")
        c.send(it.request_bytes("GET", "/echo/after-404"))
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/after-404"


@pytest.mark.parametrize("path", ["/nothing-here", "/echoes", "/echo-x/y", "/"])
def test_404_no_proxy(main_dp, path):
    r, _ = _one(main_dp, it.request_bytes("GET", path))
    _error(r, 404, "routing.no_proxy")


def test_404_for_websocket_upgrades(main_dp):
    async def body():
        for host, path in (("unknown.test", "/echo/ws"), (it.MAIN_HOST, "/nothing/ws")):
            with pytest.raises(websockets.InvalidStatusCode) as e:
                async with it.ws_connect(main_dp, path, host=host):
                    pass
            assert e.value.status_code == 404

    it.run(body())


# ---- bad WebSocket handshakes: 400 / 426, never reaching the backend


@pytest.mark.parametrize("kind,data,code", [
    ("missing key", it.ws_handshake_bytes("/echo/ws", omit=["Sec-WebSocket-Key"]), "websocket.bad_key"),
    ("short key", it.ws_handshake_bytes("/echo/ws", key="c2hvcnQ="), "websocket.bad_key"),
    ("not base64", it.ws_handshake_bytes("/echo/ws", key="!!!!!!!!!!!!!!!!!!!!!!=="), "websocket.bad_key"),
    ("POST upgrade", it.ws_handshake_bytes("/echo/ws", method="POST"), "websocket.bad_method"),
    ("no Connection: upgrade", it.ws_handshake_bytes("/echo/ws", omit=["Connection"]), None),
])
def test_400_bad_handshake(main_dp, kind, data, code):
    r, closed = _one(main_dp, data, check_closed=True)
    _error(r, 400, code)
    assert closed


def test_426_unsupported_version(main_dp):
    for version in ("8", "14"):
        r, closed = _one(main_dp, it.ws_handshake_bytes("/echo/ws", version=version), check_closed=True)
        _error(r, 426, "websocket.unsupported_version")
        assert r.header("sec-websocket-version") == "13"


def test_upgrade_to_proxy_with_websockets_disabled(main_dp):
    r, _ = _one(main_dp, it.ws_handshake_bytes("/nows/ws"))
    assert r.status == 403 and r.json()["error"]["code"] == "websocket.disabled"


def test_firefox_connection_token_list_is_an_upgrade(main_dp):
    data = it.ws_handshake_bytes("/echo/ff", omit=["Connection"], extra=[("Connection", "keep-alive, Upgrade")])
    with it.RawHttp(main_dp.port) as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 101 and r.header("x-backend") == "b1"
        c.send(it.ws_frame(0x1, b"fox"))
        assert c._read_exact(5) == bytes([0x81, 3]) + b"fox"


# ---- the backend's answers


def test_backend_refusing_upgrade_is_relayed_as_is(main_dp):
    r, _ = _one(main_dp, it.ws_handshake_bytes("/echo/reject-upgrade"))
    assert r.status == 403
    body = r.json()
    assert body["backend"] == "b1" and body["error"]["message"] == "upgrade refused"  # the backend's own body
    assert r.header("x-backend") == "b1"


def test_backend_refusing_upgrade_seen_by_clients(main_dp):
    async def body():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with it.ws_connect(main_dp, "/echo/reject-upgrade"):
                pass
        assert e.value.status_code == 403

    it.run(body())
    r = it.node_ws({"scenario": "handshake", "url": main_dp.url("/echo/reject-upgrade", "127.0.0.1"),
                    "host": it.MAIN_HOST})
    assert r.get("status") == 403 and '"backend":"b1"' in r["body"], r


def test_bad_sec_websocket_accept_is_502(main_dp):
    r, closed = _one(main_dp, it.ws_handshake_bytes("/echo/bad-accept"), check_closed=True)
    _error(r, 502)
    assert closed


def test_503_no_endpoints(main_dp):
    r, _ = _one(main_dp, it.request_bytes("GET", "/noeps/x"))
    _error(r, 503, "upstream.no_endpoints")
    r, closed = _one(main_dp, it.ws_handshake_bytes("/noeps/ws"), check_closed=True)
    _error(r, 503, "upstream.no_endpoints")
    assert closed


def test_502_connect_refused(main_dp):
    for data in (it.request_bytes("GET", "/refused/x"), it.ws_handshake_bytes("/refused/ws")):
        r, closed = _one(main_dp, data, check_closed=True)
        _error(r, 502, "upstream.connect_failed")
        assert closed


def test_504_connect_timeout(main_dp):
    for data in (it.request_bytes("GET", "/ctimeout/x"), it.ws_handshake_bytes("/ctimeout/ws")):
        t0 = time.monotonic()
        r, closed = _one(main_dp, data, check_closed=True)
        elapsed = time.monotonic() - t0
        _error(r, 504, "upstream.connect_timeout")
        assert 0.25 <= elapsed < 1.0 + 2 * it.SLOW, elapsed  # connectTimeoutMs is 300 (timer-wheel granularity)


def test_504_response_timeout(main_dp):
    t0 = time.monotonic()
    r, _ = _one(main_dp, it.request_bytes("GET", "/slow?ms=3000"))
    elapsed = time.monotonic() - t0
    _error(r, 504, "upstream.timeout")
    assert 0.45 <= elapsed < 1.5 * it.SLOW + 0.5, elapsed  # timeoutMs is 500
    # a response inside the timeout passes
    r, _ = _one(main_dp, it.request_bytes("GET", "/slow?ms=100"))
    assert r.status == 200


# ---- malformed or ambiguous HTTP: 400, connection closed


@pytest.mark.parametrize("kind,data", [
    ("CL+TE", b"POST /echo/x HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("duplicate differing CL", b"POST /echo/x HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5\r\n"
                               b"Content-Length: 6\r\n\r\nhello!"),
    ("CL list", b"POST /echo/x HTTP/1.1\r\nHost: main.test\r\nContent-Length: 5, 6\r\n\r\nhello!"),
    ("bad chunk size", b"POST /echo/x HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nhello\r\n0\r\n\r\n"),
    ("obs-fold", b"GET /echo/x HTTP/1.1\r\nHost: main.test\r\nX-Folded: a\r\n  b\r\n\r\n"),
    ("bare CR in a field", b"GET /echo/x HTTP/1.1\r\nHost: main.test\r\nX-Cr: a\rb\r\n\r\n"),
    ("bare CR line end", b"GET /echo/x HTTP/1.1\rHost: main.test\r\n\r\n"),
    ("space before colon", b"GET /echo/x HTTP/1.1\r\nHost: main.test\r\nX-Bad : a\r\n\r\n"),
    ("missing Host", b"GET /echo/x HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("two Hosts", b"GET /echo/x HTTP/1.1\r\nHost: main.test\r\nHost: other.test\r\n\r\n"),
    ("TE not chunked last", b"POST /echo/x HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
])
def test_400_malformed_http_closes_connection(main_dp, kind, data):
    with it.RawHttp(main_dp.port) as c:
        c.send(data)
        r = c.read_response()
        _error(r, 400)
        assert r.header("connection") == "close"
        assert c.closed_by_peer(2.0), kind


def test_431_headers_over_the_limit(main_dp):
    big = it.request_bytes("GET", "/echo/x", headers=[("X-Big", "a" * 40000)])
    r, closed = _one(main_dp, big, check_closed=True)
    _error(r, 431)
    assert closed
    many = [(f"X-H{i}", "v") for i in range(200)]
    r, closed = _one(main_dp, it.request_bytes("GET", "/echo/x", headers=many), check_closed=True)
    _error(r, 431)
    assert closed
    # just under the default 32 KiB limit is fine
    r, _ = _one(main_dp, it.request_bytes("GET", "/echo/x", headers=[("X-Big", "a" * 30000)]))
    assert r.status == 200 and len(r.json()["headers"]["x-big"]) == 30000


def test_413_body_over_limit_content_length(main_dp):
    r, _ = _one(main_dp, it.request_bytes("POST", "/limited/x", body=b"a" * 1024))
    assert r.status == 200 and r.json()["bodyBytes"] == 1024
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("POST", "/limited/x", body=b"a" * 1025))
        _error(c.read_response(), 413, "request.body_too_large")
        assert c.closed_by_peer(2.0)


def test_413_body_over_limit_chunked(main_dp):
    head = b"POST /limited/x HTTP/1.1\r\nHost: main.test\r\nTransfer-Encoding: chunked\r\n\r\n"
    ok = head + b"200\r\n" + b"a" * 512 + b"\r\n200\r\n" + b"b" * 512 + b"\r\n0\r\n\r\n"
    r, _ = _one(main_dp, ok)
    assert r.status == 200 and r.json()["bodyBytes"] == 1024
    with it.RawHttp(main_dp.port) as c:
        c.send(head + b"300\r\n" + b"a" * 768 + b"\r\n300\r\n" + b"b" * 768 + b"\r\n0\r\n\r\n")
        _error(c.read_response(), 413, "request.body_too_large")
        assert c.closed_by_peer(2.0)
