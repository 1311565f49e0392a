"""WebSocket relay corner cases at the byte level: bytes that arrive together with the handshake or the 101,
control frames inside a fragmented message, message-size limits at their exact boundary and for a frame header
that announces an absurd length, reserved opcodes, and a client that vanishes without a close frame."""

from __future__ import annotations

import asyncio

import pytest
import websockets

import tollgate_it as it


def _close_code(c: it.RawHttp) -> int:
    opcode, fin, payload = c.read_frame()
    assert (opcode, fin) == (0x8, True), (opcode, payload)
    return int.from_bytes(payload[:2], "big")


def test_client_frame_in_the_same_write_as_the_handshake(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.ws_handshake_bytes("/echo/eager") + it.ws_frame(0x1, b"too eager"))
        r = c.read_response()
        assert r.status == 101
        assert c._read_exact(11) == bytes([0x81, 9]) + b"too eager"


def test_backend_frame_in_the_same_write_as_the_101(dp_factory):
    greeting = bytes([0x81, 5]) + b"hello" + bytes([0x82, 3]) + b"\x01\x02\x03"
    backend = it.RawWsBackend(greeting=greeting)
    try:
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/greet", "/greet", [backend.endpoint()])]))
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/greet/ws"))
            assert c.read_response().status == 101
            assert c.read_frame() == (0x1, True, b"hello")
            assert c.read_frame() == (0x2, True, b"\x01\x02\x03")
    finally:
        backend.close()


def test_ping_inside_a_fragmented_message(main_dp):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.ws_handshake_bytes("/sessions-probe/interleaved"))
        assert c.read_response().status == 101
        c.send(it.ws_frame(0x1, b"part1-", fin=False) + it.ws_frame(0x9, b"ping!")
               + it.ws_frame(0x0, b"part2", fin=True))
        expected = bytes([0x01, 6]) + b"part1-" + bytes([0x8A, 5]) + b"ping!" + bytes([0x80, 5]) + b"part2"
        assert c._read_exact(len(expected)) == expected
        live = [s for s in main_dp.sessions() if s["proxy"] == "it/sessions"]
        assert len(live) == 1 and live[0]["messages"] == {"clientToBackend": 1, "backendToClient": 1}, live


def test_max_message_bytes_exact_boundary(main_dp, backends):
    async def body():
        async with it.ws_connect(main_dp, "/maxmsg/boundary", compression=None) as ws:
            await ws.send(b"x" * 1024)  # exactly maxMessageBytes: allowed
            assert await ws.recv() == b"x" * 1024
            await ws.send(b"y" * 1025)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await asyncio.wait_for(ws.recv(), 5 * it.SLOW)
            assert e.value.rcvd is not None and e.value.rcvd.code == 1009

    it.run(body())


def test_absurd_length_header_gets_1009_before_any_payload(main_dp, backends):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.ws_handshake_bytes("/maxmsg/absurd"))
        assert c.read_response().status == 101
        # a binary frame announcing 2^40 bytes, of which none follow
        c.send(bytes([0x82, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + b"\x00\x00\x00\x00")
        assert _close_code(c) == 1009
        assert c.closed_by_peer(3.0)  # we never answer the close: the proxy's linger deadline ends it
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on("/maxmsg/absurd") if x.ended], 5 * it.SLOW,
                      what="backend session end")[-1]
    assert s.close_code == 1009 and s.messages == []


def test_reserved_opcode_is_a_protocol_error(main_dp, backends):
    with it.RawHttp(main_dp.port) as c:
        c.send(it.ws_handshake_bytes("/py/reserved-opcode"))
        assert c.read_response().status == 101
        c.send(it.ws_frame(0x3, b"what is this"))
        assert _close_code(c) == 1002
        assert c.closed_by_peer(3.0)
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on("/py/reserved-opcode") if x.ended],
                      5 * it.SLOW, what="backend session end")[-1]
    assert s.close_code == 1002 and s.messages == []


def test_client_vanishing_without_close_frame_gives_backend_1001(main_dp, backends):
    c = it.RawHttp(main_dp.port)
    c.send(it.ws_handshake_bytes("/py/vanish"))
    assert c.read_response().status == 101
    c.send(it.ws_frame(0x1, b"last words"))
    assert c._read_exact(12) == bytes([0x81, 10]) + b"last words"
    c.close()  # FIN without a close frame
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on("/py/vanish") if x.ended], 5 * it.SLOW,
                      what="backend session end")[-1]
    assert s.close_code == 1001 and s.messages == ["last words"]


def test_close_handshake_with_silent_backend_ends_in_time(dp_factory):
    """The client closes; the backend never answers (it does not read): the proxy should still end the session
    within a bounded time, as it does for its own closes (HAProxy's `timeout client-fin`, websockets'
    close_timeout), rather than hold both sockets until the idle timeout."""
    backend = it.RawWsBackend()
    try:
        dp = dp_factory(it.snapshot(1, [it.group("it/g", [it.MAIN_HOST])],
                                    [it.proxy("it/mute", "/mute", [backend.endpoint()])]))
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/mute/ws"))
            assert c.read_response().status == 101
            c.send(it.ws_frame(0x8, (1000).to_bytes(2, "big")))
            assert c.closed_by_peer(3.0)
        it.wait_until(lambda: dp.sessions() == [], 5 * it.SLOW, what="session gone")
    finally:
        backend.close()


def test_http10_upgrade_is_refused(main_dp):
    data = it.ws_handshake_bytes("/echo/old").replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    with it.RawHttp(main_dp.port) as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 400 and r.json()["error"]["code"] == "websocket.bad_version"
