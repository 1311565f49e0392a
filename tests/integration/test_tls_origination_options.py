"""TLS toward backends with a proxy's own protocol settings and revocation checking: target.tls "minVersion",
"maxVersion", "ciphers", "cipherSuites" and "crlPem" as the snapshot carries them (docs/control-protocol.md,
docs/tls.md "Toward backends: versions, ciphers, CRL"). Against real TLS peers: `openssl s_server -www` limited
with -tls1_2 / -tls1_3 / -cipher / -ciphersuites, whose status page says which version and cipher it negotiated,
and a Python `ssl` server that records each connection (handshake completed or the alert that ended it, every
byte of application data it received). Certificates and CRLs are made with `openssl` (tls_pki.py: `openssl ca
-revoke` / `-gencrl`). A refused handshake is 502 upstream.tls_failed, OpenSSL's reason in the log, counted in
tollgate_upstream_tls_failures_total, and no request byte reaches the backend."""

from __future__ import annotations

import json
import socket
import ssl
import threading

import pytest

import tollgate_it as it
from test_tls_origination import get, s_server, tls_failures, tls_proxy
from tls_pki import Pki

BACKEND_NAME = "backend.tls.test"


@pytest.fixture(scope="module")
def pki(run_dir):
    p = Pki(run_dir / "pki-origin-options", "options-ca")
    p.backend = p.issue("backend", [BACKEND_NAME, "IP:127.0.0.1"], "ec")
    p.other = Pki(run_dir / "pki-origin-options-other", "options-other-ca")
    p.crl_clean = p.crl("clean").read_text()                        # lists nothing
    p.crl_revoked = p.crl("revoked", [p.backend]).read_text()       # lists the backend's certificate
    p.crl_expired = p.crl("expired", expired=True).read_text()      # lists nothing, past its nextUpdate
    p.crl_other_ca = p.other.crl("other").read_text()               # a CRL, but not of the backend's issuer
    return p


class RecordingTlsBackend(it.ScriptedHttpBackend):
    """A TLS server (Python ssl; the listener and a thread per connection of it.ScriptedHttpBackend) that records
    every connection in `records`: {"handshake": True or the error that ended it, "version", "cipher",
    "received": the application bytes it got, "requests"}. Each HTTP/1.1 request head is answered 200 on the same
    keep-alive connection with a JSON of the connection's number and how many requests it has carried."""

    def __init__(self, cert):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert.cert), str(cert.key))
        self.records: list[dict] = []
        self._records_lock = threading.Lock()
        super().__init__(b"", linger=None)

    def _serve(self, c: socket.socket):
        record = {"handshake": None, "version": None, "cipher": None, "received": b"", "requests": 0}
        with self._records_lock:
            self.records.append(record)
            number = len(self.records) - 1
        c.settimeout(10 * it.SLOW)
        try:
            tls = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError) as e:
            record["handshake"] = str(e)
            c.close()
            return
        record.update(handshake=True, version=tls.version(), cipher=tls.cipher()[0])
        pending = b""
        with tls:
            while True:
                try:
                    data = tls.recv(65536)
                except (ssl.SSLError, OSError):
                    return
                if not data:
                    return
                record["received"] += data
                pending += data
                while b"\r\n\r\n" in pending:
                    _, _, pending = pending.partition(b"\r\n\r\n")
                    record["requests"] += 1
                    body = json.dumps({"connection": number, "requests": record["requests"]}).encode()
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                                % len(body) + body)


@pytest.fixture
def recording(pki):
    b = RecordingTlsBackend(pki.backend)
    yield b
    b.close()


def crl_snapshot(version, pki, backend, crl_pem, pid="x/crl"):
    """One proxy at /crl to backend, verified against the test CA, its leaf checked against crl_pem."""
    return it.snapshot(version, [it.group("x/g", [it.MAIN_HOST])],
                       [tls_proxy(pid, "/crl", [backend.endpoint()], serverName=BACKEND_NAME,
                                  caPem=pki.ca.cert_pem, crlPem=crl_pem)])


def log_line_with(dp, text: str) -> str:
    """The last log line of dp that contains text (waited for)."""
    it.wait_until(lambda: text in dp.proc.log(), 5 * it.SLOW, what=f"'{text}' in the log")
    return [x for x in dp.proc.log().splitlines() if text in x][-1]


def assert_tls_refused(dp, response, before: float, reason: str, proxy_id: str = "x/crl"):
    """response is 502 upstream.tls_failed, counted once, and the log says why for proxy_id."""
    assert response.status == 502 and response.json()["error"]["code"] == "upstream.tls_failed", response.body
    assert tls_failures(dp) == before + 1
    line = log_line_with(dp, reason)
    assert f"proxy {proxy_id}: TLS to backend" in line, line


def s_server_proxies(pki, port, **per_path):
    """A snapshot with one proxy per entry of per_path ({"/p": {tls settings}}) to the s_server on port."""
    proxies = [tls_proxy(f"v{path}", path, [it.endpoint(port)], serverName=BACKEND_NAME, caPem=pki.ca.cert_pem,
                         **settings) for path, settings in per_path.items()]
    return it.snapshot(1, [it.group("v/g", [it.MAIN_HOST])], proxies)


def config_tls(dp) -> dict:
    """{proxy id: its "tls" in the admin API's GET /config}, which never carries PEM text."""
    status, _, body = dp.admin("/config")
    assert status == 200 and b"-----BEGIN" not in body, body[:200]
    return {p["id"]: p["tls"] for p in json.loads(body)["proxies"] if "tls" in p}


def status_page(dp, path) -> str:
    r = get(dp, path)
    assert r.status == 200, r.body
    return r.body.decode(errors="replace")


# ---------------------------------------------------------------------------------------------------------- versions

@pytest.mark.parametrize("backend_flag,proxy_setting,negotiated",
                         [("-tls1_2", {"minVersion": "1.3"}, "TLSv1.2"),
                          ("-tls1_3", {"maxVersion": "1.2"}, "TLSv1.3")],
                         ids=["tls12-backend-proxy-min-13", "tls13-backend-proxy-max-12"])
def test_version_range_refuses_a_backend_outside_it(run_dir, dp_factory, pki, backend_flag, proxy_setting,
                                                    negotiated):
    """A backend that speaks only TLS 1.2 (1.3) is reached with the default versions and refused by a proxy whose
    minVersion is 1.3 (maxVersion 1.2): 502, the protocol_version alert in the log, counted."""
    proc, port = s_server(run_dir, "s_server-version", pki, [backend_flag])
    try:
        dp = dp_factory(s_server_proxies(pki, port, **{"/default": {}, "/narrow": proxy_setting}), workers=1)
        assert f"Protocol  : {negotiated}" in status_page(dp, "/default")
        before = tls_failures(dp)
        assert_tls_refused(dp, get(dp, "/narrow"), before, "protocol version", "v/narrow")
    finally:
        proc.kill()


# ----------------------------------------------------------------------------------------------------------- ciphers

def test_tls12_cipher_list_is_what_the_backend_is_offered(run_dir, dp_factory, pki):
    """A TLS 1.2 backend that accepts one cipher only: a proxy list without it is refused (no shared cipher),
    a list with it gets it; a backend that accepts every cipher negotiates the one cipher the proxy lists (not
    the one OpenSSL's default order would pick)."""
    only, port = s_server(run_dir, "s_server-one-cipher", pki, ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"])
    every, port_every = s_server(run_dir, "s_server-tls12", pki, ["-tls1_2"])
    try:
        snap = s_server_proxies(pki, port, **{
            "/without": {"ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"},
            "/with": {"ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"}})
        snap["proxies"].append(tls_proxy("v/chacha", "/chacha", [it.endpoint(port_every)], serverName=BACKEND_NAME,
                                         caPem=pki.ca.cert_pem, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"))
        snap["proxies"].append(tls_proxy("v/any", "/any", [it.endpoint(port_every)], serverName=BACKEND_NAME,
                                         caPem=pki.ca.cert_pem))
        dp = dp_factory(snap, workers=1)
        assert "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" in status_page(dp, "/with")
        before = tls_failures(dp)
        assert_tls_refused(dp, get(dp, "/without"), before, "handshake failure", "v/without")
        assert "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" in status_page(dp, "/chacha")
        assert "Cipher is ECDHE-ECDSA-CHACHA20-POLY1305" not in status_page(dp, "/any")  # the default list's pick
        # the admin API's /config says which settings are in effect (never a PEM text)
        shown = config_tls(dp)
        assert shown["v/chacha"] == {"serverName": BACKEND_NAME, "verify": True, "clientCertificate": False,
                                     "crlCheck": False, "minVersion": "1.2", "maxVersion": "1.3",
                                     "ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305"}
        assert "ciphers" not in shown["v/any"] and "cipherSuites" not in shown["v/any"]
    finally:
        only.kill()
        every.kill()


def test_tls13_cipher_suites_are_honoured(run_dir, dp_factory, pki):
    """cipherSuites: the TLS 1.3 backend sees the suite the proxy asked for (two choices, neither OpenSSL's first
    pick); a backend limited to another suite is refused."""
    proc, port = s_server(run_dir, "s_server-tls13", pki, ["-tls1_3"])
    narrow, narrow_port = s_server(run_dir, "s_server-tls13-aes128", pki,
                                   ["-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"])
    try:
        snap = s_server_proxies(pki, port, **{"/default": {},
                                              "/chacha": {"cipherSuites": "TLS_CHACHA20_POLY1305_SHA256"},
                                              "/aes128": {"cipherSuites": "TLS_AES_128_GCM_SHA256"}})
        snap["proxies"].append(tls_proxy("v/mismatch", "/mismatch", [it.endpoint(narrow_port)],
                                         serverName=BACKEND_NAME, caPem=pki.ca.cert_pem,
                                         cipherSuites="TLS_CHACHA20_POLY1305_SHA256"))
        dp = dp_factory(snap, workers=1)
        assert "Cipher is TLS_AES_256_GCM_SHA384" in status_page(dp, "/default")
        assert "Cipher is TLS_CHACHA20_POLY1305_SHA256" in status_page(dp, "/chacha")
        assert "Cipher is TLS_AES_128_GCM_SHA256" in status_page(dp, "/aes128")
        before = tls_failures(dp)
        r = get(dp, "/mismatch")
        assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
        assert tls_failures(dp) == before + 1
    finally:
        proc.kill()
        narrow.kill()


# -------------------------------------------------------------------------------------------------------------- CRLs

def test_revoked_backend_certificate_is_refused_for_http_and_websocket(dp_factory, pki, recording):
    """The CA's CRL lists the backend's certificate: an HTTP request and a WebSocket upgrade are both answered 502
    with "certificate revoked" in the log and counted; the backend saw each handshake end with our
    certificate_revoked alert and received not one byte of application data."""
    dp = dp_factory(crl_snapshot(1, pki, recording, pki.crl_revoked), workers=1)
    before = tls_failures(dp)
    assert_tls_refused(dp, get(dp, "/crl/a"), before, "certificate revoked")
    line = log_line_with(dp, "certificate revoked")
    assert "certificate verify failed: certificate revoked" in line and f'"{BACKEND_NAME}"' in line, line
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes("/crl/ws"))
        r = c.read_response()
    assert r.status == 502 and r.json()["error"]["code"] == "upstream.tls_failed", r.body
    assert tls_failures(dp) == before + 2
    it.wait_until(lambda: len(recording.records) == 2 and all(x["handshake"] for x in recording.records),
                  5 * it.SLOW, what="both connections recorded")
    for conn in recording.records:
        assert conn["handshake"] is not True and "certificate revoked" in conn["handshake"], conn
        assert conn["received"] == b"" and conn["requests"] == 0, conn


@pytest.mark.parametrize("crl,reason", [("crl_expired", "CRL has expired"),
                                        ("crl_other_ca", "unable to get certificate CRL")],
                         ids=["expired-crl", "no-crl-of-the-issuer"])
def test_crl_that_cannot_vouch_fails_verification(dp_factory, pki, recording, crl, reason):
    """OpenSSL's rules, never a fallback: a CRL past its nextUpdate, or CRLs none of which is of the backend's
    issuer, fail the verification like a revoked certificate (an expired CRL is also said when the snapshot is
    applied)."""
    dp = dp_factory(crl_snapshot(1, pki, recording, getattr(pki, crl)), workers=1)
    before = tls_failures(dp)
    assert_tls_refused(dp, get(dp, "/crl/a"), before, reason)
    if crl == "crl_expired":
        assert "x/crl: proxies[0].target.tls.crlPem: CRL 0 (issuer /CN=Tollgate test options-ca) is past its " \
               "nextUpdate" in dp.proc.log()
    it.wait_until(lambda: recording.records and recording.records[0]["handshake"], 5 * it.SLOW,
                  what="the connection recorded")
    assert recording.records[0]["received"] == b""


def test_crl_swap_to_one_listing_the_backend_fails_new_connections(dp_factory, pki, recording):
    """A CRL that does not list the backend's certificate: 200, and the keep-alive connection is reused. A new
    snapshot whose CRL lists it: the next request is 502 "certificate revoked" — made on a new connection (the
    pool and cached sessions are keyed by the settings' digest), never on the pooled one, which carries no
    further request."""
    dp = dp_factory(crl_snapshot(1, pki, recording, pki.crl_clean), workers=1)
    for i in (1, 2):
        r = get(dp, f"/crl/ok{i}")
        assert r.status == 200, r.body
        assert r.json() == {"connection": 0, "requests": i}  # one pooled connection carried both
    status, answer = dp.push(crl_snapshot(2, pki, recording, pki.crl_revoked))
    assert status == 200, answer
    before = tls_failures(dp)
    assert_tls_refused(dp, get(dp, "/crl/after"), before, "certificate revoked")
    it.wait_until(lambda: len(recording.records) == 2 and recording.records[1]["handshake"], 5 * it.SLOW,
                  what="the new connection recorded")
    pooled, fresh = recording.records
    assert pooled["handshake"] is True and pooled["requests"] == 2, pooled  # nothing more on the old connection
    assert "certificate revoked" in fresh["handshake"] and fresh["received"] == b"", fresh
    assert config_tls(dp)["x/crl"]["crlCheck"] is True
    # and back: a clean CRL again is served
    status, answer = dp.push(crl_snapshot(3, pki, recording, pki.crl_clean))
    assert status == 200, answer
    assert get(dp, "/crl/again").status == 200


# ------------------------------------------------------------------------------------------------ refused snapshots

def test_bad_options_refuse_the_snapshot_and_the_last_good_one_stays(dp_factory, pki, recording):
    dp = dp_factory(crl_snapshot(1, pki, recording, pki.crl_clean), workers=1)
    assert get(dp, "/crl/first").status == 200
    base = {"serverName": BACKEND_NAME, "caPem": pki.ca.cert_pem}
    bad = [
        ({"minVersion": "1.1"}, 'target.tls.minVersion: must be "1.2" or "1.3"'),
        ({"minVersion": "1.3", "maxVersion": "1.2"}, "target.tls: maxVersion is below minVersion"),
        ({"ciphers": "NOT-A-CIPHER"}, "target.tls.ciphers: selects no cipher this OpenSSL knows"),
        ({"cipherSuites": "TLS_NOPE"}, "target.tls.cipherSuites: selects no cipher this OpenSSL knows"),
        ({"crlPem": pki.ca.cert_pem}, "target.tls.crlPem: no PEM CRL"),
        ({"caPem": "", "insecureSkipVerify": True, "crlPem": pki.crl_clean},
         "target.tls: crlPem and insecureSkipVerify exclude each other"),
        ({"minTlsVersion": "1.3"}, "target.tls.minTlsVersion: unknown field"),
    ]
    for i, (settings, why) in enumerate(bad):
        snap = crl_snapshot(2 + i, pki, recording, pki.crl_revoked)  # would fail every request if applied
        snap["proxies"].append(tls_proxy("x/bad", "/bad", [recording.endpoint()], **{**base, **settings}))
        status, answer = dp.push(snap)
        assert status != 200, settings
        assert any(why in e and "proxies[1]" in e for e in answer["errors"]), answer
    assert dp.applied_version() == 1
    r = get(dp, "/crl/still")
    assert r.status == 200, r.body
