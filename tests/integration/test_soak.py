"""The short continuity soak in `make test` (tests/soak/soak.py; `make soak` runs the long one): 100 WebSocket
sessions stream numbered messages while the controller in dir mode pushes 50 changes of every kind; no session
dropped, no message lost, reordered or duplicated, every change applied, RSS flat."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tollgate_it as it

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "soak"))

import soak  # noqa: E402


def test_short_soak_continuity():
    try:
        it.binary("tollgate-controller")
        it.binary("tollgate-demo-backend")
    except FileNotFoundError as e:
        pytest.skip(str(e))
    out = soak.run(sessions=100, changes=50, interval=0.2)
    print(out)
    assert not soak.failures(out), out
    assert out["changes"] == 50 and out["last_version"] >= 51
    if not it.UNDER_ASAN:
        assert out["rss_kib_after_each_round"][-1] - out["rss_kib_before_changes"] < 4096, out
