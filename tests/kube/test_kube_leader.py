"""Two controllers with --leader-elect, each beside its own data plane: both push, exactly one (the Lease holder)
writes status; when it is killed, the other takes over within the lease duration (plus one retry period, since
expiry is judged on the follower's own clock from when it last saw the record change) and writes status."""

from __future__ import annotations

import time

from kube_bed import conditions, group, proxy, wait_until

LEASE = ["--leader-elect", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "500ms",
         "--lease-name", "tollgate-test"]


def test_two_controllers_one_leader_and_takeover(bed, ns, dataplane, controller):
    dpa, dpb = dataplane("a"), dataplane("b")
    extra = LEASE + ["--lease-namespace", ns]
    a = controller(ns, dpa, tag="a", extra=extra)
    b = controller(ns, dpb, tag="b", extra=extra)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "one", "/one", url="http://127.0.0.1:9")])
    # Every replica pushes to its own data plane.
    wait_until(lambda: f"{ns}/one" in dpa.proxies() and f"{ns}/one" in dpb.proxies(), 15,
               what="both data planes programmed")
    leaders = wait_until(lambda: [c for c in (a, b) if c.metric("tollgate_controller_leader") == 1], 15,
                         what="a leader")
    assert len(leaders) == 1
    leader = leaders[0]
    follower = b if leader is a else a
    wait_until(lambda: conditions(bed, ns, "apiproxy", "one")[0].get("Programmed", {}).get("status") == "True",
               15, what="status written")
    lease = bed.kubectl_json("get", "lease", "tollgate-test", "-n", ns)
    assert lease["spec"]["holderIdentity"]
    assert leader.metric("tollgate_controller_status_writes_total") >= 1
    assert follower.metric("tollgate_controller_status_writes_total") == 0
    assert follower.metric("tollgate_controller_leader") == 0

    # Kill the leader (no lease release); the follower must take over and write status.
    holder_before = lease["spec"]["holderIdentity"]
    leader.kill()
    t0 = time.monotonic()
    wait_until(lambda: follower.metric("tollgate_controller_leader") == 1, 10, interval=0.1,
               what="the follower to lead")
    took = time.monotonic() - t0
    assert took <= 4.0 + 0.5 + 1.0, f"takeover took {took:.1f}s"
    lease2 = bed.kubectl_json("get", "lease", "tollgate-test", "-n", ns)
    assert lease2["spec"]["holderIdentity"] != holder_before
    assert lease2["spec"]["leaseTransitions"] >= lease["spec"].get("leaseTransitions", 0) + 1
    bed.apply(proxy(ns, "two", "/two", url="http://127.0.0.1:9"))
    wait_until(lambda: conditions(bed, ns, "apiproxy", "two")[0].get("Programmed", {}).get("status") == "True",
               15, what="the new leader writes status")
    assert follower.metric("tollgate_controller_status_writes_total") >= 1


def test_release_on_shutdown_hands_over_at_once(bed, ns, dataplane, controller):
    dpa, dpb = dataplane("a"), dataplane("b")
    extra = ["--leader-elect", "--lease-duration", "15s", "--renew-deadline", "10s", "--retry-period", "500ms",
             "--lease-name", "tollgate-test", "--lease-namespace", ns]
    a = controller(ns, dpa, tag="a", extra=extra)
    wait_until(lambda: a.metric("tollgate_controller_leader") == 1, 10, what="a leads")
    b = controller(ns, dpb, tag="b", extra=extra)
    time.sleep(1.0)
    assert b.metric("tollgate_controller_leader") == 0
    a.stop()  # SIGTERM: releases the Lease
    t0 = time.monotonic()
    wait_until(lambda: b.metric("tollgate_controller_leader") == 1, 8, interval=0.1, what="b leads")
    assert time.monotonic() - t0 < 5.0  # far less than the 15 s lease
