"""Python handle on the local Kubernetes test bed (tests/k8s/cluster.sh): start and stop it, run kubectl and helm
against it, mint service-account tokens and write kubeconfigs for them.

The same shell script backs `make cluster` and this module, so a person and the suite get the same cluster.
Typical use from pytest is the session fixture `k8s_cluster` of tests/k8s/conftest.py; outside tests/k8s:

    sys.path.insert(0, str(REPO / "tests" / "k8s"))
    from cluster import Cluster, ToolsUnavailable
    c = Cluster.start(REPO / "build" / "cluster-mytest")   # raises ToolsUnavailable if the binaries can't be built
    c.kubectl("get", "apiproxies", "-A")
    c.stop()
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CLUSTER_SH = HERE / "cluster.sh"
BUILD_TOOLS_SH = HERE / "build-tools.sh"


class ToolsUnavailable(RuntimeError):
    """The test bed's binaries (kube-apiserver, etcd, kubectl, helm) are missing and could not be built."""


class CommandError(RuntimeError):
    """A kubectl/helm/cluster.sh command failed; carries the command, exit code and output."""

    def __init__(self, cmd: Sequence[str], returncode: int, stdout: str, stderr: str):
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"{' '.join(self.cmd)} exited {returncode}\n--- stdout\n{stdout[-4000:]}\n--- stderr\n{stderr[-4000:]}"
        )


def _run(cmd: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = 120,
         env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise CommandError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def tools_dir(build: bool = True, timeout: float = 7200) -> Path:
    """Directory holding kube-apiserver, etcd, kubectl and helm. Builds them (tests/k8s/build-tools.sh, which can
    take tens of minutes on a cold cache) when build is true; raises ToolsUnavailable when they are not there."""
    quick = _run([str(BUILD_TOOLS_SH), "--path"], check=False)
    if quick.returncode == 0:
        return Path(quick.stdout.strip())
    if not build:
        raise ToolsUnavailable("test-bed binaries not built yet (run tests/k8s/build-tools.sh)")
    proc = _run([str(BUILD_TOOLS_SH)], check=False, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        raise ToolsUnavailable(f"tests/k8s/build-tools.sh could not build the test-bed binaries:\n{tail}")
    return Path(proc.stdout.strip().splitlines()[-1])


class Cluster:
    """A running test bed, described by the cluster.json that cluster.sh writes in its state directory."""

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir).resolve()
        info = json.loads((self.dir / "cluster.json").read_text())
        self.info = info
        self.bin = Path(info["bin"])
        self.kubeconfig = Path(info["kubeconfig"])
        self.server: str = info["server"]
        self.ca_file = Path(info["caFile"])
        self.apiserver_port: int = info["apiserverPort"]
        self.etcd_port: int = info["etcdPort"]

    # ---- lifecycle -------------------------------------------------------------------------------------------

    @staticmethod
    def _env(state_dir: Path) -> dict:
        env = dict(os.environ)
        env["TOLLGATE_CLUSTER_DIR"] = str(state_dir)
        return env

    @classmethod
    def start(cls, state_dir: Path | None = None, *, build: bool = True) -> "Cluster":
        """Starts (or reuses, if already up) the test bed in state_dir (default build/cluster). Raises
        ToolsUnavailable when the binaries cannot be built, CommandError when the cluster does not come up."""
        state_dir = Path(state_dir or REPO / "build" / "cluster").resolve()
        tools_dir(build=build)
        _run([str(CLUSTER_SH), "up"], env=cls._env(state_dir), timeout=600)
        return cls(state_dir)

    @classmethod
    @contextlib.contextmanager
    def session(cls, state_dir: Path | None = None, *, keep: bool = False) -> Iterator["Cluster"]:
        """Starts the test bed, or joins it when another process (another pytest run) already uses the same state
        directory, and stops it when the last of them leaves (unless keep). Users are counted with a shared
        flock on <state_dir>.users, so concurrent suites sharing build/cluster-test never stop it under each
        other."""
        state_dir = Path(state_dir or REPO / "build" / "cluster").resolve()
        state_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{state_dir}.users", "a") as users:
            fcntl.flock(users, fcntl.LOCK_SH)
            cluster = None
            try:
                cluster = cls.start(state_dir)
                yield cluster
            finally:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    last = True
                except BlockingIOError:
                    last = False
                if cluster is not None and last and not keep:
                    cluster.stop()

    def stop(self) -> None:
        """Stops etcd and the apiserver and removes the state directory (idempotent)."""
        _run([str(CLUSTER_SH), "down"], env=self._env(self.dir), timeout=120)

    def running(self) -> bool:
        return _run([str(CLUSTER_SH), "status"], env=self._env(self.dir), check=False).returncode == 0

    def pids(self) -> dict[str, int]:
        """Process ids of etcd and kube-apiserver as recorded in their pid files."""
        out = {}
        for name in ("etcd", "kube-apiserver"):
            f = self.dir / f"{name}.pid"
            if f.exists():
                out[name] = int(f.read_text().strip())
        return out

    # ---- clients ---------------------------------------------------------------------------------------------

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, kubeconfig: Path | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs the test bed's kubectl with the admin kubeconfig (or kubeconfig). Raises CommandError on a
        non-zero exit when check is true."""
        cmd = [str(self.bin / "kubectl"), "--kubeconfig", str(kubeconfig or self.kubeconfig), *args]
        return _run(cmd, input=input, check=check, timeout=timeout)

    def kubectl_json(self, *args: str, kubeconfig: Path | None = None) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def helm(self, *args: str, check: bool = True, kubeconfig: Path | None = None,
             timeout: float = 180) -> subprocess.CompletedProcess:
        """Runs the test bed's helm against the cluster; HOME-independent (cache/config under the state dir)."""
        env = dict(os.environ)
        env.update({
            "KUBECONFIG": str(kubeconfig or self.kubeconfig),
            "HELM_CACHE_HOME": str(self.dir / "helm" / "cache"),
            "HELM_CONFIG_HOME": str(self.dir / "helm" / "config"),
            "HELM_DATA_HOME": str(self.dir / "helm" / "data"),
        })
        return _run([str(self.bin / "helm"), *args], check=check, timeout=timeout, env=env)

    def apply(self, manifest: str | dict | Iterable[dict], *, check: bool = True, dry_run: bool = False,
              kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
        """Server-side applies YAML text or objects (a dict or a list of dicts). dry_run: --dry-run=server."""
        if not isinstance(manifest, str):
            items = [manifest] if isinstance(manifest, dict) else list(manifest)
            manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        args = ["apply", "--server-side", "--field-manager", "tollgate-tests", "-f", "-"]
        if dry_run:
            args.append("--dry-run=server")
        return self.kubectl(*args, input=manifest, check=check, kubeconfig=kubeconfig)

    def ensure_namespace(self, name: str) -> None:
        self.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    def create_token(self, service_account: str, namespace: str, duration: str = "1h",
                     audiences: Sequence[str] = ()) -> str:
        """A TokenRequest for the ServiceAccount (`kubectl create token`): a bound, expiring JWT."""
        args = ["create", "token", service_account, "-n", namespace, "--duration", duration]
        for a in audiences:
            args += ["--audience", a]
        return self.kubectl(*args).stdout.strip()

    def token_kubeconfig(self, token: str, path: Path | None = None, namespace: str = "default") -> Path:
        """Writes a kubeconfig that authenticates with a bearer token (as a pod's controller would)."""
        if path is None:
            fd, name = tempfile.mkstemp(prefix="kubeconfig-token-", dir=self.dir)
            os.close(fd)
            path = Path(name)
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "tollgate-test", "cluster": {"server": self.server,
                                                               "certificate-authority-data": ca}}],
            "users": [{"name": "token", "user": {"token": token}}],
            "contexts": [{"name": "token", "context": {"cluster": "tollgate-test", "user": "token",
                                                        "namespace": namespace}}],
            "current-context": "token",
        }
        path.write_text(json.dumps(cfg))
        path.chmod(0o600)
        return path

    # ---- backends for Service targets ------------------------------------------------------------------------

    def publish_backend(self, name: str, namespace: str, address: str, port: int, *, service_port: int | None = None,
                        ready: bool = True) -> None:
        """Publishes a local process as Service `name` (no selector) with one EndpointSlice pointing at
        address:port, as a kubelet + EndpointSlice controller would for a pod. The apiserver refuses loopback
        addresses in EndpointSlices (127.0.0.0/8, ::1), so address is one of an EndpointNetns."""
        sport = service_port or port
        family = "IPv6" if ":" in address else "IPv4"
        self.apply([
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
             "spec": {"ports": [{"name": "main", "port": sport, "targetPort": port, "protocol": "TCP"}]}},
            {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": f"{name}-local", "namespace": namespace,
                          "labels": {"kubernetes.io/service-name": name,
                                     "endpointslice.kubernetes.io/managed-by": "tollgate-tests"}},
             "addressType": family,
             "endpoints": [{"addresses": [address], "conditions": {"ready": ready}}],
             "ports": [{"name": "main", "port": port, "protocol": "TCP"}]},
        ])


class EndpointNetns:
    """A private network namespace whose loopback interface also carries non-loopback addresses (10.244.0.x),
    for end-to-end tests that publish local processes through EndpointSlices (which refuse 127.0.0.0/8).

    Run the backend, the data plane and the client inside it (`cmd()` prefixes a command line); the controller
    stays outside, since it reaches the apiserver on the host's 127.0.0.1 and the data plane through the control
    socket, a file. Needs root (CAP_NET_ADMIN); traffic never leaves the namespace.

        with EndpointNetns(["10.244.0.10"]) as ns:
            backend = subprocess.Popen(ns.cmd(["python3", "backend.py", "10.244.0.10", "8080"]))
            cluster.publish_backend("chat-backend", "apis", "10.244.0.10", 8080)
    """

    def __init__(self, addresses: Sequence[str] = ("10.244.0.10",), name: str | None = None):
        self.name = name or f"tollgate-{os.getpid()}-{id(self) & 0xffff:x}"
        self.addresses = list(addresses)

    def __enter__(self) -> "EndpointNetns":
        _run(["ip", "netns", "add", self.name])
        try:
            _run(self.cmd(["ip", "link", "set", "lo", "up"]))
            for a in self.addresses:
                _run(self.cmd(["ip", "addr", "add", f"{a}/{128 if ':' in a else 32}", "dev", "lo"]))
        except Exception:
            self.close()
            raise
        return self

    def cmd(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def close(self) -> None:
        _run(["ip", "netns", "del", self.name], check=False)

    def __exit__(self, *exc) -> None:
        self.close()

    @staticmethod
    def available() -> str | None:
        """None when network namespaces can be made here, else the reason they cannot."""
        probe = EndpointNetns([], name=f"tollgate-probe-{os.getpid()}")
        try:
            with probe:
                return None
        except (CommandError, FileNotFoundError) as e:
            return f"cannot create a network namespace: {e}"
