"""Fault injection against the real cluster (issue 11 item 10): etcd killed (SIGKILL) and restarted under a
running controller — the API server loses its storage, the controller's watches break or stall — and then the
API server restarted as well; after each, a change made through the API reaches the data plane (the watches
resumed) and nothing that existed before is lost. Runs on a test bed of its own (own_bed), like the API-server
restart in test_kube_resilience.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from kube_bed import _pid, group, proxy, restart_apiserver, wait_until

T = 60


def _restart_etcd(bed) -> None:
    pid = _pid(bed, "etcd")
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    cwd = os.readlink(f"/proc/{pid}/cwd")
    os.kill(pid, signal.SIGKILL)

    def gone():
        if Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
            return False
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", bed.etcd_port)) != 0
    wait_until(gone, 15, what="etcd to stop")
    log = open(bed.dir / "logs" / "etcd.log", "ab")
    p = subprocess.Popen([a.decode() for a in argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         cwd=cwd, start_new_session=True)
    (bed.dir / "etcd.pid").write_text(f"{p.pid}\n")
    ca = str(bed.dir / "pki" / "ca.crt")
    cert, key = str(bed.dir / "pki" / "admin.crt"), str(bed.dir / "pki" / "admin.key")

    def ready():
        r = subprocess.run(["curl", "-sS", "--max-time", "2", "--cacert", ca, "--cert", cert, "--key", key,
                            f"{bed.server}/readyz"], capture_output=True, text=True)
        return r.stdout.strip() == "ok"
    wait_until(ready, 90, interval=0.3, what="kube-apiserver ready again with etcd back")


def test_etcd_then_apiserver_restart_watches_resume(own_bed, dataplane, controller):
    bed = own_bed
    ns = "faults"
    bed.ensure_namespace(ns)
    bed.kubectl("delete", "apiproxies,environmentgroups", "--all", "-n", ns)
    dp = dataplane()
    ctl = controller(ns, dp, cluster=bed)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"])] +
              [proxy(ns, f"p{i}", f"/p{i}", url="http://127.0.0.1:9") for i in range(3)])
    wait_until(lambda: len(dp.proxies()) == 3, T, what="three proxies")

    _restart_etcd(bed)
    assert sorted(dp.proxies()) == sorted(f"{ns}/p{i}" for i in range(3))  # the data plane kept serving them
    bed.apply(proxy(ns, "after-etcd", "/after-etcd", url="http://127.0.0.1:9"))
    wait_until(lambda: f"{ns}/after-etcd" in dp.proxies(), T, what="a proxy created after the etcd restart")

    restart_apiserver(bed)
    bed.apply(proxy(ns, "after-api", "/after-api", url="http://127.0.0.1:9"))
    wait_until(lambda: f"{ns}/after-api" in dp.proxies(), T, what="a proxy created after the API-server restart")
    bed.kubectl("delete", "apiproxy", "p0", "-n", ns)
    wait_until(lambda: f"{ns}/p0" not in dp.proxies(), T, what="a delete after both restarts")
    assert sorted(dp.proxies()) == sorted([f"{ns}/p1", f"{ns}/p2", f"{ns}/after-etcd", f"{ns}/after-api"])
    assert ctl.alive()
