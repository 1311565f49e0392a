"""End to end through the installed chart: `helm install` into the test apiserver, then the pod's two containers run
as local processes with the exact arguments of the installed Deployment — the controller with a TokenRequest token
of the chart's ServiceAccount (so the chart's RBAC is all it has), the data plane beside it on the shared control
socket. kubectl applies an EnvironmentGroup, an ApiProxy with verifyApiKey, an API-key Secret, and a Service +
EndpointSlice that point at a real WebSocket echo backend; a real client connects through the data plane with the
key and gets its echo, without it gets 401, and `kubectl get apiproxies` shows Programmed=True.

EndpointSlices cannot point at loopback addresses, so the backend, the data plane and the client live in a private
network namespace (EndpointNetns) where 10.244.0.10 is a local address; the controller stays outside, talking to
the apiserver on 127.0.0.1 and to the data plane through the socket file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from cluster import REPO, EndpointNetns

BUILD = Path(os.environ.get("TOLLGATE_BUILD", REPO / "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
RELEASE, RELEASE_NS, APPS = "e2e", "tollgate-e2e", "e2e-apps"
FULLNAME = "e2e-tollgate"
BACKEND_ADDR, BACKEND_PORT = "10.244.0.10", 18081
HOST = "chat.e2e.test"
# Environment names are cluster-wide: one of its own keeps other suites' ApiProxies out of this group.
ENV = "e2e-prod"
API_KEY = "e2e-key-6f1c2a9d4b"

ECHO_BACKEND = """
import asyncio, sys, websockets
async def echo(ws, path=None):
    async for m in ws:
        await ws.send(m)
async def main():
    async with websockets.serve(echo, sys.argv[1], int(sys.argv[2])):
        print("ready", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""

CLIENT = """
import asyncio, json, sys, websockets
async def main(path, host):
    try:
        # The URL gives the Host header; the TCP connection goes to the data plane's listener.
        async with websockets.connect(f"ws://{host}{path}", host="127.0.0.1", port=8080, open_timeout=5) as ws:
            await ws.send("hello through tollgate")
            print(json.dumps({"echo": await asyncio.wait_for(ws.recv(), 5)}))
    except websockets.exceptions.InvalidStatusCode as e:
        print(json.dumps({"status": e.status_code}))
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


class Proc:
    """A process with its output in a log file; stop() ends it (SIGTERM, then SIGKILL) and only it."""

    def __init__(self, name: str, argv: list[str], log_dir: Path):
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._f = open(self.log, "wb")
        self.p = subprocess.Popen(argv, stdout=self._f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self._f.close()


def wait_until(cond, timeout: float, what: str, procs=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            if p.p.poll() is not None:
                pytest.fail(f"{p.name} exited ({p.p.returncode}) while waiting for {what}:\n{p.output()}")
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(0.2)
    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in procs)
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replace_flag(args: list[str], flag: str, value: str) -> list[str]:
    out = [a for a in args if not a.startswith(f"{flag}=")]
    assert len(out) == len(args) - 1, f"{flag} not among the chart's arguments {args}"
    return out + [f"{flag}={value}"]


def supports(binary: Path, flag: str) -> bool:
    r = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=10)
    return flag in r.stdout + r.stderr


@pytest.fixture(scope="module")
def e2e(k8s_cluster, tmp_path_factory):
    c = k8s_cluster
    dataplane, controller = BUILD / "tollgate-dataplane", BUILD / "tollgate-controller"
    if not dataplane.exists() or not controller.exists():
        pytest.fail(f"build the binaries first: make ({dataplane}, {controller})")
    if not supports(controller, "--leader-elect"):
        pytest.skip("tollgate-controller has no --source kube yet")
    reason = EndpointNetns.available()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("e2e")
    c.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--ignore-not-found")
    c.helm("install", RELEASE, str(REPO / "charts" / "tollgate"), "-n", RELEASE_NS, "--create-namespace",
           "--set", "replicaCount=1")
    c.ensure_namespace(APPS)
    kubeconfig = c.token_kubeconfig(c.create_token(FULLNAME, RELEASE_NS), tmp / "kubeconfig")
    pod = c.kubectl_json("get", "deployment", FULLNAME, "-n", RELEASE_NS)["spec"]["template"]["spec"]
    args = {k["name"]: k["args"] for k in pod["containers"]}

    socket_path = tmp / "control.sock"
    dp_args = replace_flag(args["dataplane"], "--control-socket", str(socket_path))
    skipped = []
    if not supports(dataplane, "--tls-listen"):
        dp_args = [a for a in dp_args if not a.startswith("--tls-listen=")]
        skipped.append("--tls-listen")
    health = free_port()
    ctl_args = replace_flag(args["controller"], "--dataplane-socket", str(socket_path))
    ctl_args = replace_flag(ctl_args, "--health", f"127.0.0.1:{health}") + [f"--kubeconfig={kubeconfig}"]

    procs: list[Proc] = []
    with EndpointNetns([BACKEND_ADDR]) as netns:
        try:
            backend = Proc("backend", netns.cmd(["python3", "-c", ECHO_BACKEND, BACKEND_ADDR, str(BACKEND_PORT)]),
                           tmp)
            procs.append(backend)
            wait_until(lambda: "ready" in backend.output(), 15, "the echo backend", [backend])
            c.publish_backend("chat-backend", APPS, BACKEND_ADDR, BACKEND_PORT, service_port=8080)
            # The data plane keeps the chart's listeners (0.0.0.0:8080, admin 0.0.0.0:9901): inside the private
            # namespace they are reachable from nowhere else.
            dp = Proc("dataplane", netns.cmd([str(dataplane), *dp_args]), tmp)
            procs.append(dp)
            wait_until(lambda: socket_path.exists(), 15, "the control socket", [dp])
            ctl = Proc("controller", [str(controller), *ctl_args], tmp)
            procs.append(ctl)

            def ready(url_cmd):
                return subprocess.run(url_cmd, capture_output=True, text=True, timeout=5).stdout.strip()

            wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=2).status == 200,
                       60, "controller /readyz (caches synced, first push acknowledged)", procs)
            wait_until(lambda: ready(netns.cmd(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                "http://127.0.0.1:9901/readyz"])) == "200",
                       30, "data plane /readyz", procs)
            yield {"cluster": c, "netns": netns, "procs": procs, "skipped": skipped, "dp_args": dp_args,
                   "ctl_args": ctl_args}
        finally:
            for p in reversed(procs):
                p.stop()
            c.helm("uninstall", RELEASE, "-n", RELEASE_NS, "--ignore-not-found")


def connect(e2e, path: str) -> dict:
    out = subprocess.run(e2e["netns"].cmd(["python3", "-c", CLIENT, path, HOST]),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_websocket_with_api_key_through_the_chart(e2e):
    c = e2e["cluster"]
    c.apply([
        {"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
         "metadata": {"name": "public", "namespace": APPS},
         "spec": {"hostnames": [HOST], "environments": [ENV]}},
        {"apiVersion": "v1", "kind": "Secret", "type": "tollgate.dev/api-key",
         "metadata": {"name": "chat-client-key", "namespace": APPS, "labels": {"tollgate.dev/app": "chat-client"}},
         "stringData": {"key": API_KEY}},
        {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy", "metadata": {"name": "chat", "namespace": APPS},
         "spec": {"environments": [ENV], "basePath": "/chat",
                  "target": {"service": {"name": "chat-backend", "port": 8080}},
                  "policies": [{"verifyApiKey": {"keyFrom": ["query:apikey"],
                                                 "secretSelector": {"matchLabels": {
                                                     "tollgate.dev/app": "chat-client"}}}}]}},
    ])

    def programmed():
        st = c.kubectl_json("get", "apiproxy", "chat", "-n", APPS).get("status", {})
        conds = {x["type"]: x["status"] for x in st.get("conditions", [])}
        return conds.get("Programmed") == "True" and st.get("endpoints") == 1

    wait_until(programmed, 30, "ApiProxy chat Programmed=True with 1 endpoint (written with the chart's token)",
               e2e["procs"])
    row = c.kubectl("get", "apiproxies", "-n", APPS).stdout.splitlines()
    assert row[0].split()[:6] == ["NAME", "HOSTS", "BASE", "PATH", "ENVIRONMENTS", "PROGRAMMED"]
    cols = row[1].split()
    assert cols[0] == "chat" and cols[2] == "/chat" and cols[4] == "True", row

    assert connect(e2e, f"/chat/echo?apikey={API_KEY}") == {"echo": "hello through tollgate"}
    assert connect(e2e, "/chat/echo") == {"status": 401}
    assert connect(e2e, "/chat/echo?apikey=wrong-key") == {"status": 401}

    lease = c.kubectl_json("get", "lease", FULLNAME, "-n", RELEASE_NS)
    assert lease["spec"]["holderIdentity"], lease
    if e2e["skipped"]:
        warnings.warn(f"tollgate-dataplane does not accept {e2e['skipped']} yet (DESIGN.md's --tls-listen): this "
                      "test ran without it, but a pod with the chart's default values would not start")
