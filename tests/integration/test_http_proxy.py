"""Plain HTTP/1.1 through the data plane: GET/POST/chunked on one keep-alive connection, pipelining, chunked
responses, the X-Forwarded-* fields and hop-by-hop removal the backend sees, and the path rewriting of
stripBasePath and target.pathPrefix. The demo backend answers with a JSON echo of what it received."""

from __future__ import annotations

import http.client
import json

import pytest

import tollgate_it as it


def _conn(dp) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", dp.port, timeout=10 * it.SLOW)


def _get(conn, path, headers=None, method="GET", body=None, **kw):
    h = {"Host": it.MAIN_HOST}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h, **kw)
    r = conn.getresponse()
    return r, r.read()


def test_keepalive_get_post_chunked_on_one_connection(main_dp):
    before = main_dp.metrics()["tollgate_connections_accepted_total"]
    conn = _conn(main_dp)
    try:
        r, body = _get(conn, "/echo/first?x=1")
        assert r.status == 200 and r.getheader("Connection") is None
        sock = conn.sock
        echo = json.loads(body)
        assert (echo["method"], echo["path"], echo["query"], echo["bodyBytes"]) == ("GET", "/first", "x=1", 0)

        payload = bytes(range(256)) * 400  # 100 KiB with Content-Length
        r, body = _get(conn, "/echo/post", method="POST", body=payload,
                       headers={"Content-Type": "application/octet-stream"})
        assert r.status == 200 and conn.sock is sock
        echo = json.loads(body)
        assert (echo["method"], echo["bodyBytes"]) == ("POST", len(payload))
        assert echo["headers"]["content-length"] == str(len(payload))

        chunks = [b"a" * 1000, b"b" * 70000, b"c"]
        r, body = _get(conn, "/echo/chunked-upload", method="PUT", body=iter(chunks), encode_chunked=True,
                       headers={"Transfer-Encoding": "chunked"})
        assert r.status == 200 and conn.sock is sock
        echo = json.loads(body)
        assert (echo["method"], echo["bodyBytes"]) == ("PUT", sum(map(len, chunks)))
        assert echo["headers"]["transfer-encoding"] == "chunked"

        r, body = _get(conn, "/echo/head", method="HEAD")
        assert r.status == 200 and body == b"" and conn.sock is sock
        r, body = _get(conn, "/echo/after-head")
        assert r.status == 200 and json.loads(body)["path"] == "/after-head" and conn.sock is sock
    finally:
        conn.close()
    assert main_dp.metrics()["tollgate_connections_accepted_total"] == before + 1


def test_chunked_response_relayed(main_dp):
    conn = _conn(main_dp)
    try:
        for i in range(3):
            r, body = _get(conn, f"/chunked/n{i}")
            assert r.status == 200
            assert r.getheader("Transfer-Encoding") == "chunked"
            assert body == b"chunked:/n%d:" % i + b"x" * 5000 + b":end"
    finally:
        conn.close()


def test_pipelined_requests_in_one_write(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/p1") + it.request_bytes("POST", "/echo/p2", body=b"hello")
               + it.request_bytes("GET", "/echo/p3"))
        paths = []
        for _ in range(3):
            r = c.read_response()
            assert r.status == 200, r
            paths.append((r.json()["path"], r.json()["bodyBytes"]))
        assert paths == [("/p1", 0), ("/p2", 5), ("/p3", 0)]


def test_pipelined_slow_then_fast_keeps_order(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("GET", "/slow?ms=250") + it.request_bytes("GET", "/echo/fast"))
        first, second = c.read_response(), c.read_response()
        assert first.status == 200 and first.json()["path"] == "/slow"
        assert second.status == 200 and second.json()["path"] == "/fast"


def test_forwarded_headers_and_hop_by_hop_removal(main_dp):
    host = f"{it.MAIN_HOST}:{main_dp.port}"
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/fwd", host=host, headers=[
            ("X-Forwarded-For", "203.0.113.7"),  # no --trusted-proxies: the client is the edge,
            ("X-Forwarded-Proto", "https"),      # it cannot choose any of these three
            ("X-Forwarded-Host", "evil.example"),
            ("Connection", "keep-alive, X-Hop-Custom"),
            ("Keep-Alive", "timeout=5"),
            ("X-Hop-Custom", "must not pass"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("X-End-To-End", "kept"),
        ]))
        r = c.read_response()
    assert r.status == 200
    h = r.json()["headers"]
    assert h["x-forwarded-for"] == "127.0.0.1"
    assert h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-host"] == host
    assert h["host"] == host
    assert h["x-end-to-end"] == "kept"
    for gone in ("connection", "keep-alive", "x-hop-custom", "proxy-connection", "te", "upgrade"):
        assert gone not in h, (gone, h)


def test_forwarded_for_added_when_absent(main_dp):
    conn = _conn(main_dp)
    try:
        r, body = _get(conn, "/echo/xff")
        h = json.loads(body)["headers"]
        assert h["x-forwarded-for"] == "127.0.0.1" and h["x-forwarded-proto"] == "http"
        assert h["x-forwarded-host"] == it.MAIN_HOST
    finally:
        conn.close()


@pytest.mark.parametrize("request_path,backend_target", [
    ("/echo/a/b?q=1", "/a/b?q=1"),          # stripBasePath (default on)
    ("/echo", "/"),
    ("/echo?q=2", "/?q=2"),
    ("/echo/", "/"),
    ("/nostrip/a/b?q=1", "/nostrip/a/b?q=1"),  # stripBasePath: false
    ("/nostrip", "/nostrip"),
    ("/prefixed/a?q=3", "/pre/a?q=3"),      # target.pathPrefix after stripping
    ("/prefixed", "/pre"),
    ("/pfx-ns/a", "/pre/pfx-ns/a"),         # pathPrefix without stripping
])
def test_path_rewriting(main_dp, request_path, backend_target):
    conn = _conn(main_dp)
    try:
        r, body = _get(conn, request_path)
        assert r.status == 200, body
        assert json.loads(body)["target"] == backend_target
    finally:
        conn.close()


def test_large_response_body(main_dp):
    conn = _conn(main_dp)
    try:
        n = 5 * 1024 * 1024 + 3
        r, body = _get(conn, f"/echo/big?bytes={n}")
        # /echo strips its base path: the demo backend sees /big
        assert r.status == 200 and len(body) == n and body[:16] == b"abcdefghijklmnop"
        r, body = _get(conn, "/echo/after-big")
        assert r.status == 200 and json.loads(body)["path"] == "/after-big"
    finally:
        conn.close()


def test_large_uploads_content_length_and_chunked(main_dp):
    conn = _conn(main_dp)
    try:
        body = b"u" * (20 * 1024 * 1024)
        r, out = _get(conn, "/echo/upload", method="POST", body=body)
        assert r.status == 200 and json.loads(out)["bodyBytes"] == len(body)
        chunks = (b"c" * 1_000_003 for _ in range(12))
        r, out = _get(conn, "/echo/upload-chunked", method="POST", body=chunks, encode_chunked=True,
                      headers={"Transfer-Encoding": "chunked"})
        assert r.status == 200 and json.loads(out)["bodyBytes"] == 12 * 1_000_003
    finally:
        conn.close()


def test_concurrent_clients_never_get_each_others_answers(main_dp):
    """Many keep-alive clients at once over the workers' shared upstream pools: every answer is the one asked."""
    import concurrent.futures

    def client(n: int) -> list[str]:
        errors = []
        conn = _conn(main_dp)
        try:
            for i in range(25):
                path = f"/rr/c{n}/r{i}"
                body = b"x" * (n * 37 + i)
                r, out = _get(conn, path, method="POST" if i % 3 == 0 else "GET",
                              body=body if i % 3 == 0 else None)
                echo = json.loads(out)
                if r.status != 200 or echo["path"] != f"/c{n}/r{i}" or \
                        echo["bodyBytes"] != (len(body) if i % 3 == 0 else 0):
                    errors.append(f"{path}: {r.status} {echo}")
        finally:
            conn.close()
        return errors

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        errors = [e for result in pool.map(client, range(32)) for e in result]
    assert not errors, errors[:5]


def test_upgrade_pipelined_after_a_request(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/first") + it.ws_handshake_bytes("/echo/then-ws"))
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/first"
        r = c.read_response()
        assert r.status == 101
        c.send(it.ws_frame(0x1, b"after pipelining"))
        assert c.read_frame() == (0x1, True, b"after pipelining")


def test_large_chunked_response_to_a_slow_reader(main_dp):
    """Short writes to the client in the middle of a chunked body: the chunk framing must survive them (the
    scanner must not see the unwritten bytes twice)."""
    import socket
    import time
    expected = b"".join(bytes([65 + i % 26]) * 40000 for i in range(200))
    with it.RawHttp(main_dp.port) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # less than the body, with the
        for _ in range(2):                                                   # proxy's send buffer
            c.send(it.request_bytes("GET", "/chunked/big"))
            time.sleep(0.3)  # a reader that pauses: the proxy fills the sockets and hits short writes
            while not c.buf.endswith(b"\r\n0\r\n\r\n"):
                assert c._fill(), f"connection closed after {len(c.buf)} bytes"
            r = c.read_response()
            assert r.status == 200 and r.body == expected


def test_ipv6_listener_and_endpoint(run_dir):
    """[::1] on both sides: the client address in X-Forwarded-For is the IPv6 one, the endpoint an IPv6 literal."""
    backend = it.DemoBackend(run_dir, "b6", host="::1").start()
    dp = it.Dataplane(run_dir, "dataplane-v6", workers=1, listen_host="::1")
    try:
        dp.start(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                             [it.proxy("it/v6", "/v6", [backend.endpoint()])]))
        with it.RawHttp(dp.port, host="::1") as c:
            c.send(it.request_bytes("GET", "/v6/x"))
            r = c.read_response()
            assert r.status == 200 and r.json()["backend"] == "b6"
            assert r.json()["headers"]["x-forwarded-for"] == "::1"
            c.send(it.ws_handshake_bytes("/v6/ws"))
            assert c.read_response().status == 101
            c.send(it.ws_frame(0x1, b"six"))
            assert c.read_frame() == (0x1, True, b"six")
            assert [s["client"] for s in dp.sessions()] == ["::1"]
        status, _, body = dp.admin("/config")
        assert f"[::1]:{backend.port}" in body.decode()
    finally:
        dp.check_clean_exit()
        backend.stop()
