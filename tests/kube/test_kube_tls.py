"""A broken TLS Secret through the controller (--source kube) against the real kube-apiserver and the real data
plane's TLS listener (issue 12): the group's ResolvedRefs turns False with reason InvalidCertificateRef, a Warning
Event of that reason is posted on the EnvironmentGroup, and the last good certificate stays in use — while the
controller that saw it good runs, and across a controller restart too (the data plane keeps what it served for a
Secret the snapshot marks "lastGood"); a fixed Secret is served again at once."""

from __future__ import annotations

from kube_bed import conditions, group, make_cert, proxy, served_cn, tls_secret, wait_until

T = 15
HOST = "site.tls.kube.test"


def served(dp) -> str | None:
    return served_cn(dp.tls_port, HOST)


def test_broken_secret_event_and_last_good(bed, ns, dataplane, controller, tmp_path):
    dp = dataplane(tls=True)
    ctl = controller(ns, dp)
    crt1, key1 = make_cert(tmp_path, HOST)
    other_crt, _ = make_cert(tmp_path, "other.tls.kube.test")
    bed.apply([tls_secret(ns, "site-tls", crt1, key1),
               group(ns, "site", [HOST], ["prod"], tls=[{"secretName": "site-tls"}]),
               proxy(ns, "app", "/", url="http://127.0.0.1:9")])
    wait_until(lambda: served(dp) == HOST, T, what="the certificate served")

    # The Secret is updated with a certificate its key does not belong to.
    v1 = dp.config()["version"]
    bed.apply(tls_secret(ns, "site-tls", other_crt, key1))

    def reported():
        rr = conditions(bed, ns, "environmentgroup", "site")[0].get("ResolvedRefs", {})
        return rr.get("status") == "False" and rr.get("reason") == "InvalidCertificateRef" and rr
    rr = wait_until(reported, T, what="ResolvedRefs=False InvalidCertificateRef")
    assert "the last good certificate stays in use" in rr["message"], rr
    assert "PRIVATE KEY" not in rr["message"]

    def event():
        evs = bed.kubectl_json("get", "events", "-n", ns)["items"]
        return [e for e in evs if e["reason"] == "InvalidCertificateRef" and e["involvedObject"]["name"] == "site"]
    evs = wait_until(event, T, what="an InvalidCertificateRef Event on the group")
    assert evs[0]["type"] == "Warning" and evs[0]["involvedObject"]["kind"] == "EnvironmentGroup"
    assert "last good certificate" in evs[0]["message"]
    assert served(dp) == HOST  # the last good certificate is still served
    assert dp.config()["version"] >= v1

    # A controller restart: the new process never saw the good content, so it sends a "lastGood" marker and the
    # data plane keeps serving what it served for that Secret.
    v2 = dp.config()["version"]
    ctl.stop()
    controller(ns, dp, tag="b")
    wait_until(lambda: dp.config()["version"] > v2, T, what="the new controller's snapshot")
    assert served(dp) == HOST
    rr = conditions(bed, ns, "environmentgroup", "site")[0]["ResolvedRefs"]
    assert rr["status"] == "False" and rr["reason"] == "InvalidCertificateRef", rr

    # Fixed: served again, ResolvedRefs True.
    crt2, key2 = make_cert(tmp_path, HOST)
    bed.apply(tls_secret(ns, "site-tls", crt2, key2))
    wait_until(lambda: served(dp) == HOST, T, what="the fixed certificate served")
    wait_until(lambda: conditions(bed, ns, "environmentgroup", "site")[0]["ResolvedRefs"]["status"] == "True", T,
               what="ResolvedRefs=True once fixed")
