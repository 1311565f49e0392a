"""tests/k8s/cluster.sh as `make cluster`/`make cluster-down` use it: up starts etcd and the apiserver in the
background with the CRDs applied and a working admin kubeconfig, a second up is a no-op, down stops both
processes and removes the state, and a second down is harmless."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
import urllib.request

from cluster import CLUSTER_SH, REPO, Cluster


def sh(state, *args):
    env = dict(os.environ, TOLLGATE_CLUSTER_DIR=str(state))
    return subprocess.run([str(CLUSTER_SH), *args], capture_output=True, text=True, env=env, timeout=600)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is as good as gone
        return f.read().split(") ")[1][0] != "Z"


def test_up_is_idempotent_and_down_cleans_up(k8s_tools):
    state = REPO / "build" / "cluster-lifecycle-test"
    sh(state, "down")
    up = sh(state, "up")
    assert up.returncode == 0, up.stderr
    assert "KUBECONFIG=" in up.stderr
    try:
        c = Cluster(state)
        pids = c.pids()
        assert set(pids) == {"etcd", "kube-apiserver"} and all(alive(p) for p in pids.values())
        assert sh(state, "status").returncode == 0

        # The apiserver serves TLS with our CA for 127.0.0.1 and requires client authentication for /readyz
        # details; the admin kubeconfig is cluster-admin (system:masters).
        ctx = ssl.create_default_context(cafile=str(c.ca_file))
        ctx.load_cert_chain(str(state / "pki" / "admin.crt"), str(state / "pki" / "admin.key"))
        with urllib.request.urlopen(f"{c.server}/readyz?verbose", context=ctx, timeout=5) as r:
            assert r.status == 200 and b"readyz check passed" in r.read()
        assert c.kubectl("auth", "can-i", "*", "*").stdout.strip() == "yes"
        crds = c.kubectl("get", "crds", "-o", "name").stdout.split()
        assert "customresourcedefinition.apiextensions.k8s.io/apiproxies.tollgate.dev" in crds
        assert "customresourcedefinition.apiextensions.k8s.io/environmentgroups.tollgate.dev" in crds
        c.kubectl("get", "serviceaccount", "default", "-n", "default")

        again = sh(state, "up")
        assert again.returncode == 0 and "already running" in again.stderr, again.stderr
        assert c.pids() == pids

        env = sh(state, "env")
        assert f"export KUBECONFIG={state}/kubeconfig" in env.stdout
    finally:
        down = sh(state, "down")
    assert down.returncode == 0, down.stderr
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    assert not any(alive(p) for p in pids.values())
    assert not state.exists()
    assert sh(state, "down").returncode == 0
    assert sh(state, "status").returncode == 1


def variant(tmp_path, old, new):
    """A copy of cluster.sh with one line changed, still working from this checkout (its `here`)."""
    text = CLUSTER_SH.read_text()
    assert text.count(old) == 1, old
    text = text.replace(old, new).replace(
        'here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)', f"here={CLUSTER_SH.parent}")
    script = tmp_path / "cluster.sh"
    script.write_text(text)
    script.chmod(0o755)
    return script


START = 'setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null 8>&- &'


def run_variant(script, state, *args):
    env = dict(os.environ, TOLLGATE_CLUSTER_DIR=str(state))
    return subprocess.run([str(script), *args], capture_output=True, text=True, env=env, timeout=600)


def test_a_child_slow_to_exec_is_not_taken_for_dead(k8s_tools, tmp_path):
    # Between its fork and its exec a started process still shows this script's command line; on a loaded CI
    # machine that window outlasted the first readiness probe and up failed with "exited before ready" and an
    # empty log. Half a second before each exec makes the window certain.
    script = variant(tmp_path, START, '( sleep 0.5; exec setsid "$@" ) >"$dir/logs/$name.log" 2>&1 </dev/null 8>&- &')
    state = tmp_path / "cluster"
    try:
        up = run_variant(script, state, "up")
        assert up.returncode == 0, up.stderr
        assert run_variant(script, state, "status").returncode == 0
    finally:
        assert run_variant(script, state, "down").returncode == 0


def test_a_process_that_dies_at_start_is_reported_with_its_status(k8s_tools, tmp_path):
    script = variant(tmp_path, START, 'setsid sh -c "kill -9 \\$\\$" >"$dir/logs/$name.log" 2>&1 </dev/null 8>&- &')
    state = tmp_path / "cluster"
    up = run_variant(script, state, "up")
    assert up.returncode == 1
    assert "etcd wrote nothing to its log" in up.stderr, up.stderr
    assert "exited before healthy: killed by signal 9" in up.stderr, up.stderr
    assert not state.exists() and (tmp_path / "cluster.failed-logs").is_dir()
