"""/metrics through prometheus_client's text parser (issue 13 item 3, partly): the whole page parses, every family
has # HELP and # TYPE, labels carry only proxy names / directions (never paths, keys or IPs), and the families
of this issue move: requests, WebSocket sessions, analytics written, debug sessions active."""

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
