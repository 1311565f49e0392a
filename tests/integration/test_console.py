"""The web console (/console/ on the admin port) and the demo chat page in headless Chromium (Debian's chromium
driven by playwright-core from npm; tests/integration/node/console_browser.js does the browsing): the console
loads with no console errors, shows the routes, is reachable by keyboard and labels its fields, shows a live
WebSocket session appear with its counts and disappear, draws its charts, keeps the admin token in the tab's
sessionStorage; its debug page starts a debug session and shows the 101 record turning into a closed record
(through the data plane's real debug API). Two chat pages talk through the gateway, and one whose session the
proxy ends says so. Screenshots go to $TOLLGATE_BUILD/screenshots/, or to docs/images/ (the ones docs/console.md
shows) with TOLLGATE_UPDATE_SCREENSHOTS=1, so that a test run leaves the tree as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import tollgate_it as it
from test_tollgatectl import post_json

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "node" / "node_modules"
IMAGES = (REPO / "docs" / "images" if os.environ.get("TOLLGATE_UPDATE_SCREENSHOTS") == "1"
          else REPO / os.environ.get("TOLLGATE_BUILD", "build") / "screenshots")
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
    assert r.returncode == 0 and "error" not in out, f"{out.get('error')}\nsteps: {out.get('steps')}\npage errors: {out.get('errors')}\n{r.stderr}"
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
    assert debug, "the data plane serves POST /debug/sessions"
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
