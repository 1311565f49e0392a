"""10,000 idle WebSocket sessions admitted by JWTs with staggered expiries, all closed on time (1008 "token
expired" within 1 s of each token's exp, never before it): the per-session cost of expiry enforcement is one
timer-wheel entry, and the wheel keeps up when hundreds of sessions expire per second.

Layout (descriptor limits: each process ≤ ~9,000 sockets, one data plane ≤ ~9,900 sessions): two data planes of
5,000 sessions each (10,000 sockets: clients + backend connections), each with its own demo backend, and one
client process per data plane (auth_idle_clients.py, raw asyncio sockets). Exps are spread uniformly over
SPREAD_S seconds, starting once every session is open. Prints the lateness distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import auth_helpers as ah
import tollgate_it as it

SESSIONS = int(os.environ.get("TOLLGATE_SCALE_SESSIONS", "10000"))
PLANES = 2
FIRST_EXPIRY_S = 18.0 * it.SLOW  # after the tokens are signed; the connection phase must be done by then
SPREAD_S = 14.0

KEY = ah.Key("Ed25519", kid="scale-ed")


def test_10000_idle_sessions_expire_on_time(run_dir, dp_factory, demo_factory):
    per = SESSIONS // PLANES
    planes = []
    for p in range(PLANES):
        backend = demo_factory(f"scale-{p}")
        pol = ah.oauth_policy(jwks_doc=ah.jwks(KEY), algorithms=["EdDSA"])
        px = ah.with_policies(it.proxy("it/scale", "/idle", [backend.endpoint()]), pol)
        planes.append(dp_factory(ah.auth_snapshot(1, [px]), workers=2))

    t0 = time.time()
    specs = []
    for p, dp in enumerate(planes):
        sessions = []
        for i in range(per):
            n = p * per + i
            exp = t0 + FIRST_EXPIRY_S + SPREAD_S * n / SESSIONS  # interleaved over both planes
            sessions.append({"path": f"/idle/{n}", "exp": exp,
                             "token": ah.make_jwt(KEY, alg="EdDSA", exp=round(exp, 3), jti=f"s{n}")})
        path = run_dir / f"scale-spec-{p}.json"
        path.write_text(json.dumps({"host": it.MAIN_HOST, "port": dp.port, "concurrency": 256,
                                    "sessions": sessions}))
        specs.append((path, sessions))
    signed = time.time()

    procs = [subprocess.Popen([sys.executable, str(it.HERE / "auth_idle_clients.py"), str(path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=it._die_with_parent) for path, _ in specs]
    try:
        for proc in procs:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            phase = json.loads(line)
            assert phase["connected"] == per and phase["failed"] == 0, phase
        connected = time.time()
        first_exp = t0 + FIRST_EXPIRY_S
        print(f"\nsigned {SESSIONS} tokens in {signed - t0:.1f} s; all sessions open after {connected - t0:.1f} s "
              f"(first expiry at {FIRST_EXPIRY_S:.0f} s)")
        assert connected < first_exp - 0.5, "the connection phase overran the first expiry"
        active = sum(dp.metrics().get("tollgate_websocket_sessions_active", 0) for dp in planes)
        assert active == SESSIONS, active
        rss = [dp.rss_kib() for dp in planes]
        print(f"data plane RSS with {per} sessions each: {rss} KiB")

        late, bad = [], []
        for proc, (_, sessions) in zip(procs, specs):
            out, err = proc.communicate(timeout=FIRST_EXPIRY_S + SPREAD_S + 30)
            results = json.loads(out.strip().splitlines()[-1])["results"]
            for i, at, code, reason in results:
                if at is None or code != 1008 or reason != "token expired":
                    bad.append((sessions[i]["path"], at, code, reason))
                else:
                    late.append(at - sessions[i]["exp"])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()

    late.sort()
    if late:
        q = lambda f: late[min(len(late) - 1, int(f * len(late)))]  # noqa: E731
        print(f"lateness over {len(late)} sessions (s): min {late[0]:+.4f}  p50 {q(0.5):+.4f}  p90 {q(0.9):+.4f}  "
              f"p99 {q(0.99):+.4f}  p99.9 {q(0.999):+.4f}  max {late[-1]:+.4f}")
    assert not bad, f"{len(bad)} sessions did not end with 1008 token expired, e.g. {bad[:5]}"
    assert len(late) == SESSIONS
    assert late[0] >= -0.005, f"a session was closed {-late[0]:.3f} s before its token's exp"
    assert late[-1] <= 1.0, f"a session was closed {late[-1]:.3f} s after its token's exp"
    for dp in planes:
        it.wait_until(lambda: dp.metrics().get("tollgate_websocket_sessions_active", 0) == 0, 5 * it.SLOW,
                      what="every session to be gone")
