"""Subprotocol and permessage-deflate negotiation end to end: the data plane forwards the client's offers and
relays the backend's 101 as is, so what the client ends up with is what the backend chose. The backend here is
the demo backend started with --subprotocols superchat,echo.v2 (it picks the first offered one it accepts)."""

from __future__ import annotations

import tollgate_it as it


def _sub_session(dp):
    return [s for s in dp.sessions() if s["proxy"] == "it/sub"]


def test_python_subprotocol_and_deflate(main_dp):
    text = "compress me please " * 5000  # ~95 KB, very compressible

    async def body():
        async with it.ws_connect(main_dp, "/sub/negotiate", compression="deflate",
                                 subprotocols=["echo.v1", "echo.v2", "superchat"]) as ws:
            assert ws.subprotocol == "echo.v2"  # the backend's choice, not the first offered
            assert ws.response_headers["Sec-WebSocket-Protocol"] == "echo.v2"
            assert [e.name for e in ws.extensions] == ["permessage-deflate"]
            assert ws.response_headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            assert ws.response_headers["X-Backend"] == "bsub"  # the backend's own 101, relayed as is
            for _ in range(3):
                await ws.send(text)
                assert await ws.recv() == text
            # the frames crossed the proxy compressed, untouched: far fewer bytes than the text
            live = _sub_session(main_dp)
            assert len(live) == 1, live
            assert live[0]["messages"] == {"clientToBackend": 3, "backendToClient": 3}
            assert 0 < live[0]["bytes"]["clientToBackend"] < len(text), live[0]

    it.run(body())


def test_python_no_extension_no_subprotocol(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/sub/plain", compression=None, subprotocols=["unknown.v9"]) as ws:
            assert ws.subprotocol is None
            assert ws.extensions == []
            assert "Sec-WebSocket-Extensions" not in ws.response_headers
            assert "Sec-WebSocket-Protocol" not in ws.response_headers
            await ws.send("x" * 2000)
            assert await ws.recv() == "x" * 2000

    it.run(body())


def test_node_subprotocol_and_deflate(main_dp):
    r = it.node_ws({"scenario": "echo", "url": main_dp.url("/sub/node", "127.0.0.1"), "host": it.MAIN_HOST,
                    "protocols": ["superchat", "echo.v2"], "perMessageDeflate": True, "bigBytes": 2 * 1024 * 1024,
                    "closeCode": 1000})
    assert r.get("ok"), r
    assert r["protocol"] == "superchat", r
    assert r["extensions"].startswith("permessage-deflate"), r
    assert r["upgradeHeaders"]["x-backend"] == "bsub", r
    assert r["closeCode"] == 1000, r
