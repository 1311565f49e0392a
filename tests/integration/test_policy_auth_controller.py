"""The authentication policies end to end through the controller in dir mode (--source dir:PATH): manifests as a
user writes them (ApiProxy policies, API-key Secrets, JWKS and revocation ConfigMaps) → translation → snapshot →
data plane → real clients. Covers the seed's sample (basePath /v1/ws, verifyApiKey on the `apikey` query
parameter), revoking a token by editing the revocation ConfigMap (exactly that token's sessions close, 1008
"token revoked"), deleting an API-key Secret (its sessions close), and rotating the JWKS ConfigMap."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

import auth_helpers as ah
import tollgate_it as it

KEY = ah.Key("RSA", kid="dir-rsa-1")


def manifests(backend_port: int, jwks_doc: dict) -> dict[str, str]:
    """The files of the manifest directory (name → YAML)."""
    return {
        "00-group.yaml": f"""
apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: public, namespace: apis}}
spec:
  hostnames: ["{it.MAIN_HOST}"]
  environments: ["prod"]
""",
        # the seed's sample: a WebSocket API under /v1/ws, VerifyAPIKey on the apikey query parameter
        "10-sample.yaml": f"""
apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: websocket-sample, namespace: apis}}
spec:
  environments: ["prod"]
  basePath: /v1/ws
  target: {{url: "http://127.0.0.1:{backend_port}"}}
  policies:
    - verifyApiKey:
        keyFrom: ["query:apikey"]
        secretSelector: {{matchLabels: {{tollgate.dev/app: sample-client}}}}
""",
        "11-key-a.yaml": """
apiVersion: v1
kind: Secret
metadata: {name: sample-key-a, namespace: apis, labels: {tollgate.dev/app: sample-client}}
type: tollgate.dev/api-key
stringData: {key: "sample-key-AAAA"}
""",
        "12-key-b.yaml": f"""
apiVersion: v1
kind: Secret
metadata: {{name: sample-key-b, namespace: apis, labels: {{tollgate.dev/app: sample-client}}}}
type: tollgate.dev/api-key
data: {{key: "{base64.b64encode(b'sample-key-BBBB').decode()}"}}
""",
        "20-chat.yaml": f"""
apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: chat, namespace: apis}}
spec:
  environments: ["prod"]
  basePath: /chat
  target: {{url: "http://127.0.0.1:{backend_port}"}}
  policies:
    - oauthV2:
        jwt: {{issuer: "{ah.ISSUER}", audiences: ["{ah.AUDIENCE}"], jwksConfigMapName: chat-jwks, algorithms: [RS256]}}
        requiredScopes: ["chat:connect"]
        revocationConfigMapName: revoked-tokens
""",
        "21-jwks.yaml": jwks_configmap(jwks_doc),
        "22-revoked.yaml": revoked_configmap({}),
    }


def jwks_configmap(doc: dict) -> str:
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: chat-jwks, namespace: apis}}
data:
  jwks.json: '{json.dumps(doc)}'
"""


def revoked_configmap(entries: dict[str, str]) -> str:
    data = "".join(f'  "{k}": "{v}"\n' for k, v in entries.items()) or "  {}\n"
    if not entries:
        return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: revoked-tokens, namespace: apis}\ndata: {}\n"
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: revoked-tokens, namespace: apis}}\ndata:\n{data}"


@pytest.fixture
def stack(run_dir, dp_factory, backends, tmp_path):
    """An empty-started data plane, a manifest directory, and the controller watching it."""
    dp = dp_factory(None)
    mdir = tmp_path / "manifests"
    for name, text in manifests(backends.pyws.port, ah.jwks(KEY)).items():
        ah.write_manifest(mdir, name, text)
    ctl = ah.Controller(run_dir, mdir, dp).start()
    it.wait_until(lambda: dp.applied_version() > 0, 10 * it.SLOW, what="the controller's first push")
    yield dp, mdir, ctl
    assert ctl.stop() == 0, ctl.proc.log_tail()


def wait_applied_after(dp, version: int, timeout: float = 5.0) -> int:
    return it.wait_until(lambda: dp.applied_version() > version and dp.applied_version(), timeout * it.SLOW,
                         what=f"a snapshot newer than {version}")


def status_of(dp, path: str, headers=()) -> int:
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes(path, extra=list(headers)))
        return c.read_response().status


def test_seed_sample_verify_api_key_end_to_end(stack, backends):
    dp, _, _ = stack
    assert status_of(dp, "/v1/ws") == 401
    assert status_of(dp, "/v1/ws?apikey=wrong") == 401
    assert status_of(dp, "/v1/ws", [("X-Api-Key", "sample-key-AAAA")]) == 401  # keyFrom is the query only

    async def body():
        async with it.ws_connect(dp, "/v1/ws?apikey=sample-key-AAAA") as ws:
            await ah.echo(ws, "hello from the websocket-sample")
        async with it.ws_connect(dp, "/v1/ws/room?apikey=sample-key-BBBB") as ws:  # base64 data works too
            await ah.echo(ws, "second key")

    it.run(body())
    s = backends.pyws.sessions_on("/room?apikey=sample-key-BBBB")  # base path stripped, query kept
    assert s, [x.path for x in backends.pyws.sessions]


def test_revoking_a_jti_in_the_configmap_closes_exactly_its_sessions(stack):
    dp, mdir, _ = stack
    tok_a = ah.make_jwt(KEY, scope="chat:connect", jti="dir-jti-A", exp_in=600)
    tok_b = ah.make_jwt(KEY, scope="chat:connect", jti="dir-jti-B", exp_in=600)
    assert status_of(dp, "/chat/x", [("Authorization", f"Bearer {ah.make_jwt(KEY)}")]) == 403  # no scope

    async def body():
        a = [await it.ws_connect(dp, f"/chat/a{i}", extra_headers={"Authorization": f"Bearer {tok_a}"})
             for i in range(3)]
        b = [await it.ws_connect(dp, f"/chat/b{i}", extra_headers={"Authorization": f"Bearer {tok_b}"})
             for i in range(3)]
        for ws in a + b:
            await ah.echo(ws, "before")
        before = dp.applied_version()
        ah.write_manifest(mdir, "22-revoked.yaml", revoked_configmap({"dir-jti-A": "stolen laptop"}))
        edited = time.time()
        await asyncio.get_running_loop().run_in_executor(None, wait_applied_after, dp, before)
        applied = time.time()
        for closed_at, code, reason in await asyncio.gather(*(ah.wait_closed(ws, 3) for ws in a)):
            assert (code, reason) == (1008, "token revoked")
            assert closed_at - applied <= 1.0
        print(f"revocation: file edit → snapshot applied {applied - edited:.3f} s, sessions closed "
              f"≤ {max(0.0, closed_at - applied):.3f} s after")
        await asyncio.sleep(1.0)
        for ws in b:
            await ah.echo(ws, "still here")
            await ws.close()

    it.run(body())
    # a new handshake with the revoked token is refused
    assert status_of(dp, "/chat/again", [("Authorization", f"Bearer {tok_a}")]) == 401


def test_deleting_an_api_key_secret_closes_its_sessions(stack):
    dp, mdir, _ = stack

    async def body():
        a = [await it.ws_connect(dp, f"/v1/ws/a{i}?apikey=sample-key-AAAA") for i in range(2)]
        b = await it.ws_connect(dp, "/v1/ws/b?apikey=sample-key-BBBB")
        before = dp.applied_version()
        (mdir / "11-key-a.yaml").unlink()
        await asyncio.get_running_loop().run_in_executor(None, wait_applied_after, dp, before)
        applied = time.time()
        for closed_at, code, reason in await asyncio.gather(*(ah.wait_closed(ws, 3) for ws in a)):
            assert (code, reason) == (1008, "token revoked") and closed_at - applied <= 1.0
        await ah.echo(b, "key b lives on")
        await b.close()

    it.run(body())
    assert status_of(dp, "/v1/ws?apikey=sample-key-AAAA") == 401


def test_jwks_configmap_rotation(stack):
    dp, mdir, _ = stack
    new = ah.Key("RSA", kid="dir-rsa-2")
    tok_new = ah.make_jwt(new, scope="chat:connect")
    assert status_of(dp, "/chat/x", [("Authorization", f"Bearer {tok_new}")]) == 401
    before = dp.applied_version()
    ah.write_manifest(mdir, "21-jwks.yaml", jwks_configmap(ah.jwks(KEY, new)))
    wait_applied_after(dp, before)
    assert status_of(dp, "/chat/x", [("Authorization", f"Bearer {tok_new}")]) == 101
    assert status_of(dp, "/chat/x", [("Authorization", f"Bearer {ah.make_jwt(KEY, scope='chat:connect')}")]) == 101
