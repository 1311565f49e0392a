"""The event loops' iteration-duration histogram (issue 15, the tail): /metrics has
tollgate_event_loop_iteration_duration_seconds per worker, it parses as a Prometheus histogram (cumulative
buckets, +Inf bucket equal to the count) and it moves when the workers do work."""

from __future__ import annotations

import pytest

import tollgate_it as it
from test_debug_sessions import http_get

prom_parser = pytest.importorskip("prometheus_client.parser")

NAME = "tollgate_event_loop_iteration_duration_seconds"


def iteration_samples(dp) -> dict:
    status, _, body = dp.admin("/metrics")
    assert status == 200
    fams = {f.name: f for f in prom_parser.text_string_to_metric_families(body.decode())}
    assert NAME in fams and fams[NAME].type == "histogram"
    assert fams[NAME].documentation
    per_worker: dict = {}
    for s in fams[NAME].samples:
        w = per_worker.setdefault(s.labels["worker"], {"buckets": [], "count": None, "sum": None})
        if s.name.endswith("_bucket"):
            w["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            w["count"] = s.value
        elif s.name.endswith("_sum"):
            w["sum"] = s.value
    return per_worker


def test_iteration_histogram_per_worker(dp_factory, backends):
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/loop", "/loop", [backends.pyws.endpoint()], strip=False)])
    dp = dp_factory(snap, workers=2)
    before = iteration_samples(dp)
    assert sorted(before) == ["0", "1"]
    for i in range(20):
        http_get(dp, f"/loop/p{i}")
    after = iteration_samples(dp)
    total_before = sum(w["count"] for w in before.values())
    total_after = sum(w["count"] for w in after.values())
    assert total_after >= total_before + 20  # at least one iteration per request's accept, read and answer
    for w in after.values():
        les = [le for le, _ in w["buckets"]]
        assert les == sorted(les) and les[-1] == float("inf")
        counts = [c for _, c in w["buckets"]]
        assert counts == sorted(counts)  # cumulative
        assert counts[-1] == w["count"]
        assert w["sum"] >= 0


def yields(dp) -> dict:
    status, _, body = dp.admin("/metrics")
    assert status == 200
    fams = {f.name: f for f in prom_parser.text_string_to_metric_families(body.decode())}
    fam = fams["tollgate_event_loop_yields"]  # prometheus_client drops a counter's _total suffix
    assert fam.type == "counter" and fam.documentation
    return {s.labels["worker"]: s.value for s in fam.samples if s.name.endswith("_total")}


@pytest.mark.parametrize("after_us, workers, expect_yields",
                         [(1, 2, True), (0, 2, False), (1, 1, False)], ids=["yield-after-1us", "never", "one-worker"])
def test_busy_iterations_yield(dp_factory, backends, after_us, workers, expect_yields):
    """--yield-after-us: an iteration that worked that long ends with sched_yield (counted per worker); 0 turns
    it off. With a 1 µs threshold every iteration that served a request is busy enough. A single worker has no
    sibling to take turns with and never yields."""
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])],
                       [it.proxy("it/loop", "/loop", [backends.pyws.endpoint()], strip=False)])
    dp = dp_factory(snap, workers=workers, args=["--yield-after-us", str(after_us)])
    assert sorted(yields(dp)) == [str(i) for i in range(workers)]
    for i in range(20):
        http_get(dp, f"/loop/p{i}")
    total = sum(yields(dp).values())
    if expect_yields:
        assert total >= 20, total
    else:
        assert total == 0


def test_yield_flag_is_checked():
    import subprocess
    for bad in ("x", "-1", "1000001", ""):
        r = subprocess.run([str(it.binary("tollgate-dataplane")), "--yield-after-us", bad],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2 and "--yield-after-us" in r.stderr, (bad, r.stderr)
