"""TLS termination on --tls-listen (issue 12): certificates by SNI from the snapshot (exact, wildcard, group
default, unrecognized_name or --tls-default-host), ECDSA and RSA side by side, TLS 1.2/1.3 only, ALPN http/1.1,
https:// and wss:// (byte-exact echo, 1 MiB messages) through real clients (Python ssl/websockets, curl,
`openssl s_client`, Node ws), 421 when Host and SNI name different groups, certificate rotation under 100 live
wss:// sessions, a broken certificate refused whole (the old one stays), and no key material in /config or logs.
Certificates are made by the test with `openssl` (tls_pki.py)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import subprocess

import pytest

import tollgate_it as it
from tls_pki import Pki

A_HOST, WILD_HOST, DEFAULT_HOST, B_HOST, NOTLS_HOST = (
    "api.tls.test", "x.wild.tls.test", "plain.tls.test", "b.tls.test", "notls.test")


@pytest.fixture(scope="module")
def pki(run_dir):
    p = Pki(run_dir / "pki")
    p.a_ec = p.issue("api-ec", [A_HOST, DEFAULT_HOST], "ec")
    p.a_rsa = p.issue("api-rsa", [A_HOST, DEFAULT_HOST], "rsa")
    p.wild = p.issue("wild", ["*.wild.tls.test"], "ec")
    p.b = p.issue("b", [B_HOST], "ec")
    p.b2 = p.issue("b-rotated", [B_HOST], "ec")
    p.expired = p.issue("b-expired", [B_HOST], "ec", not_after_past=True)
    return p


def tls_snapshot(version, pki, backends, b_cert=None, b_key=None):
    e1 = backends.b1.endpoint()
    ga = it.group("tls/a", [A_HOST, "*.wild.tls.test", DEFAULT_HOST], ["prod"])
    ga["tls"] = [
        {"hostnames": [A_HOST], "certPem": pki.a_ec.cert_pem, "keyPem": pki.a_ec.key_pem},
        {"hostnames": [A_HOST], "certPem": pki.a_rsa.cert_pem, "keyPem": pki.a_rsa.key_pem},
        {"hostnames": ["*.wild.tls.test"], "certPem": pki.wild.cert_pem, "keyPem": pki.wild.key_pem},
    ]
    gb = it.group("tls/b", [B_HOST], ["e-b"])
    gb["tls"] = [{"certPem": b_cert or pki.b.cert_pem, "keyPem": b_key or pki.b.key_pem}]
    gn = it.group("tls/none", [NOTLS_HOST], ["e-n"])
    proxies = [it.proxy("tls/echo", "/echo", [e1]),
               it.proxy("tls/echo-b", "/echo", [e1], environments=["e-b"]),
               it.proxy("tls/echo-n", "/echo", [e1], environments=["e-n"])]
    return it.snapshot(version, [ga, gb, gn], proxies)


class TlsDp:
    def __init__(self, dp, tls_port):
        self.dp, self.tls_port = dp, tls_port


def start_tls_dp(run_dir, snap, name, extra=()):
    for _ in range(3):
        port = it.free_port()
        try:
            dp = it.Dataplane(run_dir, name, workers=2,
                              args=["--tls-listen", f"127.0.0.1:{port}", *extra]).start(snap)
        except RuntimeError:
            continue
        it.wait_until(lambda: it.port_open(port), 5, what="TLS listener")
        return TlsDp(dp, port)
    raise RuntimeError("no TLS data plane")


@pytest.fixture(scope="module")
def tls_dp(run_dir, backends, pki):
    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-tls")
    yield t
    t.dp.check_clean_exit()


def client_ctx(pki, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def handshake(port, server_name, ctx):
    """(peer certificate dict, TLS version, cipher, ALPN) of one handshake."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name) as s:
            return s.getpeercert(), s.version(), s.cipher(), s.selected_alpn_protocol()


def cn(cert: dict) -> str:
    return dict(x[0] for x in cert["subject"])["commonName"]


def s_client(port, *args, stdin=b"") -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *args], input=stdin,
                          capture_output=True, timeout=10)


def https_get(t, host, path, sni=None, ctx=None, pki=None):
    """One GET over TLS with SNI sni (default: host) and Host host; (status, headers, body)."""
    ctx = ctx or client_ctx(pki)
    with socket.create_connection(("127.0.0.1", t.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni or host) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# ------------------------------------------------------------------------------------------ certificate choice

def test_sni_exact_wildcard_group_default(tls_dp, pki):
    ctx = client_ctx(pki)
    assert cn(handshake(tls_dp.tls_port, A_HOST, ctx)[0]) in ("api-ec", "api-rsa")
    assert cn(handshake(tls_dp.tls_port, WILD_HOST, ctx)[0]) == "wild"
    assert cn(handshake(tls_dp.tls_port, "deeper.x.wild.tls.test", client_ctx(pki, check_hostname=False))[0]) \
        == "wild"
    # plain.tls.test: a hostname of group a that no entry names → the group's default (its first ECDSA entry)
    assert cn(handshake(tls_dp.tls_port, DEFAULT_HOST, ctx)[0]) == "api-ec"
    assert cn(handshake(tls_dp.tls_port, B_HOST, ctx)[0]) == "b"


def test_ecdsa_and_rsa_side_by_side(tls_dp, pki):
    """The client's signature algorithms pick between the two certificates of one hostname."""
    for sigalgs, expect in (("ECDSA+SHA256", "api-ec"), ("rsa_pss_rsae_sha256:RSA+SHA256", "api-rsa")):
        for version in ("-tls1_2", "-tls1_3"):
            r = s_client(tls_dp.tls_port, "-servername", A_HOST, "-sigalgs", sigalgs, version,
                         "-CAfile", str(pki.ca.cert), "-verify_return_error")
            out = r.stdout.decode()
            assert r.returncode == 0, r.stderr.decode()
            assert f"CN = {expect}" in out, out


def test_unknown_or_missing_sni_refused_with_unrecognized_name(tls_dp, pki):
    for args in (["-servername", NOTLS_HOST], ["-servername", "nowhere.example"], ["-noservername"]):
        r = s_client(tls_dp.tls_port, *args)
        assert r.returncode != 0
        assert b"unrecognized name" in r.stderr, r.stderr.decode()


def test_default_host_flag_answers_without_sni(run_dir, backends, pki):
    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-tls-default",
                     ["--tls-default-host", B_HOST])
    try:
        r = s_client(t.tls_port, "-noservername", "-CAfile", str(pki.ca.cert))
        assert r.returncode == 0 and b"CN = b" in r.stdout, r.stderr.decode()
        r = s_client(t.tls_port, "-servername", "nowhere.example")
        assert r.returncode == 0 and b"CN = b" in r.stdout
    finally:
        t.dp.check_clean_exit()


def test_tls12_and_tls13_succeed_older_refused(tls_dp, pki):
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(pki, minimum_version=v, maximum_version=v)
        _, version, cipher, _ = handshake(tls_dp.tls_port, A_HOST, ctx)
        assert version == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
        if v == ssl.TLSVersion.TLSv1_2:
            assert cipher[0].startswith("ECDHE-") and ("GCM" in cipher[0] or "CHACHA20" in cipher[0])
    for flag in ("-tls1", "-tls1_1"):
        r = s_client(tls_dp.tls_port, "-servername", A_HOST, flag, "-cipher", "DEFAULT@SECLEVEL=0")
        assert r.returncode != 0
        assert b"alert protocol version" in r.stderr and b"no peer certificate available" in r.stdout


def test_alpn_http11_only(tls_dp, pki):
    ctx = client_ctx(pki)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    assert handshake(tls_dp.tls_port, A_HOST, ctx)[3] == "http/1.1"
    ctx = client_ctx(pki)
    ctx.set_alpn_protocols(["h2"])
    assert handshake(tls_dp.tls_port, A_HOST, ctx)[3] is None


# ------------------------------------------------------------------------------------------------ HTTP and wss

def test_https_with_curl(tls_dp, pki):
    p = tls_dp.tls_port
    r = subprocess.run(["curl", "-sS", "--cacert", str(pki.ca.cert), "--resolve", f"{A_HOST}:{p}:127.0.0.1",
                        f"https://{A_HOST}:{p}/echo/hello?x=1", "-w", "\n%{http_code} %{http_version}"],
                       capture_output=True, text=True, timeout=10)
    body, _, tail = r.stdout.rpartition("\n")
    assert tail == "200 1.1", r.stderr
    echo = json.loads(body)
    assert (echo["method"], echo["path"], echo["query"]) == ("GET", "/hello", "x=1")
    assert echo["headers"]["x-forwarded-proto"] == "https"
    # a plain-HTTP client on the TLS port gets nothing served in the clear
    with socket.create_connection(("127.0.0.1", p), timeout=5) as s:
        s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {A_HOST}\r\n\r\n".encode())
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200")


def test_keepalive_requests_over_one_tls_connection(tls_dp, pki):
    ctx = client_ctx(pki)
    with socket.create_connection(("127.0.0.1", tls_dp.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=A_HOST) as s:
            f = s.makefile("rb")
            for i in range(20):
                s.sendall(f"GET /echo/k{i} HTTP/1.1\r\nHost: {A_HOST}\r\n\r\n".encode())
                status = f.readline()
                assert status.startswith(b"HTTP/1.1 200"), status
                length = 0
                while (line := f.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                assert json.loads(f.read(length))["path"] == f"/k{i}"


def test_host_naming_another_group_than_sni_gets_421(tls_dp, pki):
    status, _, body = https_get(tls_dp, B_HOST, "/echo/x", sni=A_HOST, pki=pki)
    assert status == 421 and json.loads(body)["error"]["code"] == "routing.misdirected"
    # same group (SNI by wildcard, Host exact in the group): served
    assert https_get(tls_dp, A_HOST, "/echo/x", sni=WILD_HOST, pki=pki)[0] == 200
    assert https_get(tls_dp, B_HOST, "/echo/x", pki=pki)[0] == 200


def test_wss_echo_byte_exact_with_1mib(tls_dp, pki):
    import websockets

    async def body():
        async with websockets.connect(f"wss://{A_HOST}:{tls_dp.tls_port}/echo/ws", host="127.0.0.1",
                                      port=tls_dp.tls_port, ssl=client_ctx(pki), server_hostname=A_HOST, max_size=None,
                                      compression=None, ping_interval=None) as ws:
            await ws.send("hello over tls")
            assert await ws.recv() == "hello over tls"
            for size in (0, 1, 125, 126, 65535, 65536, 1 << 20, (1 << 20) + 17):
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload
            await ws.send([b"a" * 20000, b"b" * 30000, b"c"])
            assert await ws.recv() == b"a" * 20000 + b"b" * 30000 + b"c"

    it.run(body())


def test_wss_node_ws_client(tls_dp, pki):
    script = f"""
const WebSocket = require('ws'); const fs = require('fs');
const ws = new WebSocket('wss://{A_HOST}:{tls_dp.tls_port}/echo/node', {{
  ca: fs.readFileSync('{pki.ca.cert}'), lookup: (h, o, cb) => o && o.all ? cb(null, [{{address: '127.0.0.1', family: 4}}]) : cb(null, '127.0.0.1', 4) }});
const big = Buffer.alloc(1 << 20, 7);
let n = 0;
ws.on('open', () => ws.send(big));
ws.on('message', (m) => {{ if (Buffer.compare(m, big) === 0) n++; ws.close(1000); }});
ws.on('close', (code) => {{ console.log(JSON.stringify({{n, code}})); process.exit(0); }});
ws.on('error', (e) => {{ console.log(JSON.stringify({{error: String(e)}})); process.exit(1); }});
"""
    env = dict(os.environ, NODE_PATH=str(it.NODE_MODULES))
    r = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30, env=env)
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"n": 1, "code": 1000}, r.stdout + r.stderr


# --------------------------------------------------------------------------------------- rotation and secrecy

def test_rotation_under_100_wss_sessions(run_dir, backends, pki):
    """100 wss:// sessions keep streaming while the certificate of b.tls.test is replaced: none drops, and new
    handshakes see the new certificate at once."""
    import websockets

    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-tls-rotate")
    try:
        async def body():
            ctx = client_ctx(pki)
            sessions = [await websockets.connect(f"wss://{B_HOST}:{t.tls_port}/echo/s{i}", host="127.0.0.1",
                                                 port=t.tls_port, ssl=ctx, server_hostname=B_HOST, ping_interval=None,
                                                 max_size=None)
                        for i in range(100)]
            assert cn(handshake(t.tls_port, B_HOST, ctx)[0]) == "b"

            async def stream(ws, i, rounds):
                for r in range(rounds):
                    msg = f"{i}:{r}:" + "x" * (r % 50)
                    await ws.send(msg)
                    assert await ws.recv() == msg

            await asyncio.gather(*(stream(ws, i, 5) for i, ws in enumerate(sessions)))
            status, answer = t.dp.push(tls_snapshot(2, pki, backends, pki.b2.cert_pem, pki.b2.key_pem))
            assert status == 200, answer
            assert cn(handshake(t.tls_port, B_HOST, ctx)[0]) == "b-rotated"
            await asyncio.gather(*(stream(ws, i, 5) for i, ws in enumerate(sessions)))
            for ws in sessions:
                await ws.close()
                assert ws.close_code == 1000

        it.run(body(), timeout=120)
    finally:
        t.dp.check_clean_exit()


def test_broken_certificate_refused_old_one_stays(tls_dp, pki, backends):
    ctx = client_ctx(pki)
    applied = tls_dp.dp.applied_version()
    cases = [
        ("not pem", pki.b.key_pem, "certPem: not a PEM certificate"),
        (pki.b.cert_pem, pki.b2.key_pem, "keyPem: does not match the certificate"),
        (pki.b.cert_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "keyPem: not a PEM"),
    ]
    for i, (cert, key, why) in enumerate(cases):
        status, answer = tls_dp.dp.push(tls_snapshot(applied + 10 + i, pki, backends, cert, key))
        assert status != 200
        assert any(why in e for e in answer["errors"]), answer
        assert "PRIVATE KEY" not in json.dumps(answer)
        assert cn(handshake(tls_dp.tls_port, B_HOST, ctx)[0]) == "b"
    assert tls_dp.dp.applied_version() == applied


def test_no_key_material_in_config_or_log(tls_dp, pki):
    status, _, body = tls_dp.dp.admin("/config")
    assert status == 200
    for secret in (pki.a_ec.key_pem, pki.b.key_pem):
        line = secret.strip().splitlines()[1]
        assert line.encode() not in body
        assert line not in tls_dp.dp.proc.log()
    assert b"PRIVATE KEY" not in body


# ------------------------------------------------------------------------------------- resumption and kTLS

def test_session_tickets_resume_on_every_worker(tls_dp, pki, tmp_path):
    """The ticket keys are the process's, not a worker's: with 2 workers (SO_REUSEPORT spreads the connections),
    every resumption attempt of a TLS 1.2 and of a TLS 1.3 session succeeds."""
    for version in ("-tls1_2", "-tls1_3"):
        sess = tmp_path / f"sess{version}"
        # a request answered with Connection: close keeps the client reading until the server's close, so the
        # TLS 1.3 ticket (sent after the handshake) is in the saved session
        first = s_client(tls_dp.tls_port, "-servername", A_HOST, version, "-sess_out", str(sess), "-ign_eof",
                         "-CAfile", str(pki.ca.cert),
                         stdin=f"GET /echo/t HTTP/1.1\r\nHost: {A_HOST}\r\nConnection: close\r\n\r\n".encode())
        assert b"New, TLS" in first.stdout, first.stderr.decode()
        reused = 0
        for _ in range(12):
            r = s_client(tls_dp.tls_port, "-servername", A_HOST, version, "-sess_in", str(sess),
                         "-CAfile", str(pki.ca.cert), stdin=b"")
            reused += b"Reused, TLS" in r.stdout
        assert reused == 12, version


def test_ktls_state_logged_once(tls_dp, pki):
    """One line per process and TLS version about kernel TLS (docs/tls.md "kTLS"), however many sessions; the
    kernel-TLS cases themselves run in a VM (test_ktls.py, make test-ktls)."""
    v12 = {"minimum_version": ssl.TLSVersion.TLSv1_2, "maximum_version": ssl.TLSVersion.TLSv1_2}
    for _ in range(2):
        handshake(tls_dp.tls_port, A_HOST, client_ctx(pki))
        handshake(tls_dp.tls_port, A_HOST, client_ctx(pki, **v12))

    def lines():  # the server says it after the client's Finished: a moment after the client's handshake returns
        got = [ln for ln in tls_dp.dp.proc.log().splitlines() if "TLS: kernel TLS" in ln]
        return got if len(got) >= 2 else None
    got = it.wait_until(lines, 5, what="the kTLS lines")
    assert sum("for TLS 1.3 sessions" in ln for ln in got) == 1 and len(got) == 2, got
