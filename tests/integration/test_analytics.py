"""Analytics (issue 13 item 2): --analytics-log writes one JSON line per HTTP request and one per WebSocket
session when it ends, across 2 workers, with the caller taken from the admitting credential and never the
credential itself; the path without its query string; a rotated file is reopened on SIGHUP; a writer that
cannot keep up drops lines and counts them in /metrics instead of blocking a worker."""

from __future__ import annotations

import json
import os
import secrets as _secrets
import signal
import time

import auth_helpers as ah
import tollgate_it as it
from test_debug_sessions import http_get

TAG = _secrets.token_hex(6)
KEY = f"an-{TAG}-key"


def snap(backends) -> dict:
    keys = [ah.api_key_entry(KEY, "apis/an-key", "an-app")]
    return ah.auth_snapshot(1, [
        ah.with_policies(it.proxy("it/an", "/an", [backends.pyws.endpoint()], strip=False),
                         ah.verify_api_key_policy(keys)),
        it.proxy("it/an-open", "/an-open", [backends.b1.endpoint()]),
    ])


def records(path) -> list[dict]:
    try:
        text = open(path).read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line]


def test_http_and_websocket_records_rotation(dp_factory, backends, run_dir):
    log = run_dir / f"analytics-{TAG}.jsonl"
    dp = dp_factory(snap(backends), workers=2, args=["--analytics-log", str(log)])
    for i in range(4):
        http_get(dp, f"/an/h{i}?apikey={KEY}&room=7")
    assert http_get(dp, "/an/refused") == 401
    http_get(dp, "/an-open/x?y=1")

    async def ws():
        async with it.ws_connect(dp, f"/an/ws?apikey={KEY}") as c:
            for i in range(3):
                await c.send(f"m{i}")
                assert await c.recv() == f"m{i}"
            await c.close(1000)

    it.run(ws())
    recs = it.wait_until(lambda: (lambda r: r if len(r) >= 7 else None)(records(log)), 5 * it.SLOW,
                         what="7 analytics records")
    http = [r for r in recs if r["type"] == "http"]
    wsr = [r for r in recs if r["type"] == "websocket"]
    assert len(http) == 6 and len(wsr) == 1
    ok = [r for r in http if r["path"].startswith("/an/h")]
    assert len(ok) == 4
    for r in ok:
        assert "?" not in r["path"] and r["environment"] == "prod" and r["proxy"] == "it/an"
        assert r["keyId"] == "apis/an-key" and r["app"] == "an-app" and r["clientIp"] == "127.0.0.1"
        assert r["group"] == "it/main" and r["host"].startswith(it.MAIN_HOST)
        assert {"totalMs", "policiesMs"} <= set(r["latency"]) and r["endpoint"]
        assert r["requestBytes"] > 0 and "time" in r
    refused = [r for r in http if r["path"] == "/an/refused"][0]
    assert refused["status"] == 401 and refused["rejectedBy"] == "verifyApiKey" and refused["rejectReason"]
    w = wsr[0]
    assert w["status"] == 101 and w["closeCode"] == 1000 and w["closedBy"] == "client"
    assert w["messages"] == {"clientToBackend": 3, "backendToClient": 3}
    assert w["bytes"]["clientToBackend"] > 0 and w["durationMs"] >= 0 and w["keyId"] == "apis/an-key"
    assert KEY not in log.read_text()

    # logrotate: move the file away, SIGHUP, the next records go to a new file at the path
    rotated = log.with_suffix(".1")
    os.rename(log, rotated)
    dp.proc.signal(signal.SIGHUP)
    time.sleep(0.2)
    http_get(dp, "/an-open/after-rotate")
    it.wait_until(lambda: any(r["path"] == "/an-open/after-rotate" for r in records(log)), 5 * it.SLOW,
                  what="a record in the reopened file")
    assert not any(r["path"] == "/an-open/after-rotate" for r in records(rotated))
    m = dp.metrics()
    assert m["tollgate_analytics_records_written_total"] >= 8
    assert m["tollgate_analytics_records_dropped_total"] == 0


def test_full_queue_counts_drops(dp_factory, backends, run_dir):
    fifo = run_dir / f"analytics-{TAG}.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader that never reads: the pipe fills up
    try:
        dp = dp_factory(snap(backends), workers=2, args=["--analytics-log", str(fifo), "--analytics-queue", "8"])
        t0 = time.monotonic()
        for i in range(600):
            http_get(dp, f"/an-open/flood{i}")
        elapsed = time.monotonic() - t0
        m = dp.metrics()
        assert m["tollgate_analytics_records_dropped_total"] > 0, m
        total = m["tollgate_analytics_records_dropped_total"] + m["tollgate_analytics_records_written_total"]
        assert total >= 590  # all but the few still queued or in the blocked write
        assert elapsed < 60 * it.SLOW  # workers never waited for the writer
    finally:
        # let the writer finish so the data plane can stop
        os.set_blocking(reader, True)
        import threading
        stop = threading.Event()

        def drain():
            while not stop.is_set():
                try:
                    if not os.read(reader, 65536):
                        break
                except OSError:
                    break

        th = threading.Thread(target=drain, daemon=True)
        th.start()
        dp.stop()
        stop.set()
        os.close(reader)
