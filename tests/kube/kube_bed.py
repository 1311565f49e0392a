"""Helpers of the controller's tests against the real Kubernetes API (tests/kube): processes, objects, the test
bed's processes. Apart from conftest.py (the fixtures) so the test files import them by a name no other suite
uses: tests/k8s has a conftest.py too, and one pytest run over both directories can only import one module named
`conftest`.

Real peers only: the test bed's etcd + kube-apiserver (tests/k8s/cluster.py; the same state directory as the
tests/k8s suite, build/cluster-test, so one session starts one test bed), the real build/tollgate-dataplane
listening on a control socket, and build/tollgate-controller --source kube. Every test works in a namespace of
its own and runs its controllers with --namespace, so tests never see each other's objects (namespaces are not
deleted: without a controller-manager they would stay Terminating).

The fixtures (`bed`, `ns`, `dataplane`, `controller`) are in conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "k8s"))

from cluster import Cluster, ToolsUnavailable, tools_dir  # noqa: E402,F401 (re-exported to conftest.py)

BUILD = Path(os.environ.get("TOLLGATE_BUILD", REPO / "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
CONTROLLER = BUILD / "tollgate-controller"
DATAPLANE = BUILD / "tollgate-dataplane"


def wait_until(fn, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    """Calls fn until it returns a truthy value (returned) or timeout passes (AssertionError with the last value
    or exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Proc:
    """A child process with its output in a log file; stop() is idempotent and always reaps."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict | None = None):
        self.name = name
        self.argv = argv
        self.log = log
        self._logf = open(log, "ab")
        self.p = subprocess.Popen(argv, stdout=self._logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=env)

    def alive(self) -> bool:
        return self.p.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash or an evicted pod."""
        if self.alive():
            self.p.send_signal(signal.SIGKILL)
        self.p.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(timeout=5)
        self._logf.close()

    def output(self) -> str:
        self._logf.flush()
        return self.log.read_text(errors="replace")


class Dataplane(Proc):
    def __init__(self, tmp: Path, tag: str, tls: bool = False):
        self.socket = tmp / f"control-{tag}.sock"
        self.port = free_port()
        self.admin_port = free_port()
        self.tls_port = free_port() if tls else 0
        extra = ["--tls-listen", f"127.0.0.1:{self.tls_port}"] if tls else []
        super().__init__(f"dataplane-{tag}", [str(DATAPLANE), "--listen", f"127.0.0.1:{self.port}", "--admin",
                                              f"127.0.0.1:{self.admin_port}", "--control-socket", str(self.socket),
                                              "--workers", "1", *extra], tmp / f"dataplane-{tag}.log")
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.admin_port}/healthz")[0] == 200, 10,
                   what=f"{self.name} /healthz")

    def config(self) -> dict:
        status, body = http_get(f"http://127.0.0.1:{self.admin_port}/config")
        assert status == 200, body
        return json.loads(body)

    def proxies(self) -> dict:
        """proxy id -> its summary (basePath, endpoints, ...) in the live snapshot."""
        return {p["id"]: p for p in self.config()["proxies"]}

    def groups(self) -> dict:
        return {g["id"]: g for g in self.config()["groups"]}


class Controller(Proc):
    def __init__(self, tmp: Path, tag: str, kubeconfig: Path, namespace: str, dp: Dataplane, extra=()):
        self.health_port = free_port()
        argv = [str(CONTROLLER), "--source", "kube", "--kubeconfig", str(kubeconfig), "--namespace", namespace,
                "--dataplane-socket", str(dp.socket), "--health", f"127.0.0.1:{self.health_port}", *extra]
        super().__init__(f"controller-{tag}", argv, tmp / f"controller-{tag}.log")

    def health(self, path: str) -> tuple[int, str]:
        return http_get(f"http://127.0.0.1:{self.health_port}{path}")

    def ready(self) -> bool:
        return self.health("/readyz")[0] == 200

    def wait_ready(self, timeout: float = 20.0) -> None:
        wait_until(lambda: self.ready() or (not self.alive() and "exited"), timeout,
                   what=f"{self.name} /readyz")
        assert self.alive(), f"{self.name} exited:\n{self.output()[-3000:]}"

    def metrics(self) -> dict:
        """Prometheus text → {'name{labels}': value}."""
        status, body = self.health("/metrics")
        assert status == 200, body
        out = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")  # label values may hold spaces
            try:
                out[name] = float(value)
            except ValueError:
                pass
        return out

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def metric_sum(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k == prefix or k.startswith(prefix + "{"))


def controller_has_kube_source() -> bool:
    """The controller binary was built with --source kube wired in (its --help lists --leader-elect)."""
    if not CONTROLLER.exists():
        return False
    r = subprocess.run([str(CONTROLLER), "--help"], capture_output=True, text=True, timeout=10)
    return "--leader-elect" in (r.stdout + r.stderr)


# ---- objects --------------------------------------------------------------------------------------------------

def group(ns: str, name: str, hostnames, environments, tls=None) -> dict:
    spec = {"hostnames": list(hostnames), "environments": list(environments)}
    if tls:
        spec["tls"] = tls
    return {"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def proxy(ns: str, name: str, base_path: str, environments=("prod",), service: str | None = None,
          port: int = 8080, url: str | None = None, policies=None) -> dict:
    target = {"service": {"name": service, "port": port}} if service else {"url": url or "http://127.0.0.1:9"}
    spec = {"environments": list(environments), "basePath": base_path, "target": target}
    if policies is not None:
        spec["policies"] = policies
    return {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy", "metadata": {"name": name, "namespace": ns},
            "spec": spec}


def service(ns: str, name: str, port: int = 8080) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": "http", "port": port, "protocol": "TCP"}]}}


def endpoint_slice(ns: str, svc: str, addresses, port: int = 8080, name: str | None = None) -> dict:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-1", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]}


def tls_secret(ns: str, name: str, cert_pem: str, key_pem: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": ns},
            "data": {"tls.crt": base64.b64encode(cert_pem.encode()).decode(),
                     "tls.key": base64.b64encode(key_pem.encode()).decode()}}


def make_cert(tmp: Path, cn: str) -> tuple[str, str]:
    key, crt = tmp / f"{cn}.key", tmp / f"{cn}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName=DNS:{cn}"], check=True, capture_output=True)
    return crt.read_text(), key.read_text()


def served_cn(tls_port: int, sni: str, *openssl_args: str) -> str | None:
    """The CN of the certificate a TLS listener on loopback presents for sni (openssl s_client, with any extra
    arguments such as -tls1_2), or None when the handshake fails."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_port}", "-servername", sni,
                        *openssl_args], input=b"", capture_output=True, timeout=10)
    out = r.stdout.decode("latin-1")
    if "Cipher is (NONE)" in out or "subject=" not in out:
        return None
    subject = out.split("subject=", 1)[1].split("\n", 1)[0]
    return subject.split("CN", 1)[1].lstrip(" =").split(",")[0].strip()


def conditions(bed: Cluster, ns: str, kind: str, name: str) -> tuple[dict, dict]:
    """({type: condition} of the object's status, the object)."""
    obj = bed.kubectl_json("get", kind, name, "-n", ns)
    return {c["type"]: c for c in obj.get("status", {}).get("conditions", [])}, obj


# ---- the test bed's processes ---------------------------------------------------------------------------------

def _pid(bed: Cluster, name: str) -> int:
    return int((bed.dir / f"{name}.pid").read_text().strip())


def restart_apiserver(bed: Cluster, while_down=None) -> None:
    """Kills kube-apiserver (SIGKILL: a crash; its graceful shutdown would wait for long-running watches), runs
    while_down(), starts it again with the same command line (keeping cluster.sh's pid file right) and waits until
    it is ready."""
    pid = _pid(bed, "kube-apiserver")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    os.kill(pid, signal.SIGKILL)

    def gone():
        # The thread-group leader turns zombie before the other threads have exited and closed the listener, so
        # wait for the port too.
        if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
            return False
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", bed.apiserver_port)) != 0
    wait_until(gone, 15, what="kube-apiserver to stop")
    if while_down:
        while_down()
    log = open(bed.dir / "logs" / "kube-apiserver.log", "ab")
    p = subprocess.Popen([a.decode() for a in argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True)
    (bed.dir / "kube-apiserver.pid").write_text(f"{p.pid}\n")
    ca = str(bed.dir / "pki" / "ca.crt")
    cert, key = str(bed.dir / "pki" / "admin.crt"), str(bed.dir / "pki" / "admin.key")

    def ready():
        r = subprocess.run(["curl", "-sS", "--max-time", "2", "--cacert", ca, "--cert", cert, "--key", key,
                            f"{bed.server}/readyz"], capture_output=True, text=True)
        return r.stdout.strip() == "ok"
    wait_until(ready, 90, interval=0.3, what="kube-apiserver ready again")


def etcd(bed: Cluster, method: str, body: dict) -> dict:
    """etcd's v3 JSON gateway (keys and values base64)."""
    req = urllib.request.Request(f"http://127.0.0.1:{bed.etcd_port}/v3/{method}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()
