"""How relayed WebSocket sessions end, seen from both sides (DESIGN.md "Behaviour at the edges"): idle timeout
and max lifetime (1001 both ways), maxMessageBytes (1009, the oversized message never forwarded), backend lost
(1014 to the client), shutdown (1001 both ways, exit within --drain-timeout); and the admin API's view of live
sessions (/sessions) and counters (/metrics)."""

from __future__ import annotations

import asyncio
import http.client
import signal
import threading
import time

import websockets

import tollgate_it as it


async def _closed_with(ws, timeout: float) -> tuple[websockets.ConnectionClosed, float]:
    """Waits until the session closes; returns the exception (rcvd = the close frame received) and the time."""
    t0 = time.monotonic()
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed as e:
        return e, time.monotonic() - t0


def _ended(backend: it.PyWsBackend, path: str, n: int = 1) -> list[it.PySession]:
    return it.wait_until(lambda: (lambda s: s if len(s) >= n else None)(
        [x for x in backend.sessions_on(path) if x.ended]), 5 * it.SLOW, what=f"backend sessions on {path}")


# ---- timeouts


def test_idle_timeout_closes_1001_both_ways(main_dp, backends):
    async def body():
        async with it.ws_connect(main_dp, "/idle/one") as ws:
            # traffic every 300 ms keeps a 600 ms idle timeout from firing
            for i in range(5):
                if i:
                    await asyncio.sleep(0.3)
                await ws.send(f"keepalive {i}")
                assert await ws.recv() == f"keepalive {i}"
            e, elapsed = await _closed_with(ws, 5 * it.SLOW)
            assert e.rcvd is not None and e.rcvd.code == 1001 and e.rcvd.reason == "idle timeout", e
            assert 0.5 <= elapsed < 0.6 + 1.0 * it.SLOW, elapsed

    it.run(body())
    s = _ended(backends.pyws, "/idle/one")[-1]
    assert s.close_code == 1001 and s.close_reason == "idle timeout"
    assert len(s.messages) == 5


def test_max_lifetime_closes_1001_despite_traffic(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/lifetime/ws") as ws:
            t0 = time.monotonic()
            try:
                i = 0
                while time.monotonic() - t0 < 5 * it.SLOW:
                    await ws.send(f"m{i}")
                    assert await ws.recv() == f"m{i}"
                    i += 1
                    await asyncio.sleep(0.05)
                raise AssertionError("max lifetime did not end the session")
            except websockets.ConnectionClosed as e:
                elapsed = time.monotonic() - t0
                assert e.rcvd is not None and e.rcvd.code == 1001, e
                assert e.rcvd.reason == "max lifetime reached"
                assert 0.75 <= elapsed < 0.8 + 1.0 * it.SLOW, elapsed

    it.run(body())


# ---- maxMessageBytes


def test_max_message_bytes_client_to_backend(main_dp, backends):
    async def body():
        async with it.ws_connect(main_dp, "/maxmsg/c2b", compression=None) as ws:
            await ws.send("a" * 1000)
            assert await ws.recv() == "a" * 1000
            await ws.send(b"b" * 2000)
            e, _ = await _closed_with(ws, 5 * it.SLOW)
            assert e.rcvd is not None and e.rcvd.code == 1009, e

    it.run(body())
    s = _ended(backends.pyws, "/maxmsg/c2b")[-1]
    assert s.close_code == 1009
    assert s.messages == ["a" * 1000]  # the oversized message never reached the backend


def test_max_message_bytes_backend_to_client(main_dp, backends):
    async def body():
        async with it.ws_connect(main_dp, "/maxmsg/b2c", compression=None) as ws:
            await ws.send("!send-bytes 900")
            assert len(await ws.recv()) == 900
            await ws.send("!send-bytes 5000")
            try:
                while True:
                    msg = await ws.recv()
                    assert len(msg) != 5000, "the oversized message reached the client"
            except websockets.ConnectionClosed as e:
                assert e.rcvd is not None and e.rcvd.code == 1009, e

    it.run(body())
    assert _ended(backends.pyws, "/maxmsg/b2c")[-1].close_code == 1009


def test_max_message_bytes_counts_fragments(main_dp, backends):
    async def body():
        async with it.ws_connect(main_dp, "/maxmsg/frag", compression=None) as ws:
            await ws.send(["x" * 400, "y" * 400])  # 800 bytes in two frames: fine
            assert await ws.recv() == "x" * 400 + "y" * 400
            await ws.send(["x" * 600, "y" * 600])  # each frame is small, the message is not
            e, _ = await _closed_with(ws, 5 * it.SLOW)
            assert e.rcvd is not None and e.rcvd.code == 1009, e

    it.run(body())
    s = _ended(backends.pyws, "/maxmsg/frag")[-1]
    assert s.close_code == 1009 and s.messages == ["x" * 400 + "y" * 400]


# ---- backend lost, shutdown


def test_backend_killed_mid_session_gives_1014(dp_factory, demo_factory):
    backend = demo_factory("doomed")
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                [it.proxy("it/doomed", "/doomed", [backend.endpoint()])]))

    async def body():
        async with it.ws_connect(dp, "/doomed/ws") as ws, it.ws_connect(dp, "/doomed/ws2") as ws2:
            await ws.send("alive?")
            assert await ws.recv() == "alive?"
            backend.proc.kill()  # SIGKILL: no close frame, the kernel closes its sockets
            for w in (ws, ws2):
                e, elapsed = await _closed_with(w, 5 * it.SLOW)
                assert e.rcvd is not None and e.rcvd.code == 1014, e
                assert e.rcvd.reason == "backend connection lost"
                assert elapsed < 2 * it.SLOW

    it.run(body())
    it.wait_until(lambda: dp.sessions() == [], 5, what="sessions gone")


def _slow_get(dp, path: str, out: dict) -> None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=30)
        conn.request("GET", path, headers={"Host": it.MAIN_HOST})
        r = conn.getresponse()
        out["status"], out["body"] = r.status, r.read()
        conn.close()
    except Exception as e:  # noqa: BLE001 - reported by the test
        out["error"] = repr(e)


def _drain_snapshot(backends) -> dict:
    return it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])], [
        it.proxy("it/py", "/py", [backends.pyws.endpoint()], strip=False),
        it.proxy("it/slow", "/slow", [backends.b1.endpoint()], strip=False, timeout_ms=60000),
    ])


def test_sigterm_closes_sessions_1001_and_finishes_http(dp_factory, backends):
    dp = dp_factory(_drain_snapshot(backends), args=["--drain-timeout", "3s"])
    http_result: dict = {}

    async def body():
        sockets = [await it.ws_connect(dp, f"/py/drain-{i}").__aenter__() for i in range(5)]
        for i, ws in enumerate(sockets):
            await ws.send(f"before {i}")
            assert await ws.recv() == f"before {i}"
        t = threading.Thread(target=_slow_get, args=(dp, "/slow?ms=700", http_result))
        t.start()
        await asyncio.sleep(0.2)  # the request is in flight
        t0 = time.monotonic()
        dp.proc.signal(signal.SIGTERM)
        for ws in sockets:
            e, _ = await _closed_with(ws, 5 * it.SLOW)
            assert e.rcvd is not None and e.rcvd.code == 1001 and e.rcvd.reason == "server shutting down", e
        await asyncio.get_running_loop().run_in_executor(None, t.join, 10)
        rc = await asyncio.get_running_loop().run_in_executor(None, dp.proc.wait, 10 * it.SLOW)
        return rc, time.monotonic() - t0

    rc, elapsed = it.run(body())
    assert rc == 0, dp.proc.log_tail()
    assert elapsed < 3.0, elapsed  # nothing stubborn: well within the drain timeout
    assert http_result.get("status") == 200, http_result  # in-flight HTTP finished during the drain
    for i in range(5):
        assert _ended(backends.pyws, f"/py/drain-{i}")[-1].close_code == 1001
    assert not it.port_open(dp.port)


def test_sigterm_exits_within_drain_timeout_despite_stubborn_peers(dp_factory, backends):
    dp = dp_factory(_drain_snapshot(backends), args=["--drain-timeout", "2s"])
    http_result: dict = {}
    t = threading.Thread(target=_slow_get, args=(dp, "/slow?ms=20000", http_result), daemon=True)
    t.start()
    with it.RawHttp(dp.port) as raw:  # a WebSocket client that never answers the close handshake
        raw.send(it.ws_handshake_bytes("/py/stubborn"))
        assert raw.read_response().status == 101
        time.sleep(0.3)
        t0 = time.monotonic()
        dp.proc.signal(signal.SIGTERM)
        rc = dp.proc.wait(10 * it.SLOW)
        elapsed = time.monotonic() - t0
        assert rc == 0, dp.proc.log_tail()
        assert elapsed < 2.0 + 1.0 * it.SLOW, elapsed
        # the stubborn client got its 1001 all the same
        data = raw.buf + raw.sock.recv(4096)
        assert data[:1] == b"\x88" and int.from_bytes(data[2:4], "big") == 1001, data
    t.join(5)
    assert "status" not in http_result  # cut at the drain deadline, not answered


# ---- the admin API's view


def test_sessions_lists_live_sessions_with_counters(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/sessions-probe/a", compression=None) as a, \
                it.ws_connect(main_dp, "/sessions-probe/b", compression=None) as b:
            for i in range(3):
                await a.send(f"msg-{i}")
                assert await a.recv() == f"msg-{i}"
            await b.send(b"\x00" * 200)
            assert await b.recv() == b"\x00" * 200
            live = [s for s in main_dp.sessions() if s["proxy"] == "it/sessions"]
            assert len(live) == 2, live
            assert len({s["id"] for s in live}) == 2
            for s in live:
                assert s["environment"] == "prod" and s["client"] == "127.0.0.1"
                assert s["startedAt"].endswith("Z") and "T" in s["startedAt"]
            by_count = sorted(live, key=lambda s: s["messages"]["clientToBackend"])
            assert by_count[0]["messages"] == {"clientToBackend": 1, "backendToClient": 1}
            assert by_count[1]["messages"] == {"clientToBackend": 3, "backendToClient": 3}
            # bytes are frame bytes: client frames carry a 4-byte mask, the backend's do not
            assert by_count[0]["bytes"] == {"clientToBackend": 2 + 2 + 4 + 200, "backendToClient": 2 + 2 + 200}
            assert by_count[1]["bytes"] == {"clientToBackend": 3 * (2 + 4 + 5), "backendToClient": 3 * (2 + 5)}
            # idleMs: time since either side last sent; it grows while both are quiet and drops on traffic
            for s in live:
                assert isinstance(s["idleMs"], int) and 0 <= s["idleMs"] < 5000, s
            await asyncio.sleep(0.6)
            quiet = {s["id"]: s["idleMs"] for s in main_dp.sessions() if s["proxy"] == "it/sessions"}
            assert all(v >= 500 for v in quiet.values()), quiet
            await a.send("wake")
            assert await a.recv() == "wake"
            after = {s["id"]: s["idleMs"] for s in main_dp.sessions() if s["proxy"] == "it/sessions"}
            woke = by_count[1]["id"]
            assert after[woke] < 400, after
            assert after[by_count[0]["id"]] >= 500, after

    it.run(body())
    it.wait_until(lambda: not [s for s in main_dp.sessions() if s["proxy"] == "it/sessions"], 5,
                  what="closed sessions leaving /sessions")


def test_metrics_counters_move(main_dp):
    before = main_dp.metrics()

    async def body():
        async with it.ws_connect(main_dp, "/sessions-probe/metrics", compression=None) as ws:
            for i in range(2):
                await ws.send("x" * 10)
                assert await ws.recv() == "x" * 10
            during = main_dp.metrics()
            assert during["tollgate_websocket_sessions_active"] == before["tollgate_websocket_sessions_active"] + 1

    it.run(body())
    conn = http.client.HTTPConnection("127.0.0.1", main_dp.port, timeout=10)
    for path, host in (("/echo/m", it.MAIN_HOST), ("/echo/m", "nowhere.test")):
        conn.request("GET", path, headers={"Host": host})
        conn.getresponse().read()
    conn.close()

    def moved():
        after = main_dp.metrics()
        return after if after["tollgate_websocket_sessions_active"] == before[
            "tollgate_websocket_sessions_active"] else None

    after = it.wait_until(moved, 5, what="session to end")

    def delta(key):
        return after.get(key, 0) - before.get(key, 0)

    assert delta("tollgate_websocket_sessions_total") == 1
    assert delta('tollgate_websocket_messages_total{direction="client_to_backend"}') == 2
    assert delta('tollgate_websocket_messages_total{direction="backend_to_client"}') == 2
    # two data frames and one close frame each way (the close payload is the 2-byte code)
    assert delta('tollgate_websocket_bytes_total{direction="client_to_backend"}') == 2 * 16 + 8
    assert delta('tollgate_websocket_bytes_total{direction="backend_to_client"}') == 2 * 12 + 4
    assert delta('tollgate_requests_total{environment="prod",proxy="it/sessions",code="1xx"}') == 1
    assert delta('tollgate_requests_total{environment="prod",proxy="it/echo",code="2xx"}') == 1
    assert delta('tollgate_requests_total{environment="",proxy="",code="4xx"}') == 1
    assert delta("tollgate_connections_accepted_total") == 2
    assert after["tollgate_snapshot_version"] == 1
    assert after["tollgate_snapshot_applied_timestamp_seconds"] > 1.7e9
