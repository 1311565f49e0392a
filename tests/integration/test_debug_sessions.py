"""Debug sessions (issue 13 item 1, DESIGN.md "Debug and analytics"): a session started on the admin API records,
across 2 workers, exactly the transactions its filters match — plain requests with their policies, endpoint
and timings, and one 101 record per WebSocket session that is completed when the session ends (messages and
bytes each way, close code, who closed: the client with 1000, the backend, the proxy at the key's expiry).
Filters (proxy, path prefix, a header's value, client IP), the transaction cap, the duration, DELETE, a config
push in the middle; and no test key ever appears in a record or in the data plane's log."""

from __future__ import annotations

import asyncio
import http.client
import json
import secrets as _secrets
import time

import auth_helpers as ah
import tollgate_it as it

TAG = _secrets.token_hex(6)
KEY = f"dbg-{TAG}-key"
SOON_KEY = f"dbg-{TAG}-soon-key"
N, M = 3, 10  # messages each way, bytes per message payload


def snap(version: int, backends, soon_expires_ms: int = 0) -> dict:
    py = backends.pyws.endpoint()
    keys = [ah.api_key_entry(KEY, "apis/dbg", "dbg-app"),
            ah.api_key_entry(SOON_KEY, "apis/soon", "dbg-app", expires_at_ms=soon_expires_ms)]
    proxies = [
        ah.with_policies(it.proxy("it/dbg", "/dbg", [py], strip=False), ah.verify_api_key_policy(keys)),
        it.proxy("it/other", "/other", [backends.b1.endpoint()]),
    ]
    return ah.auth_snapshot(version, proxies)


def admin(dp, method: str, path: str, body: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", dp.admin_port, timeout=5 * it.SLOW)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def start(dp, **fields) -> str:
    body = {"environment": "prod", "proxy": "it/dbg", **fields}
    status, out = admin(dp, "POST", "/debug/sessions", body)
    assert status == 201, out
    return out["id"]


def get(dp, sid: str) -> dict:
    status, out = admin(dp, "GET", f"/debug/sessions/{sid}")
    assert status == 200, out
    return out


def http_get(dp, path: str, headers: dict | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", dp.port, timeout=5 * it.SLOW)
    try:
        conn.request("GET", path, headers={"Host": it.MAIN_HOST, **(headers or {})})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def ws_records(rec: dict) -> list[dict]:
    return [t for t in rec["transactions"] if t["status"] == 101]


def test_debug_session_records_http_and_websocket_lifecycle(dp_factory, backends):
    soon = int((time.time() + 3.0) * 1000)
    dp = dp_factory(snap(1, backends, soon), workers=2)
    sid = start(dp, maxTransactions=100)

    # plain requests: admitted (header key), refused (no key), and one to another proxy (not recorded)
    for i in range(4):  # new connections: spread over both workers
        assert http_get(dp, f"/dbg/plain{i}?apikey={KEY}&x=1", {"X-Api-Key": KEY}) in (101, 200, 400, 404, 426)
    assert http_get(dp, "/dbg/nokey") == 401
    assert http_get(dp, "/other/x") in (200, 404)

    async def scripted():
        # 1: closed by the client with 1000 after N messages of M bytes each way
        async with it.ws_connect(dp, f"/dbg/ws-client?apikey={KEY}") as ws:
            for i in range(N):
                await ws.send("c" * (M - 1) + str(i))
                assert await ws.recv() == "c" * (M - 1) + str(i)
            await ws.close(1000)
        # 2: closed by the backend
        async with it.ws_connect(dp, f"/dbg/ws-backend?apikey={KEY}") as ws:
            await ws.send("!close 4001 bye")
            await ah.wait_closed(ws, 5)
        # 3: closed by the proxy when the key expires
        async with it.ws_connect(dp, f"/dbg/ws-expiry?apikey={SOON_KEY}") as ws:
            return await ah.wait_closed(ws, 8)

    _, code, reason = it.run(scripted())
    assert (code, reason) == (1008, "token expired")

    # a config push in the middle: the session survives
    status, _ = dp.push(snap(2, backends, soon))
    assert status == 200

    def all_closed():
        r = get(dp, sid)
        ws = ws_records(r)
        return r if len(ws) == 3 and all(t.get("state") == "closed" for t in ws) else None

    rec = it.wait_until(all_closed, 5 * it.SLOW, what="three closed WebSocket records")
    txns = rec["transactions"]
    assert all(t["proxy"] == "it/dbg" for t in txns)
    paths = [t["request"]["path"] for t in txns]
    assert not any(p.startswith("/other") for p in paths)
    assert len([p for p in paths if p.startswith("/dbg/plain")]) == 4
    refused = [t for t in txns if t["request"]["path"] == "/dbg/nokey"]
    assert len(refused) == 1 and refused[0]["status"] == 401
    assert refused[0]["policies"][0]["name"] == "verifyApiKey"
    assert refused[0]["policies"][0]["result"] == "reject" and refused[0]["policies"][0]["reason"]
    assert refused[0]["endpoint"] is None

    by_path = {t["request"]["path"].split("?")[0]: t for t in ws_records(rec)}
    c = by_path["/dbg/ws-client"]
    assert c["policies"][0]["result"] == "continue" and isinstance(c["policies"][0]["micros"], int)
    assert c["endpoint"] == f"127.0.0.1:{backends.pyws.port}"
    assert "connectMillis" in c["timings"] and c["timings"]["totalMicros"] > 0
    w = c["websocket"]
    assert w["closedBy"] == "client" and w["closeCode"] == 1000
    assert w["messages"] == {"clientToBackend": N, "backendToClient": N}
    # the relay's own byte counters (struct tg_session, the same numbers /sessions shows): at least the payloads,
    # at most every frame whole with the close frames (client frames 2 + 4 + M, backend frames 2 + M)
    assert N * M - N <= w["bytes"]["clientToBackend"] <= N * (6 + M) + 8, w
    assert N * M - N <= w["bytes"]["backendToClient"] <= N * (2 + M) + 4, w
    assert w["durationMs"] >= 0
    b = by_path["/dbg/ws-backend"]["websocket"]
    assert b["closedBy"] == "backend" and b["closeCode"] == 4001
    assert b["messages"]["clientToBackend"] == 1
    e = by_path["/dbg/ws-expiry"]["websocket"]
    assert e["closedBy"] == "proxy" and e["closeCode"] == 1008

    # redaction: the keys appear nowhere in the records (query values and the X-Api-Key header are redacted)
    text = json.dumps(rec)
    assert KEY not in text and SOON_KEY not in text
    assert "[redacted]" in text
    status, listing = admin(dp, "GET", "/debug/sessions")
    assert status == 200 and listing["sessions"][0]["id"] == sid and listing["sessions"][0]["state"] == "recording"
    assert admin(dp, "DELETE", f"/debug/sessions/{sid}")[0] == 204
    assert admin(dp, "GET", f"/debug/sessions/{sid}")[0] == 404
    dp.stop()
    log = dp.proc.log()
    assert KEY not in log and SOON_KEY not in log


def test_debug_filters_cap_and_expiry(dp_factory, backends):
    dp = dp_factory(snap(1, backends), workers=2)
    by_header = start(dp, header={"name": "X-Debug", "value": "yes"})
    by_prefix = start(dp, pathPrefix="/dbg/pre")
    by_ip = start(dp, clientIp="10.9.9.9")
    capped = start(dp, maxTransactions=2)
    short = start(dp, durationSeconds=1)
    other = start(dp, proxy="it/other")

    http_get(dp, f"/dbg/a?apikey={KEY}", {"X-Debug": "yes"})
    http_get(dp, f"/dbg/b?apikey={KEY}", {"X-Debug": "no"})
    http_get(dp, f"/dbg/pre/c?apikey={KEY}")
    http_get(dp, f"/dbg/prefix?apikey={KEY}")
    http_get(dp, "/other/o")

    def paths(sid):
        return [t["request"]["path"].split("?")[0] for t in get(dp, sid)["transactions"]]

    assert paths(by_header) == ["/dbg/a"]
    assert paths(by_prefix) == ["/dbg/pre/c", "/dbg/prefix"]  # a prefix of the path as received
    assert paths(by_ip) == []
    assert paths(capped) == ["/dbg/a", "/dbg/b"]
    assert get(dp, capped)["state"] == "ended" and get(dp, capped)["endReason"] == "maxTransactions"
    assert paths(other) == ["/other/o"]
    assert len(paths(short)) == 4
    time.sleep(1.2)
    http_get(dp, f"/dbg/late?apikey={KEY}")
    s = get(dp, short)
    assert s["state"] == "ended" and s["endReason"] == "duration" and len(s["transactions"]) == 4

    # the limits of DESIGN.md / issue 13
    assert admin(dp, "POST", "/debug/sessions", {"proxy": "it/dbg", "durationSeconds": 901})[0] == 400
    assert admin(dp, "POST", "/debug/sessions", {"proxy": "it/dbg", "maxTransactions": 101})[0] == 400
    assert admin(dp, "POST", "/debug/sessions", {"environment": "prod"})[0] == 400
    sid = start(dp)
    d = get(dp, sid)
    assert d["durationSeconds"] == 600 and d["maxTransactions"] == 20


def test_no_credential_in_records_analytics_metrics_or_log(dp_factory, backends, run_dir):
    """One run with a debug session and analytics on, tokens and keys in every place a client can put them
    (Authorization, access_token query, X-Api-Key, Cookie, the WebSocket's query); then every output of the run
    — the debug records, the analytics file, /metrics and the log — is searched for each of them."""
    signer = ah.Key("P-256", kid=f"dbg-{TAG}")
    jwt = ah.make_jwt(signer, alg="ES256", exp_in=600)
    jwt_q = ah.make_jwt(signer, alg="ES256", exp_in=600)
    cookie = f"ck-{TAG}-cookie"
    secrets = {"header JWT": jwt, "query JWT": jwt_q, "API key": KEY, "cookie": cookie}
    py = backends.pyws.endpoint()
    s = ah.auth_snapshot(1, [
        ah.with_policies(it.proxy("it/dbg-jwt", "/dj", [py], strip=False),
                         ah.oauth_policy(jwks_doc={"keys": [signer.jwk()]})),
        ah.with_policies(it.proxy("it/dbg", "/dbg", [py], strip=False),
                         ah.verify_api_key_policy([ah.api_key_entry(KEY, "apis/dbg", "dbg-app")])),
    ])
    log = run_dir / f"analytics-redact-{TAG}.jsonl"
    dp = dp_factory(s, workers=2, args=["--analytics-log", str(log), "--log-level", "debug"])
    ids = [start(dp, proxy="it/dbg-jwt", maxTransactions=100), start(dp, proxy="it/dbg", maxTransactions=100)]
    # admitted requests reach the WebSocket-only backend, which answers 426: anything but the gateway's 401
    assert http_get(dp, "/dj/a", {"Authorization": f"Bearer {jwt}", "Cookie": f"sid={cookie}"}) != 401
    assert http_get(dp, f"/dj/b?access_token={jwt_q}&x=1") != 401
    assert http_get(dp, "/dj/c", {"Authorization": f"Bearer {jwt}x"}) == 401
    assert http_get(dp, "/dbg/d", {"X-Api-Key": KEY, "Cookie": f"sid={cookie}"}) != 401
    assert http_get(dp, "/dbg/e", {"X-Api-Key": KEY + "x"}) == 401

    async def ws():
        async with it.ws_connect(dp, f"/dj/ws?access_token={jwt_q}") as c:
            await c.send("x")
            await c.recv()
        async with it.ws_connect(dp, "/dbg/ws", extra_headers={"X-Api-Key": KEY}) as c:
            await c.send("y")
            await c.recv()

    it.run(ws())
    it.wait_until(lambda: sum(1 for r in records_of(log) if r["type"] == "websocket") == 2, 5 * it.SLOW,
                  what="2 WebSocket analytics records")
    it.wait_until(lambda: all(t.get("state") == "closed" for i in ids for t in ws_records(get(dp, i))), 5 * it.SLOW,
                  what="closed 101 records")
    outputs = {
        "debug records": json.dumps([get(dp, i) for i in ids]),
        "analytics": log.read_text(),
        "metrics": dp.admin("/metrics")[2].decode(),
    }
    assert len(json.loads(outputs["debug records"])[0]["transactions"]) == 4
    dp.stop()
    outputs["log"] = dp.proc.log()
    for where, text in outputs.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} in {where}"
    assert "[redacted]" in outputs["debug records"]


def records_of(path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []
