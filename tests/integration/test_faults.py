"""Fault injection (issue 11 item 10; docs/testing.md "Fault injection, soak, valgrind"): the data plane killed
with SIGKILL under load comes back and the controller re-pushes to it; the controller killed with SIGKILL leaves
the data plane serving (sessions and new requests) until it returns; a backend that resets its connection in the
middle of a message gives the client 1014; a backend that accepts but never answers the upgrade gives 504.
(Redis gone — quota fails open or closed as configured — is test_policy_traffic_redis.py::
test_redis_down_fail_open_and_closed_then_back; etcd and API-server restarts are tests/kube/test_kube_faults.py.)"""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
import websockets

import tollgate_it as it




class _Stack:
    """A data plane started with fixed ports and control socket (so it can be restarted as the same endpoint) and
    a controller in dir mode pushing to it."""

    def __init__(self, run_dir: Path, backend_port: int):
        self.run_dir = run_dir
        self.manifests = run_dir / f"faults-{time.monotonic_ns()}"
        self.manifests.mkdir()
        it.write_atomic(self.manifests / "group.yaml", it.group_manifest("faults", [it.MAIN_HOST]))
        it.write_atomic(self.manifests / "echo.yaml", it.proxy_manifest("faults", "echo", backend_port))
        self.dp = it.Dataplane(run_dir, "dataplane-faults", workers=2)
        self.dp.port, self.dp.admin_port = it.free_port(), it.free_port()
        self.dp.control_socket = str(run_dir / f"faults-{self.dp.port}.sock")
        self.ctl: it.Proc | None = None

    def start_dataplane(self) -> None:
        vg = it.VALGRIND + [f"--log-file={self.run_dir}/faults-{self.dp.port}-%p.valgrind"] if it.UNDER_VALGRIND else []
        argv = [*vg, it.binary("tollgate-dataplane"), "--listen", f"127.0.0.1:{self.dp.port}", "--admin",
                f"127.0.0.1:{self.dp.admin_port}", "--control-socket", self.dp.control_socket, "--workers", "2"]
        self.dp.proc = it.Proc("dataplane-faults", argv, self.run_dir)
        it.wait_until(lambda: self.dp._admin_ok("/healthz"), 10 * it.SLOW, what="data plane /healthz")

    def start_controller(self) -> None:
        self.ctl = it.dir_controller("controller-faults", self.manifests, self.dp.control_socket, self.run_dir)

    def ready(self, timeout: float = 15.0) -> None:
        it.wait_until(lambda: self.dp._admin_ok("/readyz"), timeout * it.SLOW, what="a snapshot from the controller")

    def stop(self) -> None:
        if self.ctl:
            self.ctl.stop()
        if self.dp.proc and self.dp.proc.alive():
            self.dp.check_clean_exit()  # exit 0, no sanitizer report (and under valgrind: no memcheck error)


def _get(dp, path: str = "/echo/x") -> int:
    try:
        with it.RawHttp(dp.port, timeout=5 * it.SLOW) as c:
            c.send(it.request_bytes("GET", path))
            return c.read_response().status
    except OSError:
        return 0


async def _stream(dp, sid: int, seconds: float) -> tuple[int, int]:
    """Streams numbered messages for `seconds`; returns (sent, echoed in order)."""
    async with it.ws_connect(dp, f"/echo/s{sid}") as ws:
        sent = got = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            await ws.send(f"{sid}:{sent}")
            sent += 1
            assert await asyncio.wait_for(ws.recv(), 5 * it.SLOW) == f"{sid}:{got}"
            got += 1
            await asyncio.sleep(0.02)
        return sent, got


@pytest.fixture
def stack(run_dir, backends):
    it.controller_binary_or_skip()
    s = _Stack(Path(run_dir), backends.b1.port)
    yield s
    s.stop()


def test_dataplane_sigkill_under_load_controller_repushes(stack):
    stack.start_dataplane()
    stack.start_controller()
    stack.ready()
    v_before = stack.dp.applied_version()
    results: list[int] = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            results.append(_get(stack.dp))

    t = threading.Thread(target=load, daemon=True)
    t.start()
    time.sleep(0.5)
    stack.dp.proc.signal(signal.SIGKILL)
    stack.dp.proc.wait(10)
    stack.start_dataplane()  # the same ports and control socket, no snapshot: only the controller can fill it
    stack.ready()  # the controller saw the new bootId (or the refused connection) and pushed again
    assert stack.dp.applied_version() >= 1
    time.sleep(0.5)
    stop.set()
    t.join(10)
    assert _get(stack.dp) == 200
    assert 200 in results and results[-1] == 200, results[-20:]
    sent, got = it.run(_stream(stack.dp, 1, 0.5))
    assert sent == got
    print(f"data plane killed under load: {len(results)} requests, {results.count(200)} answered 200, "
          f"version {v_before} -> {stack.dp.applied_version()}")
    assert stack.ctl.alive()


def test_controller_sigkill_leaves_the_dataplane_serving(stack):
    stack.start_dataplane()
    stack.start_controller()
    stack.ready()

    async def scenario():
        streams = [asyncio.ensure_future(_stream(stack.dp, i, 3.0)) for i in range(20)]
        await asyncio.sleep(0.5)
        stack.ctl.signal(signal.SIGKILL)
        await asyncio.sleep(0.5)
        statuses = [await asyncio.to_thread(_get, stack.dp) for _ in range(20)]
        return await asyncio.gather(*streams), statuses

    streams, statuses = it.run(scenario())
    assert all(sent == got and sent > 0 for sent, got in streams), streams
    assert set(statuses) == {200}, statuses
    assert stack.dp._admin_ok("/readyz")
    # the controller comes back: it pushes again and a change made meanwhile applies
    it.write_atomic(stack.manifests / "more.yaml", it.proxy_manifest("faults", "more", _backend_port(stack)))
    stack.start_controller()
    it.wait_until(lambda: _get(stack.dp, "/more/x") == 200, 15 * it.SLOW, what="the change made while it was down")


def _backend_port(stack) -> int:
    text = (stack.manifests / "echo.yaml").read_text()
    return int(text.split("127.0.0.1:")[1].split()[0])


# ---- misbehaving backends

def _faulty_backend(mode: str) -> it.RawWsBackend:
    """mode "reset": answers the upgrade, sends the first fragment of a message (FIN clear), then resets
    (SO_LINGER 0); mode "reset-mid-frame": the same after half of a frame; mode "silent": reads the upgrade
    request and never answers."""
    if mode == "silent":
        return it.RawWsBackend(answer=False)

    def misbehave(c: socket.socket) -> None:
        time.sleep(0.2)
        if mode == "reset":
            c.sendall(bytes([0x01, 5]) + b"hello")  # a message's first fragment: the message is unfinished
        else:
            c.sendall(bytes([0x82, 100]) + b"x" * 50)  # half a frame
        time.sleep(0.2)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()  # RST

    return it.RawWsBackend(after_upgrade=misbehave)


def _session_end(dp_factory, backend: it.RawWsBackend):
    """A data plane relaying /reset to backend, one client session waiting until it ends: (the close frame the
    client received, or None when its connection was dropped; the data plane)."""
    dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                [it.proxy("it/reset", "/reset", [it.endpoint(backend.port)])]))

    async def body():
        async with it.ws_connect(dp, "/reset/x") as ws:
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 5 * it.SLOW)
            return e.value.rcvd

    return it.run(body()), dp


def test_backend_reset_mid_message_gives_1014(dp_factory):
    b = _faulty_backend("reset")
    try:
        rcvd, _ = _session_end(dp_factory, b)
        assert (rcvd.code if rcvd else None) == 1014
    finally:
        b.close()


def test_backend_reset_mid_frame_drops_the_client(dp_factory):
    """In the middle of a frame no close frame can be sent without corrupting the stream (RFC 6455 §5.4 allows
    control frames between fragments, never inside a frame): the client's connection is closed (1006)."""
    b = _faulty_backend("reset-mid-frame")
    try:
        rcvd, dp = _session_end(dp_factory, b)
        assert rcvd is None  # dropped, not a forged close
        it.wait_until(lambda: len(dp.sessions()) == 0, 5 * it.SLOW, what="the session ended")
    finally:
        b.close()


def test_backend_never_answering_the_upgrade_gives_504(dp_factory):
    b = _faulty_backend("silent")
    try:
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/silent", "/silent", [it.endpoint(b.port)], timeout_ms=500)]))
        t0 = time.monotonic()
        with it.RawHttp(dp.port, timeout=10 * it.SLOW) as c:
            c.send(it.ws_handshake_bytes("/silent/x"))
            r = c.read_response()
        assert r.status == 504, (r.status, r.body)
        assert time.monotonic() - t0 < 3 * it.SLOW
    finally:
        b.close()
