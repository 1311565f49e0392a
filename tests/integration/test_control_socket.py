"""The control socket (docs/control-protocol.md) and the admin endpoints around it: a data plane without a snapshot
is alive but not ready and answers 503; invalid snapshots are refused whole with every error; older versions get
409; the same version again is accepted; /config shows what is in force."""

from __future__ import annotations

import json

import tollgate_it as it


def _snap(version: int, backends, base_path: str = "/echo") -> dict:
    return it.snapshot(version, [it.group("it/g", [it.MAIN_HOST])],
                       [it.proxy("it/echo", base_path, [backends.b1.endpoint()])])


def test_lifecycle_of_snapshots(dp_factory, backends):
    dp = dp_factory(None)
    assert dp.admin("/healthz")[0] == 200
    assert dp.admin("/readyz")[0] == 503
    status, body = dp.control("GET", "/snapshot/version")
    assert status == 200 and body["applied"] == 0 and len(body["bootId"]) >= 16
    boot_id = body["bootId"]
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/x"))
        r = c.read_response()
        assert r.status == 503 and r.json()["error"]["code"] == "gateway.not_configured"

    # invalid documents change nothing and list every problem
    status, body = dp.control("PUT", "/snapshot", b"{not json")
    assert status == 400 and "invalid JSON" in body["errors"][0]
    bad = _snap(1, backends, base_path="echo")
    bad["proxies"][0]["target"]["loadBalancing"] = "fastest"
    bad["proxies"][0]["surprise"] = True
    status, body = dp.push(bad)
    assert status == 400, body
    text = "\n".join(body["errors"])
    assert "proxies[0].basePath" in text and "loadBalancing" in text and "surprise" in text, text
    assert dp.admin("/readyz")[0] == 503 and dp.applied_version() == 0

    assert dp.push(_snap(5, backends)) == (200, {"applied": 5})
    assert dp.admin("/readyz")[0] == 200
    status, body = dp.control("GET", "/snapshot/version")
    assert body["applied"] == 5 and body["bootId"] == boot_id and body["appliedAt"].endswith("Z")
    with it.RawHttp(dp.port) as c:
        c.send(it.request_bytes("GET", "/echo/x"))
        assert c.read_response().status == 200

    status, body = dp.push(_snap(3, backends))
    assert status == 409 and body["applied"] == 5 and "older" in body["errors"][0]
    assert dp.push(_snap(5, backends)) == (200, {"applied": 5})  # a controller re-syncing: idempotent
    assert dp.push(_snap(6, backends, base_path="/moved")) == (200, {"applied": 6})

    status, _, raw = dp.admin("/config")
    config = json.loads(raw)
    assert status == 200 and config["version"] == 6 and config["bootId"] == boot_id
    assert config["groups"][0]["hostnames"] == [it.MAIN_HOST]
    assert config["groups"][0]["routes"] == [{"basePath": "/moved", "proxy": "it/echo", "environment": "prod"}]
    assert config["proxies"][0]["endpoints"] == [f"127.0.0.1:{backends.b1.port}"]
    assert dp.metrics()["tollgate_snapshot_version"] == 6

    assert dp.control("GET", "/nope")[0] == 404
    assert dp.admin("/nope")[0] == 404


def test_boot_id_differs_between_processes(dp_factory, backends):
    a = dp_factory(_snap(1, backends))
    b = dp_factory(_snap(1, backends))
    assert a.control("GET", "/snapshot/version")[1]["bootId"] != b.control("GET", "/snapshot/version")[1]["bootId"]


def test_bad_snapshot_file_fails_start(run_dir, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(it.snapshot(1, [], [it.proxy("it/x", "no-slash", [])])))
    proc = it.Proc("dataplane-badsnap", [it.binary("tollgate-dataplane"), "--listen", f"127.0.0.1:{it.free_port()}",
                                         "--admin", f"127.0.0.1:{it.free_port()}", "--control-socket", "",
                                         "--snapshot", str(bad), "--workers", "1"], run_dir)
    rc = proc.wait(10 * it.SLOW)
    assert rc not in (None, 0), proc.log()
    assert "basePath" in proc.log()
    proc.stop()
