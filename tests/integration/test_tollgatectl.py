"""tollgatectl against a running data plane (issue 14): every command's table and its JSON (and YAML) output,
`sessions --watch` seeing a WebSocket session appear and close, the documented exit codes and messages for a
stopped data plane, a wrong token and an unknown debug session, `--help` on every command, bash completion, and
`trace` printing a WebSocket's 101 record and then its close.

The debug sessions (POST /debug/sessions, issue 13) and the admin token (--admin-token-file) come from another
branch: their tests probe the data plane at run time and skip with "debug sessions not in this build" /
"admin token not in this build" until both are there."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

import tollgate_it as it

CTL = str(it.binary("tollgatectl"))


def ctl_snapshot(b1: dict, version: int = 1) -> dict:
    return it.snapshot(version, [it.group("ctl/public", [it.MAIN_HOST, "*.ctl.test"], ["prod"])],
                       [it.proxy("ctl/echo", "/echo", [b1]), it.proxy("ctl/other", "/other", [b1])])


@pytest.fixture(scope="module")
def ctl_dp(run_dir, backends):
    dp = it.Dataplane(run_dir, "dataplane-ctl", workers=2).start(ctl_snapshot(backends.b1.endpoint()))
    yield dp
    dp.check_clean_exit()


def admin_url(dp: it.Dataplane) -> str:
    return f"http://127.0.0.1:{dp.admin_port}"


def ctl(dp: it.Dataplane | None, *args: str, env: dict | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    argv = [CTL] + (["--admin", admin_url(dp)] if dp else []) + list(args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout * it.SLOW, env=env)


class Lines:
    """A long-running tollgatectl whose stdout lines are read on a thread (for --watch and trace)."""

    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pred, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout * it.SLOW
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if pred(line):
                return line
        raise AssertionError(f"no matching line in {timeout}s; saw:\n" + "\n".join(self.seen) +
                             f"\nstderr: {self.stop()}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


@contextlib.contextmanager
def fake_admin(body: str):
    """A stand-in admin API answering every GET with body (JSON), on a loopback port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


async def async_wait_until(pred, timeout: float) -> None:
    deadline = time.monotonic() + timeout * it.SLOW
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def post_json(dp: it.Dataplane, path: str, body: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(admin_url(dp) + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ------------------------------------------------------------------------------------------------- routes

def test_routes_table_json_yaml(ctl_dp, backends):
    ep = f"127.0.0.1:{backends.b1.port}"
    r = ctl(ctl_dp, "routes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("snapshot version 1, applied ")
    assert lines[1].split() == ["HOST", "GROUP", "ENVIRONMENT", "BASE", "PATH", "PROXY", "ENDPOINTS", "WS", "POLICIES"]
    rows = [l.split() for l in lines[2:]]
    assert [it.MAIN_HOST, "ctl/public", "prod", "/echo", "ctl/echo", ep, "yes", "-"] in rows
    assert ["*.ctl.test", "ctl/public", "prod", "/other", "ctl/other", ep, "yes", "-"] in rows
    assert len(rows) == 4  # 2 hostnames x 2 base paths

    r = ctl(ctl_dp, "routes", "-o", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["version"] == 1
    assert {"host": it.MAIN_HOST, "group": "ctl/public", "environment": "prod", "basePath": "/echo",
            "proxy": "ctl/echo", "endpoints": [ep], "websocket": True, "policies": [],
            "stripBasePath": True} in doc["routes"]
    # the YAML emitter reads back as the same document (the wildcard host must be quoted to stay a string)
    y = ctl(ctl_dp, "-o", "yaml", "routes")
    assert y.returncode == 0, y.stderr
    assert yaml.safe_load(y.stdout) == doc
    assert '"*.ctl.test"' in y.stdout


def test_routes_table_fits_the_terminal_width(ctl_dp):
    """On a terminal the table is cut to its width; `script` gives tollgatectl a pseudo-terminal."""
    r = subprocess.run(["script", "-qec", f"COLUMNS=60 {CTL} --admin {admin_url(ctl_dp)} routes", "/dev/null"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    table = [l for l in r.stdout.replace("\r", "").splitlines() if l.strip()][1:]
    assert table and all(len(l.rstrip()) <= 60 for l in table), r.stdout
    assert any("~" in l for l in table)  # something was cut


# ------------------------------------------------------------------------------------------------- config

def test_config_table_json_yaml(ctl_dp):
    r = ctl(ctl_dp, "config")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("snapshot version 1, applied ")
    assert "ctl/public" in r.stdout and "ctl/echo" in r.stdout and "/other" in r.stdout
    j = ctl(ctl_dp, "config", "-o", "json")
    doc = json.loads(j.stdout)
    assert doc["version"] == 1
    assert {p["id"] for p in doc["proxies"]} == {"ctl/echo", "ctl/other"}
    assert yaml.safe_load(ctl(ctl_dp, "config", "-o", "yaml").stdout) == doc


def test_config_elides_secrets():
    """The elision is the client's: a fake admin API answers /config with secret-looking fields."""
    body = json.dumps({"version": 7, "groups": [], "proxies": [{"id": "x/y", "clientSecret": "s3cr3t-value",
                       "policies": [{"verifyApiKey": {"keyFrom": ["header:x-api-key"], "key": "k-123456"}}],
                       "introspection": {"password": "hunter2", "tokenFrom": ["header:authorization"]}}]})
    with fake_admin(body) as port:
        r = subprocess.run([CTL, "--admin", f"127.0.0.1:{port}", "config", "-o", "json"], capture_output=True,
                           text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    for secret in ("s3cr3t-value", "k-123456", "hunter2"):
        assert secret not in r.stdout
    doc = json.loads(r.stdout)
    px = doc["proxies"][0]
    assert px["clientSecret"] == "<elided>"
    assert px["policies"][0]["verifyApiKey"] == {"keyFrom": ["header:x-api-key"], "key": "<elided>"}
    assert px["introspection"]["tokenFrom"] == ["header:authorization"]


# ----------------------------------------------------------------------------------------------- sessions

def test_sessions_table_json_and_proxy_filter(ctl_dp):
    async def body():
        async with it.ws_connect(ctl_dp, "/echo/ws") as ws:
            for i in range(3):
                await ws.send(f"message {i}")
                await ws.recv()
            await async_wait_until(lambda: any(s["messages"]["backendToClient"] == 3 for s in ctl_dp.sessions()),
                                      5)
            r = ctl(ctl_dp, "sessions")
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert lines[0].split()[:4] == ["ID", "PROXY", "ENVIRONMENT", "CLIENT"]
            row = [l for l in lines[1:] if " ctl/echo " in l]
            assert len(row) == 1 and "127.0.0.1" in row[0] and " 3/3 " in row[0], r.stdout
            # IDLE: the session's idle time from /sessions' idleMs (a duration, not "-")
            titles = lines[0].split()
            assert "IDLE" in titles, lines[0]
            idle_at = lines[0].index("IDLE")
            assert row[0][idle_at:].split()[0] != "-", r.stdout
            j = json.loads(ctl(ctl_dp, "sessions", "-o", "json").stdout)
            (s,) = [s for s in j["sessions"] if s["proxy"] == "ctl/echo"]
            assert s["messages"] == {"clientToBackend": 3, "backendToClient": 3}
            assert isinstance(s["idleMs"], int) and 0 <= s["idleMs"] < 10000, s
            assert s["environment"] == "prod" and s["client"] == "127.0.0.1"
            only = json.loads(ctl(ctl_dp, "sessions", "--proxy", "ctl/other", "-o", "json").stdout)
            assert only == {"sessions": []}
            short = json.loads(ctl(ctl_dp, "sessions", "--proxy", "echo", "-o", "json").stdout)
            assert [x["id"] for x in short["sessions"]] == [s["id"]]
            # two fetches: idleMs moves between them (time passes), everything else is the same
            as_yaml = yaml.safe_load(ctl(ctl_dp, "sessions", "-o", "yaml").stdout)
            for doc in (as_yaml, j):
                for x in doc["sessions"]:
                    assert isinstance(x.pop("idleMs"), int)
            assert as_yaml == j

    it.run(body())
    it.wait_until(lambda: not ctl_dp.sessions(), 5)
    r = ctl(ctl_dp, "sessions")
    assert r.returncode == 0 and r.stdout.strip() == "no live WebSocket sessions"


def test_sessions_watch_sees_a_session_open_and_close(ctl_dp):
    it.wait_until(lambda: not ctl_dp.sessions(), 5)
    base = [CTL, "--admin", admin_url(ctl_dp), "sessions", "--watch", "--interval", "0.2"]
    as_json = Lines(base + ["-o", "json"])
    as_table = Lines(base + ["--proxy", "ctl/echo"])
    try:
        as_table.wait_for(lambda l: l == "no live WebSocket sessions")
        time.sleep(0.5)  # both watchers have their first poll

        async def body():
            async with it.ws_connect(ctl_dp, "/echo/watched") as ws:
                await ws.send("hi")
                await ws.recv()
                ev = json.loads(as_json.wait_for(lambda l: '"added"' in l))
                assert ev["event"] == "added" and ev["session"]["proxy"] == "ctl/echo"
                line = as_table.wait_for(lambda l: l.startswith("added"))
                assert "proxy=ctl/echo" in line and "client=127.0.0.1" in line
                return ev["session"]["id"]

        sid = it.run(body())
        ev = json.loads(as_json.wait_for(lambda l: '"closed"' in l))
        assert ev["session"]["id"] == sid
        line = as_table.wait_for(lambda l: l.startswith("closed"))
        assert f" {sid} " in line
    finally:
        as_json.stop()
        as_table.stop()


# ----------------------------------------------------------------------------------- version, help, completion

def test_version(ctl_dp):
    r = ctl(ctl_dp, "version")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("tollgatectl ")
    assert "snapshot version 1" in r.stdout
    doc = json.loads(ctl(ctl_dp, "version", "-o", "json").stdout)
    assert doc["dataplane"]["reachable"] is True and doc["dataplane"]["snapshotVersion"] == 1
    assert json.loads(ctl(None, "version", "--client", "-o", "json").stdout).keys() == {"client"}


@pytest.mark.parametrize("cmd", [[], ["routes"], ["sessions"], ["debug"], ["trace"], ["config"], ["version"],
                                 ["completion"]])
def test_help_on_every_command(cmd):
    r = ctl(None, *cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Usage: tollgatectl")


def test_usage_errors_exit_2():
    for args in (["nosuch"], ["-o", "xml", "routes"], ["routes", "extra"], ["debug", "start", "--proxy", "a/b"],
                 ["debug", "show"], ["sessions", "--interval", "0"]):
        r = ctl(None, *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("tollgatectl: ")


def test_bash_completion():
    script = ctl(None, "completion", "bash").stdout
    assert "complete -F _tollgatectl tollgatectl" in script

    def complete(*words: str) -> list[str]:
        cw = " ".join(f"'{w}'" for w in words)
        r = subprocess.run(["bash", "-c", f"source /dev/stdin; COMP_WORDS=(tollgatectl {cw}); "
                            f"COMP_CWORD={len(words)}; _tollgatectl; echo \"${{COMPREPLY[@]}}\""],
                           input=script, capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("de") == ["debug"]
    assert set(complete("")) >= {"routes", "sessions", "debug", "trace", "config", "version", "completion"}
    assert complete("debug", "s") == ["start", "show", "stop"]
    assert complete("-o", "y") == ["yaml"]
    assert "--watch" in complete("sessions", "--")


# --------------------------------------------------------------------------------------------------- errors

def test_stopped_dataplane_is_said_plainly(dp_factory, backends):
    dp = dp_factory(ctl_snapshot(backends.b1.endpoint()))
    dp.stop()
    for args in (["routes"], ["sessions"], ["config"], ["debug", "list"], ["sessions", "--watch"]):
        r = ctl(dp, *args)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert r.stderr.strip() == (f"tollgatectl: cannot reach the admin API at {admin_url(dp)}: connection "
                                    "refused (is the data plane running? set --admin or TOLLGATE_ADMIN)")
    # the environment variable is the same as --admin
    r = subprocess.run([CTL, "routes"], capture_output=True, text=True, timeout=20,
                       env={"TOLLGATE_ADMIN": admin_url(dp), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 3 and admin_url(dp) in r.stderr
    # version still answers, and says the data plane cannot be reached
    r = ctl(dp, "version")
    assert r.returncode == 0 and "connection refused" in r.stdout


def test_unknown_debug_session_is_404(ctl_dp):
    """A debug session that does not exist (or a data plane without debug sessions) is a plain 404, exit 5."""
    r = ctl(ctl_dp, "debug", "show", "no-such-session")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert r.stderr.startswith("tollgatectl: not found (404): GET /debug/sessions/no-such-session")


def test_missing_token_file_is_a_usage_error(ctl_dp, tmp_path):
    r = ctl(ctl_dp, "--token-file", str(tmp_path / "absent"), "routes")
    assert r.returncode == 2 and "cannot read the token file" in r.stderr


def test_wrong_token_is_said_plainly(run_dir, backends, tmp_path):
    good = tmp_path / "token"
    good.write_text("right-token-0123456789\n")
    bad = tmp_path / "wrong"
    bad.write_text("wrong-token-0123456789\n")
    dp = it.Dataplane(run_dir, "dataplane-token", args=["--admin-token-file", str(good)])
    dp.start(ctl_snapshot(backends.b1.endpoint()), wait_ready=False)
    try:
        # /sessions and /config are the privileged admin API of issue 13
        for args in (["sessions"], ["config", "-o", "json"]):
            r = ctl(dp, "--token-file", str(bad), *args)
            assert r.returncode == 4, (args, r.stdout, r.stderr)
            assert r.stderr.strip() == ("tollgatectl: the admin API refused the request (401 Unauthorized): wrong "
                                        "admin token; check --token-file or TOLLGATE_ADMIN_TOKEN_FILE")
        r = ctl(dp, "sessions")
        assert r.returncode == 4 and "an admin token is required" in r.stderr
        r = subprocess.run([CTL, "--admin", admin_url(dp), "sessions", "-o", "json"], capture_output=True, text=True,
                           timeout=20, env={"TOLLGATE_ADMIN_TOKEN_FILE": str(good), "PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"sessions": []}
    finally:
        dp.stop()


# ------------------------------------------------------------------------------------- debug and trace

def test_debug_start_list_show_stop_and_trace(ctl_dp):
    r = ctl(ctl_dp, "debug", "start", "--env", "prod", "--proxy", "ctl/echo", "--duration", "2m", "--max", "10",
            "--filter", "path=/echo/", "--filter", "client=127.0.0.1")
    assert r.returncode == 0, r.stderr
    sid = r.stdout.strip()
    assert sid and f"tollgatectl trace {sid}" in r.stderr
    # the filters reached the data plane as its debug API reads them
    status, _, raw = ctl_dp.admin(f"/debug/sessions/{sid}")
    created = json.loads(raw)
    assert status == 200 and created["pathPrefix"] == "/echo/" and created["clientIp"] == "127.0.0.1", created
    assert created["maxTransactions"] == 10

    lst = ctl(ctl_dp, "debug", "list")
    assert lst.returncode == 0 and sid in lst.stdout and "ctl/echo" in lst.stdout
    assert sid in ctl(ctl_dp, "debug", "list", "-o", "json").stdout

    trace_json = Lines([CTL, "--admin", admin_url(ctl_dp), "trace", sid, "-o", "json", "--interval", "0.2"])
    trace_table = Lines([CTL, "--admin", admin_url(ctl_dp), "trace", sid, "--interval", "0.2"])
    try:
        trace_table.wait_for(lambda l: l.startswith(f"tracing debug session {sid}"))

        async def body():
            async with it.ws_connect(ctl_dp, "/echo/traced") as ws:
                for m in ("one", "two"):
                    await ws.send(m)
                    await ws.recv()
                opened = json.loads(trace_json.wait_for(lambda l: '"transaction"' in l))
                assert opened["transaction"]["status"] == 101
                line = trace_table.wait_for(lambda l: "-> 101" in l)
                assert line.startswith("[1] GET /echo/traced -> 101")
                trace_table.wait_for(lambda l: l.strip() == "websocket: open")

        it.run(body())
        closed = json.loads(trace_json.wait_for(lambda l: '"closed"' in l))
        ws = closed["transaction"]["websocket"]
        assert ws["closeCode"] == 1000 and ws["closedBy"] == "client"
        assert ws["messages"] == {"clientToBackend": 2, "backendToClient": 2}
        line = trace_table.wait_for(lambda l: "closed 1000 by client" in l)
        assert line.startswith("[1] GET /echo/traced  closed 1000 by client after ")
        assert "messages c>b 2 b>c 2" in line
    finally:
        trace_json.stop()
        trace_table.stop()

    show = ctl(ctl_dp, "debug", "show", sid)
    assert show.returncode == 0, show.stderr
    assert "/echo/traced" in show.stdout and "101" in show.stdout and "closed 1000 by client" in show.stdout
    doc = json.loads(ctl(ctl_dp, "debug", "show", sid, "-o", "json").stdout)
    assert doc["id"] == sid and doc["transactions"][0]["status"] == 101
    assert yaml.safe_load(ctl(ctl_dp, "debug", "show", sid, "-o", "yaml").stdout) == doc

    stop = ctl(ctl_dp, "debug", "stop", sid)
    assert stop.returncode == 0 and stop.stdout.strip() == f"debug session {sid} stopped"
    gone = ctl(ctl_dp, "debug", "show", sid)
    assert gone.returncode == 5 and "not found (404)" in gone.stderr


