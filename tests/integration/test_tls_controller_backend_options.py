"""ApiProxy spec.target.tls minVersion / maxVersion / ciphers / cipherSuites and the CA Secret's optional ca.crl,
through the controller in dir mode (docs/tls.md "Toward backends: versions, ciphers, CRL (ApiProxy)"): what the
controller gives its data plane. The data plane here is a recorder on the control socket that acknowledges every
push, so these tests hold whether or not the data plane in this build accepts the new fields: the snapshot as
pushed is what is under test (test_tls_origination*.py drive the data plane's side of it).

  * the snapshot carries "minVersion", "maxVersion" ("1.2"/"1.3"), "ciphers", "cipherSuites" (names joined by ':')
    and "crlPem" inside target.tls, and a proxy that sets none of them gets target.tls as before;
  * a change of the CA Secret's ca.crl is a new push (the Secret named by caSecretName is watched whole);
  * a ca.crl that is not PEM CRLs is reported like a broken ca.crt: the proxy stays, with no endpoints and no crlPem;
  * an invalid version or cipher name leaves the proxy out, reported with the field's path.
"""

from __future__ import annotations

import datetime
import json
import socketserver
import subprocess
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import auth_helpers as ah
import tollgate_it as it

NS = "apis"


class RevokingCa:
    """A throwaway CA that issues CRLs (the certificates it would sign do not matter to the controller)."""

    def __init__(self, name: str):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.cert_pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def crl_pem(self, *revoked_serials: int) -> str:
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.name).last_update(now)
             .next_update(now + datetime.timedelta(days=7)))
        for serial in revoked_serials:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                          .revocation_date(now).build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def block(text: str, indent: int = 4) -> str:
    return "".join(" " * indent + line + "\n" for line in text.strip("\n").split("\n"))


def ca_secret(ca_pem: str, crl_pem: str | None) -> str:
    text = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: backend-ca, namespace: {NS}}}\nstringData:\n"
    text += "  ca.crt: |\n" + block(ca_pem)
    if crl_pem is not None:
        text += "  ca.crl: |\n" + block(crl_pem)
    return text


def proxy_manifest(name: str, base_path: str, tls: str) -> str:
    return (f"apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {{name: {name}, namespace: {NS}}}\n"
            f"spec:\n  environments: [prod]\n  basePath: {base_path}\n  target:\n"
            f"    url: https://127.0.0.1:9443\n    tls:\n{block(tls, 6)}")


OPTIONS = """serverName: backend.test
caSecretName: backend-ca
minVersion: "1.2"
maxVersion: TLSv1.3
ciphers: [ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-RSA-AES128-GCM-SHA256]
cipherSuites: [TLS_AES_256_GCM_SHA384]"""

PLAIN = """serverName: plain.test"""


def write_manifests(mdir: Path, ca: RevokingCa, crl_pem: str | None, options: str = OPTIONS) -> None:
    ah.write_manifest(mdir, "secret.yaml", ca_secret(ca.cert_pem, crl_pem))
    ah.write_manifest(mdir, "options.yaml", proxy_manifest("options", "/options", options))
    ah.write_manifest(mdir, "plain.yaml", proxy_manifest("plain", "/plain", PLAIN))


def print_snapshot(mdir: Path) -> tuple[int, dict, str]:
    """tollgate-controller --source dir:MDIR --print: (exit status, the snapshot, stderr)."""
    proc = subprocess.run([str(it.controller_binary_or_skip()), "--source", f"dir:{mdir}", "--print",
                           "--health", "off", "--timeout", str(int(20 * it.SLOW))],
                          capture_output=True, text=True, timeout=30 * it.SLOW, cwd=it.REPO)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def target_tls(snapshot: dict, proxy_id: str) -> dict | None:
    for p in snapshot.get("proxies", []):
        if p["id"] == proxy_id:
            return p["target"]["tls"]
    return None


def proxy_of(snapshot: dict, proxy_id: str) -> dict | None:
    return next((p for p in snapshot.get("proxies", []) if p["id"] == proxy_id), None)


class RecordingControlSocket:
    """Stands in for the data plane's control socket (docs/control-protocol.md): answers GET /snapshot/version and
    acknowledges every PUT /snapshot, keeping the snapshots in the order they came."""

    def __init__(self, path: Path):
        self.path = path
        self.snapshots: list[dict] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # the client address of a Unix socket is "": nothing to log
                pass

            def answer(self, body: dict) -> None:
                ah._Server.reply(self, 200, json.dumps(body).encode())  # the auth tests' JSON answer

            def do_GET(self):
                with recorder.lock:
                    applied = recorder.snapshots[-1]["version"] if recorder.snapshots else 0
                self.answer({"applied": applied, "appliedAt": "2026-01-01T00:00:00Z", "bootId": "recorder"})

            def do_PUT(self):
                snap = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with recorder.lock:
                    recorder.snapshots.append(snap)
                self.answer({"applied": snap["version"]})

            do_POST = do_PUT

        self.server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def latest(self) -> dict | None:
        with self.lock:
            return self.snapshots[-1] if self.snapshots else None

    def count(self) -> int:
        with self.lock:
            return len(self.snapshots)

    def wait_for(self, pred, what: str) -> dict:
        """The first snapshot pushed from now on (or the latest, if it already holds) for which pred holds."""
        def check():
            snap = self.latest()
            return snap if snap is not None and pred(snap) else None
        return it.wait_until(check, 10 * it.SLOW, what=what)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(run_dir, tmp_path):
    r = RecordingControlSocket(tmp_path / "control.sock")
    yield r
    r.close()


def test_print_carries_the_fields_only_when_set(tmp_path):
    ca, other = RevokingCa("backend CA"), RevokingCa("other CA")
    crls = ca.crl_pem(0x1001) + other.crl_pem()
    mdir = tmp_path / "manifests"
    write_manifests(mdir, ca, crls)
    status, snap, stderr = print_snapshot(mdir)
    assert status == 0, stderr
    tls = target_tls(snap, f"{NS}/options")
    assert tls == {"enabled": True, "serverName": "backend.test", "caPem": ca.cert_pem, "crlPem": crls,
                   "minVersion": "1.2", "maxVersion": "1.3",
                   "ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256",
                   "cipherSuites": "TLS_AES_256_GCM_SHA384"}
    assert len(proxy_of(snap, f"{NS}/options")["target"]["endpoints"]) == 1
    # a proxy that sets none of them: target.tls exactly as before these fields existed
    assert target_tls(snap, f"{NS}/plain") == {"enabled": True, "serverName": "plain.test", "caPem": ""}

    # a CA Secret without ca.crl: no crlPem
    write_manifests(mdir, ca, None)
    status, snap, stderr = print_snapshot(mdir)
    assert status == 0, stderr
    assert "crlPem" not in target_tls(snap, f"{NS}/options")


@pytest.mark.parametrize("tls,field,message", [
    ('minVersion: "1.0"', "spec.target.tls.minVersion", 'must be "1.2" or "1.3"'),
    ('minVersion: "1.3"\nmaxVersion: "1.2"', "spec.target.tls.maxVersion", "is below minVersion"),
    ("ciphers: [ECDHE-ECDSA-AES256-GCM-SHA384, NOT-A-CIPHER]", "spec.target.tls.ciphers",
     '"NOT-A-CIPHER" is not a TLS 1.2 cipher this OpenSSL knows'),
    ("cipherSuites: [TLS_AES_256_GCM_SHA384, ECDHE-ECDSA-AES256-GCM-SHA384]", "spec.target.tls.cipherSuites",
     '"ECDHE-ECDSA-AES256-GCM-SHA384" is not a TLS 1.3 cipher suite this OpenSSL knows'),
], ids=["version", "max-below-min", "cipher", "suite"])
def test_invalid_field_is_reported_with_its_path(tmp_path, tls, field, message):
    ca = RevokingCa("backend CA")
    mdir = tmp_path / "manifests"
    write_manifests(mdir, ca, None, options="serverName: backend.test\n" + tls)
    status, snap, stderr = print_snapshot(mdir)
    assert status == 1, stderr  # an error in the input
    assert f"/options.yaml doc 1: ApiProxy {NS}/options: {field}: {message}" in stderr, stderr
    assert proxy_of(snap, f"{NS}/options") is None  # left out: served whole or not at all
    assert proxy_of(snap, f"{NS}/plain") is not None  # the rest is still emitted


def test_pushed_snapshot_follows_the_ca_secret(run_dir, tmp_path, recorder):
    ca = RevokingCa("backend CA")
    first, second = ca.crl_pem(), ca.crl_pem(0x1001, 0x1002)
    mdir = tmp_path / "manifests"
    write_manifests(mdir, ca, first)
    ctl = it.dir_controller("controller-backend-options", mdir, str(recorder.path), run_dir,
                            extra=["--log-level", "info"])
    try:
        snap = recorder.wait_for(lambda s: target_tls(s, f"{NS}/options") is not None, "the first push")
        tls = target_tls(snap, f"{NS}/options")
        assert tls["crlPem"] == first and tls["minVersion"] == "1.2" and tls["maxVersion"] == "1.3"
        assert tls["ciphers"] == "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"
        assert tls["cipherSuites"] == "TLS_AES_256_GCM_SHA384"
        assert set(target_tls(snap, f"{NS}/plain")) == {"enabled", "serverName", "caPem"}

        # a new CRL in the same Secret: pushed (the Secret is watched whole, not only its ca.crt)
        ah.write_manifest(mdir, "secret.yaml", ca_secret(ca.cert_pem, second))
        recorder.wait_for(lambda s: target_tls(s, f"{NS}/options").get("crlPem") == second, "the new CRL pushed")

        # a broken ca.crl: reported, and the proxy goes on with no endpoints (503) rather than without revocations
        mark = len(ctl.log())
        broken = "-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n"
        ah.write_manifest(mdir, "secret.yaml", ca_secret(ca.cert_pem, broken))
        snap = recorder.wait_for(lambda s: not proxy_of(s, f"{NS}/options")["target"]["endpoints"],
                                 "the proxy without endpoints")
        assert "crlPem" not in target_tls(snap, f"{NS}/options")
        assert target_tls(snap, f"{NS}/options")["caPem"] == ca.cert_pem
        assert proxy_of(snap, f"{NS}/plain")["target"]["endpoints"], "the other proxy is untouched"
        it.wait_until(lambda: "spec.target.tls.caSecretName: Secret apis/backend-ca: ca.crl:" in ctl.log()[mark:],
                      5 * it.SLOW, what="the controller's diagnostic")

        # fixed: the endpoint comes back with the CRL; then ca.crl removed: no crlPem, still served
        ah.write_manifest(mdir, "secret.yaml", ca_secret(ca.cert_pem, first))
        recorder.wait_for(lambda s: proxy_of(s, f"{NS}/options")["target"]["endpoints"] and
                          target_tls(s, f"{NS}/options").get("crlPem") == first, "the fixed CRL")
        ah.write_manifest(mdir, "secret.yaml", ca_secret(ca.cert_pem, None))
        recorder.wait_for(lambda s: "crlPem" not in target_tls(s, f"{NS}/options") and
                          proxy_of(s, f"{NS}/options")["target"]["endpoints"], "ca.crl removed")

        # the proxy's own fields change too: TLS 1.3 only, no cipher lists
        ah.write_manifest(mdir, "options.yaml", proxy_manifest(
            "options", "/options", "serverName: backend.test\ncaSecretName: backend-ca\nminVersion: TLSv1.3"))
        snap = recorder.wait_for(lambda s: target_tls(s, f"{NS}/options").get("minVersion") == "1.3",
                                 "minVersion 1.3 pushed")
        assert not {"maxVersion", "ciphers", "cipherSuites"} & set(target_tls(snap, f"{NS}/options"))
        assert "BEGIN" not in ctl.log(), "PEM text in the controller's log"
    finally:
        status = ctl.stop()
    assert status == 0, ctl.log_tail()
