"""System calls the data plane spends per connection, counted by strace attached to a running data plane (real
clients: Python sockets and ssl, openssl s_client). Each test fails on the code before its fix:

- a listener that accepts until EAGAIN spent a failing accept4 on every connection of a lightly loaded listener;
  now one wakeup accepts as many as its batch, which grows only on a backlog (loop/listener.c) — and a burst of
  connections is still all accepted;
- on a kernel without the `tls` module, every TLS 1.2 session asked for kernel TLS (TCP_ULP and TLS_TX/TLS_RX
  each way: four failing setsockopt calls); now only the first session of a minute asks
  (proxy/tls_frontend.c);
- a TLS connection waited a loop iteration for its ClientHello; now it is read right after the accept, like a
  plain connection's request."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

import tollgate_it as it
from test_tls_termination import A_HOST, pki, s_client, start_tls_dp, tls_snapshot  # noqa: F401 (fixture)

pytestmark = pytest.mark.skipif(not shutil.which("strace"), reason="strace is not installed (scripts/deps.sh)")


class Strace:
    """strace -f on a running process, for the calls named; .calls() after stop()."""

    def __init__(self, run_dir, pid: int, calls: str, name: str):
        self.out = run_dir / f"strace-{name}.txt"
        self.proc = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={calls}", "-o", str(self.out),
                                      "-p", str(pid)], stderr=subprocess.DEVNULL)
        time.sleep(0.8 * it.SLOW)  # attached to every thread

    def stop(self) -> list[str]:
        time.sleep(0.2)
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        return self.out.read_text().splitlines()


def http_request(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET /econ/x HTTP/1.1\r\nHost: {it.MAIN_HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data


def test_sequential_connections_cost_no_failed_accept(dp_factory, backends, run_dir):
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/econ", "/econ", [backends.b1.endpoint()])])
    dp = dp_factory(snap, workers=1)
    trace = Strace(run_dir, dp.proc.pid, "accept4", "accept-seq")
    for _ in range(20):
        assert http_request(dp.port).startswith(b"HTTP/1.1 200"), "request failed"
        time.sleep(0.02)  # one connection per wakeup
    lines = trace.stop()
    accepted = [ln for ln in lines if re.search(r"accept4\(.*\) = \d+$", ln)]
    failed = [ln for ln in lines if "EAGAIN" in ln]
    assert len(accepted) == 20, lines
    assert failed == [], failed


def test_a_burst_of_connections_is_all_accepted(dp_factory, backends):
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/econ", "/econ", [backends.b1.endpoint()])])
    dp = dp_factory(snap, workers=1)
    socks = [socket.create_connection(("127.0.0.1", dp.port), timeout=10) for _ in range(300)]
    try:
        for s in socks:
            s.sendall(f"GET /econ/b HTTP/1.1\r\nHost: {it.MAIN_HOST}\r\nConnection: close\r\n\r\n".encode())
        for s in socks:
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200"), data[:200]
    finally:
        for s in socks:
            s.close()


def kernel_has_tls_ulp() -> bool:
    try:
        return "tls" in open("/proc/sys/net/ipv4/tcp_available_ulp").read().split()
    except OSError:
        return False


@pytest.fixture
def tls_dp(run_dir, backends, pki):  # noqa: F811 (pki is the imported fixture)
    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-econ")
    yield t
    t.dp.check_clean_exit()


@pytest.mark.skipif(kernel_has_tls_ulp(), reason="this kernel has the tls module: sessions do use kernel TLS")
def test_without_a_tls_module_only_the_first_session_asks_for_kernel_tls(tls_dp, pki, run_dir):  # noqa: F811
    trace = Strace(run_dir, tls_dp.dp.proc.pid, "setsockopt", "ktls")
    for _ in range(5):
        r = s_client(tls_dp.tls_port, "-servername", A_HOST, "-tls1_2", "-CAfile", str(pki.ca.cert))
        assert b"Verify return code: 0" in r.stdout, r.stdout[-600:]
    lines = trace.stop()
    ulp = [ln for ln in lines if "TCP_ULP" in ln]
    assert len(ulp) == 2, lines  # the first session: sending and receiving side, then nobody asks
    log = tls_dp.dp.proc.log()
    assert log.count("sessions ask for kernel TLS again once a minute") == 1, log[-2000:]


def test_a_tls_client_hello_is_read_right_after_the_accept(tls_dp, pki, run_dir):  # noqa: F811
    """The ClientHello, which usually arrives before the accept, is read in the accept's own iteration: the
    first call on the new socket is a read (EAGAIN when it has not arrived yet), not the epoll_ctl that registers
    it for readiness."""
    trace = Strace(run_dir, tls_dp.dp.proc.pid, "accept4,read,epoll_ctl", "hello")
    raw = socket.create_connection(("127.0.0.1", tls_dp.tls_port), timeout=5)
    ctx = ssl.create_default_context(cafile=str(pki.ca.cert))
    with ctx.wrap_socket(raw, server_hostname=A_HOST) as s:
        s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {A_HOST}\r\nConnection: close\r\n\r\n".encode())
        while s.recv(65536):
            pass
    lines = trace.stop()
    fd = next(m.group(1) for ln in lines if (m := re.search(r"accept4\(.*\) = (\d+)$", ln)))
    first = next(ln for ln in lines if re.search(rf"read\({fd},|epoll_ctl\(\d+, EPOLL_CTL_\w+, {fd},", ln))
    assert re.search(rf"read\({fd},", first), lines
