"""TLS origination (ApiProxy spec.target.tls) against the real kube-apiserver: the CA bundle and the client
certificate come from Secrets created with kubectl, the controller (--source kube) translates them and pushes the
snapshot to the real data plane, and a TLS backend that requires a client certificate (Python ssl + websockets)
sees the data plane's certificate. Deleting the client-certificate Secret sets ResolvedRefs=False (RefNotFound) and
the proxy answers 503 — never a connection without the certificate asked for; no key material in either log."""

from __future__ import annotations

import sys
from pathlib import Path

from kube_bed import conditions, proxy, tls_secret, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
import tollgate_it as it  # noqa: E402
from test_tls_origination import BACKEND_NAME, TlsBackend, server_ctx  # noqa: E402
from tls_pki import Pki  # noqa: E402

T = 15  # seconds: generous bound for "reaches the data plane"
ENV = "tls-origination"  # environment names are cluster-wide: one of its own keeps other suites' proxies out


def get(port: int, host: str, path: str) -> it.Response:
    with it.RawHttp(port) as c:
        c.send(it.request_bytes("GET", path, host=host, headers=[("Connection", "close")]))
        return c.read_response()


def test_target_tls_from_secrets_through_the_apiserver(bed, ns, dataplane, controller, tmp_path):
    pki = Pki(tmp_path / "pki", "kube-origin-ca")
    backend_cert = pki.issue("backend", [BACKEND_NAME], "ec")
    client = pki.issue("tollgate-client", [], "ec", client=True)
    backend = TlsBackend(server_ctx(backend_cert, client_ca=pki.ca.cert)).start()
    try:
        host = f"{ns}.example.com"
        dp = dataplane()
        ctl = controller(ns, dp)
        p = proxy(ns, "secure", "/secure", environments=[ENV], url=f"https://127.0.0.1:{backend.port}")
        p["spec"]["stripBasePath"] = False
        p["spec"]["target"]["tls"] = {"serverName": BACKEND_NAME, "caSecretName": "backend-ca",
                                      "clientCertSecretName": "gateway-client"}
        bed.apply([
            {"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
             "metadata": {"name": "public", "namespace": ns}, "spec": {"hostnames": [host], "environments": [ENV]}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "backend-ca", "namespace": ns},
             "stringData": {"ca.crt": pki.ca.cert_pem}},
            tls_secret(ns, "gateway-client", client.cert_pem, client.key_pem),
            p,
        ])
        wait_until(lambda: dp.proxies().get(f"{ns}/secure", {}).get("endpoints"), T, what="the proxy served")
        r = get(dp.port, host, "/secure/a")
        assert r.status == 200, r.body
        assert r.json()["peer"] == "tollgate-client" and r.json()["sni"] == BACKEND_NAME
        conds = wait_until(lambda: (lambda c: c if c.get("Programmed", {}).get("status") == "True" else None)(
            conditions(bed, ns, "apiproxy", "secure")[0]), T, what="Programmed=True")
        assert conds["ResolvedRefs"]["status"] == "True"

        bed.kubectl("delete", "secret", "gateway-client", "-n", ns)
        conds = wait_until(lambda: (lambda c: c if c.get("ResolvedRefs", {}).get("status") == "False" else None)(
            conditions(bed, ns, "apiproxy", "secure")[0]), T, what="ResolvedRefs=False")
        assert conds["ResolvedRefs"]["reason"] == "RefNotFound"
        assert "gateway-client" in conds["ResolvedRefs"]["message"]
        wait_until(lambda: get(dp.port, host, "/secure/b").status == 503, T, what="503 without the certificate")
        for log in (dp.output(), ctl.output()):
            assert "PRIVATE KEY" not in log and client.key_pem.splitlines()[1] not in log
    finally:
        backend.stop()
