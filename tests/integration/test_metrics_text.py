"""/metrics through prometheus_client's text parser (issue 13 item 3): the whole page parses, every family has
# HELP and # TYPE, labels carry only environment / proxy names and fixed vocabularies (never paths, keys or IPs),
and every family moves with real traffic: requests by status class (200, 401, 502), request / connect / session
duration histograms, policy rejections by reason, upstream errors by kind, WebSocket closes by code and side
(client 1000, backend, proxy), TLS handshakes and failures, snapshot apply results, analytics written, debug
sessions active (ended by their timer without a read)."""

from __future__ import annotations

import secrets as _secrets

import pytest

import tollgate_it as it
from test_debug_sessions import admin, http_get

prom_parser = pytest.importorskip("prometheus_client.parser")


def families(dp) -> dict:
    status, _, body = dp.admin("/metrics")
    assert status == 200
    text = body.decode()
    out = {}
    for fam in prom_parser.text_string_to_metric_families(text):
        out[fam.name] = fam
    # every sample's family was declared with HELP and TYPE
    declared_help = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    declared_type = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    for name, fam in out.items():
        assert name in declared_type or name + "_total" in declared_type, name  # the parser drops _total
        assert fam.documentation, name
        assert fam.type != "unknown", name
    assert declared_help == declared_type
    return out


def value(fams, name, **labels) -> float:
    total = 0.0
    for fam in fams.values():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def test_metrics_parse_and_move(dp_factory, backends, run_dir):
    tag = _secrets.token_hex(6)
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/m", "/m", [backends.pyws.endpoint()], strip=False)])
    dp = dp_factory(snap, workers=2, args=["--analytics-log", str(run_dir / f"metrics-{tag}.jsonl")])
    before = families(dp)
    assert value(before, "tollgate_debug_sessions_active") == 0
    status, _ = admin(dp, "POST", "/debug/sessions", {"proxy": "it/m"})
    assert status == 201
    for i in range(5):
        http_get(dp, f"/m/p{i}?secret={tag}", {"X-Secret": tag})

    async def ws():
        async with it.ws_connect(dp, "/m/ws") as c:
            await c.send("hello")
            await c.recv()

    it.run(ws())
    it.wait_until(lambda: value(families(dp), "tollgate_websocket_sessions_active") == 0, 5 * it.SLOW,
                  what="session ended")
    after = families(dp)
    assert value(after, "tollgate_debug_sessions_active") == 1
    # the writer thread writes asynchronously: wait for the session's record
    it.wait_until(lambda: value(families(dp), "tollgate_analytics_records_written_total") >= 6, 5 * it.SLOW,
                  what="6 analytics records written")
    assert value(after, "tollgate_websocket_sessions_total") - value(before, "tollgate_websocket_sessions_total") == 1
    reqs = sum(s.value for f in after.values() for s in f.samples
               if s.name == "tollgate_requests_total" and s.labels.get("proxy") == "it/m")
    assert reqs >= 6
    # bounded labels: no path, query value, header value or IP in any label
    for fam in after.values():
        for s in fam.samples:
            for v in s.labels.values():
                assert "/m/" not in v and tag not in v and "127.0.0.1" not in v, (s.name, s.labels)


# ------------------------------------------------------------------------------------------------------------
# Every family of issue 13 item 3, moved by real traffic: HTTP 200 / 401 (verifyApiKey) / 502 (a dead backend),
# WebSocket sessions closed by the client (1000), by the backend (4001: "other") and by the proxy (max lifetime),
# TLS handshakes completed and failed, a snapshot refused; labels stay bounded.

def sample(fams, name, **labels) -> float:
    return value(fams, name, **labels)


def hist_count(fams, name, **labels) -> float:
    return value(fams, name + "_count", **labels)


def test_every_family_moves_with_real_traffic(dp_factory, backends, run_dir):
    import auth_helpers as ah

    key = f"met-{_secrets.token_hex(6)}-key"
    dead = it.endpoint(it.free_port())  # nothing listens: connection refused
    keys = [ah.api_key_entry(key, "apis/met", "met-app")]
    proxies = [
        ah.with_policies(it.proxy("it/met", "/met", [backends.b1.endpoint()]), ah.verify_api_key_policy(keys)),
        ah.with_policies(it.proxy("it/metws", "/metws", [backends.pyws.endpoint()], strip=False),
                         ah.verify_api_key_policy(keys)),
        it.proxy("it/dead", "/dead", [dead]),
        it.proxy("it/short", "/short", [backends.pyws.endpoint()], strip=False, lifetime_ms=300),
    ]
    snap = ah.auth_snapshot(1, proxies)
    dp = dp_factory(snap, workers=2)
    before = families(dp)

    for i in range(3):
        assert http_get(dp, f"/met/ok{i}?apikey={key}") == 200
    assert http_get(dp, "/met/nokey") == 401
    assert http_get(dp, "/met/badkey", {"X-Api-Key": "wrong-" + key}) == 401
    assert http_get(dp, "/dead/x") == 502

    async def sessions():
        async with it.ws_connect(dp, f"/metws/ws-client?apikey={key}") as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.close(1000)
        async with it.ws_connect(dp, f"/metws/ws-backend?apikey={key}") as ws:
            await ws.send("!close 4001 bye")
            await ah.wait_closed(ws, 5)
        async with it.ws_connect(dp, "/short/ws") as ws:
            return await ah.wait_closed(ws, 5)

    _, code, _ = it.run(sessions())
    assert code == 1001  # max lifetime
    it.wait_until(lambda: value(families(dp), "tollgate_websocket_sessions_active") == 0, 5 * it.SLOW,
                  what="sessions ended")
    # a refused snapshot (older than the one in force)
    status, _ = dp.push(ah.auth_snapshot(0, proxies))
    assert status in (400, 409)
    after = families(dp)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    # requests by environment, proxy and status class
    assert delta("tollgate_requests_total", environment="prod", proxy="it/met", code="2xx") == 3
    assert delta("tollgate_requests_total", environment="prod", proxy="it/met", code="4xx") == 2
    assert delta("tollgate_requests_total", environment="prod", proxy="it/metws", code="1xx") == 2
    assert delta("tollgate_requests_total", environment="prod", proxy="it/dead", code="5xx") == 1
    assert delta("tollgate_requests_total", environment="prod", proxy="it/short", code="1xx") == 1
    # request duration histogram: one observation per answered request of the proxy, buckets cumulative
    assert hist_count(after, "tollgate_request_duration_seconds", environment="prod", proxy="it/met") == 5
    met = [s for f in after.values() for s in f.samples
           if s.name == "tollgate_request_duration_seconds_bucket" and s.labels.get("proxy") == "it/met"]
    counts = [s.value for s in met]
    assert counts == sorted(counts) and met[-1].labels["le"] == "+Inf"
    # policy rejections by policy type and reason
    assert delta("tollgate_policy_rejections_total", environment="prod", proxy="it/met", policy="verifyApiKey",
                 reason="auth.missing_api_key") == 1
    assert delta("tollgate_policy_rejections_total", environment="prod", proxy="it/met", policy="verifyApiKey",
                 reason="auth.invalid_api_key") == 1
    # upstream errors by kind, connect durations
    assert delta("tollgate_upstream_errors_total", kind="connect_refused") == 1
    assert hist_count(after, "tollgate_upstream_connect_duration_seconds") >= 1
    # WebSocket: closes by code and side, session durations
    assert delta("tollgate_websocket_sessions_closed_total", close_code="1000", closed_by="client") == 1
    assert delta("tollgate_websocket_sessions_closed_total", close_code="other", closed_by="backend") == 1
    assert delta("tollgate_websocket_sessions_closed_total", close_code="1001", closed_by="proxy") == 1
    assert hist_count(after, "tollgate_websocket_session_duration_seconds", environment="prod", proxy="it/metws") == 2
    short = value(after, "tollgate_websocket_session_duration_seconds_sum", environment="prod", proxy="it/short")
    assert 0.25 <= short < 5, short
    # snapshots: the refused push counted, the last result says so, the apply histogram counts both
    assert delta("tollgate_snapshot_apply_failures_total") == 1
    assert sample(after, "tollgate_snapshot_apply_last_success") == 0
    assert hist_count(after, "tollgate_snapshot_apply_duration_seconds") >= 2
    assert sample(after, "tollgate_snapshot_version") == 1
    # bounded labels: names of environments and proxies, fixed vocabularies; never a path, key or address
    allowed = {"environment": {"", "prod", "_overflow"}, "proxy": {"", "it/met", "it/metws", "it/dead", "it/short",
                                                                          "_overflow"}}
    for fam in after.values():
        for s in fam.samples:
            for k, v in s.labels.items():
                assert key not in v and "/met/" not in v and "/metws/" not in v and "127.0.0.1" not in v, (s.name, s.labels)
                if k in allowed:
                    assert v in allowed[k], (s.name, s.labels)
                if k == "close_code":
                    assert v == "other" or 1000 <= int(v) <= 1015, (s.name, s.labels)
                if k == "code":
                    assert v in ("1xx", "2xx", "3xx", "4xx", "5xx"), (s.name, s.labels)


def test_debug_session_ends_at_its_duration_without_a_read(dp_factory, backends):
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/m", "/m", [backends.b1.endpoint()])])
    dp = dp_factory(snap, workers=1)
    status, out = admin(dp, "POST", "/debug/sessions", {"proxy": "it/m", "durationSeconds": 1})
    assert status == 201
    # read only /metrics: the live count drops by itself once the second has passed (a 250 ms timer)
    it.wait_until(lambda: value(families(dp), "tollgate_debug_sessions_active") == 0, 3 * it.SLOW,
                  what="debug session ended by the timer")


def test_tls_handshakes_and_failures(run_dir, backends):
    import socket

    from test_tls_termination import A_HOST, client_ctx, start_tls_dp, tls_snapshot
    from tls_pki import Pki

    pki = Pki(run_dir / "pki-metrics")
    pki.a_ec = pki.issue("api-ec", [A_HOST, "plain.tls.test"], "ec")
    pki.a_rsa = pki.issue("api-rsa", [A_HOST, "plain.tls.test"], "rsa")
    pki.wild = pki.issue("wild", ["*.wild.tls.test"], "ec")
    pki.b = pki.issue("b", ["b.tls.test"], "ec")
    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-tls-metrics")
    try:
        # start_tls_dp's readiness probe (a TCP connect closed at once) is itself a failed handshake: wait until it
        # is counted, so the deltas below are this test's own
        before = it.wait_until(lambda: (lambda f: f if value(f, "tollgate_tls_handshake_failures_total") >= 1
                                        else None)(families(t.dp)), 5 * it.SLOW, what="the probe counted")
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", t.tls_port), timeout=5) as raw:
                with client_ctx(pki).wrap_socket(raw, server_hostname=A_HOST) as s:
                    s.sendall(f"GET /echo/x HTTP/1.1\r\nHost: {A_HOST}\r\nConnection: close\r\n\r\n".encode())
                    assert s.recv(64).startswith(b"HTTP/1.1 ")
        # plain text on the TLS port: the server's handshake fails
        with socket.create_connection(("127.0.0.1", t.tls_port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                raw.recv(256)
            except OSError:
                pass

        def moved():
            f = families(t.dp)
            ok = value(f, "tollgate_tls_handshakes_total") - value(before, "tollgate_tls_handshakes_total")
            bad = value(f, "tollgate_tls_handshake_failures_total") - value(before,
                                                                           "tollgate_tls_handshake_failures_total")
            return (ok, bad) if bad >= 1 else None

        ok, bad = it.wait_until(moved, 5 * it.SLOW, what="a failed handshake counted")
        assert (ok, bad) == (2, 1)
    finally:
        t.dp.stop()


def test_controller_metrics_parse_and_move(dp_factory, backends, run_dir, tmp_path):
    import urllib.request

    import auth_helpers as ah

    dp = dp_factory(it.snapshot(1, [], []), workers=1)
    mdir = tmp_path / "manifests"
    ah.write_manifest(mdir, "group.yaml", """apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {name: met, namespace: apis}
spec:
  hostnames: ["met.ctl.test"]
  environments: ["prod"]
""")
    proxy = """apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {name: echo, namespace: apis}
spec:
  environments: ["prod"]
  basePath: /%s
  target: {url: "http://127.0.0.1:%d"}
"""
    ah.write_manifest(mdir, "proxy.yaml", proxy % ("echo", backends.b1.port))
    port = it.free_port()
    ctl = ah.Controller(run_dir, mdir, dp, name="controller-metrics", health=f"127.0.0.1:{port}").start()
    try:
        it.wait_until(lambda: dp.applied_version() > 1, 10 * it.SLOW, what="the controller's first push")

        def scrape() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
            out = {f.name: f for f in prom_parser.text_string_to_metric_families(text)}
            helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
            types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
            assert helps == types
            for name, fam in out.items():
                assert fam.documentation and fam.type != "unknown", name
            return out

        first = scrape()
        assert value(first, "tollgate_controller_objects", kind="ApiProxy") == 1
        assert value(first, "tollgate_controller_dataplane_reachable") == 1
        assert value(first, "tollgate_controller_last_applied_version") == dp.applied_version()
        # a change: one more translation and one more push, both timed on the shared histogram
        applied = dp.applied_version()
        ah.write_manifest(mdir, "proxy.yaml", proxy % ("echo2", backends.b1.port))
        it.wait_until(lambda: dp.applied_version() > applied, 10 * it.SLOW, what="the second push")
        second = it.wait_until(lambda: (lambda f: f if value(f, "tollgate_controller_push_duration_seconds_count")
                                        > value(first, "tollgate_controller_push_duration_seconds_count")
                                        else None)(scrape()), 5 * it.SLOW, what="the push timed")
        assert value(second, "tollgate_controller_translations_total") > \
            value(first, "tollgate_controller_translations_total")
        assert value(second, "tollgate_controller_translation_duration_seconds_count") == \
            value(second, "tollgate_controller_translations_total")
        assert value(second, "tollgate_controller_pushes_total") >= 2
        assert value(second, "tollgate_controller_push_failures_total") == 0
        assert value(second, "tollgate_controller_translation_failures_total") == 0
        buckets = [s for f in second.values() for s in f.samples
                   if s.name == "tollgate_controller_push_duration_seconds_bucket"]
        assert len(buckets) == 25 and buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == value(second, "tollgate_controller_push_duration_seconds_count")
    finally:
        assert ctl.stop() == 0, ctl.proc.log_tail()


def test_dashboard_reads_documented_families():
    """Every family the chart's Grafana dashboard queries is one the docs' metric tables name (no stale name)."""
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    dash = json.loads((root / "charts/tollgate/dashboards/tollgate.json").read_text())
    docs = "".join((root / "docs" / n).read_text() for n in ("operations.md", "controller.md",
                                                            "controller-kubernetes.md"))
    names = {re.sub(r"_bucket$", "", n) for p in dash["panels"] for t in p.get("targets", [])
             for n in re.findall(r"tollgate_[a-z_]+", t["expr"])}
    assert names
    missing = sorted(n for n in names if f"`{n}`" not in docs and f"`{n}{{" not in docs)
    assert not missing, missing
