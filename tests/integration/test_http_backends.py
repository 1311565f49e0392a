"""Misbehaving backends, byte by byte (ScriptedHttpBackend): malformed or oversized answers are a 502 for the
client, a truncated answer ends the client's connection (never a silently short body on a reused
connection), a backend that closes keep-alive connections without saying so is survived, and an unasked 101
is refused."""

from __future__ import annotations

import pytest

import tollgate_it as it

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def scripted(dp_factory):
    """Returns make(script, linger) → (data plane, backend), the data plane routing /s to the backend."""
    made = []

    def make(script, linger=0.0):
        backend = it.ScriptedHttpBackend(script, linger)
        made.append(backend)
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/s", "/s", [backend.endpoint()], timeout_ms=3000)]))
        return dp, backend

    yield make
    for b in made:
        b.close()


def _error_and_closed(dp, path="/s/x", code=None):
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", path))
        r = c.read_response()
        assert r.status == 502, (r.status, r.body)
        err = r.json()["error"]
        if code:
            assert err["code"] == code, err
        assert c.closed_by_peer(2.0)
        return err


@pytest.mark.parametrize("kind,script", [
    ("garbage status line", b"HTTP/1.1 abc Nope\r\n\r\n"),
    ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"),
    ("bare LF in head", b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok"),
    ("differing CLs", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"),
    ("head over 32 KiB", b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 40000 + b"\r\nContent-Length: 2\r\n\r\nok"),
    ("closes without answering", b""),
])
def test_malformed_answer_is_502(scripted, kind, script):
    dp, _ = scripted(script)
    _error_and_closed(dp)


def test_answer_with_length_and_chunked_is_relayed_without_the_length(scripted):
    """RFC 9112 §6.3 item 3: Transfer-Encoding overrides Content-Length, and an intermediary that forwards such a
    message must remove the Content-Length (else the client and the proxy could frame the body differently)."""
    dp, backend = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\r\nhello\r\n0\r\n\r\n", linger=None)
    with it.RawHttp(dp.port) as c:
        for i in range(2):
            c.send(it.request_bytes("GET", f"/s/{i}"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"hello"
            assert r.header("content-length") is None and r.header("transfer-encoding") == "chunked"
    assert backend.connections == 2  # such a backend connection is not reused (§6.3 item 3)


def test_unasked_101_is_502(scripted):
    dp, _ = scripted(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                     linger=1.0)
    _error_and_closed(dp)


def test_truncated_body_ends_the_client_connection(scripted):
    dp, _ = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this")
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", "/s/x"))
        with pytest.raises(ConnectionError):
            c.read_response()
        assert c.buf.endswith(b"only this") or c.eof


def test_bad_chunk_in_response_ends_the_client_connection(scripted):
    dp, _ = scripted(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", linger=1.0)
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", "/s/x"))
        with pytest.raises((ConnectionError, ValueError)):
            c.read_response()


def test_backend_closing_keepalive_connections_silently(scripted):
    """The backend answers with keep-alive framing, then closes each connection at once: pooled connections go
    stale all the time. Every request still gets its answer (a fresh connection, or one retry)."""
    dp, backend = scripted(OK, linger=0.0)
    with it.RawHttp(dp.port) as c:
        for i in range(30):
            c.send(it.request_bytes("GET", f"/s/{i}"))
            r = c.read_response()
            assert (r.status, r.body) == (200, b"ok"), i
    assert len(backend.heads) >= 30


def test_backend_closing_after_a_delay(scripted):
    dp, backend = scripted(OK, linger=0.05)
    import time
    with it.RawHttp(dp.port) as c:
        for i in range(10):
            c.send(it.request_bytes("GET", f"/s/{i}"))
            r = c.read_response()
            assert (r.status, r.body) == (200, b"ok"), i
            time.sleep(0.07 if i % 2 else 0.0)  # sometimes after the backend's close, sometimes just before


def test_response_without_length_is_read_until_close(scripted):
    dp, _ = scripted(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", linger=0.0)
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", "/s/x"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"until the end"
        assert c.eof or c.closed_by_peer(2.0)
