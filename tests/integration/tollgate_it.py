"""tollgate_it — the integration-test harness: real processes, real sockets, real clients.

What it owns:
  * locating the binaries under $TOLLGATE_BUILD (default build/; `make asan` sets build-asan);
  * loopback ports outside the ephemeral range and unique Unix-socket paths, so several runs can share a host;
  * Proc: a child process with its own log file, killed when the test session (or pytest itself) ends, whose
    log is checked for AddressSanitizer/UBSan reports when it stops;
  * Dataplane / DemoBackend: the real tollgate-dataplane and tollgate-demo-backend, started and awaited;
  * PyWsBackend: a Python `websockets` 12 server in a thread that records what the backend side saw
    (close codes, messages), for the tests that must look behind the proxy;
  * ScriptedHttpBackend (ChunkedHttpBackend is one), RawWsBackend and blackhole(): small raw-socket peers
    (scripted answers, chunked responses; a WebSocket backend that speaks first and never reads; a listener whose
    accept queue is full, so connects to it hang — the loopback way to get a connect timeout);
  * snapshot builders (docs/control-protocol.md) and the control-socket client (HTTP/1.1 over a Unix socket);
  * RawHttp: a byte-exact HTTP/1.1 client for malformed requests, pipelining and connection-close checks;
  * the Node `ws` client runner (node/ws_client.js).

Nothing here mocks the product: every check goes through the binaries' sockets.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import ctypes
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = Path(os.environ.get("TOLLGATE_BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
# TOLLGATE_VALGRIND=1 (`make valgrind`): the data plane runs under valgrind memcheck; any error or definite leak
# makes it exit 99, which Dataplane.check_clean_exit reports. Its memory figures mean nothing there either, so the
# RSS assertions that skip under ASan skip under valgrind too.
UNDER_VALGRIND = os.environ.get("TOLLGATE_VALGRIND") == "1"
UNDER_ASAN = "asan" in BUILD.name or UNDER_VALGRIND
# everything is slower under ASan (and much slower under valgrind): scale the waits (never the asserted protocol
# timeouts themselves)
SLOW = 10.0 if UNDER_VALGRIND else 3.0 if UNDER_ASAN else 1.0
VALGRIND = ["valgrind", "--tool=memcheck", "--leak-check=full", "--errors-for-leak-kinds=definite",
            "--error-exitcode=99", "--track-origins=no", "--num-callers=30"]
MAIN_HOST = "main.test"


def binary(name: str) -> Path:
    path = BUILD / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make {os.path.relpath(path, REPO)}` "
                                f"(or `make asan` for build-asan)")
    return path


# ---------------------------------------------------------------------------------------------- ports, paths

_port_lock = threading.Lock()
_ports_given: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on, below the ephemeral range (so no outgoing connection takes it
    between now and the bind of the process that gets it), never handed out twice by this process."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    with _port_lock:
        for _ in range(2000):
            port = rng.randrange(20000, 32000)
            if port in _ports_given:
                continue
            try:
                for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                    with socket.socket(family, socket.SOCK_STREAM) as s:
                        s.bind((host, port))
            except OSError:
                continue
            _ports_given.add(port)
            return port
    raise RuntimeError("no free loopback port")


def wait_until(pred: Callable[[], Any], timeout: float, interval: float = 0.02, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):  # host may be "::1"
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- processes

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # the child gets SIGKILL when pytest dies, however it dies: no process may outlive the test session
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


_all_procs: list["Proc"] = []
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL")


# Credentials the tests hand to Tollgate (API keys, tokens, client secrets), registered by the helpers that make
# them (auth_helpers.py); at the end of the session every Tollgate process's log is searched for each of them
# (conftest.py: no_credentials_in_logs). Short values are left out: they would match by chance.
CREDENTIALS: set[str] = set()
TOLLGATE_LOGS: list[Path] = []


def credential(value: str) -> str:
    """Registers value as a credential that must never appear in a Tollgate log; returns it."""
    if len(value) >= 12:
        CREDENTIALS.add(value)
    return value


class Proc:
    """A child process with its log in a file. stop() ends it (SIGTERM, then SIGKILL) and returns its status."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict | None = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_dir / f"{name}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, preexec_fn=_die_with_parent, cwd=REPO)
        self.pid = self.popen.pid
        _all_procs.append(self)
        if Path(self.argv[0]).name.startswith("tollgate-") and "demo-backend" not in self.argv[0]:
            TOLLGATE_LOGS.append(self.log_path)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def sanitizer_report(self) -> str | None:
        text = self.log()
        for marker in SANITIZER_MARKERS:
            i = text.find(marker)
            if i >= 0:
                return text[max(0, i - 200):i + 6000]
        return None

    def signal(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 15.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            if self.wait(timeout * SLOW) is None:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        if self in _all_procs:
            _all_procs.remove(self)
        return self.popen.returncode

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
            self.popen.wait(10)


def kill_all_procs() -> None:
    for p in list(_all_procs):
        with contextlib.suppress(Exception):
            p.kill()
            p._log.close()
        with contextlib.suppress(ValueError):
            _all_procs.remove(p)


atexit.register(kill_all_procs)


def write_atomic(path: Path, text: str) -> None:
    """Writes text to path through a rename of a hidden file beside it: a watcher (the controller in dir mode) never
    sees half a file."""
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    tmp.rename(path)


def group_manifest(namespace: str, hosts: list[str]) -> str:
    """An EnvironmentGroup `g` in namespace for hosts, environment prod (the dir-mode controller tests' group)."""
    hostnames = ", ".join(f'"{h}"' for h in hosts)
    return (f"apiVersion: tollgate.dev/v1alpha1\nkind: EnvironmentGroup\nmetadata: {{name: g, namespace: {namespace}}}\n"
            f"spec:\n  hostnames: [{hostnames}]\n  environments: [\"prod\"]\n")


def proxy_manifest(namespace: str, name: str, port: int) -> str:
    """An ApiProxy `name` in namespace on /name to 127.0.0.1:port, WebSockets on, no policies."""
    return (f"apiVersion: tollgate.dev/v1alpha1\nkind: ApiProxy\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec:\n  environments: [\"prod\"]\n  basePath: /{name}\n  target:\n    url: http://127.0.0.1:{port}\n"
            f"    connectTimeout: 2s\n  websocket: {{enabled: true}}\n")


def controller_binary_or_skip() -> Path:
    """tollgate-controller; the calling test is skipped when it is not built."""
    try:
        return binary("tollgate-controller")
    except FileNotFoundError as e:
        import pytest  # the harness itself does not need pytest
        pytest.skip(str(e))


def dir_controller(name: str, manifests: Path, control_socket: str, run_dir: Path, health: str = "off",
                   extra: Iterable[str] = ()) -> Proc:
    """The controller in dir mode: the manifests under `manifests`, pushed to a data plane's control socket;
    health: --health ADDR:PORT or "off"; extra: more arguments (e.g. --log-level)."""
    return Proc(name, [controller_binary_or_skip(), "--source", f"dir:{manifests}", "--dataplane-socket",
                       control_socket, "--health", health, *extra], run_dir)


# ---------------------------------------------------------------------------------------------- snapshots

def endpoint(port: int, address: str = "127.0.0.1") -> dict:
    return {"address": address, "port": port}


def proxy(pid: str, base_path: str, endpoints: Iterable[dict], *, environments: Iterable[str] = ("prod",),
          strip: bool = True, path_prefix: str = "", max_body: int = 0, connect_timeout_ms: int = 2000,
          timeout_ms: int = 10000, lb: str = "roundRobin", ws: bool = True, idle_ms: int = 0,
          lifetime_ms: int = 0, max_message: int = 0) -> dict:
    """One ApiProxy as the snapshot carries it (docs/control-protocol.md), with the tests' defaults."""
    return {
        "id": pid,
        "environments": list(environments),
        "basePath": base_path,
        "stripBasePath": strip,
        "maxRequestBodyBytes": max_body,
        "target": {
            "pathPrefix": path_prefix,
            "endpoints": list(endpoints),
            "tls": {"enabled": False, "serverName": "", "caPem": ""},
            "connectTimeoutMs": connect_timeout_ms,
            "timeoutMs": timeout_ms,
            "loadBalancing": lb,
        },
        "websocket": {"enabled": ws, "idleTimeoutMs": idle_ms, "maxLifetimeMs": lifetime_ms,
                      "maxMessageBytes": max_message},
        "policies": [],
    }


def group(gid: str, hostnames: Iterable[str], environments: Iterable[str] = ("prod",)) -> dict:
    return {"id": gid, "hostnames": list(hostnames), "environments": list(environments)}


def snapshot(version: int, groups: Iterable[dict], proxies: Iterable[dict]) -> dict:
    return {"version": version, "generatedAt": "2026-01-01T00:00:00Z", "groups": list(groups),
            "proxies": list(proxies)}


# ---------------------------------------------------------------------------------------------- HTTP clients

class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix stream socket (the control socket speaks HTTP/1.1 there)."""

    def __init__(self, path: str, timeout: float = 10.0):
        super().__init__("tollgate", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    raw_head: bytes = b""

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class RawHttp:
    """A byte-exact HTTP/1.1 client over one TCP connection: send what the test wrote, parse what comes back
    (Content-Length, chunked, or until close), tell whether the server closed the connection."""

    def __init__(self, port: int, timeout: float = 5.0, host: str = "127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout * SLOW)
        self.buf = b""
        self.eof = False

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self) -> "RawHttp":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self._fill():
                raise ConnectionError(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionError(f"connection closed with {len(self.buf)} of {n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, method: str = "GET") -> Response:
        head = self._read_until(b"\r\n\r\n")
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, status, *reason = lines[0].split(" ", 2)
        assert version.startswith("HTTP/1."), lines[0]
        headers = []
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers.append((k.strip(), v.strip()))
        resp = Response(int(status), reason[0] if reason else "", headers, b"", head)
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or resp.status < 200 or resp.status in (204, 304):
            return resp
        if "chunked" in te:
            body = b""
            while True:
                size_line = self._read_until(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._read_exact(size)
                assert self._read_exact(2) == b"\r\n"
            resp.body = body
        elif cl is not None:
            resp.body = self._read_exact(int(cl))
        else:
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def read_frame(self) -> tuple[int, bool, bytes]:
        """One unmasked WebSocket frame as a server (or the proxy) sends it: (opcode, fin, payload)."""
        b0, b1 = self._read_exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read_exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read_exact(8), "big")
        assert not b1 & 0x80, "a frame from the server side must not be masked"
        return b0 & 0x0F, bool(b0 & 0x80), self._read_exact(n)

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True when the server closes the connection (EOF or reset) within timeout and sends nothing more."""
        if self.buf:
            return False
        self.sock.settimeout(timeout * SLOW)
        try:
            data = self.sock.recv(1)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        return data == b""


def request_bytes(method: str, path: str, host: str = MAIN_HOST, headers: Iterable[tuple[str, str]] = (),
                  body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def ws_handshake_bytes(path: str, host: str = MAIN_HOST, key: str | None = None, version: str = "13",
                       method: str = "GET", extra: Iterable[tuple[str, str]] = (), omit: Iterable[str] = ()) -> bytes:
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
            ("Sec-WebSocket-Version", version)]
    omit_l = {o.lower() for o in omit}
    hdrs = [(k, v) for k, v in hdrs if k.lower() not in omit_l] + list(extra)
    return request_bytes(method, path, host, hdrs)


def ws_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """One WebSocket frame as a client sends it (masked)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([b0, (0x80 if mask else 0) | n])
    elif n < 65536:
        head = bytes([b0, (0x80 if mask else 0) | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, (0x80 if mask else 0) | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n < 4096 else _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    k = int.from_bytes((key * ((n + 3) // 4))[:n], "little") if n else 0
    return (int.from_bytes(payload, "little") ^ k).to_bytes(n, "little")


# ---------------------------------------------------------------------------------------------- the binaries

class Dataplane:
    """tollgate-dataplane on loopback: its own listen and admin ports and control socket under run_dir."""

    def __init__(self, run_dir: Path, name: str = "dataplane", workers: int = 2, args: Iterable[str] = (),
                 listen_host: str = "127.0.0.1"):
        self.run_dir = Path(run_dir)
        self.name = name
        self.workers = workers
        self.args = list(args)
        # TOLLGATE_KERNEL_RELAY=1: every data plane runs with the kernel relay (issue 15), to rerun suites with it
        if os.environ.get("TOLLGATE_KERNEL_RELAY") == "1" and "--kernel-relay" not in self.args:
            self.args.append("--kernel-relay")
        self.listen_host = listen_host  # "127.0.0.1" or "::1"
        self.proc: Proc | None = None
        self.port = self.admin_port = 0
        self.control_socket = ""

    def start(self, snap: dict | None = None, wait_ready: bool = True) -> "Dataplane":
        """Starts the process (from snap when given, written to a --snapshot file) and waits for /healthz, and for
        /readyz when a snapshot was given. Retries with new ports if one was taken meanwhile."""
        last_log = ""
        for _ in range(3):
            self.port, self.admin_port = free_port(), free_port()
            self.control_socket = str(self.run_dir / f"{self.name}-{self.port}.sock")
            host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
            listen = f"{host}:{self.port}"
            argv = [*(VALGRIND + [f"--log-file={self.run_dir}/{self.name}-{self.port}.valgrind"]
                      if UNDER_VALGRIND else []),
                    binary("tollgate-dataplane"), "--listen", listen,
                    "--admin", f"127.0.0.1:{self.admin_port}", "--control-socket", self.control_socket,
                    "--workers", str(self.workers), *self.args]
            if snap is not None:
                path = self.run_dir / f"{self.name}-{self.port}-snapshot.json"
                path.write_text(json.dumps(snap))
                argv += ["--snapshot", str(path)]
            self.proc = Proc(self.name, argv, self.run_dir)
            try:
                wait_until(lambda: not self.proc.alive() or self._admin_ok("/healthz"), 10 * SLOW,
                           what=f"{self.name} /healthz")
                if self.proc.alive() and snap is not None and wait_ready:
                    wait_until(lambda: self._admin_ok("/readyz"), 10 * SLOW, what=f"{self.name} /readyz")
                # workers bind their listeners before the admin server starts: /healthz means listening (no
                # probe connection here, it would show up in the connection counters the tests read)
                if self.proc.alive():
                    return self
            except TimeoutError:
                pass
            last_log = self.proc.log_tail()
            self.proc.kill()
        raise RuntimeError(f"{self.name} did not start:\n{last_log}")

    def _admin_ok(self, path: str) -> bool:
        try:
            return self.admin(path)[0] == 200
        except OSError:
            return False

    # ---- admin API
    def admin_token(self) -> str | None:
        """The bearer token of --admin-token-file when this data plane was started with one."""
        args = [str(a) for a in self.args]
        if "--admin-token-file" in args:
            return Path(args[args.index("--admin-token-file") + 1]).read_text().strip()
        return None

    def admin(self, path: str, timeout: float = 5.0) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout * SLOW)
        token = self.admin_token()
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def metrics(self) -> dict[str, float]:
        """/metrics as {"name{labels}": value}."""
        status, _, body = self.admin("/metrics")
        assert status == 200
        out = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
        return out

    def sessions(self) -> list[dict]:
        status, _, body = self.admin("/sessions")
        assert status == 200, body
        return json.loads(body)["sessions"]

    # ---- control socket
    def control(self, method: str, path: str, body: bytes | None = None, timeout: float = 10.0):
        conn = UnixHTTPConnection(self.control_socket, timeout=timeout * SLOW)
        try:
            conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
            r = conn.getresponse()
            data = r.read()
            return r.status, (json.loads(data) if data else None)
        finally:
            conn.close()

    def push(self, snap: dict) -> tuple[int, Any]:
        """PUT /snapshot; returns (status, JSON answer). The answer comes once every worker switched."""
        return self.control("PUT", "/snapshot", json.dumps(snap).encode())

    def applied_version(self) -> int:
        status, body = self.control("GET", "/snapshot/version")
        assert status == 200
        return body["applied"]

    # ---- process
    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self, timeout: float = 15.0) -> int:
        return self.proc.stop(timeout) if self.proc else 0

    def check_clean_exit(self, timeout: float = 15.0) -> None:
        """Stops the process and fails on a non-zero exit or a sanitizer report in its log."""
        rc = self.stop(timeout)
        report = self.proc.sanitizer_report()
        assert report is None, f"{self.name}: sanitizer report:\n{report}"
        assert rc == 0, f"{self.name} exited with {rc}:\n{self.proc.log_tail()}"

    def url(self, path: str, host: str = MAIN_HOST, scheme: str = "ws") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class DemoBackend:
    """tollgate-demo-backend (examples/demo-backend) on a loopback port."""

    def __init__(self, run_dir: Path, name: str, args: Iterable[str] = (), host: str = "127.0.0.1"):
        self.run_dir = Path(run_dir)
        self.name = name
        self.args = list(args)
        self.host = host  # "127.0.0.1" or "::1"
        self.port = 0
        self.proc: Proc | None = None

    def start(self) -> "DemoBackend":
        last = ""
        for _ in range(3):
            self.port = free_port()
            listen = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
            self.proc = Proc(f"backend-{self.name}", [binary("tollgate-demo-backend"), "--listen", listen,
                                                      "--name", self.name, *self.args], self.run_dir)
            try:
                wait_until(lambda: not self.proc.alive() or port_open(self.port, self.host), 10 * SLOW,
                           what=f"backend {self.name}")
            except TimeoutError:
                pass
            if self.proc.alive() and port_open(self.port, self.host):
                return self
            last = self.proc.log_tail()
            self.proc.kill()
        raise RuntimeError(f"demo backend {self.name} did not start:\n{last}")

    def endpoint(self) -> dict:
        return endpoint(self.port, self.host)

    def stop(self) -> int:
        return self.proc.stop() if self.proc else 0


# ---------------------------------------------------------------------------------------------- Python peers

@dataclass
class PySession:
    """What the Python backend saw of one WebSocket session."""
    path: str
    request_headers: dict
    subprotocol: str | None
    messages: list = field(default_factory=list)
    bytes_sent: int = 0
    close_code: int | None = None      # code of the close frame the backend received (None: none received)
    close_reason: str | None = None
    ended: bool = False


class PyWsBackend:
    """A `websockets` 12 server on a thread of its own. Echoes every message; text commands make it act:
       "!close CODE [REASON]"  start the closing handshake with that code;
       "!send-bytes N"         send one binary message of N bytes;
       "!flood SIZE"           send SIZE-byte binary messages until the connection ends (counts bytes_sent).
    Every session is recorded (PySession), including the close code the backend received."""

    def __init__(self, **serve_kwargs):
        self.serve_kwargs = serve_kwargs
        self.sessions: list[PySession] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Future | None = None
        self._lock = threading.Lock()

    def start(self) -> "PyWsBackend":
        import websockets

        ready = threading.Event()
        errors: list[BaseException] = []

        async def main():
            self._stop = asyncio.get_running_loop().create_future()
            try:
                async with websockets.serve(self._handler, "127.0.0.1", 0, max_size=None,
                                            **self.serve_kwargs) as server:
                    self.port = server.sockets[0].getsockname()[1]
                    ready.set()
                    await self._stop
            except BaseException as e:  # noqa: BLE001 - reported to the starting thread
                errors.append(e)
                ready.set()

        def run():
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="pyws-backend", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    async def _handler(self, ws):
        import websockets

        s = PySession(ws.path, dict(ws.request_headers), ws.subprotocol)
        with self._lock:
            self.sessions.append(s)
        flood: asyncio.Task | None = None

        async def do_flood(size: int):
            chunk = os.urandom(size)
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    await ws.send(chunk)
                    s.bytes_sent += size

        try:
            async for msg in ws:
                s.messages.append(msg)
                if isinstance(msg, str) and msg.startswith("!"):
                    cmd, *args = msg[1:].split(" ", 2)
                    if cmd == "close":
                        await ws.close(int(args[0]), args[1] if len(args) > 1 else "")
                    elif cmd == "send-bytes":
                        await ws.send(os.urandom(int(args[0])))
                        s.bytes_sent += int(args[0])
                    elif cmd == "flood":
                        flood = asyncio.ensure_future(do_flood(int(args[0])))
                    continue
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            if flood:
                flood.cancel()
            if ws.close_rcvd is not None:
                s.close_code, s.close_reason = ws.close_rcvd.code, ws.close_rcvd.reason
            s.ended = True

    def sessions_on(self, path: str) -> list[PySession]:
        with self._lock:
            return [s for s in self.sessions if s.path == path]

    def endpoint(self) -> dict:
        return endpoint(self.port)

    def stop(self) -> None:
        if self._loop and self._stop and not self._stop.done():
            self._loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        if self._thread:
            self._thread.join(10)


class ScriptedHttpBackend:
    """A raw HTTP backend that answers every request head with `script` (bytes, or a function of the request
    head returning bytes), then closes the connection after `linger` seconds (None: keeps it and answers the
    next request the same way). For misbehaving backends: malformed or truncated answers, early closes."""

    def __init__(self, script, linger: float | None = 0.0):
        self.script = script
        self.linger = linger
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.heads: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket):
        buf = b""
        with c:
            c.settimeout(30)
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        data = c.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                out = self.script(head) if callable(self.script) else self.script
                try:
                    c.sendall(out)
                except OSError:
                    return
                if self.linger is not None:
                    time.sleep(self.linger)
                    return

    def endpoint(self) -> dict:
        return endpoint(self.port)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()


class ChunkedHttpBackend(ScriptedHttpBackend):
    """A raw HTTP/1.1 backend that answers every request with a chunked body (keep-alive), echoing the path:
    the data plane must relay the chunked framing, which the demo backend never produces."""

    def __init__(self):
        super().__init__(self._answer, linger=None)

    @staticmethod
    def _answer(head: bytes) -> bytes:
        path = head.split(b"\r\n")[0].split(b" ")[1]
        if path.endswith(b"/big"):  # 8 MB in 200 chunks: more than any socket buffer holds
            pieces = [bytes([65 + i % 26]) * 40000 for i in range(200)]
        else:
            pieces = [b"chunked:", path, b":", b"x" * 5000, b":end"]
        body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n" + body

    @property
    def requests(self) -> int:
        return len(self.heads)

    def start(self) -> "ChunkedHttpBackend":
        return self  # serving since __init__

    def stop(self):
        self.close()


WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept_key(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


class RawWsBackend:
    """A byte-level WebSocket backend. By default it answers each handshake with a valid 101 followed, in the same
    write, by `greeting` (raw frame bytes), then never reads again — a backend that stops reading (backpressure)
    or one that speaks first (the data plane must relay bytes that arrive together with the 101).
    `answer=False`: reads the upgrade request and never answers (a silent backend). `after_upgrade(conn)`: runs
    in the accept thread after the 101, to script a misbehaving backend (send part of a frame, reset, ...)."""

    def __init__(self, greeting: bytes = b"", answer: bool = True, after_upgrade=None):
        self.greeting = greeting
        self.answer = answer
        self.after_upgrade = after_upgrade
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                data = c.recv(4096)
                if not data:
                    break
                head += data
            if not self.answer:
                self.conns.append(c)
                continue
            keys = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")]
            if not keys:
                c.close()
                continue
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + ws_accept_key(keys[0]) + b"\r\n\r\n" + self.greeting)
            self.conns.append(c)
            if self.after_upgrade:
                with contextlib.suppress(OSError):
                    self.after_upgrade(c)

    def endpoint(self) -> dict:
        return endpoint(self.port)

    def close(self):
        for c in self.conns:
            with contextlib.suppress(OSError):
                c.close()
        with contextlib.suppress(OSError):
            self.sock.close()


@contextlib.contextmanager
def blackhole():
    """A loopback listener whose accept queue is full (backlog 0, one connection parked in it): further SYNs are
    dropped, so a connect to it hangs until the connector's timeout — a connect timeout without leaving
    127.0.0.1. Yields its port."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    parked = [socket.create_connection(("127.0.0.1", port), timeout=2)]
    try:
        yield port
    finally:
        for s in parked:
            s.close()
        lst.close()


# ---------------------------------------------------------------------------------------------- clients

def run(coro, timeout: float = 60.0):
    """Runs an asyncio test body with an overall deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout * SLOW))


def ws_connect(dp: Dataplane, path: str, host: str = MAIN_HOST, **kwargs):
    """websockets.connect to dp with the Host header of `host` (the TCP connection goes to 127.0.0.1)."""
    import websockets

    kwargs.setdefault("max_size", None)
    kwargs.setdefault("open_timeout", 10 * SLOW)
    kwargs.setdefault("close_timeout", 5 * SLOW)
    kwargs.setdefault("ping_interval", None)
    return websockets.connect(dp.url(path, host), host="127.0.0.1", port=dp.port, **kwargs)


NODE_CLIENT = HERE / "node" / "ws_client.js"
NODE_MODULES = REPO / "tests" / "node" / "node_modules"


def node_ws(spec: dict, timeout: float = 60.0) -> dict:
    """Runs node/ws_client.js with a JSON scenario and returns its JSON result."""
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    spec = dict(spec, timeoutMs=int(timeout * SLOW * 1000))
    p = subprocess.run(["node", str(NODE_CLIENT), json.dumps(spec)], capture_output=True, text=True, env=env,
                       timeout=timeout * SLOW + 10, preexec_fn=_die_with_parent)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise AssertionError(f"node client failed (rc {p.returncode}):\n{p.stdout}\n{p.stderr}")
    return json.loads(lines[-1])
