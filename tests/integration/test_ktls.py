"""Kernel TLS on the --tls-listen relay (issue 12 item 5): with the kernel's `tls` module, OpenSSL hands the
record layer of TLS 1.2 AES-GCM sessions to the kernel after the handshake (SSL_OP_ENABLE_KTLS), both ways; wss://
relays byte-exact through it (1 MiB messages included) and the kernel's own counters (/proc/net/tls_stat) show it
did the records. TLS 1.3 sessions stay in user space (a client's KeyUpdate asking for new sending keys ended the
session when the kernel held them: the regression test below). Without the module, or with a cipher the kernel
cannot take (CBC), the data plane falls back to user-space TLS and says so once. Needs a kernel that offers the `tls` ULP: `make test-ktls` runs this file inside a VM booted from
Debian's kernel package (tests/vm/run_in_vm.sh); elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

import tollgate_it as it
from test_tls_termination import A_HOST, client_ctx, start_tls_dp
from tls_pki import Pki

ULP = Path("/proc/sys/net/ipv4/tcp_available_ulp")
TLS_STAT = Path("/proc/net/tls_stat")
IN_VM = os.environ.get("TOLLGATE_IN_VM") == "1"  # set by tests/vm/guest_init.sh: the kernel is ours to change


def _module_loaded() -> bool:
    return "tls" in (ULP.read_text().split() if ULP.exists() else [])


def _modprobe(*args) -> bool:
    return subprocess.run(["modprobe", *args], capture_output=True).returncode == 0


def _offered() -> bool:
    return _module_loaded() or (IN_VM and _modprobe("tls"))


pytestmark = pytest.mark.skipif(
    not _offered(), reason="the kernel offers no `tls` ULP (/proc/sys/net/ipv4/tcp_available_ulp): "
                           "run `make test-ktls`, which boots a kernel with it (tests/vm/run_in_vm.sh)")


def tls_stat() -> dict[str, int]:
    out = {}
    for line in TLS_STAT.read_text().splitlines():
        k, _, v = line.partition("\t")
        out[k.strip()] = int(v)
    return out


@pytest.fixture(scope="module")
def pki(run_dir):
    p = Pki(run_dir / "pki-ktls")
    p.a_ec = p.issue("ktls-ec", [A_HOST], "ec")
    return p


def snapshot(pki, backends, tls_options=None):
    g = it.group("ktls/a", [A_HOST], ["prod"])
    g["tls"] = [{"hostnames": [A_HOST], "certPem": pki.a_ec.cert_pem, "keyPem": pki.a_ec.key_pem}]
    if tls_options:
        g["tlsOptions"] = tls_options
    return it.snapshot(1, [g], [it.proxy("ktls/echo", "/echo", [backends.b1.endpoint()])])


def wss_echo(port, pki, sizes=(0, 1, 125, 126, 65535, 65536, 1 << 20, (1 << 20) + 17), during=None, **ctx_kw):
    """A wss:// session echoing each size byte-exact; during(): called while the session is open."""
    import websockets

    async def body():
        async with websockets.connect(f"wss://{A_HOST}:{port}/echo/ktls", host="127.0.0.1", port=port,
                                      ssl=client_ctx(pki, **ctx_kw), server_hostname=A_HOST, max_size=None,
                                      compression=None, ping_interval=None) as ws:
            await ws.send("hello over ktls")
            assert await ws.recv() == "hello over ktls"
            for size in sizes:
                payload = os.urandom(size)
                await ws.send(payload)
                assert await ws.recv() == payload
            if during:
                during()

    it.run(body())


def ktls_lines(dp, tls13=False) -> list[str]:
    """The data plane's once-only kTLS lines about TLS 1.2 sessions (or, tls13, about TLS 1.3 ones)."""
    return [ln for ln in dp.proc.log().splitlines()
            if "TLS: kernel TLS" in ln and ("for TLS 1.3 sessions" in ln) == tls13]


def tls_version(v: str):
    import ssl
    return ssl.TLSVersion.TLSv1_3 if v == "1.3" else ssl.TLSVersion.TLSv1_2


# Module absent first: the other tests' sessions would hold it (a loaded `tls` with live sockets cannot be removed).
@pytest.mark.skipif(not IN_VM, reason="removes the kernel's `tls` module: only inside tests/vm (make test-ktls)")
def test_without_module_falls_back_and_logs_once(run_dir, backends, pki):
    """No `tls` module, none loadable (the kernel loads it on the first TCP_ULP "tls" through kernel.modprobe:
    pointed nowhere for this test): every session works in user space, the data plane says so once."""
    helper = Path("/proc/sys/kernel/modprobe")
    saved = helper.read_text().strip()
    assert _modprobe("-r", "tls"), "rmmod tls (a socket still uses it?)"
    helper.write_text("/nonexistent-modprobe\n")
    try:
        assert not _module_loaded()
        t = start_tls_dp(run_dir, snapshot(pki, backends), "dataplane-ktls-nomod")
        for _ in range(3):
            wss_echo(t.tls_port, pki, minimum_version=tls_version("1.2"), maximum_version=tls_version("1.2"))
        lines = ktls_lines(t.dp)
        assert len(lines) == 1 and "kernel TLS not offered" in lines[0], lines
        assert not ktls_lines(t.dp, tls13=True)
        t.dp.check_clean_exit()
        assert not _module_loaded()
    finally:
        helper.write_text(saved + "\n")
        assert _modprobe("tls")


def test_wss_relay_through_kernel_tls(run_dir, backends, pki):
    """TLS 1.2 AES-GCM: the first such handshake logs kernel TLS in use both ways; the kernel's counters count this
    process's sessions (sending and receiving), the open one among the current ones; 1 MiB messages echo
    byte-exact through the kernel's records."""
    v = tls_version("1.2")
    t = start_tls_dp(run_dir, snapshot(pki, backends), "dataplane-ktls-1.2")
    before = tls_stat()
    seen = {}
    wss_echo(t.tls_port, pki, during=lambda: seen.update(tls_stat()), minimum_version=v, maximum_version=v)
    for _ in range(2):
        wss_echo(t.tls_port, pki, sizes=(3, 70000), minimum_version=v, maximum_version=v)
    after = tls_stat()
    lines = ktls_lines(t.dp)
    assert len(lines) == 1 and "kernel TLS in use (send yes, receive yes" in lines[0], lines
    assert after["TlsTxSw"] - before["TlsTxSw"] >= 3 and after["TlsRxSw"] - before["TlsRxSw"] >= 3, (before, after)
    assert seen["TlsCurrTxSw"] >= 1 and seen["TlsCurrRxSw"] >= 1, seen  # the session open at the time
    assert after["TlsDecryptError"] == before["TlsDecryptError"]
    t.dp.check_clean_exit()


def test_tls13_stays_in_user_space_said_once(run_dir, backends, pki):
    """TLS 1.3 sessions: records in user space (no kernel TLS context made), byte-exact, one line saying why."""
    v = tls_version("1.3")
    t = start_tls_dp(run_dir, snapshot(pki, backends), "dataplane-ktls-1.3")
    before = tls_stat()
    for _ in range(3):
        wss_echo(t.tls_port, pki, sizes=(1, 65536, 1 << 20), minimum_version=v, maximum_version=v)
    after = tls_stat()
    assert after["TlsTxSw"] == before["TlsTxSw"] and after["TlsRxSw"] == before["TlsRxSw"], (before, after)
    lines = ktls_lines(t.dp, tls13=True)
    assert len(lines) == 1 and "KeyUpdate" in lines[0], lines
    assert not ktls_lines(t.dp)
    t.dp.check_clean_exit()


def test_cipher_the_kernel_cannot_take_falls_back(run_dir, backends, pki):
    """A group limited to a CBC suite (TLS 1.2): no kernel TLS for it, records in user space, said once."""
    t = start_tls_dp(run_dir, snapshot(pki, backends, {"maxVersion": "1.2", "ciphers": "ECDHE-ECDSA-AES128-SHA256"}),
                     "dataplane-ktls-cbc")
    before = tls_stat()
    for _ in range(2):
        wss_echo(t.tls_port, pki)
    after = tls_stat()
    lines = ktls_lines(t.dp)
    assert len(lines) == 1 and "kernel TLS not offered" in lines[0] and "does not take" in lines[0], lines
    assert after["TlsTxSw"] == before["TlsTxSw"] and after["TlsRxSw"] == before["TlsRxSw"], (before, after)
    t.dp.check_clean_exit()


def test_openssl_s_client_over_kernel_tls(run_dir, backends, pki):
    """A second client: `openssl s_client` (TLS 1.2, AES-256-GCM) gets its HTTP answer through a kernel-TLS
    session of the data plane."""
    t = start_tls_dp(run_dir, snapshot(pki, backends), "dataplane-ktls-sclient")
    before = tls_stat()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{t.tls_port}", "-servername", A_HOST,
                        "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384", "-CAfile", str(pki.ca.cert),
                        "-ign_eof", "-quiet"],
                       input=f"GET /echo/sc HTTP/1.1\r\nHost: {A_HOST}\r\nConnection: close\r\n\r\n".encode(),
                       capture_output=True, timeout=20)
    assert r.stdout.startswith(b"HTTP/1.1 200"), (r.stdout[:300], r.stderr[-500:])
    after = tls_stat()
    assert after["TlsTxSw"] > before["TlsTxSw"], (before, after)
    lines = ktls_lines(t.dp)
    assert len(lines) == 1 and "kernel TLS in use" in lines[0], lines
    t.dp.check_clean_exit()


@pytest.mark.parametrize("letter", ["k", "K"])
def test_tls13_key_update_from_the_client(run_dir, backends, pki, letter):
    """A TLS 1.3 client's KeyUpdate (`k`: its own keys; `K`: and it asks the server for new sending keys): the
    requests before and after it are answered. Regression: with the server's sending side in the kernel (OpenSSL
    3.0, Linux 6.1), `K` ended the session (s_client gone before the second request)."""
    import time
    t = start_tls_dp(run_dir, snapshot(pki, backends), f"dataplane-ktls-keyupdate-{letter}")
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{t.tls_port}", "-servername", A_HOST,
                          "-tls1_3", "-CAfile", str(pki.ca.cert)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        req = f"GET /echo/ku HTTP/1.1\r\nHost: {A_HOST}\r\n\r\n".encode()
        for chunk in (req, f"{letter}\n".encode(), req, b"Q\n"):
            p.stdin.write(chunk)
            p.stdin.flush()
            time.sleep(1.5)
        out, _ = p.communicate(timeout=20)
    except BrokenPipeError:
        out = p.communicate(timeout=20)[0]
    finally:
        if p.poll() is None:
            p.kill()
    assert out.count(b"HTTP/1.1 200") == 2, out[-1500:]
    assert b"KEYUPDATE" in out, out[-1500:]
    t.dp.check_clean_exit()


def test_backend_leg_through_kernel_tls(run_dir, pki):
    """target.tls toward a TLS 1.2 backend (the Python websockets server on ssl, which itself stays in user space):
    the data plane's backend connection uses kernel TLS too — the kernel's counters grow by two sessions per wss://
    relay (the client's leg and the backend's), 1 MiB messages echo byte-exact through both, and the data plane
    says once that kernel TLS is in use toward backends. A TLS 1.3 backend stays in user space (as the listener's
    TLS 1.3 sessions do)."""
    from test_tls_origination import BACKEND_NAME, TlsBackend, server_ctx

    p = Pki(run_dir / "pki-ktls-origin", "ktls-origin-ca")
    cert = p.issue("ktls-backend", [BACKEND_NAME], "ec")
    for version, kernel in (("1.2", True), ("1.3", False)):
        ctx = server_ctx(cert)
        ctx.maximum_version = ctx.minimum_version = tls_version(version)
        backend = TlsBackend(ctx).start()
        try:
            g = it.group("ktls/a", [A_HOST], ["prod"])
            g["tls"] = [{"hostnames": [A_HOST], "certPem": pki.a_ec.cert_pem, "keyPem": pki.a_ec.key_pem}]
            proxy = it.proxy("ktls/origin", "/echo", [backend.endpoint()], strip=False)
            proxy["target"]["tls"] = {"enabled": True, "serverName": BACKEND_NAME, "caPem": p.ca.cert_pem}
            t = start_tls_dp(run_dir, it.snapshot(1, [g], [proxy]), f"dataplane-ktls-origin-{version}")
            before = tls_stat()
            v12 = tls_version("1.2")
            wss_echo(t.tls_port, pki, minimum_version=v12, maximum_version=v12)
            after = tls_stat()
            grown = after["TlsTxSw"] - before["TlsTxSw"], after["TlsRxSw"] - before["TlsRxSw"]
            assert grown == ((2, 2) if kernel else (1, 1)), (version, before, after)
            lines = [ln for ln in t.dp.proc.log().splitlines() if "TLS to backends: kernel TLS" in ln]
            if kernel:
                assert len(lines) == 1 and "in use (send yes, receive yes" in lines[0], lines
            else:
                assert lines == [], lines
            assert all(s["version"] == f"TLSv{version}" for s in backend.seen), backend.seen
            t.dp.check_clean_exit()
        finally:
            backend.stop()
