"""Session-ticket key rotation (issue 12, `--tls-ticket-rotation`): the data plane's own ticket keys move on a
fixed grid of periods from its first ticket; a ticket resumes during the period it was issued in and the two after
it (the ring holds three keys), never three periods after it was issued. Real clients: `openssl s_client
-sess_out/-sess_in` for TLS 1.2 and 1.3, `openssl sess_id` to read a ticket's key name. Also: the flag's strict
parsing and its exclusion of --tls-ticket-keys-file."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

import tollgate_it as it
from test_tls_termination import A_HOST, pki, s_client, start_tls_dp, tls_snapshot  # noqa: F401 (fixture)

PERIOD = 4.0  # seconds: short for a test, long enough for the checks below to fit their windows on a busy machine
VERSIONS = ("-tls1_2", "-tls1_3")


@pytest.fixture(scope="module")
def rotating_dp(run_dir, backends, pki):  # noqa: F811 (pki is the imported fixture)
    t = start_tls_dp(run_dir, tls_snapshot(1, pki, backends), "dataplane-tickets",
                     extra=["--tls-ticket-rotation", f"{int(PERIOD)}s"])
    yield t
    t.dp.check_clean_exit()


def new_session(t, pki, path, version):
    """A full handshake whose session (ticket included: Connection: close keeps s_client reading until the
    server's close, so a TLS 1.3 ticket sent after the handshake is saved) goes to path."""
    r = s_client(t.tls_port, "-servername", A_HOST, version, "-sess_out", str(path), "-ign_eof",
                 "-CAfile", str(pki.ca.cert),
                 stdin=f"GET /echo/t HTTP/1.1\r\nHost: {A_HOST}\r\nConnection: close\r\n\r\n".encode())
    assert b"New, TLS" in r.stdout, r.stderr.decode()
    return path


def resumes(t, pki, path, version) -> bool:
    r = s_client(t.tls_port, "-servername", A_HOST, version, "-sess_in", str(path), "-CAfile", str(pki.ca.cert))
    assert b"New, TLS" in r.stdout or b"Reused, TLS" in r.stdout, r.stdout.decode()[-800:]
    return b"Reused, TLS" in r.stdout


def ticket_key_name(path) -> str:
    """The first 16 bytes of the session's ticket: the name of the key that encrypted it (RFC 5077 §4)."""
    text = subprocess.run(["openssl", "sess_id", "-in", str(path), "-noout", "-text"], capture_output=True,
                          check=True, text=True).stdout
    after = text.split("TLS session ticket:", 1)[1]
    hexbytes = re.findall(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){1,16})", after, re.M)
    flat = "".join(h.replace("-", " ") for h in hexbytes).split()
    assert len(flat) >= 16, text
    return "".join(flat[:16])


def sleep_until(t0: float, offset: float) -> None:
    delay = t0 + offset - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def test_ticket_rotation_period(rotating_dp, pki, tmp_path):
    """A: issued first (its period starts then). 1.5 periods later A (from the previous period) still resumes, and
    a new ticket B has another key. 3 periods + a margin after A: B (under two periods old) still resumes, A no
    longer does, and a fresh ticket C has yet another key."""
    t = rotating_dp
    a_start = time.monotonic()
    a = {v: new_session(t, pki, tmp_path / f"a{v}", v) for v in VERSIONS}
    a_end = time.monotonic()
    assert a_end - a_start < 0.5 * PERIOD, "the first handshakes were too slow for this test's windows"
    # A ticket is sure to resume within two periods of its issue (its key serves three periods from the start of
    # the period it was issued in) and sure not to three periods after it. With PERIOD = 4 s: A checked at
    # A + 6 s, B issued right after, both checked again at A + 12.4 s (B is then about 6 s old).
    sleep_until(a_end, 1.5 * PERIOD)
    for v in VERSIONS:  # first, while A is surely in its window
        assert resumes(t, pki, a[v], v), f"{v}: a ticket of the previous period must resume"
    assert time.monotonic() - a_start < 2 * PERIOD, "too slow: A's guaranteed window was over"
    b_start = time.monotonic()
    b = {v: new_session(t, pki, tmp_path / f"b{v}", v) for v in VERSIONS}
    for v in VERSIONS:
        assert ticket_key_name(b[v]) != ticket_key_name(a[v]), f"{v}: no new key after one period"
        assert resumes(t, pki, b[v], v), v
    sleep_until(a_end, 3 * PERIOD + 0.4)
    for v in VERSIONS:
        assert resumes(t, pki, b[v], v), f"{v}: a ticket of an earlier period still in the ring must resume"
    assert time.monotonic() - b_start < 2 * PERIOD, "too slow: B's guaranteed window was over"
    for v in VERSIONS:
        assert not resumes(t, pki, a[v], v), f"{v}: a ticket three periods old must not resume"
        c = new_session(t, pki, tmp_path / f"c{v}", v)
        assert ticket_key_name(c) not in (ticket_key_name(a[v]), ticket_key_name(b[v])), v
    assert t.dp.proc.alive()


@pytest.mark.parametrize("value", ["500ms", "49h", "1x", "", "-1s", "2s ", "1h0"])
def test_rotation_flag_strict(value):
    r = subprocess.run([str(it.BUILD / "tollgate-dataplane"), "--tls-ticket-rotation", value,
                        "--tls-listen", "127.0.0.1:0"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "--tls-ticket-rotation" in r.stderr, (value, r.stderr)


def test_rotation_flag_excludes_keys_file(tmp_path):
    keys = tmp_path / "keys"
    keys.write_bytes(bytes(80))
    r = subprocess.run([str(it.BUILD / "tollgate-dataplane"), "--tls-ticket-rotation", "1h",
                        "--tls-ticket-keys-file", str(keys)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "exclude each other" in r.stderr, r.stderr
