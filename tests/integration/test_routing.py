"""Routing and endpoint choice (docs/control-protocol.md "Routing"): host → group (exact beats wildcard, longer
wildcard beats shorter, case and port ignored), longest base path on a segment boundary, and the load-balancing
policies across two demo backends told apart by --name (b1, b2)."""

from __future__ import annotations

import collections
import http.client
import json

import pytest

import tollgate_it as it


def _target(dp, path: str, host: str = it.MAIN_HOST) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=10 * it.SLOW)
    try:
        conn.request("GET", path, headers={"Host": host})
        r = conn.getresponse()
        body = r.read()
        return r.status, (json.loads(body) if body else {})
    finally:
        conn.close()


@pytest.mark.parametrize("host,prefix", [
    ("exact.wild.test", "/exact"),          # exact beats *.wild.test
    ("a.wild.test", "/wild"),
    ("a.b.wild.test", "/wild"),             # a wildcard covers several labels
    ("x.deep.wild.test", "/deep"),          # *.deep.wild.test beats *.wild.test
    ("deep.wild.test", "/wild"),            # *.deep.wild.test does not match deep.wild.test itself
    ("EXACT.Wild.TEST", "/exact"),          # case-insensitive
    ("exact.wild.test:8080", "/exact"),     # the port is not part of the name
    ("A.DEEP.wild.test:1", "/deep"),
])
def test_host_to_group(main_dp, host, prefix):
    status, echo = _target(main_dp, "/which/x", host)
    assert status == 200, echo
    assert echo["target"] == prefix + "/x"


def test_bare_wildcard_domain_has_no_group(main_dp):
    status, echo = _target(main_dp, "/which/x", "wild.test")
    assert status == 404 and echo["error"]["code"] == "routing.no_group"


def test_main_host_with_port_and_case(main_dp):
    for host in (f"MAIN.test:{main_dp.port}", "Main.Test"):
        status, echo = _target(main_dp, "/echo/hello", host)
        assert status == 200 and echo["target"] == "/hello"


@pytest.mark.parametrize("path,target", [
    ("/chat", "/via-chat"),
    ("/chat/x", "/via-chat/x"),
    ("/chatroom", "/via-chatroom"),          # /chat does not claim /chatroom: base paths end on a segment
    ("/chatroom/x?y=1", "/via-chatroom/x?y=1"),
    ("/chat/deep", "/via-chat-deep"),         # the longest base path wins
    ("/chat/deep/er", "/via-chat-deep/er"),
    ("/chat/deeper", "/via-chat/deeper"),
    ("/chat?deep", "/via-chat?deep"),
])
def test_longest_base_path_on_segment_boundary(main_dp, path, target):
    status, echo = _target(main_dp, path)
    assert status == 200, echo
    assert echo["target"] == target


def test_websocket_routing_uses_the_same_rules(main_dp):
    import websockets

    async def not_served():
        # exact.wild.test's group serves only /which: an upgrade to /chatroom there is a 404
        async with it.ws_connect(main_dp, "/chatroom/ws", host="EXACT.wild.test"):
            pass

    with pytest.raises(websockets.InvalidStatusCode) as e:
        it.run(not_served())
    assert e.value.status_code == 404

    async def routed():
        async with it.ws_connect(main_dp, "/which/ws", host="q.DEEP.wild.test") as ws:
            assert ws.response_headers["X-Backend"] == "b1"
            await ws.send("deep")
            assert await ws.recv() == "deep"

    it.run(routed())


def _backend_of(dp, path: str) -> str:
    status, echo = _target(dp, path)
    assert status == 200, echo
    return echo["backend"]


def test_round_robin_alternates(main_dp):
    names = [_backend_of(main_dp, f"/rr/{i}") for i in range(10)]
    assert collections.Counter(names) == {"b1": 5, "b2": 5}, names
    assert all(a != b for a, b in zip(names, names[1:])), names  # strictly alternating


def test_round_robin_for_websocket_sessions(main_dp):
    async def body():
        seen = []
        for _ in range(4):
            async with it.ws_connect(main_dp, "/rr/ws") as ws:
                seen.append(ws.response_headers["X-Backend"])
        return seen

    seen = it.run(body())
    assert sorted(seen) == ["b1", "b1", "b2", "b2"], seen


def test_least_connections_avoids_the_busy_backend(main_dp):
    async def body():
        async with it.ws_connect(main_dp, "/lc/ws") as busy:
            busy_name = busy.response_headers["X-Backend"]
            # the open session counts as an active connection of its backend: every request goes elsewhere
            names = [_backend_of(main_dp, f"/lc/{i}") for i in range(6)]
            assert set(names) == {"b2" if busy_name == "b1" else "b1"}, (busy_name, names)
            async with it.ws_connect(main_dp, "/lc/ws2") as second:
                assert second.response_headers["X-Backend"] != busy_name
                # one session each: ties are shared
                names = [_backend_of(main_dp, f"/lc/tie{i}") for i in range(6)]
                assert set(names) == {"b1", "b2"}, names

    it.run(body())


def test_random_uses_both_backends(main_dp):
    names = [_backend_of(main_dp, f"/random/{i}") for i in range(40)]
    counts = collections.Counter(names)
    assert set(counts) == {"b1", "b2"} and min(counts.values()) >= 5, counts
