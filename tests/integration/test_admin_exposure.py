"""The admin split (issue 13 item 4): --probe-listen answers /healthz, /readyz and /metrics and nothing else;
the admin API with --admin-token-file refuses every request without the bearer token (401), serves it with the
token; an admin address off loopback without a token file is refused at start-up."""

from __future__ import annotations

import http.client
import json
import secrets as _secrets
import subprocess

import tollgate_it as it

TOKEN = f"adm-{_secrets.token_hex(12)}"


def get(port: int, path: str, token: str | None = None, method: str = "GET") -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5 * it.SLOW)
    try:
        conn.request(method, path, headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def test_probe_port_and_admin_token(backends, run_dir):
    token_file = run_dir / "admin-token"
    token_file.write_text(TOKEN + "\n")
    probe = it.free_port()
    snap = it.snapshot(1, [it.group("it/main", [it.MAIN_HOST])], [it.proxy("it/x", "/x", [backends.b1.endpoint()])])
    # started by hand: the harness' readiness poll has no token
    argv = [str(it.binary("tollgate-dataplane")), "--listen", f"127.0.0.1:{it.free_port()}",
            "--admin", f"127.0.0.1:{it.free_port()}", "--control-socket", "", "--workers", "2",
            "--probe-listen", f"127.0.0.1:{probe}", "--admin-token-file", str(token_file)]
    admin_port = int(argv[4].rsplit(":", 1)[1])
    snap_file = run_dir / "exposure-snapshot.json"
    snap_file.write_text(json.dumps(snap))
    argv += ["--snapshot", str(snap_file)]
    proc = it.Proc("dataplane-exposure", argv, run_dir)
    try:
        it.wait_until(lambda: it.port_open(probe) and get(probe, "/readyz") == 200, 10 * it.SLOW, what="probe /readyz")
        assert get(probe, "/healthz") == 200
        assert get(probe, "/metrics") == 200
        for path in ("/config", "/sessions", "/debug/sessions"):
            assert get(probe, path) == 404, path
            assert get(probe, path, TOKEN) == 404, path
            assert get(admin_port, path) == 401, path
            assert get(admin_port, path, "wrong-" + TOKEN) == 401, path
            assert get(admin_port, path, TOKEN[:-1]) == 401, path
            assert get(admin_port, path, TOKEN) == 200, path
        assert get(admin_port, "/healthz") == 401
        assert get(admin_port, "/debug/sessions", method="POST") == 401
        assert TOKEN not in proc.log()
    finally:
        proc.stop()


def test_admin_off_loopback_needs_token(run_dir):
    r = subprocess.run([str(it.binary("tollgate-dataplane")), "--listen", f"127.0.0.1:{it.free_port()}",
                        "--admin", f"0.0.0.0:{it.free_port()}", "--control-socket", "", "--workers", "1"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--admin-token-file" in r.stderr
