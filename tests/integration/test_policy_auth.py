"""Authentication policies at the handshake (docs/policy-auth.md, DESIGN.md "Behaviour at the edges"): every
success and failure status of verifyApiKey and oauthV2 — JWTs of every algorithm, alg confusion, expiry, issuer,
audience, scopes, revocation, tokens from the Authorization header, the query and the Sec-WebSocket-Protocol
bearer convention, keys fetched from a jwksUrl (and rotated), RFC 7662 introspection (active, inactive, cached,
server failing or gone) — with real WebSocket and HTTP clients against the real data plane and real peers.
A refused request must never reach the backend."""

from __future__ import annotations

import json
import time

import pytest
import websockets

import auth_helpers as ah
import tollgate_it as it

API_KEY = "k-3f9a1c7e5b2d4086"
OTHER_KEY = "k-other-0000"
EXPIRED_KEY = "k-expired-1111"

RSA = ah.Key("RSA", kid="rsa-1")
EC = ah.Key("P-256", kid="ec-1")
EC384 = ah.Key("P-384", kid="ec384-1")
EC521 = ah.Key("P-521", kid="ec521-1")
ED = ah.Key("Ed25519", kid="ed-1")
STRANGER = ah.Key("RSA", kid="rsa-1")  # same kid, other key: its signatures must fail
REVOKED_JTI = "jti-revoked-1"
REVOKED_OPAQUE = "opaque-revoked-by-digest"
ALL_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


def _policies(intro_url: str, jwks_url: str):
    keys = [ah.api_key_entry(API_KEY, "apis/key-1", "chat-client"),
            ah.api_key_entry(OTHER_KEY, "apis/key-2", "other-app"),
            ah.api_key_entry(EXPIRED_KEY, "apis/key-3", "old-app", expires_at_ms=int((time.time() - 60) * 1000))]
    doc = {"keys": [k.jwk() for k in (RSA, EC, EC384, EC521, ED)]}
    return {
        "apikey": ah.verify_api_key_policy(keys),
        "jwt": ah.oauth_policy(jwks_doc=doc, algorithms=ALL_ALGS, revoked=[REVOKED_JTI],
                               token_from=["header:authorization", "query:access_token", "subprotocol:bearer"]),
        "jwt-rs": ah.oauth_policy(jwks_doc=doc),  # default algorithms RS256, ES256
        "scoped": ah.oauth_policy(jwks_doc=doc, scopes=["chat:connect", "chat:read"]),
        "noaud": ah.oauth_policy(jwks_doc=doc, audiences=()),
        "intro": ah.oauth_policy(introspection=ah.introspection_cfg(intro_url), scopes=["chat:connect"],
                                 revoked=["sha256:" + ah.sha256_hex(REVOKED_OPAQUE)]),
        "both": ah.oauth_policy(jwks_doc=doc, introspection=ah.introspection_cfg(intro_url)),
        "jwksurl": ah.oauth_policy(jwks_url=jwks_url),
        "badjwksurl": ah.oauth_policy(jwks_url="http://127.0.0.1:9/jwks.json"),
        "deadintro": ah.oauth_policy(introspection=ah.introspection_cfg("http://127.0.0.1:9/introspect")),
    }


@pytest.fixture(scope="module")
def peers():
    intro = ah.IntrospectionServer().start()
    jw = ah.JwksServer({"keys": [RSA.jwk()]}).start()
    yield intro, jw
    intro.stop()
    jw.stop()


@pytest.fixture(scope="module")
def auth_dp(run_dir, backends, peers):
    intro, jw = peers
    pol = _policies(intro.url("/introspect"), jw.url("/jwks.json"))
    e1, py = backends.b1.endpoint(), backends.pyws.endpoint()
    proxies = []
    for name, policy in pol.items():
        proxies.append(ah.with_policies(it.proxy(f"it/auth-{name}", f"/{name}", [e1]), policy))
        # the same policy in front of the recording Python backend (path kept: the backend sees it)
        proxies.append(ah.with_policies(it.proxy(f"it/auth-{name}-py", f"/py-{name}", [py], strip=False), policy))
    dp = it.Dataplane(run_dir, "dataplane-auth", workers=2).start(ah.auth_snapshot(1, proxies))
    yield dp
    dp.check_clean_exit()


def http_get(dp, path: str, headers=()):
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", path, headers=list(headers)))
        return c.read_response()


def ws_upgrade(dp, path: str, headers=()):
    """A raw WebSocket handshake; returns the response (101 or the refusal)."""
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes(path, extra=list(headers)))
        return c.read_response()


def assert_error(resp, status: int, code: str):
    assert resp.status == status, (resp.status, resp.body)
    body = resp.json()
    assert body["error"]["status"] == status and body["error"]["code"] == code, body
    assert resp.header("content-type", ).startswith("application/json")


def bearer(token: str):
    return [("Authorization", f"Bearer {token}")]


def no_backend_session(backends, path: str):
    assert not backends.pyws.sessions_on(path), f"a refused request reached the backend: {path}"


# ---------------------------------------------------------------------------------------------- verifyApiKey

def test_api_key_missing_is_401(auth_dp, backends):
    assert_error(http_get(auth_dp, "/apikey/x"), 401, "auth.missing_api_key")
    assert_error(ws_upgrade(auth_dp, "/py-apikey/missing"), 401, "auth.missing_api_key")
    assert_error(ws_upgrade(auth_dp, "/py-apikey/missing?apikey="), 401, "auth.missing_api_key")
    no_backend_session(backends, "/py-apikey/missing")


def test_api_key_unknown_or_expired_is_401(auth_dp, backends):
    assert_error(ws_upgrade(auth_dp, "/py-apikey/unknown?apikey=nope"), 401, "auth.invalid_api_key")
    assert_error(ws_upgrade(auth_dp, f"/py-apikey/unknown?apikey={API_KEY}x"), 401, "auth.invalid_api_key")
    r = ws_upgrade(auth_dp, f"/py-apikey/expired?apikey={EXPIRED_KEY}")
    assert_error(r, 401, "auth.invalid_api_key")
    assert "expired" in r.json()["error"]["message"]
    assert_error(ws_upgrade(auth_dp, "/py-apikey/unknown", [("X-Api-Key", "nope")]), 401, "auth.invalid_api_key")
    assert_error(ws_upgrade(auth_dp, "/py-apikey/unknown?apikey=%zz"), 401, "auth.invalid_api_key")
    for p in ("/py-apikey/unknown", "/py-apikey/expired"):
        no_backend_session(backends, p)


def test_api_key_valid_query_header_and_plain_http(auth_dp):
    async def body():
        async with it.ws_connect(auth_dp, f"/apikey/ws?apikey={API_KEY}") as ws:
            await ws.send("hello with a key")
            assert await ws.recv() == "hello with a key"
        async with it.ws_connect(auth_dp, "/apikey/ws", extra_headers={"X-Api-Key": OTHER_KEY}) as ws:
            await ws.send("header key")
            assert await ws.recv() == "header key"
        # percent-encoded query keys are decoded before hashing
        async with it.ws_connect(auth_dp, "/apikey/ws?apikey=" + "".join(f"%{b:02x}" for b in API_KEY.encode())):
            pass

    it.run(body())
    r = http_get(auth_dp, f"/apikey/plain?apikey={API_KEY}")
    assert r.status == 200, r.body


# ---------------------------------------------------------------------------------------------- oauthV2: JWT

def test_token_missing_is_401_with_bearer_challenge(auth_dp, backends):
    r = ws_upgrade(auth_dp, "/py-jwt/missing")
    assert_error(r, 401, "auth.missing_token")
    assert r.header("www-authenticate") == 'Bearer realm="tollgate"'
    r = http_get(auth_dp, "/jwt/x", [("Authorization", "Basic dXNlcjpwdw==")])  # not a bearer token
    assert_error(r, 401, "auth.missing_token")
    no_backend_session(backends, "/py-jwt/missing")


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_jwt_every_algorithm_admitted(auth_dp, alg):
    key = {"RS": RSA, "PS": RSA, "ES": {"256": EC, "384": EC384, "512": EC521}.get(alg[-3:]), "Ed": ED}[alg[:2]]
    tok = ah.make_jwt(key, alg=alg)

    async def body():
        async with it.ws_connect(auth_dp, "/jwt/ws", extra_headers=bearer(tok)) as ws:
            await ws.send(alg)
            assert await ws.recv() == alg

    it.run(body())


def test_jwt_invalid_tokens_are_401(auth_dp, backends):
    good = ah.make_jwt(RSA)
    head, payload, sig = good.split(".")
    cases = {
        "bad-signature": ah.make_jwt(STRANGER),
        "tampered-claims": f"{head}.{ah.make_jwt(RSA, sub='mallory').split('.')[1]}.{sig}",
        "alg-none": ah.make_jwt(None, alg="none", header={"kid": "rsa-1"}) + "AA",
        "hs256-with-public-key": ah.make_jwt(RSA, alg="HS256", hmac_secret=json.dumps(RSA.jwk()).encode()),
        "wrong-issuer": ah.make_jwt(RSA, iss="https://evil.test"),
        "wrong-audience": ah.make_jwt(RSA, aud="someone-else"),
        "aud-array-without-us": ah.make_jwt(RSA, aud=["a", "b"]),
        "no-exp": ah.make_jwt(RSA, exp_in=None),
        "nbf-future": ah.make_jwt(RSA, nbf=int(time.time()) + 600),
        "iat-future": ah.make_jwt(RSA, iat=int(time.time()) + 600),
        "unknown-kid": ah.make_jwt(RSA, header={"kid": "who"}),
        "not-a-jwt": "opaque-token-value",
        "garbage": "a.b.c",
        "duplicate-claims": ah.make_jwt(RSA, raw_claims=(
            b'{"iss":"%s","aud":"%s","exp":1,"exp":%d}' % (ah.ISSUER.encode(), ah.AUDIENCE.encode(),
                                                          int(time.time()) + 600))),
        "crit-header": ah.make_jwt(RSA, header={"crit": ["x"], "x": 1}),
    }
    for name, tok in cases.items():
        r = ws_upgrade(auth_dp, f"/py-jwt/{name}", bearer(tok))
        assert_error(r, 401, "auth.invalid_token")
        assert r.header("www-authenticate").startswith('Bearer realm="tollgate", error="invalid_token"'), name
        assert tok not in r.raw_head.decode() and tok not in r.body.decode(), "the token must not be echoed"
        no_backend_session(backends, f"/py-jwt/{name}")
    # RS256/ES256 only on /jwt-rs: an EdDSA token is refused there even though its key is known
    assert_error(ws_upgrade(auth_dp, "/jwt-rs/x", bearer(ah.make_jwt(ED, alg="EdDSA"))), 401, "auth.invalid_token")
    # aud in an array that contains us is fine; without configured audiences aud is not checked
    assert ws_upgrade(auth_dp, "/jwt/x", bearer(ah.make_jwt(RSA, aud=["x", ah.AUDIENCE]))).status == 101
    assert ws_upgrade(auth_dp, "/noaud/x", bearer(ah.make_jwt(RSA, aud="anyone"))).status == 101
    # nbf/iat within the 60 s skew are accepted
    assert ws_upgrade(auth_dp, "/jwt/x", bearer(ah.make_jwt(RSA, nbf=int(time.time()) + 30))).status == 101


def test_jwt_expired_is_401_token_expired(auth_dp):
    r = ws_upgrade(auth_dp, "/py-jwt/expired", bearer(ah.make_jwt(EC, alg="ES256", exp_in=-5)))
    assert_error(r, 401, "auth.token_expired")
    assert 'error="invalid_token"' in r.header("www-authenticate")


def test_jwt_revoked_jti_is_401(auth_dp):
    r = ws_upgrade(auth_dp, "/py-jwt/revoked", bearer(ah.make_jwt(RSA, jti=REVOKED_JTI)))
    assert_error(r, 401, "auth.token_revoked")


def test_scopes(auth_dp, backends):
    ok = [ah.make_jwt(RSA, scope="openid chat:read chat:connect"),
          ah.make_jwt(RSA, scp=["chat:connect", "chat:read"]),
          ah.make_jwt(RSA, scp="chat:read chat:connect")]
    for tok in ok:
        assert ws_upgrade(auth_dp, "/scoped/x", bearer(tok)).status == 101
    for tok in (ah.make_jwt(RSA, scope="chat:read"), ah.make_jwt(RSA), ah.make_jwt(RSA, scope="chat:connectx chat:read")):
        r = ws_upgrade(auth_dp, "/scoped/x", bearer(tok))
        assert_error(r, 403, "auth.insufficient_scope")
        assert r.header("www-authenticate") == ('Bearer realm="tollgate", error="insufficient_scope", '
                                               'scope="chat:connect chat:read"')


def test_token_from_query_and_subprotocol(auth_dp, backends):
    tok = ah.make_jwt(EC, alg="ES256")

    async def body():
        async with it.ws_connect(auth_dp, f"/py-jwt/query?access_token={tok}") as ws:
            await ws.send("q")
            assert await ws.recv() == "q"
        # browsers: "bearer" marker, the token as the next entry, the real protocol after
        async with it.ws_connect(auth_dp, "/py-jwt/subproto-marker", subprotocols=["bearer", tok, "chat.v1"]) as ws:
            await ws.send("s")
            assert await ws.recv() == "s"
        async with it.ws_connect(auth_dp, "/py-jwt/subproto-dot", subprotocols=[f"bearer.{tok}"]) as ws:
            await ws.send("d")
            assert await ws.recv() == "d"

    it.run(body())
    s = backends.pyws.sessions_on("/py-jwt/subproto-marker")[0]
    hdrs = {k.lower(): v for k, v in s.request_headers.items()}
    assert hdrs.get("sec-websocket-protocol") == "chat.v1", hdrs
    assert all(tok not in v for v in s.request_headers.values()), "the token must not reach the backend"
    s = backends.pyws.sessions_on("/py-jwt/subproto-dot")[0]
    assert "sec-websocket-protocol" not in {k.lower() for k in s.request_headers}, s.request_headers
    # a marker without a token after it is unusable
    r = ws_upgrade(auth_dp, "/py-jwt/subproto-broken", [("Sec-WebSocket-Protocol", "chat, bearer")])
    assert_error(r, 401, "auth.invalid_token")


# ---------------------------------------------------------------------------------------------- jwksUrl

def test_jwks_url_fetch_rotation_and_outage(auth_dp, peers):
    intro, jw = peers
    tok = ah.make_jwt(RSA)
    assert ws_upgrade(auth_dp, "/jwksurl/a", bearer(tok)).status == 101
    assert jw.fetches >= 1
    # rotation: the IdP publishes a new key; a token with its kid triggers a refetch and is accepted
    new = ah.Key("P-256", kid="rotated-1")
    jw.doc = {"keys": [RSA.jwk(), new.jwk()]}
    before = jw.fetches
    assert ws_upgrade(auth_dp, "/jwksurl/b", bearer(ah.make_jwt(new, alg="ES256"))).status == 101
    assert jw.fetches > before
    # a kid nobody publishes: refused, and the refetch is rate-limited (not one fetch per request)
    stranger = ah.Key("P-256", kid="nobody")
    mid = jw.fetches
    for _ in range(5):
        assert_error(ws_upgrade(auth_dp, "/jwksurl/c", bearer(ah.make_jwt(stranger, alg="ES256"))), 401,
                     "auth.invalid_token")
    assert jw.fetches - mid <= 2  # at most one refresh per worker within 30 s
    # a JWKS endpoint nobody answers: no keys at all → 503
    assert_error(ws_upgrade(auth_dp, "/badjwksurl/x", bearer(tok)), 503, "auth.jwks_unavailable")


# ---------------------------------------------------------------------------------------------- introspection

def test_introspection_active_inactive_and_request_shape(auth_dp, peers, backends):
    intro, _ = peers
    intro.set("opaque-good", {"active": True, "scope": "chat:connect", "sub": "bob", "exp": int(time.time()) + 600})
    intro.set("opaque-noscope", {"active": True, "scope": "other"})
    intro.set("opaque-off", {"active": False})

    async def body():
        async with it.ws_connect(auth_dp, "/intro/ws", extra_headers=bearer("opaque-good")) as ws:
            await ws.send("opaque")
            assert await ws.recv() == "opaque"

    it.run(body())
    req = [r for r in intro.requests if r["form"].get("token") == ["opaque-good"]][0]
    assert req["form"]["token_type_hint"] == ["access_token"]
    assert req["content_type"] == "application/x-www-form-urlencoded"
    assert_error(ws_upgrade(auth_dp, "/py-intro/off", bearer("opaque-off")), 401, "auth.invalid_token")
    assert_error(ws_upgrade(auth_dp, "/py-intro/unknown", bearer("never-issued")), 401, "auth.invalid_token")
    assert_error(ws_upgrade(auth_dp, "/py-intro/noscope", bearer("opaque-noscope")), 403, "auth.insufficient_scope")
    assert_error(ws_upgrade(auth_dp, "/py-intro/revoked", bearer(REVOKED_OPAQUE)), 401, "auth.token_revoked")
    for p in ("/py-intro/off", "/py-intro/unknown", "/py-intro/noscope", "/py-intro/revoked"):
        no_backend_session(backends, p)
    assert intro.count(REVOKED_OPAQUE) == 0  # refused by digest before any introspection


def test_introspection_cache_and_token_shapes(auth_dp, peers):
    intro, _ = peers
    intro.set("opaque-cached", {"active": True, "scope": "chat:connect"})
    for _ in range(6):
        assert ws_upgrade(auth_dp, "/intro/c", bearer("opaque-cached")).status == 101
    assert 1 <= intro.count("opaque-cached") <= 2  # one question per worker, then the cache answers
    # tokens with characters that need form encoding arrive intact
    odd = "a+b/c=d&e%f"
    intro.set(odd, {"active": True, "scope": "chat:connect"})
    assert ws_upgrade(auth_dp, "/intro/odd", [("Authorization", f"Bearer {odd}")]).status == 101
    assert intro.count(odd) >= 1
    # with jwt and introspection both set: a JWT is verified locally, anything else is introspected
    before = len(intro.requests)
    assert ws_upgrade(auth_dp, "/both/jwt", bearer(ah.make_jwt(RSA))).status == 101
    assert len(intro.requests) == before
    intro.set("opaque-both", {"active": True})
    assert ws_upgrade(auth_dp, "/both/opaque", bearer("opaque-both")).status == 101
    assert intro.count("opaque-both") == 1


def test_introspection_server_failing_or_gone_is_503(auth_dp, peers, backends):
    intro, _ = peers
    intro.set("opaque-while-failing", {"active": True, "scope": "chat:connect"})
    intro.fail_status = 500
    try:
        assert_error(ws_upgrade(auth_dp, "/py-intro/failing", bearer("opaque-while-failing")), 503,
                     "auth.introspection_unavailable")
    finally:
        intro.fail_status = None
    assert_error(ws_upgrade(auth_dp, "/py-deadintro/gone", bearer("anything")), 503,
                 "auth.introspection_unavailable")
    no_backend_session(backends, "/py-intro/failing")
    no_backend_session(backends, "/py-deadintro/gone")
    # once the server answers again, the same token is admitted (failures are never cached; a failure only
    # holds further questions to that endpoint back for a short jittered backoff, docs/security.md)
    it.wait_until(lambda: ws_upgrade(auth_dp, "/intro/after", bearer("opaque-while-failing")).status == 101,
                  5 * it.SLOW, interval=0.2, what="admitted once the introspection server answers again")


def test_credentials_not_in_data_plane_log(auth_dp):
    log = auth_dp.proc.log()
    for secret in (API_KEY, OTHER_KEY, "opaque-good", "gw-secret"):
        assert secret not in log


def test_plain_http_and_client_gone_while_waiting(auth_dp, peers):
    intro, jw = peers
    intro.set("opaque-plain", {"active": True, "scope": "chat:connect"})
    # each worker backs off from the endpoint the previous test made fail on its own: the other worker may still
    # be waiting out its backoff (503 at once), so the first 200 may take a moment
    r = it.wait_until(lambda: (lambda r: r if r.status == 200 else None)(
        http_get(auth_dp, "/intro/plain", bearer("opaque-plain"))), 10 * it.SLOW, interval=0.2,
        what="plain HTTP admitted through introspection on every worker")
    assert r.status == 200, r.body
    # a client that goes away while its token is being introspected: the wait is abandoned cleanly
    intro.set("opaque-slow", {"active": True, "scope": "chat:connect"})
    intro.delay = 1.0
    try:
        for _ in range(3):
            c = it.RawHttp(auth_dp.port)
            c.send(it.ws_handshake_bytes("/intro/gone", extra=bearer("opaque-slow")))
            c.close()
        time.sleep(1.5)
    finally:
        intro.delay = 0.0
    assert ws_upgrade(auth_dp, "/intro/after-gone", bearer("opaque-slow")).status == 101
    # the same while waiting for a JWKS fetch
    jw_delay_doc = jw.doc
    c = it.RawHttp(auth_dp.port)
    c.send(it.ws_handshake_bytes("/jwksurl/gone", extra=bearer(ah.make_jwt(ah.Key("P-256", kid="never"), alg="ES256"))))
    c.close()
    jw.doc = jw_delay_doc
    assert ws_upgrade(auth_dp, "/jwksurl/ok", bearer(ah.make_jwt(RSA))).status == 101
