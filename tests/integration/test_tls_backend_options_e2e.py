"""ApiProxy spec.target.tls versions and the CA Secret's ca.crl end to end: the controller in dir mode pushing to a
real data plane that connects to a real TLS backend (docs/tls.md "Toward backends"). The two halves have their own
tests (test_tls_controller_backend_options.py: what the controller pushes; test_tls_origination_options.py: what the
data plane does with a snapshot); this one checks they agree on the contract: a revoked backend certificate is
refused once the CA Secret's ca.crl lists it and served again when the CRL is fixed, and a minVersion the backend
cannot meet is refused, each time with nothing of the request reaching the backend."""

from __future__ import annotations

import ssl

import pytest

import auth_helpers as ah
import tollgate_it as it
from test_tls_origination import get, tls_failures
from test_tls_origination_options import BACKEND_NAME, RecordingTlsBackend
from tls_pki import Pki

NS = "apis"


def indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.strip("\n").split("\n"))


def ca_secret(ca_pem: str, crl_pem: str) -> str:
    return (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: backend-ca, namespace: {NS}}}\nstringData:\n"
            f"  ca.crt: |\n{indent(ca_pem, 4)}  ca.crl: |\n{indent(crl_pem, 4)}")


def manifests(port: int, min_version: str) -> dict[str, str]:
    return {
        "group.yaml": f"apiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\n"
                      f"metadata: {{name: g, namespace: {NS}}}\n"
                      f"spec:\n  hostnames: [\"{it.MAIN_HOST}\"]\n  environments: [prod]\n",
        "proxy.yaml": f"apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {{name: crl, namespace: {NS}}}\n"
                      f"spec:\n  environments: [prod]\n  basePath: /crl\n  stripBasePath: false\n  target:\n"
                      f"    url: https://127.0.0.1:{port}\n    tls:\n      serverName: {BACKEND_NAME}\n"
                      f"      caSecretName: backend-ca\n      minVersion: \"{min_version}\"\n",
    }


@pytest.fixture
def pki(tmp_path):
    p = Pki(tmp_path / "pki", "e2e-options-ca")
    p.backend = p.issue("backend", [BACKEND_NAME, "IP:127.0.0.1"], "ec")
    p.crl_clean = p.crl("clean").read_text()
    p.crl_revoked = p.crl("revoked", [p.backend]).read_text()
    return p


@pytest.fixture
def recording(pki):
    b = RecordingTlsBackend(pki.backend)
    yield b
    b.close()


def test_ca_crl_and_min_version_through_the_controller(run_dir, dp_factory, pki, recording, tmp_path):
    dp = dp_factory(it.snapshot(1, [], []), workers=1)
    mdir = tmp_path / "manifests"
    for name, text in manifests(recording.port, "1.2").items():
        ah.write_manifest(mdir, name, text)
    ah.write_manifest(mdir, "secret.yaml", ca_secret(pki.ca.cert_pem, pki.crl_clean))
    ctl = ah.Controller(run_dir, mdir, dp).start()
    try:
        it.wait_until(lambda: dp.applied_version() > 1, 10 * it.SLOW, what="the controller's first push")
        r = get(dp, "/crl/a")
        assert r.status == 200, r.body
        served = len(recording.records)

        # The CA publishes a CRL that lists the backend: the next request is refused, not a byte reaches it.
        before, v = tls_failures(dp), dp.applied_version()
        ah.write_manifest(mdir, "secret.yaml", ca_secret(pki.ca.cert_pem, pki.crl_revoked))
        it.wait_until(lambda: dp.applied_version() > v, 10 * it.SLOW, what="the push with the new ca.crl")
        r = get(dp, "/crl/b")
        assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
        assert tls_failures(dp) == before + 1
        assert "certificate verify failed: certificate revoked" in dp.proc.log()
        it.wait_until(lambda: len(recording.records) > served and recording.records[-1]["handshake"], 5 * it.SLOW,
                      what="the refused connection recorded")
        refused = recording.records[-1]
        assert refused["handshake"] is not True and refused["received"] == b"", refused

        # Fixed again: served.
        v = dp.applied_version()
        ah.write_manifest(mdir, "secret.yaml", ca_secret(pki.ca.cert_pem, pki.crl_clean))
        it.wait_until(lambda: dp.applied_version() > v, 10 * it.SLOW, what="the push with the clean ca.crl")
        assert get(dp, "/crl/c").status == 200

        # minVersion "1.3" against a backend that only speaks TLS 1.2: refused.
        recording.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        v, before = dp.applied_version(), tls_failures(dp)
        ah.write_manifest(mdir, "proxy.yaml", manifests(recording.port, "1.3")["proxy.yaml"])
        it.wait_until(lambda: dp.applied_version() > v, 10 * it.SLOW, what="the push with minVersion 1.3")
        r = get(dp, "/crl/d")
        assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
        assert tls_failures(dp) == before + 1
        it.wait_until(lambda: recording.records[-1]["handshake"], 5 * it.SLOW, what="the refused connection recorded")
        assert recording.records[-1]["handshake"] is not True and recording.records[-1]["received"] == b""
        assert not any(b"/crl/d" in x["received"] for x in recording.records)
    finally:
        assert ctl.stop() == 0, ctl.proc.log_tail()
