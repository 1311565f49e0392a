"""Client connections at the HTTP level, on a data plane of this module's own started with short limits
(--keepalive-timeout 1s --header-timeout 1s --max-header-bytes 4096): idle keep-alive connections end, slow or
silent request heads end (408 when some bytes came), the head limit flag is honoured; HTTP/1.0, interim 100
responses, backend statuses passed through untouched, and the request-target forms of RFC 9112 §3.2."""

from __future__ import annotations

import time

import pytest

import tollgate_it as it


@pytest.fixture(scope="module")
def short_dp(run_dir, backends):
    dp = it.Dataplane(run_dir, "dataplane-short", workers=1,
                      args=["--keepalive-timeout", "1s", "--header-timeout", "1s", "--max-header-bytes", "4096"])
    dp.start(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])], [
        it.proxy("it/echo", "/echo", [backends.b1.endpoint()]),
        it.proxy("it/nostrip", "/nostrip", [backends.b1.endpoint()], strip=False),
    ]))
    yield dp
    dp.check_clean_exit()


def _closed_after(c: it.RawHttp, limit: float) -> float:
    t0 = time.monotonic()
    assert c.closed_by_peer(limit), "the connection stayed open"
    return time.monotonic() - t0


def test_idle_keepalive_connection_is_closed(short_dp):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/x"))
        assert c.read_response().status == 200
        elapsed = _closed_after(c, 5 * it.SLOW)
        assert 0.8 <= elapsed < 1.0 + 1.0 * it.SLOW, elapsed


def test_silent_connection_is_closed_without_answer(short_dp):
    with it.RawHttp(short_dp.port) as c:
        elapsed = _closed_after(c, 5 * it.SLOW)
        assert 0.8 <= elapsed < 1.0 + 1.0 * it.SLOW, elapsed


def test_slow_head_gets_408(short_dp):
    with it.RawHttp(short_dp.port) as c:
        t0 = time.monotonic()
        for b in b"GET /echo/x HTTP/1.1\r\nHost: main":  # slowloris: a byte now and then, never the end
            try:
                c.send(bytes([b]))
            except OSError:
                break
            if time.monotonic() - t0 > 3 * it.SLOW:
                break
            time.sleep(0.1)
        r = c.read_response()
        assert r.status == 408 and r.json()["error"]["code"] == "request.timeout"
        assert time.monotonic() - t0 < 1.0 + 1.5 * it.SLOW
        assert c.closed_by_peer(2.0)


def test_max_header_bytes_flag(short_dp):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/x", headers=[("X-Big", "a" * 3000)]))
        assert c.read_response().status == 200
        c.send(it.request_bytes("GET", "/echo/x", headers=[("X-Big", "a" * 5000)]))
        r = c.read_response()
        assert r.status == 431
        assert c.closed_by_peer(2.0)


def test_http10_request_closes_after_response(short_dp):
    with it.RawHttp(short_dp.port) as c:
        c.send(b"GET /echo/old HTTP/1.0\r\nHost: main.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/old"
        assert r.header("connection") == "close"
        assert c.closed_by_peer(2.0)


def test_http10_keepalive_request_stays_open(short_dp):
    with it.RawHttp(short_dp.port) as c:
        for i in range(2):
            c.send(f"GET /echo/ka{i} HTTP/1.0\r\nHost: main.test\r\nConnection: keep-alive\r\n\r\n".encode())
            r = c.read_response()
            assert r.status == 200 and r.json()["path"] == f"/ka{i}"


def test_expect_100_continue_is_relayed(short_dp):
    with it.RawHttp(short_dp.port) as c:
        c.send(b"POST /echo/upload HTTP/1.1\r\nHost: main.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        r = c.read_response()
        assert r.status == 100
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and r.json()["bodyBytes"] == 5


@pytest.mark.parametrize("status", [204, 304, 404, 500, 503])
def test_backend_status_passes_through(short_dp, status):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", f"/echo/status/{status}"))
        r = c.read_response()
        assert r.status == status
        assert r.header("x-backend") == "b1"  # the backend's answer, not the gateway's
        if status not in (204, 304):
            assert r.json() == {"backend": "b1", "status": status}
        c.send(it.request_bytes("GET", "/echo/next"))  # the connection is still good
        assert c.read_response().status == 200


def test_absolute_form_request_target(short_dp):
    """RFC 9112 §3.2.2: a server must accept absolute-form, and its authority wins over Host."""
    with it.RawHttp(short_dp.port) as c:
        c.send(b"GET http://main.test/echo/abs?q=1 HTTP/1.1\r\nHost: ignored.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == "/abs?q=1"
        c.send(b"GET http://ignored.test/echo/abs HTTP/1.1\r\nHost: main.test\r\n\r\n")
        assert c.read_response().status == 404


def test_dot_segments_are_normalised_before_routing(short_dp):
    """docs/security.md "Path normalisation": routing and the backend see the same normalised path, so a dot
    segment cannot reach one base path's backend under another's route."""
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", "/nostrip/../echo/x"))
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/x", (r.status, r.body)


@pytest.mark.parametrize("path,seen", [("/nostrip/%2e%2E/echo/x", "/x"), ("/nostrip/./x", "/nostrip/x"),
                                       ("/nostrip/x/..", "/nostrip/"), ("/nostrip/%2E/x?y=1", "/nostrip/x?y=1")])
def test_encoded_and_trailing_dot_segments_are_normalised(short_dp, path, seen):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", path))
        r = c.read_response()
        assert r.status == 200 and r.json()["target"] == seen, (path, r.status, r.body)


@pytest.mark.parametrize("path,code", [("/nostrip/a%2fb", "request.encoded_slash"),
                                       ("/nostrip/%00", "request.bad_path"), ("/nostrip/a\\b", "request.bad_path")])
def test_unnormalisable_paths_are_400(short_dp, path, code):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", path))
        r = c.read_response()
        assert r.status == 400 and r.json()["error"]["code"] == code, (path, r.status, r.body)


def test_dots_inside_segments_are_fine(short_dp):
    with it.RawHttp(short_dp.port) as c:
        c.send(it.request_bytes("GET", "/nostrip/v1.2/...x/file.tar.gz?a=../b"))
        assert c.read_response().status == 200
