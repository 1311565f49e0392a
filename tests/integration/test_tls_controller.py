"""TLS through the controller in dir mode (issue 12): kubernetes.io/tls Secrets named by an EnvironmentGroup's
spec.tls reach the data plane's TLS listener; replacing the Secret rotates the certificate for new handshakes
while live wss:// sessions go on; a Secret updated with a bad PEM, a key of another certificate or an expired
certificate is reported (controller diagnostics) and the last good certificate stays in use."""

from __future__ import annotations

import asyncio
import base64
import ssl

import pytest

import auth_helpers as ah
import tollgate_it as it
from tls_pki import Pki
from test_tls_termination import cn, handshake, start_tls_dp

HOST = "secure.ctl.test"


def secret(cert: str, key: str) -> str:
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return ("apiVersion: v1\nkind: Secret\nmetadata: {name: secure-tls, namespace: apis}\n"
            f"type: kubernetes.io/tls\ndata:\n  tls.crt: {b64(cert)}\n  tls.key: {b64(key)}\n")


def manifests(backend_port: int) -> dict[str, str]:
    return {
        "group.yaml": f"""apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: secure, namespace: apis}}
spec:
  hostnames: ["{HOST}"]
  environments: ["prod"]
  tls:
    - secretName: secure-tls
""",
        "proxy.yaml": f"""apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: echo, namespace: apis}}
spec:
  environments: ["prod"]
  basePath: /echo
  target: {{url: "http://127.0.0.1:{backend_port}"}}
""",
    }


@pytest.fixture
def stack(run_dir, backends, tmp_path):
    pki = Pki(tmp_path / "pki")
    certs = {n: pki.issue(n, [HOST]) for n in ("first", "second", "other")}
    certs["expired"] = pki.issue("expired", [HOST], not_after_past=True)
    t = start_tls_dp(run_dir, it.snapshot(1, [], []), "dataplane-tls-ctl")
    mdir = tmp_path / "manifests"
    for name, text in manifests(backends.b1.port).items():
        ah.write_manifest(mdir, name, text)
    ah.write_manifest(mdir, "secret.yaml", secret(certs["first"].cert_pem, certs["first"].key_pem))
    ctl = ah.Controller(run_dir, mdir, t.dp).start()
    it.wait_until(lambda: t.dp.applied_version() > 1, 10 * it.SLOW, what="the controller's first push")
    yield t, pki, certs, mdir, ctl
    assert ctl.stop() == 0, ctl.proc.log_tail()
    t.dp.check_clean_exit()


def served_cn(t, pki) -> str:
    return cn(handshake(t.tls_port, HOST, ssl.create_default_context(cafile=str(pki.ca.cert)))[0])


def test_secret_rotation_and_broken_updates(stack):
    import websockets

    t, pki, certs, mdir, ctl = stack
    assert served_cn(t, pki) == "first"

    async def body():
        ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
        sessions = [await websockets.connect(f"wss://{HOST}:{t.tls_port}/echo/s{i}", host="127.0.0.1",
                                             port=t.tls_port, ssl=ctx, server_hostname=HOST, ping_interval=None)
                    for i in range(20)]

        async def stream(tag):
            for i, ws in enumerate(sessions):
                await ws.send(f"{tag}-{i}")
                assert await ws.recv() == f"{tag}-{i}"

        await stream("before")
        v = t.dp.applied_version()
        ah.write_manifest(mdir, "secret.yaml", secret(certs["second"].cert_pem, certs["second"].key_pem))
        it.wait_until(lambda: t.dp.applied_version() > v, 10 * it.SLOW, what="the rotated certificate")
        assert served_cn(t, pki) == "second"
        await stream("after-rotation")

        broken = [
            ("bad PEM", secret("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
                               certs["second"].key_pem), "no PEM certificate could be read"),
            ("key of another cert", secret(certs["second"].cert_pem, certs["other"].key_pem),
             "the private key does not match the certificate"),
            ("expired", secret(certs["expired"].cert_pem, certs["expired"].key_pem), "the certificate has expired"),
        ]
        for what, text, reason in broken:
            mark = len(ctl.proc.log())
            ah.write_manifest(mdir, "secret.yaml", text)
            it.wait_until(lambda: reason in ctl.proc.log()[mark:], 10 * it.SLOW, what=f"diag for {what}")
            it.wait_until(lambda: "the last good certificate stays in use" in ctl.proc.log()[mark:],
                          5 * it.SLOW, what=f"last-good note for {what}")
            assert served_cn(t, pki) == "second", what
            await stream(what.replace(" ", "-"))
        for ws in sessions:
            await ws.close()
            assert ws.close_code == 1000

    it.run(body(), timeout=90)
    assert "PRIVATE KEY" not in ctl.proc.log() and "PRIVATE KEY" not in t.dp.proc.log()
