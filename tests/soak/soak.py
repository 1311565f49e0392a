#!/usr/bin/env python3
"""soak.py — the continuity soak (issue 11 item 11; docs/testing.md "Fault injection, soak, valgrind").

N WebSocket sessions stream numbered messages through the real data plane to two demo echo backends while the
controller (--source dir: manifests rewritten in a temporary directory) pushes M configuration changes, cycling
through every kind: a proxy added, a proxy removed, the group's hostnames, the streaming proxy's policies (cors
and spikeArrest on and off), its target endpoint (between the two backends), its WebSocket settings. Each change
is waited for (the data plane's applied version moves) before the next. At the end every session sends an end
marker; the script prints sessions dropped and messages lost, reordered and duplicated — all must be 0 — and the
data plane's RSS before and after the changes (and after a second round of the same number of changes, when
--rss-rounds 2), and exits non-zero when a count is not 0.

    python3 tests/soak/soak.py                      # make soak: 1,000 sessions × 1,000 changes (~10 min bound)
    python3 tests/soak/soak.py --sessions 100 --changes 50   # the short version (tests/integration/test_soak.py)

Every process it starts dies with it (tests/integration/tollgate_it.py's Proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

import tollgate_it as it  # noqa: E402

NS = "soak"

GROUP = """apiVersion: tollgate.dev/v1alpha1
kind: EnvironmentGroup
metadata: {{name: g, namespace: soak}}
spec:
  hostnames: [{hosts}]
  environments: ["prod"]
"""

STREAM = """apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: stream, namespace: soak}}
spec:
  environments: ["prod"]
  basePath: /stream
  target:
    url: http://127.0.0.1:{port}
    connectTimeout: 2s
  websocket: {{enabled: true, idleTimeout: {idle}s}}
  policies: {policies}
"""

EXTRA = """apiVersion: tollgate.dev/v1alpha1
kind: ApiProxy
metadata: {{name: extra-{n}, namespace: soak}}
spec:
  environments: ["prod"]
  basePath: /extra-{n}
  target:
    url: http://127.0.0.1:{port}
  websocket: {{enabled: true}}
"""

POLICY_SETS = [
    "[]",
    '[{cors: {allowOrigins: ["https://app.example.com"], allowMethods: [GET], maxAge: 600}}]',
    '[{spikeArrest: {rate: 100000ps, identifier: client_ip}}]',
    '[{cors: {allowOrigins: ["https://other.example.com"], allowMethods: [GET]}}, '
    '{spikeArrest: {rate: 50000ps, identifier: client_ip}}]',
]


def write(path: Path, text: str) -> None:
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_text(text)
    tmp.rename(path)  # the controller never reads half a file


class Config:
    """The manifests directory and the change generator."""

    def __init__(self, d: Path, ports: list[int]):
        self.d, self.ports = d, ports
        self.hosts = [it.MAIN_HOST]
        self.policy = 0
        self.target = 0
        self.idle = 300
        self.extras: list[int] = []
        self.next_extra = 0
        write(d / "group.yaml", GROUP.format(hosts=", ".join(f'"{h}"' for h in self.hosts)))
        self._stream()

    def _stream(self):
        write(self.d / "stream.yaml", STREAM.format(port=self.ports[self.target], idle=self.idle,
                                                   policies=POLICY_SETS[self.policy]))

    def change(self, i: int) -> str:
        kind = i % 6
        if kind == 0 or (kind == 1 and not self.extras):
            n = self.next_extra
            self.next_extra += 1
            write(self.d / f"extra-{n}.yaml", EXTRA.format(n=n, port=self.ports[n % 2]))
            self.extras.append(n)
            return "proxy added"
        if kind == 1:
            n = self.extras.pop(0)
            (self.d / f"extra-{n}.yaml").unlink()
            return "proxy removed"
        if kind == 2:
            if len(self.hosts) > 3:
                self.hosts.pop(1)
            else:
                self.hosts.append(f"h{i}.soak.test")
            write(self.d / "group.yaml", GROUP.format(hosts=", ".join(f'"{h}"' for h in self.hosts)))
            return "hostnames"
        if kind == 3:
            self.policy = (self.policy + 1) % len(POLICY_SETS)
            self._stream()
            return "policies"
        if kind == 4:
            self.target = 1 - self.target
            self._stream()
            return "endpoints"
        self.idle = 300 if self.idle != 300 else 600
        self._stream()
        return "websocket settings"


class Session:
    def __init__(self, sid: int):
        self.sid = sid
        self.sent = 0
        self.seen: set[int] = set()
        self.last = -1
        self.duplicated = self.reordered = 0
        self.dropped = ""
        self.ended = False


async def run_session(dp, s: Session, stop: asyncio.Event, interval: float, start_delay: float, opened: list):
    import websockets

    try:
        async with it.ws_connect(dp, f"/stream/s{s.sid}", open_timeout=60) as ws:
            opened.append(s.sid)

            async def reader():
                async for msg in ws:
                    if msg == "end":
                        s.ended = True
                        return
                    n = int(msg.split(":")[1])
                    if n in s.seen:
                        s.duplicated += 1
                    elif n < s.last:
                        s.reordered += 1
                    s.seen.add(n)
                    s.last = max(s.last, n)

            r = asyncio.ensure_future(reader())
            await asyncio.sleep(start_delay)
            while not stop.is_set() and not r.done():
                await ws.send(f"{s.sid}:{s.sent}")
                s.sent += 1
                await asyncio.sleep(interval)
            await ws.send("end")
            try:
                await asyncio.wait_for(r, 30)
            except asyncio.TimeoutError:
                s.dropped = "no end marker within 30 s"
            if r.done() and r.exception():
                s.dropped = f"reader: {r.exception()!r}"
            elif not s.ended and not s.dropped:
                s.dropped = f"closed early: {ws.close_code} {ws.close_reason}"
            await ws.close()
    except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
        s.dropped = s.dropped or f"{type(e).__name__}: {e}"


def applied(dp) -> int:
    try:
        return dp.applied_version()
    except OSError:
        return 0


async def main_async(args) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="tg-soak-", dir="/tmp"))
    b1 = it.DemoBackend(run_dir, "soak-a").start()
    b2 = it.DemoBackend(run_dir, "soak-b").start()
    manifests = run_dir / "manifests"
    manifests.mkdir()
    cfg = Config(manifests, [b1.port, b2.port])
    dp = it.Dataplane(run_dir, "dataplane-soak", workers=args.workers, args=list(args.dataplane_arg)).start(None)
    ctl = it.Proc("controller-soak", [it.binary("tollgate-controller"), "--source", f"dir:{manifests}",
                                      "--dataplane-socket", dp.control_socket, "--health", "off"], run_dir)
    it.wait_until(lambda: dp._admin_ok("/readyz"), 20 * it.SLOW, what="the controller's first snapshot")
    loop = asyncio.get_running_loop()
    sessions = [Session(i) for i in range(args.sessions)]
    stop = asyncio.Event()
    opened: list[int] = []
    tasks = []
    for i, s in enumerate(sessions):
        tasks.append(asyncio.ensure_future(run_session(dp, s, stop, args.interval, (i % 50) * args.interval / 50,
                                                       opened)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    deadline = time.monotonic() + 120
    while len(opened) + sum(1 for s in sessions if s.dropped) < len(sessions) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)
    rss = [dp.rss_kib()]
    t0 = time.monotonic()
    kinds: dict[str, int] = {}
    slow_changes = 0
    for round_ in range(args.rss_rounds):
        for i in range(args.changes):
            if time.monotonic() - t0 > args.max_seconds:
                break
            v0 = await loop.run_in_executor(None, applied, dp)
            kind = cfg.change(round_ * args.changes + i)
            kinds[kind] = kinds.get(kind, 0) + 1
            t_change = time.monotonic()
            while await loop.run_in_executor(None, applied, dp) <= v0:
                if time.monotonic() - t_change > 10:
                    slow_changes += 1
                    break
                await asyncio.sleep(0.01)
            if args.change_pause:
                await asyncio.sleep(args.change_pause)
        rss.append(dp.rss_kib())
    changes_s = time.monotonic() - t0
    versions = await loop.run_in_executor(None, applied, dp)
    stop.set()
    await asyncio.gather(*tasks)
    # a client's close completes before the data plane has finished its side (the backend's close frame, both
    # sockets shut): give it a bounded moment, then whatever is still listed is a leaked session
    live_after = len(dp.sessions())
    deadline = time.monotonic() + 5
    while live_after and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        live_after = len(dp.sessions())
    rss.append(dp.rss_kib())
    out = {
        "sessions": args.sessions,
        "sessions_opened": len(opened),
        "changes": sum(kinds.values()),
        "change_kinds": kinds,
        "changes_not_applied_within_10s": slow_changes,
        "changes_seconds": round(changes_s, 1),
        "last_version": versions,
        "messages_sent": sum(s.sent for s in sessions),
        "sessions_dropped": sum(1 for s in sessions if s.dropped),
        "messages_lost": sum(s.sent - len(s.seen) for s in sessions if not s.dropped),
        "messages_reordered": sum(s.reordered for s in sessions),
        "messages_duplicated": sum(s.duplicated for s in sessions),
        "rss_kib_before_changes": rss[0],
        "rss_kib_after_each_round": rss[1:-1],
        "rss_kib_after_sessions_closed": rss[-1],
        "sessions_left_on_the_data_plane": live_after,
        "drops": [f"{s.sid}: {s.dropped}" for s in sessions if s.dropped][:10],
    }
    ctl.stop()
    dp.check_clean_exit()
    b1.stop()
    b2.stop()
    if os.environ.get("TOLLGATE_KEEP_LOGS") != "1":
        shutil.rmtree(run_dir, ignore_errors=True)
    return out


def run(sessions: int, changes: int, interval: float = 0.5, workers: int = 2, max_seconds: float = 540,
        rss_rounds: int = 1, dataplane_arg=(), change_pause: float = 0.0) -> dict:
    args = argparse.Namespace(sessions=sessions, changes=changes, interval=interval, workers=workers,
                              max_seconds=max_seconds, rss_rounds=rss_rounds, dataplane_arg=list(dataplane_arg),
                              change_pause=change_pause)
    before = set(map(id, it._all_procs))
    try:
        return asyncio.run(main_async(args))
    finally:
        for p in list(it._all_procs):  # only what this run started (a pytest session has its own peers)
            if id(p) not in before:
                p.kill()


def failures(out: dict) -> list[str]:
    bad = [k for k in ("sessions_dropped", "messages_lost", "messages_reordered", "messages_duplicated",
                       "changes_not_applied_within_10s", "sessions_left_on_the_data_plane") if out[k]]
    if out["sessions_opened"] != out["sessions"]:
        bad.append("sessions_opened")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between two messages of a session")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=540, help="bound on the change phase")
    ap.add_argument("--rss-rounds", type=int, default=1, help="rounds of --changes changes, RSS after each")
    ap.add_argument("--dataplane-arg", action="append", default=[], help="extra data-plane flag (repeatable)")
    ap.add_argument("--change-pause", type=float, default=0.0, help="seconds between an applied change and the next")
    a = ap.parse_args()
    out = run(a.sessions, a.changes, a.interval, a.workers, a.max_seconds, a.rss_rounds, a.dataplane_arg,
              a.change_pause)
    print(json.dumps(out, indent=2))
    bad = failures(out)
    print("soak: " + ("OK (all counts 0)" if not bad else "FAILED: " + ", ".join(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
