"""pytest wiring of the integration suite (see docs/testing.md).

Fixtures, cheapest scope first:
  run_dir     (session)  a private directory under /tmp for logs, snapshot files and control sockets
  backends    (session)  demo backends b1, b2 (load balancing), bsub (--subprotocols), a Python websockets
                         backend, a chunked-HTTP backend, a dead port (connect refused), a blackhole (connect
                         timeout)
  main_dp     (module)   one data plane with the MAIN snapshot below (2 workers), shared by a module's tests;
                         stopped with SIGTERM at the end of the module, which must exit 0 with no sanitizer report
  dp_factory  (function) data planes of a test's own (own snapshot, own flags); same clean-exit check
  demo_factory(function) demo backends of a test's own (to kill them, or to give them other flags)

Every process is started with PR_SET_PDEATHSIG and killed at session end: none outlives the run. Binaries come
from $TOLLGATE_BUILD (default build/).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tollgate_it as it  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "integration: starts the real Tollgate binaries (tests/integration)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and Path(str(item.fspath)).resolve().parent == Path(__file__).resolve().parent:
        for p in list(it._all_procs):
            rep.sections.append((f"log of {p.name} (pid {p.pid}, tail)", p.log_tail(30)))


def pytest_sessionfinish(session, exitstatus):
    it.kill_all_procs()


@pytest.fixture(scope="session", autouse=True)
def no_credentials_in_logs(run_dir):
    """After the whole run: no API key, token or client secret a test handed to Tollgate appears in any log of a
    Tollgate process (data plane or controller, every log level the tests used). Redaction is docs/policy-auth.md;
    tests/integration/test_redaction.py checks the same per scenario, this checks the full run."""
    yield
    it.kill_all_procs()
    leaks = []
    for path in it.TOLLGATE_LOGS:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        for value in it.CREDENTIALS:
            if value in text:
                leaks.append(f"{path.name}: {value[:6]}… ({len(value)} bytes)")
    assert not leaks, f"credentials in Tollgate logs ({len(it.CREDENTIALS)} searched in " \
                      f"{len(it.TOLLGATE_LOGS)} logs): " + "; ".join(leaks[:20])


@pytest.fixture(scope="session")
def run_dir():
    d = Path(tempfile.mkdtemp(prefix="tg-it-", dir="/tmp"))
    yield d
    it.kill_all_procs()
    if os.environ.get("TOLLGATE_KEEP_LOGS") != "1":
        shutil.rmtree(d, ignore_errors=True)


class Backends:
    """The session's shared peers."""

    def __init__(self, run_dir: Path):
        self.b1 = it.DemoBackend(run_dir, "b1").start()
        self.b2 = it.DemoBackend(run_dir, "b2").start()
        self.bsub = it.DemoBackend(run_dir, "bsub", ["--subprotocols", "superchat,echo.v2"]).start()
        self.pyws = it.PyWsBackend().start()
        self.chunked = it.ChunkedHttpBackend().start()
        self.dead_port = it.free_port()  # nothing listens there: connect refused
        self._blackhole = it.blackhole()
        self.blackhole_port = self._blackhole.__enter__()

    def close(self):
        for b in (self.b1, self.b2, self.bsub):
            b.stop()
        self.pyws.stop()
        self.chunked.stop()
        self._blackhole.__exit__(None, None, None)


@pytest.fixture(scope="session")
def backends(run_dir):
    b = Backends(run_dir)
    yield b
    b.close()


def main_snapshot(b: Backends, version: int = 1) -> dict:
    """The snapshot of the shared data plane: one proxy per behaviour under test, on host main.test, plus three
    groups for the host-matching rules (exact.wild.test / *.wild.test / *.deep.wild.test)."""
    p = it.proxy
    e1, e2 = b.b1.endpoint(), b.b2.endpoint()
    proxies = [
        p("it/echo", "/echo", [e1]),
        p("it/nostrip", "/nostrip", [e1], strip=False),
        p("it/prefixed", "/prefixed", [e1], path_prefix="/pre"),
        p("it/prefixed-nostrip", "/pfx-ns", [e1], strip=False, path_prefix="/pre"),
        p("it/chat", "/chat", [e1], path_prefix="/via-chat"),
        p("it/chatroom", "/chatroom", [e1], path_prefix="/via-chatroom"),
        p("it/chat-deep", "/chat/deep", [e1], path_prefix="/via-chat-deep"),
        p("it/rr", "/rr", [e1, e2], lb="roundRobin"),
        p("it/lc", "/lc", [e1, e2], lb="leastConnections"),
        p("it/random", "/random", [e1, e2], lb="random"),
        p("it/noeps", "/noeps", []),
        p("it/refused", "/refused", [it.endpoint(b.dead_port)]),
        p("it/ctimeout", "/ctimeout", [it.endpoint(b.blackhole_port)], connect_timeout_ms=300),
        p("it/slow", "/slow", [e1], strip=False, timeout_ms=500),
        p("it/limited", "/limited", [e1], max_body=1024),
        p("it/nows", "/nows", [e1], ws=False),
        p("it/sub", "/sub", [b.bsub.endpoint()]),
        p("it/py", "/py", [b.pyws.endpoint()], strip=False),
        p("it/idle", "/idle", [b.pyws.endpoint()], strip=False, idle_ms=600),
        p("it/lifetime", "/lifetime", [e1], lifetime_ms=800),
        p("it/maxmsg", "/maxmsg", [b.pyws.endpoint()], strip=False, max_message=1024),
        p("it/sessions", "/sessions-probe", [e1]),
        p("it/chunked", "/chunked", [b.chunked.endpoint()]),
        p("it/which-exact", "/which", [e1], environments=["e-exact"], path_prefix="/exact"),
        p("it/which-wild", "/which", [e1], environments=["e-wild"], path_prefix="/wild"),
        p("it/which-deep", "/which", [e1], environments=["e-deep"], path_prefix="/deep"),
    ]
    groups = [
        it.group("it/main", [it.MAIN_HOST], ["prod"]),
        it.group("it/exact", ["exact.wild.test"], ["e-exact"]),
        it.group("it/wild", ["*.wild.test"], ["e-wild"]),
        it.group("it/deepwild", ["*.deep.wild.test"], ["e-deep"]),
    ]
    return it.snapshot(version, groups, proxies)


@pytest.fixture(scope="module")
def main_dp(run_dir, backends):
    dp = it.Dataplane(run_dir, "dataplane-main", workers=2).start(main_snapshot(backends))
    yield dp
    dp.check_clean_exit()


@pytest.fixture
def dp_factory(run_dir):
    made: list[it.Dataplane] = []

    def make(snap: dict | None = None, workers: int = 2, args=(), wait_ready: bool = True) -> it.Dataplane:
        dp = it.Dataplane(run_dir, f"dataplane-{len(made)}", workers=workers, args=args)
        made.append(dp)
        return dp.start(snap, wait_ready=wait_ready)

    yield make
    problems = []
    for dp in made:
        try:
            dp.check_clean_exit()
        except AssertionError as e:
            problems.append(str(e))
    assert not problems, "\n".join(problems)


@pytest.fixture
def demo_factory(run_dir):
    made: list[it.DemoBackend] = []

    def make(name: str, args=()) -> it.DemoBackend:
        b = it.DemoBackend(run_dir, name, args).start()
        made.append(b)
        return b

    yield make
    for b in made:
        b.stop()
