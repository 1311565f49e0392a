"""Credentials enforced for a WebSocket session's whole life (DESIGN.md "Behaviour at the edges"): the session
ends with close 1008 "token expired" to the client and 1001 to the backend within 1 s of the token's exp (or
the API key's expiresAt), and with 1008 "token revoked" within 1 s of a revocation reaching the data plane — a
jti or token digest added to the revocation list, an API key removed (its Secret deleted) or expired, an
introspected token turning inactive at its recheck. Exactly the sessions of that credential end; the others
stay open. Real clients (Python websockets), a real recording backend, snapshots pushed over the control socket.
"""

from __future__ import annotations

import asyncio
import time


import auth_helpers as ah
import tollgate_it as it

KEY = ah.Key("P-256", kid="ec-1")
DOC = {"keys": [KEY.jwk()]}


def snap(version: int, backends, *, revoked=(), keys=None, intro_url: str | None = None, recheck_ms: int = 2000):
    py = backends.pyws.endpoint()
    keys = keys if keys is not None else [ah.api_key_entry("key-one", "apis/one", "app-one"),
                                          ah.api_key_entry("key-two", "apis/two", "app-two")]
    proxies = [
        ah.with_policies(it.proxy("it/s-jwt", "/s-jwt", [py], strip=False),
                         ah.oauth_policy(jwks_doc=DOC, revoked=list(revoked))),
        ah.with_policies(it.proxy("it/s-key", "/s-key", [py], strip=False), ah.verify_api_key_policy(keys)),
    ]
    if intro_url:
        proxies.append(ah.with_policies(it.proxy("it/s-intro", "/s-intro", [py], strip=False), ah.oauth_policy(
            introspection=ah.introspection_cfg(intro_url, recheck_ms=recheck_ms))))
    return ah.auth_snapshot(version, proxies)


async def open_ws(dp, path: str, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await it.ws_connect(dp, path, extra_headers=headers)


async def still_open(ws, label: str) -> None:
    await ws.send(f"ping {label}")
    assert await asyncio.wait_for(ws.recv(), 3) == f"ping {label}"


def backend_close_code(backends, path: str) -> int | None:
    s = it.wait_until(lambda: [x for x in backends.pyws.sessions_on(path) if x.ended], 5 * it.SLOW,
                      what=f"backend session {path} to end")
    return s[0].close_code


def test_jwt_expiry_closes_session_1008_within_1s(dp_factory, backends):
    dp = dp_factory(snap(1, backends))
    exp = time.time() + 3.0
    tok = ah.make_jwt(KEY, alg="ES256", exp=exp)

    async def body():
        ws = await open_ws(dp, "/s-jwt/expiry", tok)
        opened = time.time()
        # the session works normally until exp
        while time.time() < exp - 0.6:
            await still_open(ws, "before exp")
            await asyncio.sleep(0.4)
        closed_at, code, reason = await ah.wait_closed(ws, 5)
        return opened, closed_at, code, reason

    opened, closed_at, code, reason = it.run(body())
    print(f"session open {closed_at - opened:.3f} s; closed {closed_at - exp:+.3f} s after exp")
    assert (code, reason) == (1008, "token expired")
    assert exp - 0.05 <= closed_at <= exp + 1.0, closed_at - exp
    assert backend_close_code(backends, "/s-jwt/expiry") == 1001


def test_api_key_expiry_closes_session(dp_factory, backends):
    expires = time.time() + 2.0
    keys = [ah.api_key_entry("key-soon", "apis/soon", "app", expires_at_ms=int(expires * 1000))]
    dp = dp_factory(snap(1, backends, keys=keys))

    async def body():
        async with it.ws_connect(dp, "/s-key/soon?apikey=key-soon") as ws:
            await still_open(ws, "key")
            return await ah.wait_closed(ws, 5)

    closed_at, code, reason = it.run(body())
    assert (code, reason) == (1008, "token expired")
    assert expires - 0.05 <= closed_at <= expires + 1.0
    assert backend_close_code(backends, "/s-key/soon?apikey=key-soon") == 1001


def test_revoked_jti_closes_exactly_its_sessions(dp_factory, backends):
    dp = dp_factory(snap(1, backends), workers=2)
    tok_a = ah.make_jwt(KEY, alg="ES256", jti="jti-A", exp_in=600)
    tok_b = ah.make_jwt(KEY, alg="ES256", jti="jti-B", exp_in=600)

    async def body():
        a = [await open_ws(dp, f"/s-jwt/rev-a{i}", tok_a) for i in range(4)]  # spread over both workers
        b = [await open_ws(dp, f"/s-jwt/rev-b{i}", tok_b) for i in range(4)]
        k = await it.ws_connect(dp, "/s-key/rev-k?apikey=key-one")
        for ws in a + b + [k]:
            await still_open(ws, "before")
        status, answer = await asyncio.get_running_loop().run_in_executor(
            None, dp.push, snap(2, backends, revoked=["jti-A"]))
        pushed = time.time()
        assert status == 200, answer
        results = await asyncio.gather(*(ah.wait_closed(ws, 3) for ws in a))
        for closed_at, code, reason in results:
            assert (code, reason) == (1008, "token revoked")
            assert closed_at - pushed <= 1.0
        await asyncio.sleep(1.0)
        for ws in b + [k]:
            await still_open(ws, "after")  # other tokens, other credentials: untouched
            await ws.close()

    it.run(body())
    for i in range(4):
        assert backend_close_code(backends, f"/s-jwt/rev-a{i}") == 1001


def test_revoked_token_digest_closes_sessions(dp_factory, backends):
    dp = dp_factory(snap(1, backends))
    tok = ah.make_jwt(KEY, alg="ES256", jti=None, exp_in=600)  # no jti: revoked by its SHA-256

    async def body():
        ws = await open_ws(dp, "/s-jwt/digest", tok)
        other = await open_ws(dp, "/s-jwt/digest-other", ah.make_jwt(KEY, alg="ES256", jti=None))
        await still_open(ws, "before")
        status, _ = await asyncio.get_running_loop().run_in_executor(
            None, dp.push, snap(2, backends, revoked=["sha256:" + ah.sha256_hex(tok)]))
        assert status == 200
        _, code, reason = await ah.wait_closed(ws, 2)
        assert (code, reason) == (1008, "token revoked")
        await still_open(other, "after")
        await other.close()

    it.run(body())


def test_removed_or_expired_api_key_closes_its_sessions(dp_factory, backends):
    dp = dp_factory(snap(1, backends))

    async def body():
        one = [await it.ws_connect(dp, f"/s-key/one{i}?apikey=key-one") for i in range(3)]
        two = await it.ws_connect(dp, "/s-key/two?apikey=key-two")
        for ws in one + [two]:
            await still_open(ws, "before")
        # the Secret of key-one is deleted: the next snapshot no longer has its digest
        status, _ = await asyncio.get_running_loop().run_in_executor(
            None, dp.push, snap(2, backends, keys=[ah.api_key_entry("key-two", "apis/two", "app-two")]))
        pushed = time.time()
        assert status == 200
        for closed_at, code, reason in await asyncio.gather(*(ah.wait_closed(ws, 3) for ws in one)):
            assert (code, reason) == (1008, "token revoked") and closed_at - pushed <= 1.0
        await still_open(two, "after")
        # an expiresAt moved into the past revokes too
        past = int((time.time() - 1) * 1000)
        status, _ = await asyncio.get_running_loop().run_in_executor(
            None, dp.push, snap(3, backends, keys=[ah.api_key_entry("key-two", "apis/two", "app-two", past)]))
        assert status == 200
        _, code, reason = await ah.wait_closed(two, 2)
        assert (code, reason) == (1008, "token revoked")

    it.run(body())


def test_introspection_flip_to_inactive_closes_within_recheck(dp_factory, backends):
    intro = ah.IntrospectionServer().start()
    try:
        recheck_ms = 2000
        dp = dp_factory(snap(1, backends, intro_url=intro.url("/introspect"), recheck_ms=recheck_ms))
        intro.set("live-1", {"active": True, "sub": "carol"})
        intro.set("live-2", {"active": True, "sub": "dave"})

        async def body():
            ws1 = await open_ws(dp, "/s-intro/one", "live-1")
            ws2 = await open_ws(dp, "/s-intro/two", "live-2")
            await asyncio.sleep(recheck_ms / 1000 * 1.6)  # at least one recheck answered "active"
            await still_open(ws1, "rechecked")
            assert intro.count("live-1") >= 2, intro.count("live-1")
            # an unreachable introspection endpoint during a recheck does not end the session
            intro.fail_status = 500
            await asyncio.sleep(recheck_ms / 1000 * 1.2)
            intro.fail_status = None
            await still_open(ws1, "despite a failed recheck")
            intro.set("live-1", {"active": False})
            flipped = time.time()
            closed_at, code, reason = await ah.wait_closed(ws1, recheck_ms / 1000 + 3)
            assert (code, reason) == (1008, "token revoked")
            assert closed_at - flipped <= recheck_ms / 1000 + 1.0, closed_at - flipped
            await still_open(ws2, "other token")
            await ws2.close()
            return closed_at - flipped

        took = it.run(body())
        print(f"inactive token's session closed {took:.3f} s after the flip (recheck {recheck_ms} ms)")
        assert backend_close_code(backends, "/s-intro/one") == 1001
    finally:
        intro.stop()
