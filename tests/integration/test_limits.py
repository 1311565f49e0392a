"""Limits (issue 11 item 6 and 7; docs/security.md "Limits"): --max-connections per worker with WebSocket
sessions counted, --max-connections-per-ip across the process, many idle connections that send nothing leave
the data plane serving others with flat memory, and long sessions that do not pin old snapshots while the
configuration changes under them (RSS flat over hundreds of pushes)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import tollgate_it as it

FLOOD = str(it.HERE / "idle_flood.py")


def _snap(backends, version: int = 1, extra: int = 0):
    proxies = [it.proxy("it/echo", "/echo", [backends.b1.endpoint()])]
    # padding proxies make each snapshot big enough that pinning one per push would show in RSS
    proxies += [it.proxy(f"it/pad-{version}-{i}", f"/pad{i}", [backends.b2.endpoint()], path_prefix="/p" * 40)
                for i in range(extra)]
    return it.snapshot(version, [it.group("it/g", [it.MAIN_HOST])], proxies)


def _get_ok(dp, src: str | None = None) -> bool:
    s = socket.socket()
    s.settimeout(5 * it.SLOW)
    try:
        if src:
            s.bind((src, 0))
        s.connect(("127.0.0.1", dp.port))
        s.sendall(it.request_bytes("GET", "/echo/x", headers=[("Connection", "close")]))
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def _closed_at_once(dp, src: str | None = None) -> bool:
    s = socket.socket()
    s.settimeout(3 * it.SLOW)
    try:
        if src:
            s.bind((src, 0))
        s.connect(("127.0.0.1", dp.port))
        s.sendall(it.request_bytes("GET", "/echo/x"))
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ws_open(dp, path="/echo/ws"):
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=5 * it.SLOW)
    s.sendall(it.ws_handshake_bytes(path))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def _echo(s: socket.socket, text: bytes) -> bool:
    s.sendall(it.ws_frame(0x1, text))
    want = bytes([0x81, len(text)]) + text
    got = b""
    while len(got) < len(want):
        chunk = s.recv(len(want) - len(got))
        if not chunk:
            return False
        got += chunk
    return got == want


def test_max_connections_per_worker_counts_sessions(dp_factory, backends):
    dp = dp_factory(_snap(backends), workers=1, args=["--max-connections", "4"])
    sessions = [_ws_open(dp) for _ in range(3)]
    idle = socket.create_connection(("127.0.0.1", dp.port))
    time.sleep(0.2)
    assert _closed_at_once(dp), "a 5th connection (3 sessions + 1 idle live) must be shed"
    sessions.pop().close()
    it.wait_until(lambda: len(dp.sessions()) == 2, 5 * it.SLOW, what="a session ended")
    assert _get_ok(dp), "a slot freed by a closed session takes a new connection"
    for s in sessions:
        assert _echo(s, b"still here")
        s.close()
    idle.close()


def test_max_connections_per_ip(dp_factory, backends):
    dp = dp_factory(_snap(backends), workers=2, args=["--max-connections-per-ip", "3"])
    sessions = [_ws_open(dp) for _ in range(2)]
    idle = socket.create_connection(("127.0.0.1", dp.port))
    time.sleep(0.2)
    # 127.0.0.1 holds 3 slots (2 WebSocket sessions + 1 idle): the next one from it is closed at once, whichever
    # worker accepts it; another address is served
    for _ in range(4):
        assert _closed_at_once(dp)
    assert _get_ok(dp, src="127.0.0.2")
    idle.close()
    time.sleep(0.2)
    assert _get_ok(dp), "the idle connection's slot came back"
    sessions.pop().close()
    it.wait_until(lambda: len(dp.sessions()) == 1, 5 * it.SLOW, what="a session ended")
    third = _ws_open(dp)  # the session's slot came back too
    for s in sessions + [third]:
        assert _echo(s, b"ok")
        s.close()


def _flood(dp, procs: int, each: int, src: str = "127.0.0.1"):
    children = [subprocess.Popen([sys.executable, FLOOD, "127.0.0.1", str(dp.port), str(each), src],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    first = [json.loads(c.stdout.readline()) for c in children]
    return children, first


def _end_flood(children):
    for c in children:
        c.stdin.close()
    out = [json.loads(c.stdout.readline() or "{}") for c in children]
    for c in children:
        c.wait(timeout=30)
    return out


def test_idle_flood_leaves_others_served_with_flat_memory(dp_factory, backends):
    """10,000 idle connections over 2 client processes (scaled to the test's descriptor budget; docs/security.md
    gives the bigger figures), no per-IP cap: everyone else is still served, and the data plane's RSS grows by
    what an idle connection costs (no buffer, a few hundred bytes), flat per connection."""
    each = 2500 if it.UNDER_ASAN else 5000
    dp = dp_factory(_snap(backends), workers=2, args=["--header-timeout", "60s"])
    assert _get_ok(dp)
    base = dp.rss_kib()
    children, first = _flood(dp, 2, each)
    try:
        connected = sum(f["connected"] for f in first)
        assert connected == 2 * each, first
        time.sleep(0.5)
        grown = dp.rss_kib() - base
        assert all(_get_ok(dp, src="127.0.0.3") for _ in range(20))
        assert _ws_open(dp).close() is None
        per_conn = grown * 1024 / connected
        print(f"idle flood: {connected} connections, RSS {base} -> {base + grown} KiB, {per_conn:.0f} B each")
        if not it.UNDER_ASAN:
            assert per_conn < 2048, f"{per_conn:.0f} bytes of RSS per idle connection"
    finally:
        _end_flood(children)


def test_idle_flood_against_the_per_ip_cap(dp_factory, backends):
    dp = dp_factory(_snap(backends), workers=2, args=["--max-connections-per-ip", "100"])
    base = dp.rss_kib()
    children, first = _flood(dp, 2, 2000)
    try:
        assert sum(f["open"] for f in first) <= 100, first
        assert all(_get_ok(dp, src="127.0.0.4") for _ in range(20))
        grown = dp.rss_kib() - base
        print(f"capped flood: {sum(f['connected'] for f in first)} connects, {sum(f['open'] for f in first)} kept, "
              f"RSS {base} -> {base + grown} KiB")
        if not it.UNDER_ASAN:
            assert grown < 4096
    finally:
        _end_flood(children)


def test_sessions_do_not_pin_old_snapshots(dp_factory, backends):
    """Issue 11 item 7: sessions live across hundreds of pushes, each snapshot ~100 KiB of JSON. A session used to
    hold its admitting snapshot for its whole life; now it follows its proxy into each new one, so RSS stays flat
    (before the fix it grew by about a snapshot per push that a session outlived)."""
    pushes = 100 if it.UNDER_ASAN else 300
    n_sessions = 200
    dp = dp_factory(_snap(backends, 1, 150), workers=2)
    sessions = []
    for i in range(pushes // 10 + 1):  # warm-up pushes: allocator arenas settle
        assert dp.push(_snap(backends, 2 + i, 150))[0] == 200
    base_version = 2 + pushes // 10 + 1
    rss = [dp.rss_kib()]  # before any session: what the sessions and pushes add is measured from here
    for i in range(pushes):
        if len(sessions) < n_sessions:  # sessions opened under many different snapshots
            sessions += [_ws_open(dp) for _ in range(max(1, n_sessions // 50))]
        status, body = dp.push(_snap(backends, base_version + i, 150))
        assert status == 200, body
    rss.append(dp.rss_kib())
    for s in sessions:
        assert _echo(s, b"alive")
    assert len(dp.sessions()) == len(sessions)
    growth = rss[-1] - rss[0]
    print(f"{len(sessions)} sessions, {pushes} pushes: RSS {rss[0]} -> {rss[-1]} KiB")
    if not it.UNDER_ASAN:
        assert growth < 8 * 1024, f"RSS grew {growth} KiB over {pushes} pushes with live sessions"
    for s in sessions:
        s.close()


def test_trickled_body_cut_at_the_request_body_timeout(dp_factory, backends):
    """A client that sends its body one byte at a time refreshes the response timeout with every byte, but not
    --request-body-timeout: 408 when it passes, and the connection closes."""
    dp = dp_factory(_snap(backends), workers=1, args=["--request-body-timeout", "1s"])
    s = socket.create_connection(("127.0.0.1", dp.port), timeout=10 * it.SLOW)
    try:
        s.sendall(it.request_bytes("POST", "/echo/upload", headers=[("Content-Length", "100")]))
        t0 = time.monotonic()
        answer = b""
        s.setblocking(False)
        while time.monotonic() - t0 < 8 * it.SLOW and b"\r\n\r\n" not in answer:
            try:
                s.send(b"x")
            except OSError:
                break
            time.sleep(0.2)
            try:
                answer += s.recv(4096)
            except BlockingIOError:
                pass
        took = time.monotonic() - t0
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert took < 3 * it.SLOW, took
    finally:
        s.close()
    assert _get_ok(dp)
