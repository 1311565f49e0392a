"""The traffic policies end to end (docs/policy-traffic.md): quota (local counters shared by the workers),
spikeArrest, cors, accessControl and assignMessage — each one's success and refusal statuses and headers, with
plain HTTP and with WebSocket upgrades (Python `websockets`, Node `ws`), client addresses taken from real source
addresses (127.0.0.2, 127.0.0.3 bound by the client socket), and once through the controller in dir mode.
Distributed quotas against a real Redis are in test_policy_traffic_redis.py."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest
import websockets

import tollgate_it as it

HOUR_MS = 3600 * 1000
ORIGIN_OK = "https://app.example.com"
ORIGIN_SUB = "https://chat.example.org"
ORIGIN_BAD = "https://evil.example.net"


def clear_of_window_end(interval_s: float, margin_s: float = 5.0) -> None:
    """Sleeps past an epoch-aligned window boundary when one is within margin_s (a count must not straddle
    windows during a test)."""
    left = interval_s - (time.time() % interval_s)
    if left < margin_s:
        time.sleep(left + 0.05)


def request(dp, method: str, path: str, headers=(), source: str | None = None) -> it.Response:
    """One request on a fresh connection, optionally from a given loopback source address."""
    if source is None:
        with it.RawHttp(dp.port) as c:
            c.send(it.request_bytes(method, path, headers=headers))
            return c.read_response(method)
    s = socket.socket()
    s.settimeout(5 * it.SLOW)
    s.bind((source, 0))
    s.connect(("127.0.0.1", dp.port))
    c = it.RawHttp.__new__(it.RawHttp)
    c.sock, c.buf, c.eof = s, b"", False
    try:
        c.send(it.request_bytes(method, path, headers=headers))
        return c.read_response(method)
    finally:
        c.close()


def error_code(r: it.Response) -> str:
    return r.json()["error"]["code"]


def traffic_snapshot(b, version: int = 1) -> dict:
    e1 = b.b1.endpoint()
    p = it.proxy
    proxies = []

    def add(pid, base, policies, endpoints=None):
        px = p(pid, base, endpoints or [e1])
        px["policies"] = policies
        proxies.append(px)

    add("tr/quota", "/quota", [{"type": "quota", "limit": 3, "intervalMs": HOUR_MS, "identifier": "header:x-user"}])
    add("tr/spike", "/spike", [{"type": "spikeArrest", "rate": "10ps", "identifier": "header:x-client"}])
    add("tr/spike-pm", "/spike-pm", [{"type": "spikeArrest", "rate": "600pm", "identifier": "header:x-client"}])
    add("tr/cors", "/cors", [{"type": "cors", "allowOrigins": [ORIGIN_OK, "https://*.example.org"],
                              "allowMethods": ["GET", "POST", "PUT"], "allowHeaders": ["content-type", "x-trace"],
                              "exposeHeaders": ["x-backend"], "allowCredentials": True, "maxAge": 600}])
    add("tr/cors-quota", "/cors-quota",
        [{"type": "cors", "allowOrigins": ["*"]},
         {"type": "quota", "limit": 1, "intervalMs": HOUR_MS, "identifier": "header:x-user"}])
    add("tr/acl", "/acl", [{"type": "accessControl", "allow": ["127.0.0.2/32", "127.0.0.5/32", "::1/128"],
                            "deny": ["127.0.0.4/32"], "trustedProxies": ["127.0.0.3/32"]}])
    add("tr/acl-quota", "/acl-quota",
        [{"type": "accessControl", "allow": ["127.0.0.0/8"], "trustedProxies": ["127.0.0.3"]},
         {"type": "quota", "limit": 1, "intervalMs": HOUR_MS, "identifier": "client_ip"}])
    add("tr/assign", "/assign", [{"type": "assignMessage", "setRequestHeaders": {"x-env": "prod"},
                                  "removeRequestHeaders": ["x-api-key"],
                                  "setResponseHeaders": {"x-served-by": "tollgate"},
                                  "removeResponseHeaders": ["x-backend"]}])
    add("tr/assign-ws", "/assign-ws", [{"type": "assignMessage", "setRequestHeaders": {"x-env": "prod"},
                                        "removeRequestHeaders": ["x-api-key"]}], [b.pyws.endpoint()])
    px = proxies[-1]
    px["stripBasePath"] = False
    groups = [it.group("tr/main", [it.MAIN_HOST], ["prod"])]
    return it.snapshot(version, groups, proxies)


@pytest.fixture(scope="module")
def tdp(run_dir, backends):
    dp = it.Dataplane(run_dir, "dataplane-traffic", workers=2).start(traffic_snapshot(backends))
    yield dp
    dp.check_clean_exit()


# ---------------------------------------------------------------------------------------------- quota


def test_quota_http_counts_across_workers_and_answers_429(tdp):
    clear_of_window_end(3600)
    seen = []
    for i in range(3):  # fresh connections: the two workers share one count
        r = request(tdp, "GET", "/quota/x", [("X-User", "alice")])
        assert r.status == 200, r.body
        seen.append((r.header("X-RateLimit-Limit"), r.header("X-RateLimit-Remaining")))
        reset = int(r.header("X-RateLimit-Reset"))
        assert 0 < reset <= 3600
    assert seen == [("3", "2"), ("3", "1"), ("3", "0")]
    r = request(tdp, "GET", "/quota/x", [("X-User", "alice")])
    assert r.status == 429
    assert error_code(r) == "quota.exceeded"
    retry = int(r.header("Retry-After"))
    assert 1 <= retry <= 3600
    window_end = (int(time.time()) // 3600 + 1) * 3600
    assert abs(retry - (window_end - time.time())) <= 2  # seconds to the end of the epoch-aligned hour
    assert r.header("X-RateLimit-Limit") == "3" and r.header("X-RateLimit-Remaining") == "0"
    assert r.header("X-RateLimit-Reset") is not None
    # another identifier has its own count
    r = request(tdp, "GET", "/quota/x", [("X-User", "bob")])
    assert r.status == 200 and r.header("X-RateLimit-Remaining") == "2"


def test_quota_websocket_upgrades_count(tdp):
    clear_of_window_end(3600)

    async def body():
        for i in range(3):
            async with it.ws_connect(tdp, "/quota/ws", extra_headers={"X-User": "wsuser"}) as ws:
                await ws.send(f"hello {i}")
                assert await ws.recv() == f"hello {i}"
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with it.ws_connect(tdp, "/quota/ws", extra_headers={"X-User": "wsuser"}):
                pass
        assert e.value.status_code == 429
        assert e.value.headers["Retry-After"].isdigit()
        assert e.value.headers["X-RateLimit-Remaining"] == "0"

    it.run(body())
    # the Node ws client sees the same refusal (no header option in the shared runner: the identifier falls back
    # to the client address, whose count is still fresh — so the first three pass, then 429)
    statuses = []
    for _ in range(4):
        r = it.node_ws({"scenario": "handshake", "url": tdp.url("/quota/node", "127.0.0.1"), "host": it.MAIN_HOST})
        statuses.append(r.get("status", 101 if r.get("open") else r))
    assert statuses[:3] == [101, 101, 101], statuses
    assert statuses[3] == 429, statuses


def _b64(b: bytes) -> str:
    import base64
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _es256_key_and_jwks():
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    n = key.public_key().public_numbers()
    jwk = {"kty": "EC", "kid": "k1", "crv": "P-256", "x": _b64(n.x.to_bytes(32, "big")),
           "y": _b64(n.y.to_bytes(32, "big"))}
    return key, {"keys": [jwk]}


def _es256_token(key, claims: dict) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    head = _b64(json.dumps({"alg": "ES256", "kid": "k1", "typ": "JWT"}).encode())
    body = _b64(json.dumps(claims).encode())
    r, s = utils.decode_dss_signature(key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def test_quota_identifiers_from_auth_policies(dp_factory, backends):
    """apikey counts per app of the admitting key (verifyApiKey); claim:NAME per claim of the admitting token
    (oauthV2) — "jwt:NAME" spelled the controller's way arrives as claim:NAME."""
    import hashlib
    clear_of_window_end(3600)
    keys = {"k-one": ("it/key-one", "app-a"), "k-two": ("it/key-two", "app-a"), "k-three": ("it/key-three", "app-b")}
    vak = {"type": "verifyApiKey", "keyFrom": ["header:x-api-key"],
           "keys": [{"id": kid, "app": app, "sha256": hashlib.sha256(k.encode()).hexdigest(), "expiresAtMs": 0}
                    for k, (kid, app) in keys.items()]}
    key, jwks = _es256_key_and_jwks()
    oauth = {"type": "oauthV2", "tokenFrom": ["header:authorization"],
             "jwt": {"issuer": "https://idp.test", "audiences": [], "algorithms": ["ES256"], "jwks": jwks},
             "introspection": None, "requiredScopes": [], "revoked": []}
    limit1 = {"type": "quota", "limit": 2, "intervalMs": HOUR_MS}
    pk = it.proxy("tr/by-app", "/by-app", [backends.b1.endpoint()])
    pk["policies"] = [vak, dict(limit1, identifier="apikey")]
    pt = it.proxy("tr/by-tenant", "/by-tenant", [backends.b1.endpoint()])
    pt["policies"] = [oauth, dict(limit1, identifier="claim:tenant")]
    dp = dp_factory(it.snapshot(1, [it.group("tr/g", [it.MAIN_HOST])], [pk, pt]))

    # two keys of app-a share one count; app-b has its own
    assert request(dp, "GET", "/by-app/x", [("X-Api-Key", "k-one")]).status == 200
    assert request(dp, "GET", "/by-app/x", [("X-Api-Key", "k-two")]).status == 200
    r = request(dp, "GET", "/by-app/x", [("X-Api-Key", "k-one")])
    assert r.status == 429 and error_code(r) == "quota.exceeded"
    assert request(dp, "GET", "/by-app/x", [("X-Api-Key", "k-three")]).status == 200
    assert request(dp, "GET", "/by-app/x", [("X-Api-Key", "nope")]).status == 401  # auth first

    exp = int(time.time()) + 3600
    tok = lambda sub, tenant: _es256_token(key, {"iss": "https://idp.test", "sub": sub, "tenant": tenant,
                                                 "exp": exp})
    assert request(dp, "GET", "/by-tenant/x", [("Authorization", "Bearer " + tok("u1", "acme"))]).status == 200

    async def body():  # an upgrade counts under the same claim
        async with it.ws_connect(dp, "/by-tenant/ws",
                                 extra_headers={"Authorization": "Bearer " + tok("u2", "acme")}) as ws:
            await ws.send("t")
            assert await ws.recv() == "t"

    it.run(body())
    r = request(dp, "GET", "/by-tenant/x", [("Authorization", "Bearer " + tok("u3", "acme"))])
    assert r.status == 429, r.body
    assert request(dp, "GET", "/by-tenant/x", [("Authorization", "Bearer " + tok("u1", "globex"))]).status == 200


# ---------------------------------------------------------------------------------------------- spikeArrest


def test_spike_arrest_10ps_timing(tdp):
    with it.RawHttp(tdp.port) as c:
        req = it.request_bytes("GET", "/spike/x", headers=[("X-Client", "timing")])
        c.send(req + req)  # pipelined: the second is decided as soon as the first is answered, well inside 100 ms
        first = c.read_response()
        second = c.read_response()
        assert first.status == 200
        assert second.status == 429, second.body
        assert error_code(second) == "spike_arrest.exceeded"
        assert second.header("Retry-After") == "1"
        time.sleep(0.12)
        c.send(req)
        assert c.read_response().status == 200
    # 600pm is the same rate as 10ps (one per 100 ms), not a burst of ten
    with it.RawHttp(tdp.port) as c:
        req = it.request_bytes("GET", "/spike-pm/x", headers=[("X-Client", "pm")])
        c.send(req * 3)
        assert [c.read_response().status for _ in range(3)] == [200, 429, 429]
    # identifiers are separate
    assert request(tdp, "GET", "/spike/x", [("X-Client", "other")]).status == 200


def test_spike_arrest_websocket(tdp):
    async def body():
        async with it.ws_connect(tdp, "/spike/ws", extra_headers={"X-Client": "ws"}) as ws:
            with pytest.raises(websockets.InvalidStatusCode) as e:
                async with it.ws_connect(tdp, "/spike/ws", extra_headers={"X-Client": "ws"}):
                    pass
            assert e.value.status_code == 429
            assert e.value.headers["Retry-After"] == "1"
            await ws.send("still open")  # the admitted session is not affected
            assert await ws.recv() == "still open"
        await asyncio.sleep(0.12)
        async with it.ws_connect(tdp, "/spike/ws", extra_headers={"X-Client": "ws"}) as ws:
            await ws.send("again")
            assert await ws.recv() == "again"

    it.run(body())


# ---------------------------------------------------------------------------------------------- cors


def test_cors_preflight_answered_by_the_gateway(tdp):
    r = request(tdp, "OPTIONS", "/cors/items", [("Origin", ORIGIN_SUB), ("Access-Control-Request-Method", "PUT"),
                                                 ("Access-Control-Request-Headers", "content-type,x-trace")])
    assert r.status == 204, r.body
    assert r.header("Access-Control-Allow-Origin") == ORIGIN_SUB
    assert r.header("Access-Control-Allow-Methods") == "GET, POST, PUT"
    assert r.header("Access-Control-Allow-Headers") == "content-type, x-trace"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Max-Age") == "600"
    assert "Origin" in r.header("Vary")
    assert r.header("X-Backend") is None  # nothing reached the backend
    for headers, code in [
        ([("Origin", ORIGIN_BAD), ("Access-Control-Request-Method", "GET")], "cors.origin_not_allowed"),
        ([("Origin", "https://example.org"), ("Access-Control-Request-Method", "GET")], "cors.origin_not_allowed"),
        ([("Origin", ORIGIN_OK), ("Access-Control-Request-Method", "DELETE")], "cors.method_not_allowed"),
        ([("Origin", ORIGIN_OK), ("Access-Control-Request-Method", "GET"),
          ("Access-Control-Request-Headers", "authorization")], "cors.headers_not_allowed"),
    ]:
        r = request(tdp, "OPTIONS", "/cors/items", headers)
        assert r.status == 403, (headers, r.body)
        assert error_code(r) == code
        assert r.header("Access-Control-Allow-Origin") is None


def test_cors_actual_requests(tdp):
    r = request(tdp, "GET", "/cors/items", [("Origin", ORIGIN_OK)])
    assert r.status == 200
    assert r.header("X-Backend") == "b1"
    assert r.header("Access-Control-Allow-Origin") == ORIGIN_OK
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Expose-Headers") == "x-backend"
    assert r.header("Vary") == "Origin"
    # a disallowed origin gets the response without CORS fields (the browser keeps it from the page)
    r = request(tdp, "GET", "/cors/items", [("Origin", ORIGIN_BAD)])
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None
    # no Origin: not a browser, untouched
    r = request(tdp, "GET", "/cors/items")
    assert r.status == 200 and r.header("Access-Control-Allow-Origin") is None
    # OPTIONS without Access-Control-Request-Method is not a preflight: it goes to the backend
    r = request(tdp, "OPTIONS", "/cors/items", [("Origin", ORIGIN_OK)])
    assert r.header("X-Backend") == "b1"


def test_cors_websocket_origin_checked(tdp):
    async def body():
        # a browser-like upgrade from a disallowed Origin: 403, no session
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with it.ws_connect(tdp, "/cors/ws", origin=ORIGIN_BAD):
                pass
        assert e.value.status_code == 403
        async with it.ws_connect(tdp, "/cors/ws", origin=ORIGIN_SUB) as ws:
            await ws.send("from an allowed page")
            assert await ws.recv() == "from an allowed page"
        async with it.ws_connect(tdp, "/cors/ws") as ws:  # no Origin: a non-browser client
            await ws.send("cli")
            assert await ws.recv() == "cli"

    it.run(body())
    # the refusal's body is the JSON error of DESIGN.md
    with it.RawHttp(tdp.port) as c:
        c.send(it.ws_handshake_bytes("/cors/ws", extra=[("Origin", ORIGIN_BAD)]))
        r = c.read_response()
        assert r.status == 403 and error_code(r) == "cors.origin_not_allowed"
        assert c.closed_by_peer()


def test_cors_headers_on_a_quota_refusal(tdp):
    clear_of_window_end(3600)
    assert request(tdp, "GET", "/cors-quota/x", [("Origin", ORIGIN_BAD), ("X-User", "c")]).status == 200
    r = request(tdp, "GET", "/cors-quota/x", [("Origin", ORIGIN_BAD), ("X-User", "c")])
    assert r.status == 429
    assert r.header("Access-Control-Allow-Origin") == "*"  # the page can read why it was refused


# ---------------------------------------------------------------------------------------------- accessControl


def test_access_control_source_addresses(tdp):
    assert request(tdp, "GET", "/acl/x", source="127.0.0.2").status == 200
    r = request(tdp, "GET", "/acl/x", source="127.0.0.1")
    assert r.status == 403 and error_code(r) == "access.denied"
    r = request(tdp, "GET", "/acl/x", source="127.0.0.4")  # denied (and not allowed)
    assert r.status == 403


def test_access_control_x_forwarded_for(tdp):
    # from the trusted proxy 127.0.0.3: the right-most entry that is not a trusted proxy is the client
    assert request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "127.0.0.2")], source="127.0.0.3").status == 200
    assert request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "198.51.100.7, 127.0.0.2, 127.0.0.3")],
                   source="127.0.0.3").status == 200
    assert request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "127.0.0.2, 127.0.0.9")],
                   source="127.0.0.3").status == 403
    assert request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "127.0.0.4")], source="127.0.0.3").status == 403
    # the trusted proxy itself is not allowed: without XFF it is the client
    assert request(tdp, "GET", "/acl/x", source="127.0.0.3").status == 403
    # an untrusted peer cannot claim an allowed address
    assert request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "127.0.0.2")], source="127.0.0.1").status == 403
    # unreadable XFF from a trusted proxy: refused (fail closed)
    r = request(tdp, "GET", "/acl/x", [("X-Forwarded-For", "not-an-ip")], source="127.0.0.3")
    assert r.status == 403 and error_code(r) == "access.denied"


def test_access_control_websocket(tdp):
    async def body():
        async with it.ws_connect(tdp, "/acl/ws", local_addr=("127.0.0.2", 0)) as ws:
            await ws.send("allowed")
            assert await ws.recv() == "allowed"
        async with it.ws_connect(tdp, "/acl/ws", local_addr=("127.0.0.3", 0),
                                 extra_headers={"X-Forwarded-For": "127.0.0.5"}) as ws:
            await ws.send("via proxy")
            assert await ws.recv() == "via proxy"
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with it.ws_connect(tdp, "/acl/ws", local_addr=("127.0.0.1", 0)):
                pass
        assert e.value.status_code == 403

    it.run(body())


def test_access_control_derived_address_feeds_client_ip_quota(tdp):
    clear_of_window_end(3600)
    via = dict(source="127.0.0.3")
    assert request(tdp, "GET", "/acl-quota/x", [("X-Forwarded-For", "127.0.0.7")], **via).status == 200
    assert request(tdp, "GET", "/acl-quota/x", [("X-Forwarded-For", "127.0.0.7")], **via).status == 429
    assert request(tdp, "GET", "/acl-quota/x", [("X-Forwarded-For", "127.0.0.8")], **via).status == 200


# ---------------------------------------------------------------------------------------------- assignMessage


def test_assign_message_http(tdp):
    r = request(tdp, "GET", "/assign/x", [("X-Api-Key", "secret-key"), ("X-Env", "dev"), ("X-Env", "qa")])
    assert r.status == 200
    seen = r.json()["headers"]  # what the demo backend received
    assert seen.get("x-env") == "prod"
    assert "x-api-key" not in seen
    assert r.header("X-Served-By") == "tollgate"
    assert r.header("X-Backend") is None  # removed toward the client


def test_assign_message_websocket(tdp, backends):
    async def body():
        async with it.ws_connect(tdp, "/assign-ws/s1", extra_headers={"X-Api-Key": "k", "X-Env": "dev"}) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"

    it.run(body())
    s = backends.pyws.sessions_on("/assign-ws/s1")
    assert len(s) == 1
    headers = {k.lower(): v for k, v in s[0].request_headers.items()}
    assert headers.get("x-env") == "prod"
    assert "x-api-key" not in headers


def test_invalid_policies_refused_by_the_data_plane(tdp, backends):
    for bad in [{"type": "quota", "limit": 0, "intervalMs": 1000},
                {"type": "spikeArrest", "rate": "fast"},
                {"type": "cors", "allowOrigins": ["*"], "allowCredentials": True},
                {"type": "accessControl", "allow": ["10.0.0.1/8"]},
                {"type": "assignMessage", "setRequestHeaders": {"host": "evil"}},
                {"type": "assignMessage", "setResponseHeaders": {"x": "a\r\nSet-Cookie: s=1"}}]:
        snap = traffic_snapshot(backends, version=tdp.applied_version())
        snap["proxies"][0]["policies"] = [bad]
        status, body = tdp.push(snap)
        assert status == 400, (bad, body)
        assert any("policies[0]" in e for e in body["errors"]), body


# ---------------------------------------------------------------------------------------------- controller


MANIFESTS = """apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: g, namespace: tr}}
spec:
  hostnames: ["{host}"]
  environments: [prod]
---
apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: shop, namespace: tr}}
spec:
  environments: [prod]
  basePath: /shop
  target: {{url: "http://127.0.0.1:{port}"}}
  policies:
    - cors: {{allowOrigins: ["https://*.shop.example"], allowMethods: [GET]}}
    - accessControl: {{allow: ["127.0.0.0/8"], deny: ["127.0.0.4"]}}
    - spikeArrest: {{rate: 600pm, identifier: "jwt:sub"}}
    - quota: {{limit: 2, interval: 1h, identifier: "header:x-user"}}
    - assignMessage: {{setRequestHeaders: {{x-env: prod}}, setResponseHeaders: {{x-gw: tollgate}}}}
"""


def test_through_the_controller_in_dir_mode(dp_factory, backends, run_dir):
    manifests = Path(run_dir) / f"traffic-manifests-{time.monotonic_ns()}"
    manifests.mkdir()
    (manifests / "all.yaml").write_text(MANIFESTS.format(host=it.MAIN_HOST, port=backends.b1.port))
    dp = dp_factory(None)
    ctl = it.dir_controller("controller-traffic", manifests, dp.control_socket, Path(run_dir))
    try:
        it.wait_until(lambda: dp._admin_ok("/readyz"), 10 * it.SLOW, what="first snapshot from the controller")
        clear_of_window_end(3600)
        r = request(dp, "OPTIONS", "/shop/cart", [("Origin", "https://www.shop.example"),
                                                   ("Access-Control-Request-Method", "GET")])
        assert r.status == 204 and r.header("Access-Control-Allow-Origin") == "https://www.shop.example"
        r = request(dp, "GET", "/shop/cart", [("X-User", "u1"), ("Origin", "https://www.shop.example")])
        assert r.status == 200, r.body
        assert r.json()["headers"]["x-env"] == "prod"
        assert r.header("X-Gw") == "tollgate" and r.header("X-RateLimit-Remaining") == "1"
        assert r.header("Access-Control-Allow-Origin") == "https://www.shop.example"
        time.sleep(0.12)
        assert request(dp, "GET", "/shop/cart", [("X-User", "u1")]).status == 200
        time.sleep(0.12)
        r = request(dp, "GET", "/shop/cart", [("X-User", "u1")])
        assert r.status == 429 and error_code(r) == "quota.exceeded"
        assert request(dp, "GET", "/shop/cart", source="127.0.0.4").status == 403
        # the spike arrest (one per 100 ms for everybody without a token: the client address) holds too
        time.sleep(0.12)
        with it.RawHttp(dp.port) as c:
            req = it.request_bytes("GET", "/shop/cart", headers=[("X-User", "u2")])
            c.send(req + req)
            assert [c.read_response().status for _ in range(2)] == [200, 429]
    finally:
        ctl.stop()
