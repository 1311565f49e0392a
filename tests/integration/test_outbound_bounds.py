"""Outbound calls bounded (issue 11 item 6; docs/security.md "Limits"): an introspection endpoint that fails is
not asked again for every request — after a failure the worker backs off (jittered, doubling) and answers 503 at
once meanwhile — and it is asked again once the backoff has passed, so a recovered endpoint admits again."""

from __future__ import annotations

import time

import auth_helpers as ah
import tollgate_it as it


def _upgrade(dp, path: str, token: str):
    with it.RawHttp(dp.port) as c:
        c.send(it.ws_handshake_bytes(path, extra=[("Authorization", f"Bearer {token}")]))
        return c.read_response()


def test_failing_introspection_backs_off_then_recovers(dp_factory, backends):
    intro = ah.IntrospectionServer().start()
    try:
        pol = ah.oauth_policy(introspection=ah.introspection_cfg(intro.url("/introspect")))
        px = ah.with_policies(it.proxy("it/intro", "/intro", [backends.b1.endpoint()]), pol)
        dp = dp_factory(ah.auth_snapshot(1, [px]), workers=1)
        intro.fail_status = 500
        statuses = [_upgrade(dp, "/intro/x", f"opaque-{i}").status for i in range(40)]
        assert set(statuses) == {503}, statuses
        asked = intro.count()
        # 40 requests with 40 different tokens: without the backoff, 40 questions; with it, a handful
        assert asked <= 5, f"{asked} introspection requests for 40 client requests against a failing endpoint"
        intro.fail_status = None
        intro.set("opaque-good", {"active": True, "scope": "chat:connect", "exp": int(time.time()) + 600})
        it.wait_until(lambda: _upgrade(dp, "/intro/ok", "opaque-good").status == 101, 20 * it.SLOW, interval=0.3,
                      what="admitted again once the endpoint recovered")
    finally:
        intro.stop()
