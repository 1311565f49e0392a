"""Issue 11 item 6 at full size: a client opening 100,000 connections that send nothing, spread over 10 client
processes (each under the 20,000-descriptor limit a process has here, each from its own loopback address so the
source ports suffice), against one data plane with --max-connections-per-ip 100. The data plane — itself limited
to 20,000 descriptors — keeps 100 per address (1,000), closes the other 99,000 at accept, stays flat in memory and
keeps serving another client throughout (docs/security.md "Limits")."""

from __future__ import annotations

import json
import subprocess
import sys

import tollgate_it as it
import test_limits as tl

PROCS, EACH, CAP = 10, 10_000, 100


def test_100k_connection_flood_is_shed_at_accept(dp_factory, backends):
    each = EACH // 4 if it.UNDER_ASAN else EACH
    dp = dp_factory(tl._snap(backends), workers=2, args=["--max-connections-per-ip", str(CAP)])
    assert tl._get_ok(dp)
    base = dp.rss_kib()
    children = [subprocess.Popen([sys.executable, tl.FLOOD, "127.0.0.1", str(dp.port), str(each), f"127.0.1.{i + 1}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(PROCS)]
    try:
        first = [json.loads(c.stdout.readline() or "{}") for c in children]
        connected = sum(f.get("connected", 0) for f in first)
        kept = sum(f.get("open", 0) for f in first)
        served = sum(tl._get_ok(dp, src="127.0.0.4") for _ in range(20))
        grown = dp.rss_kib() - base
        print(f"100k flood: {connected} connects from {PROCS} processes, {kept} kept, {served}/20 others served, "
              f"RSS {base} -> {base + grown} KiB")
        assert connected == PROCS * each, first
        assert kept <= PROCS * CAP, first
        assert served == 20
        if not it.UNDER_ASAN:
            assert grown < 4096, grown
    finally:
        tl._end_flood(children)
    assert tl._get_ok(dp)
