"""The end of a relayed WebSocket session at the TCP level (dataplane/src/proxy/ws_tunnel.c, handshake_over): once
both close frames have been relayed and the backend — the server, which closes TCP first (RFC 6455 §7.1.1) — has
sent its FIN, the proxy closes both sockets at once instead of waiting for the client's FIN. What must hold, with
byte-level peers on real sockets: each peer reads the other's close frame, then a clean FIN (recv returns b"", no
ConnectionResetError), and the session is over before the client does anything more."""

from __future__ import annotations

import socket
import threading

import pytest

import tollgate_it as it


def _read_exact(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise ConnectionError(f"EOF after {len(out)} of {n} bytes")
        out += chunk
    return out


def _read_client_frame(s: socket.socket) -> tuple[int, bytes]:
    """One masked frame as a client (relayed by the proxy) sends it to the backend: (opcode, payload)."""
    b0, b1 = _read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(_read_exact(s, 2), "big")
    elif n == 127:
        n = int.from_bytes(_read_exact(s, 8), "big")
    assert b1 & 0x80, "a frame toward the backend must be masked"
    mask = _read_exact(s, 4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read_exact(s, n)))
    return b0 & 0x0F, payload


def _end_of_stream(s: socket.socket) -> str:
    """'fin' when the next recv returns b"" (a clean FIN), 'reset' on ECONNRESET, else what came."""
    s.settimeout(5 * it.SLOW)
    try:
        data = s.recv(4096)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"
    return "fin" if data == b"" else f"data {data!r}"


class _Backend:
    """A byte-level backend that plays its part of the close handshake as RFC 6455 asks of a server: answers the
    client's close frame (or starts the handshake itself), then closes TCP first (shutdown of its write side) and
    records how its connection ends."""

    def __init__(self, initiate: bool):
        self.initiate = initiate
        self.seen: dict = {}
        self.done = threading.Event()
        self.raw = it.RawWsBackend(after_upgrade=self._script)

    def _script(self, c: socket.socket) -> None:
        try:
            c.settimeout(5 * it.SLOW)
            if self.initiate:
                c.sendall(it.ws_frame(0x8, (1000).to_bytes(2, "big") + b"backend done", mask=False))
            self.seen["frame"] = _read_client_frame(c)
            if not self.initiate:
                c.sendall(it.ws_frame(0x8, self.seen["frame"][1][:2], mask=False))
            c.shutdown(socket.SHUT_WR)  # the server closes TCP first
            self.seen["end"] = _end_of_stream(c)
        finally:
            self.done.set()

    def close(self) -> None:
        self.raw.close()


@pytest.mark.parametrize("initiator", ["client", "backend"])
def test_close_handshake_ends_with_fin_both_ways(dp_factory, initiator):
    backend = _Backend(initiate=initiator == "backend")
    try:
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/teardown", "/teardown", [backend.raw.endpoint()])]))
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/teardown/ws"))
            assert c.read_response().status == 101
            if initiator == "client":
                c.send(it.ws_frame(0x8, (1000).to_bytes(2, "big") + b"bye"))
                assert c.read_frame() == (0x8, True, (1000).to_bytes(2, "big"))
            else:
                assert c.read_frame() == (0x8, True, (1000).to_bytes(2, "big") + b"backend done")
                c.send(it.ws_frame(0x8, (1000).to_bytes(2, "big")))
            # the client has not closed nor shut down anything: the proxy ends the session on its own
            assert not c.buf
            assert _end_of_stream(c.sock) == "fin"
            assert backend.done.wait(5 * it.SLOW)
            want = (0x8, (1000).to_bytes(2, "big") + (b"bye" if initiator == "client" else b""))
            assert backend.seen.get("frame") == want, backend.seen
            assert backend.seen.get("end") == "fin", backend.seen
            # closed at once, not after the 1 s linger for the client's FIN (the client still holds its socket)
            it.wait_until(lambda: not [s for s in dp.sessions() if s["proxy"] == "it/teardown"], 0.5 * it.SLOW,
                          what="the session ended without the client's FIN")
            m = dp.metrics()
            closed = {k: v for k, v in m.items() if k.startswith("tollgate_websocket_sessions_closed_total") and v}
            assert any(f'closed_by="{initiator}"' in k and 'close_code="1000"' in k for k in closed), closed
    finally:
        backend.close()
