"""WebSocket relay through the data plane with real clients (Python `websockets` 12, Node `ws`): text, binary,
fragmented and 16 MiB messages, ping/pong, and the closing handshake started by either side with the code the
other side sees. Frames pass byte for byte (DESIGN.md "Behaviour at the edges")."""

from __future__ import annotations

import os

import tollgate_it as it

BIG = 16 * 1024 * 1024


def test_python_echo_text_binary_fragmented(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/echo/ws") as ws:
            await ws.send("hello through tollgate")
            assert await ws.recv() == "hello through tollgate"
            payload = bytes(range(256)) * 4
            await ws.send(payload)
            assert await ws.recv() == payload
            # a fragmented message: three frames (one text frame, two continuations)
            await ws.send(["frag-1/", "frag-2/", "frag-3"])
            assert await ws.recv() == "frag-1/frag-2/frag-3"
            await ws.send([b"\x00\x01", b"\x02" * 70000, b"\x03"])
            assert await ws.recv() == b"\x00\x01" + b"\x02" * 70000 + b"\x03"
            # empty messages are messages too
            await ws.send("")
            assert await ws.recv() == ""

    it.run(body())


def test_python_echo_16mib_message(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/echo/big", compression=None) as ws:
            payload = os.urandom(BIG)
            await ws.send(payload)
            got = await ws.recv()
            assert len(got) == BIG and got == payload

    it.run(body(), timeout=120)


def test_python_ping_pong(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/echo/ping") as ws:
            for i in range(3):
                waiter = await ws.ping(f"ping-{i}".encode())
                latency = await waiter  # resolves when the matching pong arrives
                assert latency >= 0

    it.run(body())


def test_python_client_closes_backend_sees_code(main_dp, backends):
    """Client-initiated close: the backend receives the client's code, the client receives the backend's echo."""
    async def body():
        async with it.ws_connect(main_dp, "/py/client-close") as ws:
            await ws.send("one")
            assert await ws.recv() == "one"
            await ws.close(4001, "client says bye")
            assert ws.close_rcvd is not None and ws.close_rcvd.code == 4001

    it.run(body())
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on("/py/client-close") if x.ended], 5,
                      what="backend session end")[-1]
    assert s.close_code == 4001 and s.close_reason == "client says bye"


def test_python_backend_closes_client_sees_code(main_dp, backends):
    async def body():
        import websockets
        async with it.ws_connect(main_dp, "/py/backend-close") as ws:
            await ws.send("!close 4002 backend says bye")
            try:
                await ws.recv()
                raise AssertionError("expected the connection to close")
            except websockets.ConnectionClosed as e:
                assert e.rcvd is not None and e.rcvd.code == 4002 and e.rcvd.reason == "backend says bye"

    it.run(body())
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on("/py/backend-close") if x.ended], 5,
                      what="backend session end")[-1]
    assert s.close_code == 4002  # the client's answer to the close handshake reached the backend


def test_node_echo_suite(main_dp):
    r = it.node_ws({"scenario": "echo", "url": main_dp.url("/echo/node", "127.0.0.1"), "host": it.MAIN_HOST,
                    "bigBytes": BIG, "closeCode": 4003, "closeReason": "node says bye"}, timeout=120)
    assert r.get("ok"), r
    assert r["checks"] == {"text": True, "binary": True, "fragmented": True, "big": True, "pingPong": True}, r
    assert r["closeCode"] == 4003, r  # the demo backend echoes the client's close code


def test_node_backend_closes(main_dp):
    r = it.node_ws({"scenario": "server-close", "url": main_dp.url("/py/node-close", "127.0.0.1"),
                    "host": it.MAIN_HOST, "trigger": "!close 4004 from the backend"})
    assert r.get("ok"), r
    assert r["closeCode"] == 4004 and r["closeReason"] == "from the backend", r


def test_raw_frames_relayed_byte_for_byte(main_dp):
    """A raw client: masked frames go in, the backend's unmasked echo comes back exactly (RSV, opcode, FIN)."""
    with it.RawHttp(main_dp.port) as c:
        c.send(it.ws_handshake_bytes("/echo/raw"))
        r = c.read_response()
        assert r.status == 101, r
        c.send(it.ws_frame(0x1, b"abc", fin=False) + it.ws_frame(0x0, b"def", fin=True))
        expected = bytes([0x01, 3]) + b"abc" + bytes([0x80, 3]) + b"def"
        got = c._read_exact(len(expected))
        assert got == expected
        c.send(it.ws_frame(0x8, (1000).to_bytes(2, "big")))
        assert c._read_exact(4) == bytes([0x88, 2]) + (1000).to_bytes(2, "big")
        assert c.closed_by_peer(3)


def test_concurrent_sessions_with_large_messages(main_dp):
    """16 sessions at once, each echoing four 1 MiB messages: every byte comes back to its own session."""
    import asyncio

    async def one(n: int):
        async with it.ws_connect(main_dp, f"/rr/concurrent-{n}", compression=None) as ws:
            for i in range(4):
                payload = os.urandom(1024 * 1024)
                await ws.send(payload)
                assert await ws.recv() == payload, (n, i)

    async def body():
        await asyncio.gather(*[one(n) for n in range(16)])

    it.run(body(), timeout=120)
