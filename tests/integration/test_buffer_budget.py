"""--max-buffer-memory (issue 11 item 6, "a cap on pooled buffers"; docs/security.md "Limits"), through real
sockets, each with and without the cap: slow-reading clients against a fast backend (every exchange stays in
flight holding buffers; beyond the budget requests wait unread — TCP backpressure — and all complete once the
clients read), and a flood of partial request heads (each holds a head buffer without the cap; with it the data
plane's memory stays near the cap)."""

from __future__ import annotations

import selectors
import socket
import threading
import time

import pytest

import tollgate_it as it

BODY = 6 * 1024 * 1024   # more than a socket's send buffer takes (tcp_wmem: 4 MiB at most)
CLIENTS = 24
HEAD_FLOOD = 600
_BODY_BYTES = b"x" * BODY


class FastBackend:
    """Answers every request on a connection with BODY bytes, written as fast as the socket takes them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.served = 0
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(s)
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s: socket.socket):
        buf = b""
        body = _BODY_BYTES
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
                while b"\r\n\r\n" in buf:
                    _, _, buf = buf.partition(b"\r\n\r\n")
                    with self.lock:
                        self.served += 1  # requests received (the data plane admitted them)
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY + body)
        except OSError:
            return

    def close(self):
        self.sock.close()
        with self.lock:
            for s in self.conns:
                s.close()


@pytest.fixture
def fast():
    b = FastBackend()
    yield b
    b.close()


def _snap(fast: FastBackend) -> dict:
    return it.snapshot(1, [it.group("bb/g", [it.MAIN_HOST])], [it.proxy("bb/big", "/big", [it.endpoint(fast.port)])])


def _slow_clients(dp, n: int) -> list[socket.socket]:
    out = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", dp.port))
        s.sendall(it.request_bytes("GET", "/big/x"))
        out.append(s)
    return out


def _peak_rss(dp, seconds: float) -> int:
    peak, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, dp.rss_kib())
        time.sleep(0.05)
    return peak


def _read_all(socks: list[socket.socket], timeout: float) -> dict[socket.socket, int]:
    """Reads every socket to the end of its one response; returns the body bytes each got."""
    sel = selectors.DefaultSelector()
    state = {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        state[s] = [b"", None, 0]  # head bytes, body length wanted, body bytes got
    left = set(socks)
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        for key, _ in sel.select(0.5):
            s = key.fileobj
            try:
                d = s.recv(1 << 20)
            except BlockingIOError:
                continue
            st = state[s]
            if not d:
                left.discard(s)
                sel.unregister(s)
                continue
            if st[1] is None:
                st[0] += d
                if b"\r\n\r\n" in st[0]:
                    head, _, rest = st[0].partition(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.1 200"), head
                    st[1] = int([ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")][0]
                                .split(b":")[1])
                    st[2] = len(rest)
            else:
                st[2] += len(d)
            if st[1] is not None and st[2] >= st[1]:
                left.discard(s)
                sel.unregister(s)
    return {s: state[s][2] for s in socks}


def _start(dp_factory, fast, args):
    dp = dp_factory(_snap(fast), workers=1, args=args)
    with it.RawHttp(dp.port) as c:  # warm up: one whole exchange
        c.send(it.request_bytes("GET", "/big/warm", headers=[("Connection", "close")]))
        assert c.read_response().status == 200
        c.sock.settimeout(30 * it.SLOW)
        while c.sock.recv(1 << 20):
            pass
    time.sleep(0.2)
    return dp


@pytest.mark.parametrize("capped", [False, True], ids=["no-cap", "cap-1m"])
def test_slow_readers_against_a_fast_backend(dp_factory, fast, capped):
    """Responses bigger than what the kernel's socket buffers absorb (4 MiB here), clients that do not read: each
    exchange stays in flight holding its buffers. Without the cap every request is admitted at once; with 1 MiB
    (32 buffers: 4 reserved per exchange) only a few are, the rest wait unread; when the clients read, every one
    gets its whole response, the waiting ones included."""
    dp = _start(dp_factory, fast, ["--max-buffer-memory", "1m"] if capped else [])
    fast.served = 0
    base = dp.rss_kib()
    socks = _slow_clients(dp, CLIENTS)
    try:
        peak = _peak_rss(dp, 2.0)
        admitted = fast.served
        print(f"slow readers, capped={capped}: {admitted} of {CLIENTS} admitted, RSS +{peak - base} KiB")
        if capped:
            assert admitted <= 32 // 4, f"{admitted} exchanges in flight with a 32-buffer budget"
            assert peak - base < 1024 + 1024, f"RSS grew by {peak - base} KiB with a 1 MiB cap"
        else:
            it.wait_until(lambda: fast.served == CLIENTS, 10 * it.SLOW, what="every request admitted")
        got = _read_all(socks, 120 * it.SLOW)
        short = [n for n in got.values() if n != BODY]
        assert not short, f"{len(short)} of {len(got)} responses incomplete: {short[:5]}"
        assert fast.served == CLIENTS
    finally:
        for s in socks:
            s.close()
    assert dp.proc.alive()


@pytest.mark.parametrize("capped", [False, True], ids=["no-cap", "cap-2m"])
def test_partial_heads_flood(dp_factory, fast, capped):
    """Clients that send 16 KiB of a request head and then nothing (until --header-timeout cuts them): each holds
    a head buffer. Without the cap memory grows with them; with 2 MiB (heads may use half: 32 buffers) the rest
    wait unread, holding no buffer. A client arriving meanwhile waits too (the cap trades memory for latency:
    pair it with --max-connections-per-ip and a short --header-timeout); once the flood goes, it is served."""
    dp = _start(dp_factory, fast, ["--max-buffer-memory", "2m"] if capped else [])
    fast.served = 0
    base = dp.rss_kib()
    partial = b"GET /big/x HTTP/1.1\r\nHost: " + it.MAIN_HOST.encode() + b"\r\n" + \
        b"".join(b"X-Pad-%03d: %s\r\n" % (i, b"p" * 400) for i in range(40))
    socks = []
    try:
        for _ in range(HEAD_FLOOD):
            s = socket.create_connection(("127.0.0.1", dp.port), timeout=10 * it.SLOW)
            s.sendall(partial)
            socks.append(s)
        growth = _peak_rss(dp, 1.5) - base
        print(f"partial heads, capped={capped}: {HEAD_FLOOD} heads, RSS +{growth} KiB")
        m = dp.metrics()
        in_use = m["tollgate_buffer_memory_bytes"]
        if capped:
            assert growth < 2048 + 1024, f"RSS grew by {growth} KiB with a 2 MiB cap"
            # the budget is visible: what it allows, what heads hold (half of it), who waits
            assert m["tollgate_buffer_memory_limit_bytes"] == 2 * 1024 * 1024
            assert 0 < in_use <= 1024 * 1024, in_use
            assert m["tollgate_buffer_waiting_connections"] == HEAD_FLOOD - in_use // 32768, m
            assert m["tollgate_buffer_waits_total"] >= m["tollgate_buffer_waiting_connections"]
        else:
            assert growth > HEAD_FLOOD * 12, f"RSS grew by {growth} KiB only: the heads held no buffers"
            assert in_use >= HEAD_FLOOD * 32768, in_use
            assert "tollgate_buffer_memory_limit_bytes" not in m
            assert m["tollgate_buffer_waiting_connections"] == 0 and m["tollgate_buffer_waits_total"] == 0
        late = socket.create_connection(("127.0.0.1", dp.port), timeout=30 * it.SLOW)
        late.sendall(it.request_bytes("GET", "/big/late", headers=[("Connection", "close")]))
        if capped:
            late.settimeout(0.5)
            with pytest.raises(socket.timeout):
                late.recv(1)
    finally:
        for s in socks:
            s.close()
    got = _read_all([late], 60 * it.SLOW)
    assert list(got.values()) == [BODY]
    assert fast.served == 1
    it.wait_until(lambda: dp.metrics()["tollgate_buffer_waiting_connections"] == 0, 10 * it.SLOW,
                  what="no connection left waiting for the budget")


def test_bad_cap_values_are_refused():
    import subprocess
    for value, why in (("12x", "byte count"), ("100k", "512 KiB per worker")):
        r = subprocess.run([str(it.BUILD / "tollgate-dataplane"), "--workers", "1", "--max-buffer-memory", value],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and why in r.stderr, r.stderr


def test_idle_sessions_do_not_shut_http_out(dp_factory, backends):
    """Relayed WebSocket sessions count for the buffers they hold, not a reservation: 40 idle sessions (4 buffers
    each would be 160, five times a 1 MiB budget) leave HTTP served, and the sessions still relay."""
    import test_limits as tl
    dp = dp_factory(tl._snap(backends), workers=1, args=["--max-buffer-memory", "1m"])
    sessions = [tl._ws_open(dp) for _ in range(40)]
    try:
        assert all(tl._get_ok(dp) for _ in range(5))
        assert all(tl._echo(s, b"still here") for s in sessions[:5])
    finally:
        for s in sessions:
            s.close()
