"""Distributed quotas against a real Redis (redis-server from Debian, started here on a free loopback port with
no persistence, stopped after): one limit held across TWO data-plane processes, WebSocket upgrades counted,
AUTH with a password, and Redis down or hung → fail open (let through) or closed (503 quota.unavailable), then
counting again once Redis is back. The keys are checked in Redis itself with redis-cli."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import websockets

import tollgate_it as it
from test_policy_traffic import clear_of_window_end, error_code, request

HOUR_MS = 3600 * 1000
PASSWORD = "it's a s3cret"

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


class Redis:
    """redis-server on 127.0.0.1:port, in the foreground, without RDB/AOF files."""

    def __init__(self, run_dir: Path, password: str | None = None):
        self.run_dir = Path(run_dir)
        self.password = password
        self.port = 0
        self.proc: it.Proc | None = None

    def start(self) -> "Redis":
        if not self.port:
            self.port = it.free_port()
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no", "--dir", str(self.run_dir), "--loglevel", "warning"]
        if self.password:
            argv += ["--requirepass", self.password]
        self.proc = it.Proc(f"redis-{self.port}", argv, self.run_dir)
        it.wait_until(lambda: self.cli("PING") == "PONG", 10 * it.SLOW, what="redis-server PING")
        return self

    def cli(self, *args: str) -> str:
        argv = ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port)]
        env = dict(os.environ)
        if self.password:
            env["REDISCLI_AUTH"] = self.password
        p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=5, env=env)
        return p.stdout.strip()

    def stop(self) -> None:
        if self.proc and self.proc.alive():
            self.proc.signal(signal.SIGCONT)
            self.proc.stop(5)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def redis(run_dir):
    r = Redis(run_dir).start()
    yield r
    r.stop()


def quota(redis_address: str, *, limit: int, fail_open: bool = True, identifier: str = "header:x-user",
          password: str | None = None, prefix: str | None = None) -> dict:
    d = {"redisAddress": redis_address, "failOpen": fail_open}
    if password is not None:
        d["password"] = password
    if prefix is not None:
        d["keyPrefix"] = prefix
    return {"type": "quota", "limit": limit, "intervalMs": HOUR_MS, "identifier": identifier, "distributed": d}


def redis_snapshot(backends, redis_address: str, *, password: str | None = None, version: int = 1) -> dict:
    e1 = backends.b1.endpoint()
    proxies = []
    for pid, base, pol in [
        ("rq/shared", "/shared", quota(redis_address, limit=5, password=password, prefix="it:")),
        ("rq/open", "/open", quota(redis_address, limit=100, fail_open=True, password=password)),
        ("rq/closed", "/closed", quota(redis_address, limit=100, fail_open=False, password=password)),
    ]:
        px = it.proxy(pid, base, [e1])
        px["policies"] = [pol]
        proxies.append(px)
    return it.snapshot(version, [it.group("rq/main", [it.MAIN_HOST], ["prod"])], proxies)


def test_quota_shared_by_two_data_planes(dp_factory, backends, redis):
    clear_of_window_end(3600)
    snap = redis_snapshot(backends, redis.address)
    a, b = dp_factory(snap), dp_factory(snap)
    statuses = []
    for i in range(8):  # alternate: each data plane alone would allow 5
        dp = a if i % 2 == 0 else b
        r = request(dp, "GET", "/shared/x", [("X-User", "carol")])
        statuses.append(r.status)
        if r.status == 200:
            assert r.header("X-RateLimit-Remaining") == str(5 - (i + 1))
        else:
            assert error_code(r) == "quota.exceeded"
            assert int(r.header("Retry-After")) >= 1
    assert statuses == [200] * 5 + [429] * 3, statuses
    # the counter in Redis: prefix, proxy, policy position, interval, identifier, window start; with a TTL
    window = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    key = f"it:rq/shared:0:{HOUR_MS}:header#"
    keys = redis.cli("--scan", "--pattern", "it:rq/shared:*").split()
    assert len(keys) == 1 and keys[0].startswith(key) and keys[0].endswith(f":{window}"), keys
    assert "carol" not in keys[0]  # a header value is hashed, never stored in the clear
    assert redis.cli("GET", keys[0]) == "8"
    ttl = int(redis.cli("PTTL", keys[0]))
    assert 0 < ttl <= HOUR_MS + 1000
    # WebSocket upgrades count in the same place, from either data plane
    async def body():
        for dp in (a, b):
            async with it.ws_connect(dp, "/shared/ws", extra_headers={"X-User": "dave"}) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
        for _ in range(3):
            assert request(a, "GET", "/shared/x", [("X-User", "dave")]).status == 200
        with pytest.raises(websockets.InvalidStatusCode) as e:
            async with it.ws_connect(b, "/shared/ws", extra_headers={"X-User": "dave"}):
                pass
        assert e.value.status_code == 429

    it.run(body())


def test_redis_down_fail_open_and_closed_then_back(dp_factory, backends, run_dir):
    clear_of_window_end(3600)
    rd = Redis(run_dir).start()
    try:
        # one worker, so that "back" is seen by the connection every request uses (each worker reconnects on its
        # own backoff schedule)
        dp = dp_factory(redis_snapshot(backends, rd.address), workers=1)
        assert request(dp, "GET", "/closed/x", [("X-User", "e")]).status == 200
        assert request(dp, "GET", "/open/x", [("X-User", "e")]).status == 200
        rd.stop()
        for _ in range(3):
            t0 = time.monotonic()
            r = request(dp, "GET", "/open/x", [("X-User", "e")])
            assert r.status == 200, r.body  # fail open: let through
            assert r.header("X-RateLimit-Limit") is None  # nothing was counted
            r = request(dp, "GET", "/closed/x", [("X-User", "e")])
            assert r.status == 503, r.body  # fail closed
            assert error_code(r) == "quota.unavailable"
            assert time.monotonic() - t0 < 1.0 * it.SLOW  # no request waits for a dead Redis
        # Redis back on the same port: counting resumes after the reconnect backoff
        rd.start()
        it.wait_until(lambda: request(dp, "GET", "/closed/x", [("X-User", "e")]).status == 200, 10 * it.SLOW,
                      interval=0.1, what="counting through Redis again")
        r = request(dp, "GET", "/open/x", [("X-User", "e")])
        assert r.status == 200 and r.header("X-RateLimit-Limit") == "100"
    finally:
        rd.stop()


def test_redis_hung_answers_within_the_timeout(dp_factory, backends, run_dir):
    rd = Redis(run_dir).start()
    try:
        # one worker: each worker has its own connection and learns about the hang on its own
        dp = dp_factory(redis_snapshot(backends, rd.address), workers=1)
        assert request(dp, "GET", "/closed/x", [("X-User", "f")]).status == 200
        rd.proc.signal(signal.SIGSTOP)  # accepts nothing, answers nothing: only the 500 ms answer timeout helps
        t0 = time.monotonic()
        r = request(dp, "GET", "/closed/x", [("X-User", "f")])
        took = time.monotonic() - t0
        assert r.status == 503 and error_code(r) == "quota.unavailable"
        assert 0.4 < took < 1.5 * it.SLOW, took
        t0 = time.monotonic()
        assert request(dp, "GET", "/open/x", [("X-User", "f")]).status == 200
        assert time.monotonic() - t0 < 0.3 * it.SLOW  # in backoff now: at once
        rd.proc.signal(signal.SIGCONT)
        it.wait_until(lambda: request(dp, "GET", "/closed/x", [("X-User", "f")]).status == 200, 10 * it.SLOW,
                      interval=0.1, what="counting through Redis again")
    finally:
        rd.stop()


def test_redis_by_host_name(dp_factory, backends, redis):
    """A host name is resolved off the event loop (a resolver thread), then connected."""
    clear_of_window_end(3600)
    snap = redis_snapshot(backends, f"localhost:{redis.port}")
    dp = dp_factory(snap, workers=1)
    for remaining in ("99", "98"):
        r = request(dp, "GET", "/closed/x", [("X-User", "by-name")])
        assert r.status == 200 and r.header("X-RateLimit-Remaining") == remaining, (r.status, r.body)


def test_redis_password(dp_factory, backends, run_dir):
    rd = Redis(run_dir, password=PASSWORD).start()
    try:
        dp = dp_factory(redis_snapshot(backends, rd.address, password=PASSWORD))
        r = request(dp, "GET", "/closed/x", [("X-User", "g")])
        assert r.status == 200 and r.header("X-RateLimit-Remaining") == "99"
        keys = rd.cli("--scan", "--pattern", "tollgate:quota:rq/closed:*").split()
        assert len(keys) == 1, keys  # the default key prefix
        # a wrong password: Redis refuses the counts, failOpen decides
        snap = redis_snapshot(backends, rd.address, password="wrong", version=dp.applied_version() + 1)
        assert dp.push(snap)[0] == 200
        r = request(dp, "GET", "/closed/x", [("X-User", "g")])
        assert r.status == 503 and error_code(r) == "quota.unavailable"
        assert request(dp, "GET", "/open/x", [("X-User", "g")]).status == 200
        assert PASSWORD not in dp.proc.log() and "wrong" not in dp.proc.log()  # never logged
    finally:
        rd.stop()
