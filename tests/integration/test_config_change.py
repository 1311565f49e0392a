"""Configuration changes under load: 100 WebSocket sessions stream numbered messages while new snapshots add a
proxy, remove the proxy half of the sessions run through, and add a hostname — pushed straight to the control
socket, then the same through the controller in dir mode (files edited under it). No session may drop, lose or
reorder a message, and each new route must work as soon as the change is acknowledged (DESIGN.md "Controller →
data plane": a swap never disturbs established connections)."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from pathlib import Path

import websockets

import tollgate_it as it

SESSIONS = 100
INTERVAL = 0.03  # seconds between two messages of one session


def _status(dp, path: str, host: str = it.MAIN_HOST) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=10 * it.SLOW)
    try:
        conn.request("GET", path, headers={"Host": host})
        r = conn.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        conn.close()


def _all_status(dp, path: str, host: str = it.MAIN_HOST, n: int = 8) -> set[int]:
    """The statuses of n requests on n fresh connections (so that every worker answers some of them)."""
    return {_status(dp, path, host)[0] for _ in range(n)}


async def _stream(ws, sid: int, stop: asyncio.Event) -> dict:
    """Sends "sid:i" every INTERVAL until stop, then "sid:end"; checks every echo arrives, in order, once."""
    sent = received = 0
    problems: list[str] = []

    async def reader():
        nonlocal received
        while True:
            try:
                msg = await asyncio.wait_for(ws.recv(), 10 * it.SLOW)
            except (websockets.ConnectionClosed, asyncio.TimeoutError) as e:
                problems.append(f"session {sid}: {type(e).__name__} {e} after {received} echoes")
                return
            if msg == f"{sid}:end":
                return
            if msg != f"{sid}:{received}":
                problems.append(f"session {sid}: got {msg!r}, expected {sid}:{received}")
                return
            received += 1

    r = asyncio.ensure_future(reader())
    try:
        while not stop.is_set() and not r.done():
            await ws.send(f"{sid}:{sent}")
            sent += 1
            await asyncio.sleep(INTERVAL)
        await ws.send(f"{sid}:end")
    except websockets.ConnectionClosed as e:
        problems.append(f"session {sid}: send failed: {e}")
    await r
    if not problems:
        await ws.close(1000, "done")
        if ws.close_rcvd is None or ws.close_rcvd.code != 1000:
            problems.append(f"session {sid}: close answered with {ws.close_rcvd}")
    return {"sent": sent, "received": received, "problems": problems}


# The sessions of a scenario: half through the proxy that stays, half through the one that goes away.
SESSION_PATHS = [("/keep/s%d" if i % 2 else "/gone/s%d") % i for i in range(SESSIONS)]


async def _blocking(fn, *a):
    """fn(*a) in a thread, so that the sessions keep streaming meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *a)


async def _start_streams(dp) -> tuple[asyncio.Event, list]:
    """Opens the SESSION_PATHS sessions and starts streaming on each; returns the event that stops them and their
    tasks (each ends with _stream's result)."""
    wss = await asyncio.gather(*[it.ws_connect(dp, p, compression=None) for p in SESSION_PATHS])
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(_stream(ws, i, stop)) for i, ws in enumerate(wss)]
    await asyncio.sleep(0.5)
    return stop, tasks


def _check_streams(results: list[dict], min_messages: int) -> None:
    problems = [p for r in results for p in r["problems"]]
    assert not problems, problems[:10]
    assert all(r["sent"] == r["received"] for r in results)
    assert min(r["sent"] for r in results) >= min_messages, [r["sent"] for r in results]


def _snap(version: int, b, *, added: bool, gone: bool, new_host: bool) -> dict:
    hosts = [it.MAIN_HOST] + (["new.test"] if new_host else [])
    proxies = [it.proxy("it/keep", "/keep", [b.b1.endpoint(), b.b2.endpoint()])]
    if gone:
        proxies.append(it.proxy("it/gone", "/gone", [b.b1.endpoint()]))
    if added:
        proxies.append(it.proxy("it/added", "/added", [b.b2.endpoint()]))
    return it.snapshot(version, [it.group("it/g", hosts)], proxies)


def test_snapshot_pushes_under_load(dp_factory, backends):
    dp = dp_factory(_snap(1, backends, added=False, gone=True, new_host=False))

    async def scenario():
        stop, tasks = await _start_streams(dp)

        assert await _blocking(_all_status, dp, "/added/x") == {404}
        status, body = await _blocking(dp.push, _snap(2, backends, added=True, gone=True, new_host=False))
        assert (status, body) == (200, {"applied": 2})
        assert await _blocking(_all_status, dp, "/added/x") == {200}  # at once, on every worker
        await asyncio.sleep(0.5)

        status, body = await _blocking(dp.push, _snap(3, backends, added=True, gone=False, new_host=True))
        assert (status, body) == (200, {"applied": 3})
        assert await _blocking(_all_status, dp, "/gone/x") == {404}
        assert await _blocking(_all_status, dp, "/keep/x", "new.test") == {200}
        assert await _blocking(_all_status, dp, "/added/x", "NEW.test") == {200}
        async with it.ws_connect(dp, "/added/fresh", host="new.test") as fresh:
            await fresh.send("new route")
            assert await fresh.recv() == "new route"
        # the sessions opened through the removed proxy are still there, still relaying
        live = await _blocking(dp.sessions)
        assert sum(1 for s in live if s["proxy"] == "it/gone") == SESSIONS // 2
        await asyncio.sleep(0.5)

        # a swap back and forth once more, then the same version again (idempotent)
        snap4 = _snap(4, backends, added=False, gone=True, new_host=False)
        assert await _blocking(dp.push, snap4) == (200, {"applied": 4})
        assert await _blocking(dp.push, snap4) == (200, {"applied": 4})
        await asyncio.sleep(0.3)
        stop.set()
        return await asyncio.gather(*tasks)

    results = it.run(scenario(), timeout=90)
    _check_streams(results, min_messages=int(1.5 / INTERVAL / 3))
    it.wait_until(lambda: dp.sessions() == [], 5 * it.SLOW, what="all sessions closed")


# ---- the same through the controller in dir mode





def test_controller_dir_mode_changes_under_load(dp_factory, backends, run_dir):
    it.controller_binary_or_skip()
    manifests = Path(run_dir) / f"manifests-{time.monotonic_ns()}"
    manifests.mkdir()
    it.write_atomic(manifests / "group.yaml", it.group_manifest("it", [it.MAIN_HOST]))
    it.write_atomic(manifests / "keep.yaml", it.proxy_manifest("it", "keep", backends.b1.port))
    it.write_atomic(manifests / "gone.yaml", it.proxy_manifest("it", "gone", backends.b2.port))

    dp = dp_factory(None)
    ctl = it.dir_controller("controller", manifests, dp.control_socket, Path(run_dir))
    try:
        it.wait_until(lambda: dp._admin_ok("/readyz"), 10 * it.SLOW, what="first snapshot from the controller")

        def applied_after(v0: int) -> int:
            return it.wait_until(lambda: (lambda v: v if v > v0 else None)(dp.applied_version()), 3 * it.SLOW,
                                 interval=0.01, what=f"a snapshot newer than {v0}")

        async def scenario():
            stop, tasks = await _start_streams(dp)

            v = await _blocking(dp.applied_version)
            t0 = time.monotonic()
            await _blocking(it.write_atomic, manifests / "added.yaml", it.proxy_manifest("it", "added", backends.b2.port))
            v = await _blocking(applied_after, v)
            assert time.monotonic() - t0 < 1.0 + 0.5 * it.SLOW  # re-pushed within 1 s of the change
            assert await _blocking(_all_status, dp, "/added/x") == {200}
            await asyncio.sleep(0.5)

            (manifests / "gone.yaml").unlink()
            await _blocking(it.write_atomic, manifests / "group.yaml",
                           it.group_manifest("it", [it.MAIN_HOST, "new.test"]))
            # two changes may arrive as one push or two: wait until both are in force
            deadline = time.monotonic() + 3 * it.SLOW
            while time.monotonic() < deadline:
                if (await _blocking(_all_status, dp, "/gone/x", it.MAIN_HOST, 2) == {404}
                        and await _blocking(_all_status, dp, "/keep/x", "new.test", 2) == {200}):
                    break
                await asyncio.sleep(0.05)
            assert await _blocking(_all_status, dp, "/gone/x") == {404}
            assert await _blocking(_all_status, dp, "/added/x", "new.test") == {200}
            live = await _blocking(dp.sessions)
            assert sum(1 for s in live if s["proxy"] == "it/gone") == SESSIONS // 2
            await asyncio.sleep(0.5)
            stop.set()
            return await asyncio.gather(*tasks)

        results = it.run(scenario(), timeout=90)
        _check_streams(results, min_messages=int(1.0 / INTERVAL / 3))
    finally:
        rc = ctl.stop()
        report = ctl.sanitizer_report()
    assert report is None, report
    assert rc == 0, ctl.log_tail()


def test_in_flight_request_survives_removal_of_its_proxy(dp_factory, backends):
    import threading
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])], [
        it.proxy("it/slow", "/slow", [backends.b1.endpoint()], strip=False),
        it.proxy("it/echo", "/echo", [backends.b1.endpoint()]),
    ]))
    out: dict = {}

    def slow():
        out["status"], out["body"] = _status(dp, "/slow?ms=600")

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    assert dp.push(it.snapshot(2, [it.group("it/g", [it.MAIN_HOST])],
                               [it.proxy("it/echo", "/echo", [backends.b1.endpoint()])])) == (200, {"applied": 2})
    assert _all_status(dp, "/slow?ms=1") == {404}
    t.join(10)
    assert out.get("status") == 200 and out["body"]["path"] == "/slow"


def test_keepalive_connection_sees_new_routes_between_requests(dp_factory, backends):
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                [it.proxy("it/echo", "/echo", [backends.b1.endpoint()])]))
    conn = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=10 * it.SLOW)
    try:
        def get(path):
            conn.request("GET", path, headers={"Host": it.MAIN_HOST})
            r = conn.getresponse()
            r.read()
            return r.status

        assert get("/added/x") == 404
        sock = conn.sock
        assert dp.push(_snap(2, backends, added=True, gone=False, new_host=False)) == (200, {"applied": 2})
        assert get("/added/x") == 200
        assert get("/echo/x") == 404  # it/echo is not in the new snapshot
        assert conn.sock is sock  # the same connection all along
    finally:
        conn.close()
