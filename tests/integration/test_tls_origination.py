"""TLS origination to backends (issue 12 item 6): ApiProxy target.tls as the snapshot carries it
(docs/control-protocol.md) — TLS to the backend with SNI, verification against a CA bundle (or the endpoint's IP
without a server name), mTLS with a client certificate, upstream session resumption, insecureSkipVerify logged,
and a failed verification answered 502 with the reason in the log and tollgate_upstream_tls_failures_total (never
a plain-text fallback). For HTTP and WebSocket (wss:// to the backend; with --tls-listen both legs are TLS, 1 MiB
messages byte-exact), against real TLS peers: a Python `websockets` server wrapped in `ssl`, which reports what it
saw of each connection (SNI, resumed or not, the client certificate), `openssl s_server`, and nginx with ssl.
Certificates are made by the test with `openssl` (tls_pki.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http import HTTPStatus

import pytest

import tollgate_it as it
from tls_pki import Pki

HOST = "origin.tls.test"          # the gateway's host (group)
BACKEND_NAME = "backend.tls.test"  # the backend certificate's DNS name


@pytest.fixture(scope="module")
def pki(run_dir):
    p = Pki(run_dir / "pki-origin", "origin-ca")
    p.backend = p.issue("backend", [BACKEND_NAME, "IP:127.0.0.1"], "ec")
    p.backend_dnsonly = p.issue("backend-dnsonly", [BACKEND_NAME], "ec")
    p.client = p.issue("tollgate-client", [], "ec", client=True)
    p.front = p.issue("front", [HOST], "ec")
    p.other = Pki(run_dir / "pki-origin-other", "other-ca")  # a CA that signed nothing of the backend's
    p.rogue = p.other.issue("rogue-backend", [BACKEND_NAME, "IP:127.0.0.1"], "ec")
    return p


def server_ctx(cert, client_ca=None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert.cert), str(cert.key))
    if client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(str(client_ca))
    return ctx


class TlsBackend(it.PyWsBackend):
    """The Python websockets backend on TLS: WebSocket echo, and a plain HTTP GET answered with a JSON report of
    the connection it came on ({"sni", "reused", "peer", "version", "path"}). Every connection is recorded in
    `seen` (also the WebSocket ones)."""

    def __init__(self, ctx: ssl.SSLContext):
        from websockets.legacy.server import WebSocketServerProtocol

        self.seen: list[dict] = []
        self.snis: list[str | None] = []
        backend = self

        def on_sni(sslobj, name, _ctx):
            backend.snis.append(name)

        ctx.sni_callback = on_sni

        class Protocol(WebSocketServerProtocol):
            async def process_request(self, path, headers):
                so = self.transport.get_extra_info("ssl_object")
                peer = so.getpeercert() if so is not None else None
                info = {"path": path, "reused": bool(so and so.session_reused),
                        "version": so.version() if so else None,
                        "sni": backend.snis[-1] if backend.snis else None,
                        "peer": dict(x[0] for x in peer["subject"]).get("commonName") if peer else None}
                backend.seen.append(info)
                if headers.get("Upgrade", "").lower() != "websocket":
                    body = json.dumps(info).encode()
                    return HTTPStatus.OK, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                           ("Connection", "close")], body
                return None

        super().__init__(ssl=ctx, create_protocol=Protocol)

    def endpoint(self) -> dict:
        return it.endpoint(self.port)


def serving(cert, client_ca=None):
    """A module fixture's body: a TlsBackend with cert (requiring client certificates of client_ca), stopped after."""
    b = TlsBackend(server_ctx(cert, client_ca)).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def backend(pki):
    yield from serving(pki.backend)


@pytest.fixture(scope="module")
def mtls_backend(pki):
    yield from serving(pki.backend, client_ca=pki.ca.cert)


def tls_proxy(pid, base, endpoints, **tls):
    p = it.proxy(pid, base, endpoints, strip=False)
    p["target"]["tls"] = {"enabled": True, "serverName": "", "caPem": "", **tls}
    return p


def origin_snapshot(version, pki, backend, mtls_backend, rogue_port=0, plain_port=0):
    ca = pki.ca.cert_pem
    ep, mep = backend.endpoint(), mtls_backend.endpoint()
    proxies = [
        tls_proxy("o/ok", "/ok", [ep], serverName=BACKEND_NAME, caPem=ca),
        tls_proxy("o/ip", "/ip", [ep], caPem=ca),  # no server name: the endpoint's IP is verified
        tls_proxy("o/wrongname", "/wrongname", [ep], serverName="other.tls.test", caPem=ca),
        tls_proxy("o/wrongca", "/wrongca", [ep], serverName=BACKEND_NAME, caPem=pki.other.ca.cert_pem),
        tls_proxy("o/mtls", "/mtls", [mep], serverName=BACKEND_NAME, caPem=ca,
                  clientCertPem=pki.client.cert_pem, clientKeyPem=pki.client.key_pem),
        tls_proxy("o/mtls-nocert", "/mtls-nocert", [mep], serverName=BACKEND_NAME, caPem=ca),
        tls_proxy("o/insecure", "/insecure", [ep], serverName="whatever.tls.test", insecureSkipVerify=True),
    ]
    if rogue_port:
        proxies.append(tls_proxy("o/rogue", "/rogue", [it.endpoint(rogue_port)], serverName=BACKEND_NAME, caPem=ca))
    if plain_port:
        proxies.append(tls_proxy("o/plain", "/plain", [it.endpoint(plain_port)], serverName=BACKEND_NAME, caPem=ca))
    g = it.group("o/front", [HOST, it.MAIN_HOST], ["prod"])
    g["tls"] = [{"hostnames": [HOST], "certPem": pki.front.cert_pem, "keyPem": pki.front.key_pem}]
    return it.snapshot(version, [g], proxies)


@pytest.fixture(scope="module")
def rogue(pki):
    yield from serving(pki.rogue)


@pytest.fixture(scope="module")
def odp(run_dir, pki, backend, mtls_backend, rogue, backends):
    tls_port = None
    for _ in range(3):
        tls_port = it.free_port()
        try:
            dp = it.Dataplane(run_dir, "dataplane-origin", workers=2,
                              args=["--tls-listen", f"127.0.0.1:{tls_port}", "--log-level", "info"]).start(
                origin_snapshot(1, pki, backend, mtls_backend, rogue.port, backends.b1.port))
            break
        except RuntimeError:
            continue
    else:
        raise RuntimeError("no data plane")
    it.wait_until(lambda: it.port_open(tls_port), 5, what="TLS listener")
    dp.tls_port = tls_port
    yield dp
    dp.check_clean_exit()


def get(dp, path, host=it.MAIN_HOST):
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", path, host=host, headers=[("Connection", "close")]))
        return c.read_response()


def tls_failures(dp) -> float:
    return dp.metrics().get("tollgate_upstream_tls_failures_total", 0)


def test_https_backend_verified_with_sni(odp, backend):
    r = get(odp, "/ok/x")
    assert r.status == 200, r.body
    info = r.json()
    assert info["sni"] == BACKEND_NAME and info["path"] == "/ok/x"
    assert info["version"] in ("TLSv1.2", "TLSv1.3")


def test_without_server_name_the_ip_is_verified_and_no_sni_sent(odp, backend):
    r = get(odp, "/ip/y")
    assert r.status == 200, r.body
    assert r.json()["sni"] is None  # RFC 6066: an IP address is never sent as SNI


@pytest.mark.parametrize("path,why", [("/wrongca/a", "unable to get local issuer certificate"),
                                      ("/wrongname/a", "hostname mismatch")])
def test_failed_verification_is_502_logged_and_counted(odp, backend, path, why):
    before, seen = tls_failures(odp), len(backend.seen)
    r = get(odp, path)
    assert r.status == 502, r.body
    assert r.json()["error"]["code"] == "upstream.tls_failed"
    it.wait_until(lambda: why in odp.proc.log(), 5, what=f"'{why}' in the log")
    line = [x for x in odp.proc.log().splitlines() if why in x][-1]
    assert "certificate verify failed" in line and f"proxy o{path[:path.rindex('/')]}:" in line, line
    assert tls_failures(odp) >= before + 1
    assert len(backend.seen) == seen  # no request reached the backend: nothing sent unverified


def test_backend_with_a_certificate_of_another_ca_is_refused(odp, rogue):
    r = get(odp, "/rogue/z")
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed"
    assert rogue.seen == []


def test_plain_text_backend_never_gets_a_plain_text_request(odp, backends):
    before = tls_failures(odp)
    r = get(odp, "/plain/p")
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed"
    assert tls_failures(odp) == before + 1


def test_mtls_backend_sees_the_client_certificate(odp, mtls_backend):
    r = get(odp, "/mtls/m")
    assert r.status == 200, r.body
    assert r.json()["peer"] == "tollgate-client"
    # without a client certificate the backend ends the connection (the asyncio server without an alert):
    # 502, and no request reached it
    seen = len(mtls_backend.seen)
    r = get(odp, "/mtls-nocert/m")
    assert r.status == 502, r.body
    assert len(mtls_backend.seen) == seen
    assert all(s["peer"] == "tollgate-client" for s in mtls_backend.seen)


def test_insecure_skip_verify_works_and_is_logged(odp, backend):
    r = get(odp, "/insecure/i")
    assert r.status == 200, r.body
    assert r.json()["sni"] == "whatever.tls.test"
    log = odp.proc.log()
    assert "o/insecure" in log and "insecureSkipVerify" in log and "NOT verified" in log


def test_sessions_are_resumed(odp, backend):
    start = len(backend.seen)
    for i in range(8):
        assert get(odp, f"/ok/resume{i}").status == 200
    mine = backend.seen[start:]
    assert len(mine) == 8
    # one session cache per worker (2 workers): at most two full handshakes, the rest resumed
    assert sum(s["reused"] for s in mine) >= 6, mine


def test_wss_both_legs_tls_byte_exact_1mib(odp, backend, pki):
    import websockets

    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    start = len(backend.seen)

    async def body():
        async with websockets.connect(f"wss://{HOST}:{odp.tls_port}/ok/ws", host="127.0.0.1", port=odp.tls_port,
                                      ssl=ctx, server_hostname=HOST, max_size=None, compression=None,
                                      ping_interval=None) as ws:
            await ws.send("hello over two TLS legs")
            assert await ws.recv() == "hello over two TLS legs"
            for size in (0, 125, 126, 65535, 65536, 1 << 20, (1 << 20) + 17):
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload
            await ws.send([b"a" * 20000, b"b" * 30000, b"c"])
            assert await ws.recv() == b"a" * 20000 + b"b" * 30000 + b"c"
            await ws.close()
            assert ws.close_code == 1000

    it.run(body())
    mine = backend.seen[start:]
    assert mine and mine[0]["path"] == "/ok/ws" and mine[0]["sni"] == BACKEND_NAME


def test_ws_plain_client_to_tls_backend_and_mtls(odp, backend, mtls_backend):
    async def one(path):
        async with it.ws_connect(odp, path, compression=None) as ws:
            payload = os.urandom(1 << 20)
            await ws.send(payload)
            assert await ws.recv() == payload

    it.run(one("/ok/plainws"))
    start = len(mtls_backend.seen)
    it.run(one("/mtls/ws"))
    assert mtls_backend.seen[start]["peer"] == "tollgate-client"


def test_ws_upgrade_to_unverified_backend_is_502(odp):
    with it.RawHttp(odp.port) as c:
        c.send(it.ws_handshake_bytes("/wrongca/ws"))
        r = c.read_response()
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed"


def test_invalid_tls_settings_refuse_the_snapshot(odp, pki, backend, mtls_backend):
    applied = odp.applied_version()
    ep = backend.endpoint()
    bad = [
        ({"caPem": "not a certificate"}, "caPem"),
        ({"clientCertPem": pki.client.cert_pem}, "clientCertPem and clientKeyPem"),
        ({"clientCertPem": pki.client.cert_pem, "clientKeyPem": pki.backend.key_pem}, "does not match"),
        ({"serverName": "10.0.0.1"}, "serverName"),
        ({"insecureSkipVerify": "yes"}, "insecureSkipVerify"),
        ({"caPem": pki.ca.cert_pem, "insecureSkipVerify": True}, "exclude each other"),
        ({"bogus": 1}, "unknown field"),
    ]
    for i, (tls, why) in enumerate(bad):
        snap = origin_snapshot(applied + 1 + i, pki, backend, mtls_backend)
        snap["proxies"].append(tls_proxy("o/bad", "/bad", [ep], **tls))
        status, answer = odp.push(snap)
        assert status != 200, tls
        assert any(why in e and "proxies[" in e for e in answer["errors"]), answer
        assert "PRIVATE KEY" not in json.dumps(answer)
    assert odp.applied_version() == applied
    status, _, body = odp.admin("/config")
    assert status == 200 and b"PRIVATE KEY" not in body and b"CERTIFICATE" not in body
    proxies = {p["id"]: p for p in json.loads(body)["proxies"]}
    assert proxies["o/mtls"]["tls"] == {"serverName": BACKEND_NAME, "verify": True, "clientCertificate": True,
                                        "crlCheck": False, "minVersion": "1.2", "maxVersion": "1.3"}
    assert proxies["o/insecure"]["tls"]["verify"] is False and proxies["o/ip"]["tls"]["serverName"] == ""


def s_server(run_dir, name, pki, extra):
    """`openssl s_server -www` with the backend certificate (and extra arguments), listening; (its Proc, port)."""
    port = it.free_port()
    proc = it.Proc(name, ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(pki.backend.cert),
                          "-key", str(pki.backend.key), "-www", "-quiet", *extra], run_dir)
    try:
        it.wait_until(lambda: it.port_open(port), 10, what="s_server")
    except BaseException:
        proc.kill()
        raise
    return proc, port


def s_server_snapshot(pki, port):
    """One proxy at / to the s_server on port, verified against the test CA with the backend's name."""
    return it.snapshot(1, [it.group("o/s", [it.MAIN_HOST])],
                       [tls_proxy("o/s", "/", [it.endpoint(port)], serverName=BACKEND_NAME, caPem=pki.ca.cert_pem)])


def test_backend_refusing_the_missing_client_certificate_is_a_tls_failure(run_dir, dp_factory, pki):
    """`openssl s_server -Verify 1` (client certificate required) answers a client without one with the TLS 1.3
    alert certificate_required, which reaches the data plane after its handshake completed: still a TLS
    failure — 502 upstream.tls_failed, counted, the alert in the log."""
    proc, port = s_server(run_dir, "s_server-mtls", pki, ["-CAfile", str(pki.ca.cert), "-Verify", "1"])
    try:
        dp = dp_factory(s_server_snapshot(pki, port), workers=1)
        r = get(dp, "/")
        assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
        assert tls_failures(dp) == 1
        it.wait_until(lambda: "certificate required" in dp.proc.log(), 5, what="the alert in the log")
    finally:
        proc.kill()


@pytest.mark.parametrize("version,extra", [("TLSv1.3", []), ("TLSv1.2", ["-tls1_2"]),
                                           ("TLSv1.2", ["-tls1_2", "-no_ticket"])],
                         ids=["tls13-tickets", "tls12-tickets", "tls12-session-ids"])
def test_openssl_s_server_backend_sees_resumption(run_dir, dp_factory, pki, version, extra):
    """`openssl s_server -www` as the backend: its status page says whether the session was reused — TLS 1.3
    tickets, TLS 1.2 tickets and TLS 1.2 session ids (-no_ticket: the server's session cache)."""
    proc, port = s_server(run_dir, "s_server", pki, extra)
    try:
        dp = dp_factory(s_server_snapshot(pki, port), workers=1)
        hits = []
        for _ in range(6):
            r = get(dp, "/")
            assert r.status == 200, r.body
            text = r.body.decode(errors="replace")
            assert "Ciphers supported in s_server binary" in text and f"Protocol  : {version}" in text, text[-400:]
            hits.append("Reused, " in text)
        # the first connection makes a full handshake, every later one resumes its session
        assert hits[0] is False and all(hits[1:]), hits
    finally:
        proc.kill()


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed")
def test_nginx_ssl_backend_with_client_certificate(run_dir, dp_factory, pki):
    """nginx with ssl_verify_client on as the backend: it reports the client certificate's subject and whether
    the session was reused ($ssl_session_reused)."""
    port = it.free_port()
    d = run_dir / f"nginx-origin-{port}"
    d.mkdir()
    conf = d / "nginx.conf"
    conf.write_text(f"""
daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {pki.backend.cert}; ssl_certificate_key {pki.backend.key};
    ssl_client_certificate {pki.ca.cert}; ssl_verify_client on;
    ssl_session_cache shared:s:1m; ssl_session_tickets on; keepalive_timeout 0;
    location / {{ return 200 "subject=$ssl_client_s_dn reused=$ssl_session_reused sni=$ssl_server_name\\n"; }}
  }}
}}
""")
    proc = it.Proc("nginx-origin", ["nginx", "-c", str(conf), "-p", str(d)], run_dir)
    try:
        it.wait_until(lambda: it.port_open(port), 10, what="nginx")
        snap = it.snapshot(1, [it.group("o/n", [it.MAIN_HOST])],
                           [tls_proxy("o/n", "/", [it.endpoint(port)], serverName=BACKEND_NAME, caPem=pki.ca.cert_pem,
                                      clientCertPem=pki.client.cert_pem, clientKeyPem=pki.client.key_pem)])
        dp = dp_factory(snap, workers=1)
        bodies = []
        for i in range(4):  # keepalive_timeout 0: a new upstream connection (and handshake) per request
            r = get(dp, f"/n{i}")
            assert r.status == 200, r.body
            bodies.append(r.body.decode())
        assert all("CN=tollgate-client" in b and f"sni={BACKEND_NAME}" in b for b in bodies), bodies
        assert all("reused=r" in b for b in bodies[1:]), bodies
    finally:
        proc.stop()  # SIGTERM: the master takes its worker down (SIGKILL orphaned the worker)


# ---------------------------------------------------------------------------------------------- through the controller

def _indent(pem: str) -> str:
    return "\n".join("    " + line for line in pem.strip().splitlines())


def _ca_secret(pem: str) -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata: {{name: backend-ca, namespace: apis}}\nstringData:\n  ca.crt: |\n" \
           f"{_indent(pem)}\n"


def test_controller_dir_mode_target_tls_from_secrets(run_dir, dp_factory, pki, mtls_backend, tmp_path):
    """tollgate-controller --source dir: the CA bundle (Secret ca.crt) and the client certificate (kubernetes.io/tls
    Secret, base64 data) reach the data plane; the mTLS backend sees the certificate; a CA Secret replaced with
    another CA turns the next request into 502 upstream.tls_failed; no key material in either log."""
    import base64

    import auth_helpers as ah

    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    dp = dp_factory(it.snapshot(1, [], []))
    mdir = tmp_path / "manifests"
    ah.write_manifest(mdir, "group.yaml", f"""apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: main, namespace: apis}}
spec: {{hostnames: ["{it.MAIN_HOST}"], environments: [prod]}}
""")
    ah.write_manifest(mdir, "proxy.yaml", f"""apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: secure, namespace: apis}}
spec:
  environments: [prod]
  basePath: /secure
  stripBasePath: false
  target:
    url: https://127.0.0.1:{mtls_backend.port}
    tls: {{serverName: {BACKEND_NAME}, caSecretName: backend-ca, clientCertSecretName: gateway-client}}
""")
    ah.write_manifest(mdir, "client.yaml", f"""apiVersion: v1
kind: Secret
metadata: {{name: gateway-client, namespace: apis}}
type: kubernetes.io/tls
data: {{tls.crt: {b64(pki.client.cert_pem)}, tls.key: {b64(pki.client.key_pem)}}}
""")
    ah.write_manifest(mdir, "ca.yaml", _ca_secret(pki.ca.cert_pem))
    ctl = ah.Controller(run_dir, mdir, dp).start()
    try:
        it.wait_until(lambda: dp.applied_version() > 1, 10 * it.SLOW, what="the controller's first push")
        r = it.wait_until(lambda: (lambda x: x if x.status == 200 else None)(get(dp, "/secure/a")), 10 * it.SLOW,
                          what="200 through the controller's snapshot")
        assert r.json()["peer"] == "tollgate-client" and r.json()["sni"] == BACKEND_NAME
        version = dp.applied_version()
        ah.write_manifest(mdir, "ca.yaml", _ca_secret(pki.other.ca.cert_pem))
        it.wait_until(lambda: dp.applied_version() > version, 10 * it.SLOW, what="the push after the CA change")
        r = get(dp, "/secure/b")
        assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
        for log in (dp.proc.log(), ctl.proc.log()):
            assert "PRIVATE KEY" not in log and pki.client.key_pem.splitlines()[1] not in log
    finally:
        assert ctl.stop() == 0, ctl.proc.log_tail()


def test_tls_failure_log_is_rate_limited_but_every_failure_counted(odp):
    def lines():
        return sum("proxy o/wrongca: TLS" in x for x in odp.proc.log().splitlines())

    time.sleep(1.1)  # past the last logged failure of this endpoint
    before_lines, before = lines(), tls_failures(odp)
    for _ in range(20):
        assert get(odp, "/wrongca/burst").status == 502
    assert tls_failures(odp) == before + 20
    assert 1 <= lines() - before_lines <= 3  # one line per second (20 requests take well under 3 s)


class EchoHttpsBackend:
    """http.server on TLS (HTTP/1.1 keep-alive): answers every request with a JSON of the method, the body's length
    and SHA-256 and how many TLS connections it accepted so far; a GET of /big/N answers N bytes, chunked."""

    def __init__(self, ctx: ssl.SSLContext):
        import http.server

        backend = self
        self.connections = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                backend.connections += 1
                super().setup()

            def _answer(self, body_bytes: bytes):
                info = {"method": self.command, "length": len(body_bytes),
                        "sha256": hashlib.sha256(body_bytes).hexdigest(), "connections": backend.connections}
                out = json.dumps(info).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_POST(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            self.rfile.readline()
                            break
                        data += self.rfile.read(size)
                        self.rfile.readline()
                else:
                    data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self._answer(data)

            def do_GET(self):
                if self.path.startswith("/big/"):
                    n = int(self.path.split("/")[2])
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    block = bytes(range(256)) * 256
                    left = n
                    while left:
                        piece = block[:min(left, len(block))]
                        self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                        left -= len(piece)
                    self.wfile.write(b"0\r\n\r\n")
                    return
                self._answer(b"")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_request_and_response_bodies_over_tls_and_pooled_connections(dp_factory, pki):
    """1 MiB request bodies (Content-Length and chunked) and a 3 MiB chunked response through a TLS backend leg,
    byte-exact; keep-alive connections to it are pooled (far fewer TLS connections than requests)."""
    b = EchoHttpsBackend(server_ctx(pki.backend))
    try:
        snap = it.snapshot(1, [it.group("o/h", [it.MAIN_HOST])],
                           [tls_proxy("o/h", "/", [it.endpoint(b.port)], serverName=BACKEND_NAME,
                                      caPem=pki.ca.cert_pem)])
        dp = dp_factory(snap, workers=1)
        body = os.urandom(1 << 20)
        with it.RawHttp(dp.port, timeout=20) as c:
            for i in range(6):
                c.send(it.request_bytes("POST", f"/echo/{i}", headers=[("Content-Length", str(len(body)))]) + body)
                r = c.read_response()
                assert r.status == 200, r.body
                assert r.json()["length"] == len(body) and r.json()["sha256"] == hashlib.sha256(body).hexdigest()
            chunked = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in (body[:300000], body[300000:]))
            c.send(it.request_bytes("POST", "/echo/chunked", headers=[("Transfer-Encoding", "chunked")]) + chunked +
                   b"0\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and r.json()["sha256"] == hashlib.sha256(body).hexdigest(), r.body
            c.send(it.request_bytes("GET", "/big/3145728"))
            r = c.read_response()
            assert r.status == 200 and len(r.body) == 3 << 20
            assert r.body == (bytes(range(256)) * 256) * 48
        assert b.connections <= 2, b.connections  # one pooled TLS connection served them all (2: a retry at most)
    finally:
        b.stop()


def test_without_ca_bundle_the_system_store_verifies(dp_factory, pki, backend, monkeypatch):
    """No caPem: the system trust store decides. The test CA is not in it, so the backend is refused (502); with
    OpenSSL's SSL_CERT_FILE pointing the system store at the test CA, the same snapshot verifies (200)."""
    snap = it.snapshot(1, [it.group("o/sys", [it.MAIN_HOST])],
                       [tls_proxy("o/sys", "/sys", [backend.endpoint()], serverName=BACKEND_NAME)])
    dp = dp_factory(snap, workers=1)
    r = get(dp, "/sys/a")
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed"
    it.wait_until(lambda: "unable to get local issuer certificate" in dp.proc.log(), 5, what="the reason logged")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca.cert))
    dp2 = dp_factory(snap, workers=1)
    r = get(dp2, "/sys/b")
    assert r.status == 200, r.body
    assert r.json()["sni"] == BACKEND_NAME
