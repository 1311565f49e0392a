"""pytest wiring for the controller against the real Kubernetes API (tests/kube).

Real peers only: the test bed's etcd + kube-apiserver (tests/k8s/cluster.py; the same state directory as the
tests/k8s suite, build/cluster-test, so one session starts one test bed), the real build/tollgate-dataplane
listening on a control socket, and build/tollgate-controller --source kube. Every test works in a namespace of
its own and runs its controllers with --namespace, so tests never see each other's objects.

Fixtures: `bed` (the cluster), `ns` (a fresh namespace), `dataplane` / `controller` factories that start
processes and always stop them. Helpers the tests import live in kube_bed.py (see there why).
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kube_bed import (CONTROLLER, DATAPLANE, REPO, Cluster, Controller, Dataplane, Proc,  # noqa: E402
                      ToolsUnavailable, controller_has_kube_source, tools_dir)


def _bed(state: Path):
    if not CONTROLLER.exists() or not DATAPLANE.exists():
        pytest.fail(f"build the binaries first ({CONTROLLER}, {DATAPLANE})")
    if not controller_has_kube_source():
        pytest.skip("tollgate-controller has no --source kube wiring yet (main.c)")
    try:
        tools_dir(build=True)
    except ToolsUnavailable as e:
        pytest.skip(str(e))
    return Cluster.session(state, keep=os.environ.get("TOLLGATE_KEEP_CLUSTER") == "1")


@pytest.fixture(scope="session")
def bed() -> Cluster:
    """The shared test bed (build/cluster-test, like tests/k8s: joined when already up, stopped by its last user)."""
    with _bed(Path(os.environ.get("TOLLGATE_TEST_CLUSTER_DIR", REPO / "build" / "cluster-test"))) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def own_bed() -> Cluster:
    """A test bed of this module's own (build/cluster-kube-restart), for tests that restart the API server or
    compact etcd, so suites sharing build/cluster-test are never disturbed."""
    with _bed(REPO / "build" / "cluster-kube-restart") as cluster:
        yield cluster


@pytest.fixture
def ns(bed, request) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"kt-{name}-{uuid.uuid4().hex[:6]}"
    bed.ensure_namespace(name)
    return name


@pytest.fixture
def procs():
    started: list[Proc] = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture
def dataplane(tmp_path, procs):
    def make(tag: str = "a", tls: bool = False) -> Dataplane:
        dp = Dataplane(tmp_path, tag, tls)
        procs.append(dp)
        return dp
    return make


@pytest.fixture
def controller(tmp_path, procs, request):
    def make(namespace: str, dp: Dataplane, tag: str = "a", extra=(), kubeconfig: Path | None = None,
             wait: bool = True, cluster: Cluster | None = None) -> Controller:
        if kubeconfig is None:
            kubeconfig = (cluster or request.getfixturevalue("bed")).kubeconfig
        c = Controller(tmp_path, tag, kubeconfig, namespace, dp, extra)
        procs.append(c)
        if wait:
            c.wait_ready()
        return c
    return make
