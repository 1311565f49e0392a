"""Per-group TLS options (issue 12): protocol versions and cipher lists chosen per EnvironmentGroup (applied in the
ClientHello callback, so a group's versions hold whatever the listener's default), the no-SNI / unknown-name
fallback (handshake failure `unrecognized_name` by default, a group's certificates with `defaultCertificate`),
the opt-in plain-HTTP 308 redirect to https and HSTS on HTTPS answers only. Real clients: `openssl s_client`,
curl, Python ssl. Certificates are made by the test with `openssl` (tls_pki.py)."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess

import pytest

import tollgate_it as it
from tls_pki import Pki

V13, V12, OPEN, REDIR = "v13.opt.test", "v12.opt.test", "open.opt.test", "redir.opt.test"


@pytest.fixture(scope="module")
def pki(run_dir):
    p = Pki(run_dir / "pki-opt")
    p.v13 = p.issue("v13", [V13], "ec")
    p.v12 = p.issue("v12", [V12], "ec")
    p.open = p.issue("open", [OPEN], "ec")
    p.redir = p.issue("redir", [REDIR], "ec")
    return p


def entry(c):
    return {"certPem": c.cert_pem, "keyPem": c.key_pem}


def options_snapshot(version, pki, backends, default_group=None):
    e1 = backends.b1.endpoint()
    g13 = it.group("opt/v13", [V13], ["e13"])
    g13["tls"] = [entry(pki.v13)]
    g13["tlsOptions"] = {"minVersion": "1.3", "cipherSuites": "TLS_CHACHA20_POLY1305_SHA256"}
    g12 = it.group("opt/v12", [V12], ["e12"])
    g12["tls"] = [entry(pki.v12)]
    g12["tlsOptions"] = {"maxVersion": "1.2", "ciphers": "ECDHE-ECDSA-AES256-GCM-SHA384"}
    gopen = it.group("opt/open", [OPEN], ["eo"])
    gopen["tls"] = [entry(pki.open)]
    gopen["hsts"] = {"maxAgeSeconds": 600, "includeSubDomains": True, "preload": False}
    gr = it.group("opt/redir", [REDIR], ["er"])
    gr["tls"] = [entry(pki.redir)]
    gr["httpsRedirect"] = {"port": 8443}
    gr["hsts"] = {"maxAgeSeconds": 31536000, "includeSubDomains": True, "preload": True}
    groups = [g13, g12, gopen, gr]
    if default_group:
        for g in groups:
            if g["id"] == default_group:
                g.setdefault("tlsOptions", {})["defaultCertificate"] = True
    proxies = [it.proxy(f"opt/echo-{e}", "/echo", [e1], environments=[e]) for e in ("e13", "e12", "eo", "er")]
    return it.snapshot(version, groups, proxies)


@pytest.fixture(scope="module")
def dp(run_dir, backends, pki):
    for _ in range(3):
        port = it.free_port()
        try:
            d = it.Dataplane(run_dir, "dataplane-tls-opt", workers=2,
                             args=["--tls-listen", f"127.0.0.1:{port}"]).start(options_snapshot(1, pki, backends))
        except RuntimeError:
            continue
        it.wait_until(lambda: it.port_open(port), 5, what="TLS listener")
        d.tls_port = port
        yield d
        d.check_clean_exit()
        return
    raise RuntimeError("no TLS data plane")


def s_client(port, *args):
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], input=b"",
                          capture_output=True, timeout=10)


def negotiated(r):
    """(protocol, cipher) from s_client's summary, or None when the handshake failed."""
    out = r.stdout.decode("latin-1")
    if "Cipher is (NONE)" in out or "New, " not in out:
        return None
    line = out.split("New, ", 1)[1].split("\n", 1)[0]  # "TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"
    proto, _, rest = line.partition(", Cipher is ")
    cipher = rest.split()[0]
    return proto, cipher


def curl(port, host, *args, scheme="https", path="/echo/x"):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}", "-k",
                           "--resolve", f"{host}:{port}:127.0.0.1", *args, f"{scheme}://{host}:{port}{path}"],
                          capture_output=True, timeout=10, text=True)


def test_group_min_version_13(dp, pki):
    assert negotiated(s_client(dp.tls_port, "-servername", V13, "-tls1_2")) is None
    got = negotiated(s_client(dp.tls_port, "-servername", V13, "-tls1_3"))
    assert got == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"), got
    # the same listener still speaks 1.2 for another group
    assert negotiated(s_client(dp.tls_port, "-servername", OPEN, "-tls1_2"))[0] == "TLSv1.2"
    # curl: --tls-max 1.2 cannot reach the 1.3-only group, 1.3 can
    r = curl(dp.tls_port, V13, "--tls-max", "1.2")
    assert r.returncode != 0, r.stdout
    r = curl(dp.tls_port, V13, "--tlsv1.3")
    assert r.returncode == 0 and r.stdout.endswith("200"), (r.stdout, r.stderr)


def test_group_tls13_suite_list(dp, pki):
    r = s_client(dp.tls_port, "-servername", V13, "-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256")
    assert negotiated(r) is None, r.stdout.decode()


def test_group_max_version_12_and_cipher_list(dp, pki):
    assert negotiated(s_client(dp.tls_port, "-servername", V12, "-tls1_3")) is None
    got = negotiated(s_client(dp.tls_port, "-servername", V12))
    assert got == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384"), got
    # a cipher the group does not allow (the listener's default would)
    r = s_client(dp.tls_port, "-servername", V12, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256")
    assert negotiated(r) is None, r.stdout.decode()
    r = curl(dp.tls_port, V12, "--tls-max", "1.2")
    assert r.returncode == 0 and r.stdout.endswith("200"), (r.stdout, r.stderr)
    # Python ssl: a TLS 1.3-only client is refused, its default one gets 1.2
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with pytest.raises(ssl.SSLError):
        with socket.create_connection(("127.0.0.1", dp.tls_port), timeout=5) as raw:
            ctx.wrap_socket(raw, server_hostname=V12)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    with socket.create_connection(("127.0.0.1", dp.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=V12) as s:
            assert s.version() == "TLSv1.2"


def test_no_sni_fallback_configurable(dp, pki, backends):
    # default: no SNI and an unknown name fail with unrecognized_name
    for args in (["-noservername"], ["-servername", "unknown.opt.test"]):
        r = s_client(dp.tls_port, *args)
        assert negotiated(r) is None and b"unrecognized name" in r.stderr, r.stderr.decode()
    # the 1.3-only group becomes the default certificate: its certificate and its versions apply
    code, body = dp.push(options_snapshot(2, pki, backends, default_group="opt/v13"))
    assert code == 200, body
    for args in (["-noservername"], ["-servername", "unknown.opt.test"]):
        r = s_client(dp.tls_port, *args, "-tls1_3")
        assert negotiated(r) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"), r.stdout.decode()
        assert "CN = v13" in r.stdout.decode() or "CN=v13" in r.stdout.decode()
        assert negotiated(s_client(dp.tls_port, *args, "-tls1_2")) is None
    # a known name still gets its own certificate
    r = s_client(dp.tls_port, "-servername", OPEN)
    assert "CN = open" in r.stdout.decode() or "CN=open" in r.stdout.decode()
    code, body = dp.push(options_snapshot(3, pki, backends))
    assert code == 200, body
    assert b"unrecognized name" in s_client(dp.tls_port, "-noservername").stderr


def test_refused_options_keep_the_old_snapshot(dp, pki, backends):
    snap = options_snapshot(10, pki, backends)
    snap["groups"][0]["tlsOptions"]["ciphers"] = "NOT-A-CIPHER"
    code, body = dp.push(snap)
    assert code == 400 and "tlsOptions.ciphers" in str(body), (code, body)


def test_plain_http_redirect_308(dp, pki):
    r = curl(dp.port, REDIR, scheme="http", path="/echo/a%20b?x=1&y=2")
    assert r.stdout.endswith("308"), r.stdout
    assert f"Location: https://{REDIR}:8443/echo/a%20b?x=1&y=2" in r.stdout, r.stdout
    assert "strict-transport-security" not in r.stdout.lower()  # RFC 6797 §7.2: never over plain HTTP
    # ACME HTTP-01 challenges stay on plain HTTP
    r = curl(dp.port, REDIR, scheme="http", path="/.well-known/acme-challenge/token")
    assert not r.stdout.endswith("308"), r.stdout
    # a group without the option is served on plain HTTP as before, and without HSTS there
    r = curl(dp.port, OPEN, scheme="http")
    assert r.stdout.endswith("200") and "strict-transport-security" not in r.stdout.lower(), r.stdout
    # WebSocket over plain HTTP is redirected too (a client that follows it reconnects with wss://)
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes("/echo", host=REDIR))
        resp = c.read_response()
        assert resp.status == 308 and resp.header("location") == f"https://{REDIR}:8443/echo"


def test_hsts_on_https_answers(dp, pki):
    r = curl(dp.tls_port, OPEN)
    assert r.stdout.endswith("200"), r.stdout
    assert "Strict-Transport-Security: max-age=600; includeSubDomains\n" in r.stdout, r.stdout
    r = curl(dp.tls_port, REDIR)
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload\n" in r.stdout, r.stdout
    # the gateway's own answers carry it too (no proxy at this path)
    r = curl(dp.tls_port, OPEN, path="/nothing-here")
    assert r.stdout.endswith("404") and "Strict-Transport-Security: max-age=600" in r.stdout, r.stdout
    # a group without hsts: none
    r = curl(dp.tls_port, V12, "--tls-max", "1.2")
    assert "strict-transport-security" not in r.stdout.lower(), r.stdout
    # exactly once per response
    assert r.stdout.lower().count("strict-transport-security") == 0
    r = curl(dp.tls_port, OPEN)
    assert r.stdout.lower().count("strict-transport-security") == 1


def test_tls13_resumption_chain(dp, pki):
    """Every TLS 1.3 resumption is given a fresh ticket (clients use a ticket once, RFC 8446 §C.4): a client that
    always resumes with the ticket of its previous connection resumes every time, not every other time."""
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    sess, reused, fresh = None, [], []
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", dp.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=OPEN, session=sess) as s:
                s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {OPEN}\r\n\r\n".encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096)
                assert data.startswith(b"HTTP/1.1 200"), data
                reused.append(s.session_reused)
                fresh.append(sess is None or s.session.id != sess.id)  # a new ticket came with this connection
                sess = s.session
    assert reused == [False] + [True] * 5, reused
    assert all(fresh), fresh


def _start_with_keys(run_dir, name, snap, keys_file):
    for _ in range(3):
        port = it.free_port()
        try:
            d = it.Dataplane(run_dir, name, workers=2,
                             args=["--tls-listen", f"127.0.0.1:{port}", "--tls-ticket-keys-file", str(keys_file)]
                             ).start(snap)
        except RuntimeError:
            continue
        it.wait_until(lambda: it.port_open(port), 5, what="TLS listener")
        d.tls_port = port
        return d
    raise RuntimeError("no TLS data plane")


def _session_then_resume(first_port, second_port, version, pki):
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    ctx.minimum_version = ctx.maximum_version = version
    sess = None
    for port in (first_port, second_port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=OPEN, session=sess) as s:
                s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {OPEN}\r\n\r\n".encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(4096)
                reused = s.session_reused
                sess = s.session
    return reused


def test_ticket_keys_file_shared_by_replicas(run_dir, backends, pki, dp, tmp_path):
    """Two data planes reading the same --tls-ticket-keys-file resume each other's tickets (TLS 1.2 and 1.3); a
    data plane with its own keys does not; a file that is not 1-3 keys of 80 bytes stops the start."""
    keys = tmp_path / "ticket.keys"
    keys.write_bytes(os.urandom(160))
    snap = options_snapshot(1, pki, backends)
    a = _start_with_keys(run_dir, "dataplane-tls-keys-a", snap, keys)
    b = _start_with_keys(run_dir, "dataplane-tls-keys-b", snap, keys)
    try:
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            assert _session_then_resume(a.tls_port, b.tls_port, version, pki), version
            assert not _session_then_resume(a.tls_port, dp.tls_port, version, pki), version
        assert "TLS: session-ticket keys from" in a.proc.log()
    finally:
        a.check_clean_exit()
        b.check_clean_exit()
    keys.write_bytes(os.urandom(79))
    r = subprocess.run([str(it.binary("tollgate-dataplane")), "--listen", f"127.0.0.1:{it.free_port()}",
                        "--tls-listen", f"127.0.0.1:{it.free_port()}", "--admin", f"127.0.0.1:{it.free_port()}",
                        "--control-socket", "", "--tls-ticket-keys-file", str(keys), "--workers", "1"],
                       capture_output=True, text=True, timeout=15)
    assert r.returncode != 0 and "must hold 1 to 3 keys of 80 bytes" in r.stderr + r.stdout, (r.returncode,
                                                                                               r.stderr)


def test_tls_handshake_metrics(dp, pki):
    """/metrics counts completed handshakes, resumed ones and those the listener refused with a fatal alert."""
    def m():
        got = dp.metrics()
        return (got.get("tollgate_tls_handshakes_total", 0), got.get("tollgate_tls_resumed_handshakes_total", 0),
                got.get("tollgate_tls_handshake_failures_total", 0))
    h0, r0, f0 = m()
    assert _session_then_resume(dp.tls_port, dp.tls_port, ssl.TLSVersion.TLSv1_3, pki)
    assert negotiated(s_client(dp.tls_port, "-servername", V13, "-tls1_2")) is None  # protocol_version
    assert negotiated(s_client(dp.tls_port, "-servername", "unknown.opt.test")) is None  # unrecognized_name
    it.wait_until(lambda: m() == (h0 + 2, r0 + 1, f0 + 2), 5, what=f"the TLS counters (from {(h0, r0, f0)})")
