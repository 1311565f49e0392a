"""The authentication policies against the real kube-apiserver: an ApiProxy with oauthV2 (JWKS in a ConfigMap,
revocation ConfigMap) and one with verifyApiKey (a Secret of type tollgate.dev/api-key), translated by the
controller (--source kube) and pushed to the real data plane; real WebSocket sessions through it. Revoking a
jti with `kubectl patch configmap` closes exactly that token's sessions (1008 "token revoked"), and
`kubectl delete secret` of an API key closes that key's sessions; the other sessions stay open."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import websockets

from kube_bed import group, proxy, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import auth_helpers as ah  # noqa: E402
import tollgate_it as it  # noqa: E402

T = 15  # seconds: generous bound for "reaches the data plane"


def jwks_configmap(ns: str, doc: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-jwks", "namespace": ns},
            "data": {"jwks.json": json.dumps(doc)}}


def api_key_secret(ns: str, name: str, key: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "tollgate.dev/api-key",
            "metadata": {"name": name, "namespace": ns, "labels": {"tollgate.dev/app": "kube-client"}},
            "stringData": {"key": key}}


def test_revocation_and_key_deletion_with_kubectl(bed, ns, dataplane, controller):
    backend = it.PyWsBackend().start()
    try:
        key = ah.Key("RSA", kid="kube-1")
        host = f"{ns}.example.com"
        dp = dataplane()
        controller(ns, dp)
        bed.kubectl("create", "configmap", "revoked-tokens", "-n", ns, "--from-literal=unrelated-jti=old")
        bed.apply([
            group(ns, "public", [host], ["prod"]),
            jwks_configmap(ns, ah.jwks(key)),
            api_key_secret(ns, "key-a", "kube-key-AAAA"),
            api_key_secret(ns, "key-b", "kube-key-BBBB"),
            proxy(ns, "chat", "/chat", url=f"http://127.0.0.1:{backend.port}", policies=[{"oauthV2": {
                "jwt": {"issuer": ah.ISSUER, "audiences": [ah.AUDIENCE], "jwksConfigMapName": "chat-jwks"},
                "revocationConfigMapName": "revoked-tokens"}}]),
            proxy(ns, "keys", "/keys", url=f"http://127.0.0.1:{backend.port}", policies=[{"verifyApiKey": {
                "secretSelector": {"matchLabels": {"tollgate.dev/app": "kube-client"}}}}]),
        ])
        wait_until(lambda: {f"{ns}/chat", f"{ns}/keys"} <= set(dp.proxies()), T, what="both proxies served")

        def url(path: str) -> str:
            return f"ws://{host}:{dp.port}{path}"

        def connect(path: str, token: str | None = None):
            hdrs = {"Authorization": f"Bearer {token}"} if token else {}
            return websockets.connect(url(path), host="127.0.0.1", port=dp.port, extra_headers=hdrs,
                                      ping_interval=None, open_timeout=10)

        tok_a = ah.make_jwt(key, jti="kube-jti-A", exp_in=600)
        tok_b = ah.make_jwt(key, jti="kube-jti-B", exp_in=600)

        async def body():
            a = [await connect(f"/chat/a{i}", tok_a) for i in range(2)]
            b = await connect("/chat/b", tok_b)
            ka = await connect("/keys/a?apikey=kube-key-AAAA")
            kb = await connect("/keys/b?apikey=kube-key-BBBB")
            for ws in a + [b, ka, kb]:
                await ah.echo(ws, "before", 5)
            loop = asyncio.get_running_loop()
            # revoke token A: a ConfigMap edit with kubectl
            await loop.run_in_executor(None, lambda: bed.kubectl(
                "patch", "configmap", "revoked-tokens", "-n", ns, "--type", "merge",
                "-p", json.dumps({"data": {"kube-jti-A": "revoked by the test"}})))
            edited = time.time()
            for closed_at, code, reason in await asyncio.gather(*(ah.wait_closed(ws, T) for ws in a)):
                assert (code, reason) == (1008, "token revoked")
            print(f"\nkubectl patch → sessions of the revoked jti closed after {closed_at - edited:.3f} s")
            await ah.echo(b, "token B still admitted", 5)
            # delete API key A's Secret
            await loop.run_in_executor(None, lambda: bed.kubectl("delete", "secret", "key-a", "-n", ns))
            _, code, reason = await ah.wait_closed(ka, T)
            assert (code, reason) == (1008, "token revoked")
            await ah.echo(kb, "key B still admitted", 5)
            await ah.echo(b, "token B still admitted", 5)
            for ws in (b, kb):
                await ws.close()

        asyncio.run(asyncio.wait_for(body(), 90))
        for path in ("/a0", "/a1"):  # the base path /chat is stripped on the way to the backend
            s = wait_until(lambda: [x for x in backend.sessions_on(path) if x.ended], T, what=f"{path} ended")
            assert s[0].close_code == 1001
        # the revoked token and the deleted key are refused from now on
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/chat/again", host=host, extra=[("Authorization", f"Bearer {tok_a}")]))
            assert c.read_response().status == 401
        with it.RawHttp(dp.port) as c:
            c.send(it.ws_handshake_bytes("/keys/again?apikey=kube-key-AAAA", host=host))
            assert c.read_response().status == 401
    finally:
        backend.stop()
