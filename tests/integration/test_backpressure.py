"""Memory: a side that does not read stops the other side's reads, so the data plane's memory stays bounded
however fast the other side writes (issue 2: "a slow reader stops the other side's reads"), and idle sessions
hold no buffers. The data plane's RSS comes from /proc/PID/status; the flooding side's progress shows that it
was held back."""

from __future__ import annotations

import socket
import time

import tollgate_it as it

RSS_BOUND_KIB = (24 if it.UNDER_ASAN else 8) * 1024


def _sample_rss(dp, seconds: float) -> int:
    peak = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak = max(peak, dp.rss_kib())
        time.sleep(0.05)
    return peak


def test_client_not_reading_while_backend_floods(dp_factory, backends):
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                [it.proxy("it/py", "/py", [backends.pyws.endpoint()], strip=False)]))
    with it.RawHttp(dp.port) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        c.send(it.ws_handshake_bytes("/py/flood"))
        assert c.read_response().status == 101
        time.sleep(0.2)
        base = dp.rss_kib()
        c.send(it.ws_frame(0x1, b"!flood 65536"))  # the backend sends 64 KiB messages as fast as it can
        peak = _sample_rss(dp, 1.5)
        s = [x for x in backends.pyws.sessions_on("/py/flood")][-1]
        sent_a = s.bytes_sent
        time.sleep(0.5)
        sent_b = s.bytes_sent
        assert peak - base < RSS_BOUND_KIB, (base, peak)
        assert sent_b - sent_a <= 64 * 1024, (sent_a, sent_b)  # the backend is held back...
        assert sent_b < 64 * 1024 * 1024, sent_b  # ...after a few socket buffers' worth
        # once the client reads again, the flow resumes
        got = 0
        c.sock.settimeout(10 * it.SLOW)
        while got < sent_b + 16 * 1024 * 1024:
            data = c.sock.recv(1 << 20)
            assert data, "connection closed while reading the flood"
            got += len(data)
        assert s.bytes_sent > sent_b + 8 * 1024 * 1024


def test_backend_not_reading_while_client_floods(dp_factory):
    stall = it.RawWsBackend()  # answers the handshake, then never reads
    try:
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/stall", "/stall", [it.endpoint(stall.port)])]))
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/stall/ws"))
            assert c.read_response().status == 101
            time.sleep(0.2)
            base = dp.rss_kib()
            frame = it.ws_frame(0x2, b"\x5a" * 65536)
            c.sock.setblocking(False)
            written = 0  # bytes of the endless stream of frames the kernel took (partial sends included)

            def send_some() -> None:
                nonlocal written
                off = written % len(frame)
                try:
                    written += c.sock.send(frame[off:])
                except BlockingIOError:
                    time.sleep(0.02)

            deadline = time.monotonic() + 2.0
            peak = base
            while time.monotonic() < deadline:
                send_some()
                peak = max(peak, dp.rss_kib())
            w1 = written
            for _ in range(20):
                send_some()
            assert peak - base < RSS_BOUND_KIB, (base, peak)
            assert written - w1 == 0, (w1, written)  # the client's writes are blocked: the proxy stopped reading
            assert written < 64 * 1024 * 1024, written
    finally:
        stall.close()


def test_idle_sessions_hold_no_buffers(dp_factory, backends):
    """Issue 2: an idle relayed session holds no read/write buffers. 1,000 sessions that exchanged one message
    each and went quiet cost the data plane a few hundred bytes each, far from the 2 × 32 KiB that buffers
    held per session would cost (the bench measures the exact figure)."""
    import asyncio

    n = 1000
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                [it.proxy("it/idle", "/idle", [backends.b2.endpoint()])]), workers=1)

    async def open_one(i: int):
        reader, writer = await asyncio.open_connection("127.0.0.1", dp.port)
        writer.write(it.ws_handshake_bytes(f"/idle/{i}"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        writer.write(it.ws_frame(0x1, b"hi"))
        assert await reader.readexactly(4) == bytes([0x81, 2]) + b"hi"
        return writer

    async def body():
        warm = [await open_one(i) for i in range(50)]  # warm up pools and allocator arenas
        base = dp.rss_kib()
        writers = []
        for start in range(0, n, 100):
            writers += await asyncio.gather(*[open_one(i) for i in range(start, start + 100)])
        await asyncio.sleep(0.3)
        grown = dp.rss_kib() - base
        assert len(dp.sessions()) == n + len(warm)
        for w in writers + warm:
            w.close()
        return grown

    grown_kib = it.run(body(), timeout=120)
    per_session = grown_kib * 1024 / n
    if not it.UNDER_ASAN:  # ASan's redzones and quarantine make the figure meaningless there
        assert per_session < 4096, f"{per_session:.0f} bytes of RSS per idle session (goal: <= 4 KiB)"
