"""Trusted proxies (issue 11 items 5 and 6; docs/security.md "Limits", docs/operations.md "Trusted proxies").

A data plane behind a load balancer at 127.0.0.2 (--trusted-proxies 127.0.0.2/32) and the same requests from an
untrusted peer (127.0.0.3), over real sockets, in front of RawBackend (records every byte it receives):

- quota, spikeArrest ("client_ip") and accessControl (IP rules, no trustedProxies of their own) see the client
  X-Forwarded-For names when the peer is trusted, and the peer otherwise — whatever header it sends; what the
  backend receives (X-Forwarded-For appended to, or replaced; Forwarded kept or dropped) is asserted byte for byte;
- --max-connections-per-ip counts the TCP peer at accept for untrusted peers, and for a trusted proxy the
  forwarded client per exchange / WebSocket session (the proxy itself is not capped by it: all its clients share
  its address), answering 429 limits.client_connections to a client over the cap.
"""

from __future__ import annotations

import socket
import time

import pytest

import raw_backend as rb
import tollgate_it as it

H = it.MAIN_HOST
LB = "127.0.0.2"        # the trusted load balancer
STRANGER = "127.0.0.3"  # an untrusted peer
HOUR_MS = 3600 * 1000


@pytest.fixture(scope="module")
def raw():
    b = rb.RawBackend("raw-trust").start()
    yield b
    b.stop()


def _snapshot(raw_b: rb.RawBackend) -> dict:
    e = raw_b.endpoint()
    proxies = []

    def add(pid, base, policies):
        px = it.proxy(pid, base, [e], strip=False)
        px["policies"] = policies
        proxies.append(px)

    add("tp/quota", "/quota", [{"type": "quota", "limit": 2, "intervalMs": HOUR_MS, "identifier": "client_ip"}])
    add("tp/spike", "/spike", [{"type": "spikeArrest", "rate": "1pm", "identifier": "client_ip"}])
    add("tp/acl", "/acl", [{"type": "accessControl", "allow": ["198.51.100.0/24"], "deny": ["198.51.100.66"]}])
    # an inner proxy (127.0.0.4, e.g. a CDN edge) the policy trusts, behind the gateway's trusted LB
    add("tp/acl-chain", "/acl-chain", [{"type": "accessControl", "allow": ["198.51.100.0/24"],
                                        "trustedProxies": ["127.0.0.4/32"]}])
    add("tp/open", "/open", [])
    return it.snapshot(1, [it.group("tp/g", [H], ["prod"])], proxies)


@pytest.fixture(scope="module")
def dp(run_dir, raw):
    d = it.Dataplane(run_dir, "dataplane-trusted", workers=2,
                     args=["--trusted-proxies", f"{LB}/32", "--max-connections-per-ip", "2"]).start(_snapshot(raw))
    yield d
    d.check_clean_exit()


def _connect(dp, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", dp.port), timeout=5 * it.SLOW, source_address=(source, 0))


def _request(dp, source: str, path: str, headers=()) -> it.Response:
    c = it.RawHttp.__new__(it.RawHttp)
    c.sock, c.buf, c.eof = _connect(dp, source), b"", False
    with c:
        c.send(it.request_bytes("GET", path, headers=headers))
        return c.read_response()


def _code(r: it.Response) -> str:
    return r.json()["error"]["code"]


def _xff(ip: str):
    return [("X-Forwarded-For", ip)]


def _last_request(raw_b: rb.RawBackend, target: str) -> rb.Request:
    raw_b.settle()
    reqs = [q for q in raw_b.requests() if q.target == target]
    assert len(reqs) == 1, [q.target for q in raw_b.requests()]
    return reqs[0]


# ---------------------------------------------------------------------------------------------- policies

def test_quota_counts_the_forwarded_client_behind_a_trusted_proxy(dp):
    for _ in range(2):
        assert _request(dp, LB, "/quota/a", _xff("198.51.100.1")).status == 200
    r = _request(dp, LB, "/quota/a", _xff("198.51.100.1"))
    assert r.status == 429 and _code(r) == "quota.exceeded"
    # another client behind the same proxy has its own count, and so has the proxy itself (no header)
    assert _request(dp, LB, "/quota/a", _xff("198.51.100.2")).status == 200
    assert _request(dp, LB, "/quota/a").status == 200


def test_quota_ignores_the_header_of_an_untrusted_peer(dp):
    for i in range(2):
        assert _request(dp, STRANGER, "/quota/b", _xff(f"198.51.100.{10 + i}")).status == 200
    # a new X-Forwarded-For each time does not buy a new count: the peer is the client
    r = _request(dp, STRANGER, "/quota/b", _xff("198.51.100.12"))
    assert r.status == 429 and _code(r) == "quota.exceeded"


def test_spike_arrest_per_forwarded_client(dp):
    assert _request(dp, LB, "/spike/a", _xff("198.51.100.20")).status == 200
    r = _request(dp, LB, "/spike/a", _xff("198.51.100.20"))
    assert r.status == 429 and _code(r) == "spike_arrest.exceeded" and r.header("retry-after")
    assert _request(dp, LB, "/spike/a", _xff("198.51.100.21")).status == 200
    # from an untrusted peer the header changes nothing
    assert _request(dp, STRANGER, "/spike/a", _xff("198.51.100.22")).status == 200
    assert _request(dp, STRANGER, "/spike/a", _xff("198.51.100.23")).status == 429


def test_access_control_uses_the_gateway_client_address(dp, raw):
    raw.reset()
    assert _request(dp, LB, "/acl/in", _xff("198.51.100.4")).status == 200
    assert _code(_request(dp, LB, "/acl/out", _xff("203.0.113.1"))) == "access.denied"
    assert _request(dp, LB, "/acl/out", _xff("198.51.100.66")).status == 403  # denied
    assert _request(dp, LB, "/acl/out").status == 403  # the proxy itself is not allowed
    # the right-most entry that is not a trusted proxy is the client: a spoofed left part is ignored
    assert _request(dp, LB, "/acl/out", _xff("198.51.100.4, 203.0.113.1")).status == 403
    assert _request(dp, LB, "/acl/in2", _xff("203.0.113.1, 198.51.100.4")).status == 200
    # an unreadable X-Forwarded-For from the trusted proxy: the proxy is the client (fail closed)
    assert _request(dp, LB, "/acl/out", _xff("not-an-address")).status == 403
    # an untrusted peer cannot claim an allowed address
    assert _request(dp, STRANGER, "/acl/out", _xff("198.51.100.4")).status == 403
    raw.settle()
    assert sorted(q.target for q in raw.requests()) == ["/acl/in", "/acl/in2"]


def test_access_control_chain_of_gateway_and_policy_proxies(dp):
    """client → 127.0.0.4 (trusted by the policy) → 127.0.0.2 (trusted by the gateway) → gateway."""
    assert _request(dp, LB, "/acl-chain/x", _xff("198.51.100.5, 127.0.0.4")).status == 200
    assert _request(dp, LB, "/acl-chain/x", _xff("203.0.113.5, 127.0.0.4")).status == 403
    # 127.0.0.4 is not the gateway's trusted proxy: from it directly, its X-Forwarded-For is still read by the
    # policy (its own trustedProxies), as before the gateway-wide flag existed
    assert _request(dp, "127.0.0.4", "/acl-chain/x", _xff("198.51.100.5")).status == 200
    assert _request(dp, STRANGER, "/acl-chain/x", _xff("198.51.100.5, 127.0.0.4")).status == 403


SPOOF = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "public.test"),
         ("Forwarded", "for=198.51.100.7;proto=https")]


def test_backend_receives_the_trusted_chain_byte_for_byte(dp, raw):
    raw.reset()
    assert _request(dp, LB, "/open/trusted", SPOOF).status == 200
    q = _last_request(raw, "/open/trusted")
    assert q.raw == (f"GET /open/trusted HTTP/1.1\r\nHost: {H}\r\nX-Forwarded-For: 198.51.100.7, {LB}\r\n"
                     "X-Forwarded-Proto: https\r\nX-Forwarded-Host: public.test\r\n"
                     "Forwarded: for=198.51.100.7;proto=https\r\n\r\n").encode(), q.raw


def test_backend_receives_replaced_fields_from_an_untrusted_peer(dp, raw):
    raw.reset()
    assert _request(dp, STRANGER, "/open/untrusted", SPOOF).status == 200
    q = _last_request(raw, "/open/untrusted")
    assert q.raw == (f"GET /open/untrusted HTTP/1.1\r\nHost: {H}\r\nX-Forwarded-For: {STRANGER}\r\n"
                     f"X-Forwarded-Proto: http\r\nX-Forwarded-Host: {H}\r\n\r\n").encode(), q.raw


def test_policy_answers_keep_the_chain_for_the_backend(dp, raw):
    """What an admitted request through quota carries: the trusted chain, appended, nothing else added."""
    raw.reset()
    assert _request(dp, LB, "/quota/chain", _xff("198.51.100.30")).status == 200
    q = _last_request(raw, "/quota/chain")
    assert q.raw == (f"GET /quota/chain HTTP/1.1\r\nHost: {H}\r\nX-Forwarded-For: 198.51.100.30, {LB}\r\n"
                     f"X-Forwarded-Proto: http\r\nX-Forwarded-Host: {H}\r\n\r\n").encode(), q.raw


# ---------------------------------------------------------------------------------------------- --max-connections-per-ip

def _ws_open(dp, source: str, client: str | None) -> tuple[socket.socket, bytes]:
    s = _connect(dp, source)
    extra = _xff(client) if client else []
    s.sendall(it.ws_handshake_bytes("/open/ws", extra=extra))
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head


def _wait_sessions(dp, n: int) -> None:
    it.wait_until(lambda: len(dp.sessions()) == n, 5 * it.SLOW, what=f"{n} sessions")


def test_trusted_proxy_is_not_capped_by_its_own_address(dp):
    """All clients behind the proxy share its address: the per-IP cap (2) must not cap the proxy's connections."""
    conns = [_connect(dp, LB) for _ in range(6)]
    try:
        time.sleep(0.2)
        for i, s in enumerate(conns):  # each still open and served, for six different clients
            s.sendall(it.request_bytes("GET", f"/open/lb{i}", headers=_xff(f"198.51.100.{40 + i}")))
        for s in conns:
            c = it.RawHttp.__new__(it.RawHttp)
            c.sock, c.buf, c.eof = s, b"", False
            assert c.read_response().status == 200
    finally:
        for s in conns:
            s.close()


def test_untrusted_peer_is_capped_at_accept_whatever_it_claims(dp):
    held = [_connect(dp, STRANGER) for _ in range(2)]
    try:
        time.sleep(0.2)
        s = _connect(dp, STRANGER)
        s.sendall(it.request_bytes("GET", "/open/over", headers=_xff("198.51.100.50")))
        try:
            assert s.recv(1) == b"", "the third connection of an untrusted peer is closed at once"
        except ConnectionResetError:
            pass
        s.close()
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert _request(dp, STRANGER, "/open/after").status == 200, "the slots came back"


def test_forwarded_client_capped_per_session_behind_a_trusted_proxy(dp):
    a1, h1 = _ws_open(dp, LB, "198.51.100.60")
    a2, h2 = _ws_open(dp, LB, "198.51.100.60")
    assert h1.startswith(b"HTTP/1.1 101") and h2.startswith(b"HTTP/1.1 101")
    _wait_sessions(dp, 2)
    assert {s["client"] for s in dp.sessions()} == {"198.51.100.60"}
    # a third session (or request) of the same client: 429, on whichever connection of the proxy
    a3, h3 = _ws_open(dp, LB, "198.51.100.60")
    assert h3.startswith(b"HTTP/1.1 429"), h3
    assert b"limits.client_connections" in h3 and b"Retry-After: 1\r\n" in h3
    a3.close()
    r = _request(dp, LB, "/open/busy", _xff("198.51.100.60"))
    assert r.status == 429 and _code(r) == "limits.client_connections"
    # other clients behind the same proxy are served, and so is the proxy's own request
    b1, hb = _ws_open(dp, LB, "198.51.100.61")
    assert hb.startswith(b"HTTP/1.1 101")
    assert _request(dp, LB, "/open/other", _xff("198.51.100.62")).status == 200
    # a session's end gives its client's slot back (released by the forwarded address it was taken for)
    a1.close()
    _wait_sessions(dp, 2)
    a4, h4 = _ws_open(dp, LB, "198.51.100.60")
    assert h4.startswith(b"HTTP/1.1 101"), h4
    for s in (a2, a4, b1):
        s.close()
    _wait_sessions(dp, 0)
    # all slots are back: the client opens two sessions again
    again = [_ws_open(dp, LB, "198.51.100.60") for _ in range(2)]
    assert all(h.startswith(b"HTTP/1.1 101") for _, h in again)
    for s, _ in again:
        s.close()
    _wait_sessions(dp, 0)


def test_forwarded_client_slot_lasts_one_exchange(dp):
    """Keep-alive requests of one client over one proxy connection: each exchange takes and gives back a slot;
    a request whose body is still arriving holds it."""
    c = it.RawHttp.__new__(it.RawHttp)
    c.sock, c.buf, c.eof = _connect(dp, LB), b"", False
    with c:
        for i in range(5):
            c.send(it.request_bytes("GET", f"/open/ka{i}", headers=_xff("198.51.100.70")))
            assert c.read_response().status == 200
    pending = []
    for _ in range(2):  # two requests of 198.51.100.71 whose bodies never finish
        s = _connect(dp, LB)
        s.sendall(it.request_bytes("POST", "/open/slow", headers=_xff("198.51.100.71") + [("Content-Length", "10")])
                  + b"12345")
        pending.append(s)
    time.sleep(0.3)
    r = _request(dp, LB, "/open/third", _xff("198.51.100.71"))
    assert r.status == 429 and _code(r) == "limits.client_connections"
    for s in pending:
        s.close()
    time.sleep(0.3)
    assert _request(dp, LB, "/open/fourth", _xff("198.51.100.71")).status == 200
