"""pytest wiring of the Kubernetes test bed: the `k8s` marker and the session fixture `k8s_cluster`.

Every test here is marked `k8s` (select with `-m k8s`, leave out with `-m "not k8s"`). The fixture starts one test
bed for the session in build/cluster-test (or $TOLLGATE_TEST_CLUSTER_DIR), separate from the one `make cluster`
starts in build/cluster, and stops it at the end (unless TOLLGATE_KEEP_CLUSTER=1); when other suites (tests/kube)
use the same directory at the same time, the last one to end stops it (Cluster.session). A test that needs it is
skipped, with the build error as the reason, only when the binaries could not be built; a cluster that does not
come up fails the tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cluster import REPO, Cluster, ToolsUnavailable, tools_dir  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "k8s: needs the Kubernetes test bed (real etcd + kube-apiserver, helm)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.k8s)


@pytest.fixture(scope="session")
def k8s_tools() -> Path:
    """Directory with kube-apiserver, etcd, kubectl and helm (built on first use)."""
    try:
        return tools_dir(build=True)
    except ToolsUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def k8s_cluster(k8s_tools) -> Cluster:
    state = Path(os.environ.get("TOLLGATE_TEST_CLUSTER_DIR", REPO / "build" / "cluster-test"))
    with Cluster.session(state, keep=os.environ.get("TOLLGATE_KEEP_CLUSTER") == "1") as cluster:
        yield cluster
