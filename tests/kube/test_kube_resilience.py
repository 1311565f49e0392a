"""The controller's watches survive the API server: a restart (streams cut, server away for a while) and an etcd
compaction that makes the controller's resourceVersion too old (a forced 410 Gone → relist). While the API server
is down, a proxy is removed behind its back straight from etcd: after the relist the data plane must have lost
exactly that proxy and kept the others (no state lost, none duplicated). Then RBAC: a 403 names what is missing."""

from __future__ import annotations

from kube_bed import b64, etcd, group, proxy, restart_apiserver, wait_until

T = 30


def test_apiserver_restart_and_compaction_force_relist(own_bed, dataplane, controller):
    bed = own_bed  # restarts the API server: a test bed of its own
    ns = "restart"
    bed.ensure_namespace(ns)
    bed.kubectl("delete", "apiproxies,environmentgroups", "--all", "-n", ns)
    dp = dataplane()
    ctl = controller(ns, dp, cluster=bed)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"])] +
              [proxy(ns, f"p{i}", f"/p{i}", url="http://127.0.0.1:9") for i in range(5)])
    wait_until(lambda: len(dp.proxies()) == 5, T, what="five proxies")
    relists0 = ctl.metric_sum("tollgate_controller_kube_relists_total")
    restarts0 = ctl.metric_sum("tollgate_controller_kube_watch_restarts_total")

    def behind_its_back():
        # The API server is down: delete p3 directly in etcd, then compact history up to now, so the controller's
        # resourceVersion cannot be watched from any more.
        etcd(bed, "kv/deleterange", {"key": b64(f"/registry/tollgate.dev/apiproxies/{ns}/p3")})
        rev = int(etcd(bed, "kv/range", {"key": b64("/registry/"), "limit": 1})["header"]["revision"])
        etcd(bed, "kv/compaction", {"revision": rev, "physical": True})

    restart_apiserver(bed, behind_its_back)
    wait_until(lambda: f"{ns}/p3" not in dp.proxies(), T, what="the etcd-side delete seen after the relist")
    assert sorted(dp.proxies()) == sorted(f"{ns}/p{i}" for i in (0, 1, 2, 4))
    assert ctl.metric_sum("tollgate_controller_kube_relists_total") > relists0
    assert ctl.metric_sum("tollgate_controller_kube_watch_restarts_total") > restarts0
    # Watches are live again: a change made now arrives.
    bed.apply(proxy(ns, "after", "/after", url="http://127.0.0.1:9"))
    wait_until(lambda: f"{ns}/after" in dp.proxies(), T, what="a proxy created after the restart")
    assert ctl.alive()
    # Unreachability was logged once per state change, not per retry.
    out = ctl.output()
    assert out.count("unreachable") <= 2, out[-3000:]
    assert ctl.ready()


def test_rbac_403_names_verb_and_resource(bed, ns, dataplane, controller, tmp_path):
    # A service account that may only read ApiProxies: the controller must say what else it lacks.
    bed.kubectl("create", "serviceaccount", "weak", "-n", ns)
    bed.kubectl("create", "role", "weak", "-n", ns, "--verb=get,list,watch", "--resource=apiproxies.tollgate.dev")
    bed.kubectl("create", "rolebinding", "weak", "-n", ns, "--role=weak", f"--serviceaccount={ns}:weak")
    kc = bed.token_kubeconfig(bed.create_token("weak", ns), tmp_path / "weak.kubeconfig", namespace=ns)
    dp = dataplane()
    ctl = controller(ns, dp, kubeconfig=kc, wait=False)
    wait_until(lambda: "may not list services" in ctl.output(), T, what="a 403 naming list services")
    out = ctl.output()
    assert "may not list environmentgroups" in out
    assert "403 Forbidden" in out
    assert not ctl.ready()  # not ready while its caches cannot sync
    # Logged once per distinct error, not once per retry.
    assert out.count("may not list services") == 1, out[-3000:]
