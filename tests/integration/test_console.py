"""The web console (/console/ on the admin port) and the demo chat page in headless Chromium (Debian's chromium
driven by playwright-core from npm; tests/integration/node/console_browser.js does the browsing): the console
loads with no console errors, shows the routes, is reachable by keyboard and labels its fields, shows a live
WebSocket session appear with its counts and disappear, draws its charts, keeps the admin token in the tab's
sessionStorage; its debug page starts a debug session and shows the 101 record turning into a closed record
(skipped with "debug sessions not in this build" until POST /debug/sessions lands). Two chat pages talk through
the gateway, and one whose session the proxy ends says so. Screenshots go to docs/images/ (docs/console.md)."""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

import tollgate_it as it
from test_tollgatectl import StandInDebugApi, post_json

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "node" / "node_modules"
IMAGES = REPO / "docs" / "images"
SCRIPT = Path(__file__).resolve().parent / "node" / "console_browser.js"


def browse(spec: dict, timeout: float = 120, images: Path = IMAGES) -> dict:
    if not shutil.which("node") or not (NODE_MODULES / "playwright-core").is_dir():
        pytest.skip("playwright-core not installed (make deps)")
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        pytest.skip("chromium not installed (make deps)")
    images.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["node", str(SCRIPT), json.dumps({**spec, "images": str(images)})], capture_output=True,
                       text=True, timeout=timeout * it.SLOW, env={**os.environ, "NODE_PATH": str(NODE_MODULES)})
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, f"no result from the browser: {r.stdout}\n{r.stderr}"
    out = json.loads(lines[-1])
    assert r.returncode == 0 and "error" not in out, f"{out.get('error')}\nsteps: {out.get('steps')}\n{r.stderr}"
    return out


def debug_available(dp: it.Dataplane) -> bool:
    status, _ = post_json(dp, "/debug/sessions", {"environment": "prod", "proxy": "console/none",
                                                  "durationSeconds": 1})
    return status not in (404, 405)


@pytest.fixture(scope="module")
def console_dp(run_dir, backends):
    snap = it.snapshot(1, [it.group("console/public", [it.MAIN_HOST], ["prod"])],
                       [it.proxy("console/echo", "/echo", [backends.b1.endpoint()]),
                        it.proxy("console/feed", "/feed", [backends.b2.endpoint()])])
    dp = it.Dataplane(run_dir, "dataplane-console", workers=2).start(snap)
    yield dp
    dp.check_clean_exit()


def test_console_files_are_served(console_dp):
    status, headers, body = console_dp.admin("/console/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="/console/js/app.js">' in body
    status, headers, _ = console_dp.admin("/console/js/app.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert console_dp.admin("/console/nope.js")[0] == 404
    assert console_dp.admin("/console/../metrics")[0] == 404


def test_console_in_chromium(console_dp):
    debug = debug_available(console_dp)
    out = browse({"scenario": "console", "admin": f"http://127.0.0.1:{console_dp.admin_port}",
                  "gateway": f"ws://{it.MAIN_HOST}:{console_dp.port}", "wsPath": "/echo/console",
                  "proxy": "console/echo", "environment": "prod", "debug": debug})
    assert out["errors"] == [], out["errors"]
    ep = f"127.0.0.1:{console_dp.admin_port}"
    assert out["routesVersion"].startswith("Snapshot version 1")
    assert [it.MAIN_HOST, "console/public", "prod", "/echo", "console/echo"] in [r[:5] for r in out["routes"]]
    assert len(out["routes"]) == 2
    assert all(label for label in out["labels"]), out["labels"]  # every field has a label
    (row,) = out["sessionRow"]
    assert row[1] == "console/echo" and row[3] == "127.0.0.1" and row[5].startswith(("7 / 7", "6 / 6", "5 / 5",
                                                                                     "4 / 4", "3 / 3"))
    assert out["sessionsAfterClose"] == "No live WebSocket sessions"
    active, messages, handshakes = out["charts"]
    assert active.startswith("Active sessions: 1 now")
    assert messages.startswith("Messages per second: ") and "at most 0.0" not in messages
    assert handshakes.startswith("Handshakes per second: ")
    assert out["tokenStored"] == "console-test-token" and out["tokenField"] == ""
    assert ep  # (the admin port the page came from)
    if not debug:
        pytest.skip("debug sessions not in this build")
    assert "101 Switching Protocols" in out["openDetail"]
    closed = dict(zip(out["closedDetail"][0::2], out["closedDetail"][1::2]))
    assert closed["Closed by"] == "client" and closed["Close code"] == "1000"
    assert closed["Messages client → backend"] == "2" and closed["Messages backend → client"] == "2"


def test_demo_chat_in_chromium(dp_factory, demo_factory):
    backend = demo_factory("chat")
    # stripBasePath false: /chat/ (the page) and /chat/ws (the room) reach the backend as they are; the proxy
    # ends every session after 6 s (maxLifetime), which the page must say
    snap = it.snapshot(1, [it.group("demo/public", [it.MAIN_HOST], ["prod"])],
                       [it.proxy("demo/chat", "/chat", [backend.endpoint()], strip=False, lifetime_ms=6000)])
    dp = dp_factory(snap)
    out = browse({"scenario": "chat", "page": f"http://{it.MAIN_HOST}:{dp.port}/chat/"})
    assert out["errors"] == [], out["errors"]
    assert any(l.endswith(": hello from page A") for l in out["logA"]), out["logA"]
    assert any(l.endswith(": and hello back from B") for l in out["logA"]), out["logA"]
    assert out["closedLineA"][0].startswith("* connection closed (1001"), out["closedLineA"]


def test_console_debug_page_against_a_stand_in(tmp_path):
    """The debug page's side of the flow before the data plane has debug sessions: the console's own files served
    by a stand-in admin API whose debug session records one WebSocket transaction by itself, open then closed
    (DESIGN.md's shapes). Screenshots go to a temporary directory: they show made-up data."""
    console = REPO / "console"
    api = StandInDebugApi()
    handler = api.server.RequestHandlerClass
    plain_get = handler.do_GET

    def do_get(self):
        if self.path.startswith("/console/"):
            name = self.path[len("/console/"):].split("?")[0].split("#")[0] or "index.html"
            data = (console / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", (mimetypes.guess_type(name)[0] or "text/plain").replace(
                "application/javascript", "text/javascript"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/routes":
            self._send(200, {"version": 3, "appliedAt": "", "routes": [
                {"host": "api.example.com", "group": "apis/public", "environment": "prod", "basePath": "/chat",
                 "proxy": "apis/chat", "endpoints": ["10.1.0.4:8080"], "websocket": True,
                 "policies": ["verifyApiKey"]}]})
        elif self.path == "/metrics":
            data = b"tollgate_websocket_sessions_active 0\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            plain_get(self)

    handler.do_GET = do_get
    tx = {"status": 101, "request": {"method": "GET", "path": "/chat/ws",
                                     "headers": {"host": "api.example.com", "x-api-key": "<redacted>"}},
          "policies": [{"name": "verifyApiKey", "result": "ok", "micros": 41}], "endpoint": "10.1.0.4:8080"}

    def script():  # the recorded transaction: open after the session starts, closed 3 s later
        it.wait_until(lambda: api.sessions, 30)
        s = next(iter(api.sessions.values()))
        time.sleep(0.5)
        s["transactions"].append(dict(tx))
        time.sleep(3)
        s["transactions"][0] = {**tx, "websocket": {
            "durationMs": 3012, "messages": {"clientToBackend": 2, "backendToClient": 2},
            "bytes": {"clientToBackend": 14, "backendToClient": 14}, "closeCode": 1000, "closedBy": "client"}}

    threading.Thread(target=script, daemon=True).start()
    try:
        out = browse({"scenario": "debug", "admin": api.url, "proxy": "apis/chat", "environment": "prod",
                      }, images=tmp_path)
    finally:
        api.close()
    assert out["errors"] == [], out["errors"]
    assert api.posted[0] == {"proxy": "apis/chat", "environment": "prod", "durationSeconds": 600,
                             "maxTransactions": 5}
    assert "101 Switching Protocols" in out["openDetail"] and "<redacted>" in out["openDetail"]
    closed = dict(zip(out["closedDetail"][0::2], out["closedDetail"][1::2]))
    assert closed == {"Closed by": "client", "Close code": "1000", "Duration": "3.0 s",
                      "Messages client → backend": "2", "Messages backend → client": "2",
                      "Bytes client → backend": "14 B", "Bytes backend → client": "14 B"}
    assert out["policies"] == [["verifyApiKey", "ok", "41 µs"]]
    if os.environ.get("TOLLGATE_KEEP_SCREENSHOTS"):  # to look at them
        shutil.copytree(tmp_path, os.environ["TOLLGATE_KEEP_SCREENSHOTS"], dirs_exist_ok=True)
