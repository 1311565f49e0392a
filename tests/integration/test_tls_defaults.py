"""The controller's cluster-wide TLS defaults (issue 12 item 9, chart controller.tls), in dir mode against the real
data plane: --tls-default-certificate names a kubernetes.io/tls Secret in another namespace whose certificate
answers a handshake no group's certificate takes (an unknown SNI, no SNI, a group without spec.tls) — as
ingress-nginx's --default-ssl-certificate does; --tls-default-min-version 1.3 makes a group without its own
spec.tlsOptions versions refuse TLS 1.2, while a group with its own keeps them. Replacing the Secret rotates the
default certificate; breaking it keeps the last good one. Real clients: `openssl s_client`, Python ssl."""

from __future__ import annotations

import base64
import socket
import ssl

import pytest

import auth_helpers as ah
import tollgate_it as it
from tls_pki import Pki
from test_tls_termination import s_client, start_tls_dp

SECURE, LEGACY, NOCERT, UNKNOWN = "secure.defaults.test", "legacy.defaults.test", "nocert.defaults.test", \
    "unknown.defaults.test"


def tls_secret(name: str, namespace: str, cert: str, key: str) -> str:
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    return (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"type: kubernetes.io/tls\ndata:\n  tls.crt: {b64(cert)}\n  tls.key: {b64(key)}\n")


def group(name: str, host: str, env: str, extra: str = "") -> str:
    return (f"apiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\nmetadata: {{name: {name}, namespace: apis}}\n"
            f"spec:\n  hostnames: [\"{host}\"]\n  environments: [\"{env}\"]\n{extra}")


def proxy(name: str, env: str, port: int) -> str:
    return (f"apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {{name: {name}, namespace: apis}}\n"
            f"spec:\n  environments: [\"{env}\"]\n  basePath: /echo\n  target: {{url: \"http://127.0.0.1:{port}\"}}\n")


@pytest.fixture(scope="module")
def stack(run_dir, backends, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-defaults")
    pki = Pki(tmp / "pki")
    certs = {"secure": pki.issue("secure", [SECURE]), "legacy": pki.issue("legacy", [LEGACY]),
             "default": pki.issue("default", ["fallback.defaults.test"]),
             "default2": pki.issue("default-2", ["fallback.defaults.test"]),
             "expired": pki.issue("default-expired", ["fallback.defaults.test"], not_after_past=True)}
    t = start_tls_dp(run_dir, it.snapshot(1, [], []), "dataplane-tls-defaults")
    mdir = tmp / "manifests"
    port = backends.b1.port
    ah.write_manifest(mdir, "groups.yaml", "\n---\n".join([
        group("secure", SECURE, "e1", "  tls:\n    - secretName: secure-tls\n"),
        group("legacy", LEGACY, "e2", "  tls:\n    - secretName: legacy-tls\n"
              "  tlsOptions: {minVersion: \"1.2\", maxVersion: \"1.2\"}\n"),
        group("nocert", NOCERT, "e3"),
        proxy("echo1", "e1", port), proxy("echo2", "e2", port), proxy("echo3", "e3", port)]))
    ah.write_manifest(mdir, "secrets.yaml", "\n---\n".join([
        tls_secret("secure-tls", "apis", certs["secure"].cert_pem, certs["secure"].key_pem),
        tls_secret("legacy-tls", "apis", certs["legacy"].cert_pem, certs["legacy"].key_pem)]))
    ah.write_manifest(mdir, "default.yaml", tls_secret("default-tls", "tollgate-system", certs["default"].cert_pem,
                                                       certs["default"].key_pem))
    ctl = it.dir_controller("controller-tls-defaults", mdir, t.dp.control_socket, run_dir,
                            extra=["--log-level", "info", "--tls-default-certificate", "tollgate-system/default-tls",
                                   "--tls-default-min-version", "1.3"])
    it.wait_until(lambda: t.dp.applied_version() > 1, 10 * it.SLOW, what="the controller's first push")
    yield t, pki, certs, mdir, ctl
    ctl.stop()  # (the last test stops it itself and starts its own)
    t.dp.check_clean_exit()


def served(t, pki, sni: str | None, version: str = "-tls1_3") -> tuple[str, str]:
    """(subject CN, protocol) of one `openssl s_client` handshake, or ("", alert text) when it failed."""
    args = ["-servername", sni] if sni else ["-noservername"]
    r = s_client(t.tls_port, *args, version, "-CAfile", str(pki.ca.cert))
    out = r.stdout.decode(errors="replace")
    if "Cipher is (NONE)" in out or r.returncode != 0:
        return "", r.stderr.decode(errors="replace")
    subject = next(line for line in out.splitlines() if line.startswith("subject="))
    proto = next(line.split(",")[1].strip() for line in out.splitlines() if line.startswith(("New,", "Reused,")))
    return subject.rsplit("CN = ", 1)[-1].strip(), proto


def https_status(t, pki, host: str) -> int:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.check_hostname = False  # the default certificate does not name the host: that is the point
    with socket.create_connection(("127.0.0.1", t.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    return int(data.split(b" ", 2)[1])


def test_default_certificate_answers_unknown_missing_and_certless_names(stack):
    t, pki, *_ = stack
    assert served(t, pki, UNKNOWN) == ("default", "TLSv1.3")
    assert served(t, pki, None) == ("default", "TLSv1.3")
    assert served(t, pki, NOCERT) == ("default", "TLSv1.3")  # a group without spec.tls
    assert https_status(t, pki, NOCERT) == 200               # ... and its routes are served over it
    assert served(t, pki, SECURE)[0] == "secure"            # a group's own certificate comes first


def test_default_min_version_applies_to_groups_without_their_own(stack):
    t, pki, *_ = stack
    cn, why = served(t, pki, SECURE, "-tls1_2")
    assert cn == "" and "protocol version" in why, why        # default minVersion 1.3: TLS 1.2 refused
    assert served(t, pki, LEGACY, "-tls1_2") == ("legacy", "TLSv1.2")  # its own tlsOptions win
    cn, why = served(t, pki, LEGACY, "-tls1_3")
    assert cn == "", why                                      # ... both ways: its maxVersion 1.2 holds
    cn, why = served(t, pki, UNKNOWN, "-tls1_2")
    assert cn == "" and "protocol version" in why, why        # the default certificate has the default options


def test_default_certificate_rotates_and_survives_a_broken_secret(stack, run_dir):
    t, pki, certs, mdir, ctl = stack
    v = t.dp.applied_version()
    ah.write_manifest(mdir, "default.yaml", tls_secret("default-tls", "tollgate-system", certs["default2"].cert_pem,
                                                       certs["default2"].key_pem))
    it.wait_until(lambda: t.dp.applied_version() > v, 10 * it.SLOW, what="the rotated default certificate")
    assert served(t, pki, UNKNOWN)[0] == "default-2"
    # expired, then a key of another certificate: reported; the controller keeps serving the last good one
    for what, cert, key, reason in (
            ("expired", certs["expired"].cert_pem, certs["expired"].key_pem, "the certificate has expired"),
            ("wrong key", certs["default2"].cert_pem, certs["secure"].key_pem,
             "the private key does not match the certificate")):
        mark = len(ctl.log())
        ah.write_manifest(mdir, "default.yaml", tls_secret("default-tls", "tollgate-system", cert, key))
        it.wait_until(lambda: f"--tls-default-certificate: Secret tollgate-system/default-tls: {reason}"
                              in ctl.log()[mark:], 10 * it.SLOW, what=f"the warning for {what}")
        it.wait_until(lambda: "tollgate-system/default-tls is unusable; the last good certificate stays in use"
                              in ctl.log()[mark:], 10 * it.SLOW, what=f"the last good restored ({what})")
        assert served(t, pki, UNKNOWN)[0] == "default-2", what
    # a new controller never saw it good: it sends the lastGood marker and the data plane keeps what it serves
    assert ctl.stop() == 0, ctl.log_tail()
    v = t.dp.applied_version()
    ctl2 = it.dir_controller("controller-tls-defaults-2", mdir, t.dp.control_socket, run_dir,
                             extra=["--log-level", "info", "--tls-default-certificate", "tollgate-system/default-tls",
                                    "--tls-default-min-version", "1.3"])
    it.wait_until(lambda: "default certificate Secret tollgate-system/default-tls has no usable certificate: the last "
                          "one served stays in use" in t.dp.proc.log(), 10 * it.SLOW, what="the data plane keeping it")
    assert t.dp.applied_version() > v
    assert served(t, pki, UNKNOWN)[0] == "default-2"
    assert "PRIVATE KEY" not in ctl.log() + ctl2.log() and "PRIVATE KEY" not in t.dp.proc.log()
    status, _, body = t.dp.admin("/config")
    assert status == 200 and b"PRIVATE KEY" not in body and b"BEGIN" not in body
    assert ctl2.stop() == 0, ctl2.log_tail()
