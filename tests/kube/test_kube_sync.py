"""The controller (--source kube) against the real kube-apiserver, pushing to the real data plane: every watched
kind reaches the data plane on create/update/delete, status conditions read back with kubectl, conflicts,
a missing Service that appears later, Secret rotation, Events, and no status churn."""

from __future__ import annotations

import json
import subprocess
import time

from kube_bed import (conditions, endpoint_slice, group, make_cert, proxy, service, tls_secret, wait_until)

T = 15  # seconds: generous bound for "reaches the data plane" (the controller debounces 100 ms)


def test_create_update_delete_every_kind(bed, ns, dataplane, controller, tmp_path):
    dp = dataplane()
    ctl = controller(ns, dp)
    pid = f"{ns}/chat"
    gid = f"{ns}/public"

    # Service + EndpointSlice + EnvironmentGroup + ApiProxy → routed, with the slice's endpoints.
    bed.apply([service(ns, "chat-backend"), endpoint_slice(ns, "chat-backend", ["10.1.0.1"]),
               group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "chat", "/chat", service="chat-backend")])
    wait_until(lambda: pid in dp.proxies() and gid in dp.groups(), T, what="group and proxy in the snapshot")
    wait_until(lambda: len(dp.proxies()[pid]["endpoints"]) == 1, T, what="one endpoint")

    # Updates of each kind.
    bed.apply(proxy(ns, "chat", "/chat2", service="chat-backend"))
    wait_until(lambda: dp.proxies()[pid]["basePath"] == "/chat2", T, what="basePath update")
    bed.apply(endpoint_slice(ns, "chat-backend", ["10.1.0.1", "10.1.0.2"]))
    wait_until(lambda: len(dp.proxies()[pid]["endpoints"]) == 2, T, what="EndpointSlice update")
    bed.apply(group(ns, "public", [f"{ns}.example.com", f"www.{ns}.example.com"], ["prod"]))
    wait_until(lambda: len(dp.groups()[gid]["hostnames"]) == 2, T, what="group hostnames update")
    bed.apply({**service(ns, "chat-backend", 9090)})
    bed.apply(endpoint_slice(ns, "chat-backend", ["10.1.0.1"], port=9090))
    bed.apply(proxy(ns, "chat", "/chat2", service="chat-backend", port=9090))
    wait_until(lambda: len(dp.proxies()[pid]["endpoints"]) == 1 and "9090" in dp.proxies()[pid]["endpoints"][0],
               T, what="Service port update")

    # Secret (tls) and ConfigMap: cached and counted; the TLS certificate changes the snapshot.
    crt, key = make_cert(tmp_path, f"{ns}.example.com")
    v0 = dp.config()["version"]
    bed.apply(tls_secret(ns, "public-tls", crt, key))
    bed.apply(group(ns, "public", [f"{ns}.example.com", f"www.{ns}.example.com"], ["prod"],
                    tls=[{"secretName": "public-tls"}]))
    wait_until(lambda: dp.config()["version"] > v0, T, what="a snapshot with the certificate")
    wait_until(lambda: ctl.metric('tollgate_controller_kube_objects{kind="Secret"}') == 1, T,
               what="the Secret cached")
    bed.kubectl("create", "configmap", "revoked", "-n", ns, "--from-literal=jti-1=lost")
    bed.apply(proxy(ns, "tokens", "/tokens", url="http://127.0.0.1:9", policies=[
        {"oauthV2": {"tokenFrom": ["header:authorization"], "revocationConfigMapName": "revoked",
                     "introspection": {"url": "http://127.0.0.1:9/introspect", "clientSecretName": "client"}}}]))
    wait_until(lambda: ctl.metric('tollgate_controller_kube_objects{kind="ConfigMap"}') == 1, T,
               what="the referenced ConfigMap cached")
    bed.kubectl("delete", "configmap", "revoked", "-n", ns)
    wait_until(lambda: ctl.metric('tollgate_controller_kube_objects{kind="ConfigMap"}') == 0, T,
               what="the ConfigMap delete seen")
    bed.kubectl("delete", "apiproxy", "tokens", "-n", ns)

    # Deletes.
    bed.kubectl("delete", "endpointslice", "chat-backend-1", "-n", ns)
    wait_until(lambda: dp.proxies()[pid]["endpoints"] == [], T, what="endpoints gone with the slice")
    bed.kubectl("delete", "apiproxy", "chat", "-n", ns)
    wait_until(lambda: pid not in dp.proxies(), T, what="proxy delete")
    bed.kubectl("delete", "environmentgroup", "public", "-n", ns)
    wait_until(lambda: gid not in dp.groups(), T, what="group delete")
    bed.kubectl("delete", "secret", "public-tls", "-n", ns)
    wait_until(lambda: ctl.metric('tollgate_controller_kube_objects{kind="Secret"}') == 0, T, what="Secret delete")
    assert ctl.alive()

    # Seven watches, lists, status writes and Events all went over one HTTP/2 connection.
    out = subprocess.run(["ss", "-Htnp", "state", "established", "dst", f"127.0.0.1:{bed.apiserver_port}"],
                         capture_output=True, text=True).stdout
    conns = [line for line in out.splitlines() if f"pid={ctl.p.pid}," in line]
    assert len(conns) == 1, out


def test_status_conditions_missing_service_then_created(bed, ns, dataplane, controller):
    dp = dataplane()
    controller(ns, dp)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "chat", "/chat", service="chat-backend")])

    def missing():
        conds, obj = conditions(bed, ns, "apiproxy", "chat")
        rr = conds.get("ResolvedRefs", {})
        return rr.get("status") == "False" and rr.get("reason") == "BackendNotFound" and \
            conds.get("Programmed", {}).get("status") == "True" and (obj, conds)
    obj, conds = wait_until(missing, T, what="ResolvedRefs=False BackendNotFound, Programmed=True")
    gen = obj["metadata"]["generation"]
    assert all(c["observedGeneration"] == gen for c in conds.values())
    assert conds["Accepted"]["status"] == "True"
    assert obj["status"]["endpoints"] == 0
    assert obj["status"]["hostnames"] == [f"{ns}.example.com"]

    # The user is told with an Event too.
    def event():
        evs = bed.kubectl_json("get", "events", "-n", ns)["items"]
        return [e for e in evs if e["reason"] == "BackendNotFound" and e["involvedObject"]["name"] == "chat"]
    evs = wait_until(event, T, what="a BackendNotFound Event")
    assert evs[0]["type"] == "Warning" and evs[0]["involvedObject"]["kind"] == "ApiProxy"

    # The Service appears: ResolvedRefs turns True, endpoints counted.
    bed.apply([service(ns, "chat-backend"), endpoint_slice(ns, "chat-backend", ["10.2.0.1", "10.2.0.2"])])

    def resolved():
        conds2, obj2 = conditions(bed, ns, "apiproxy", "chat")
        return conds2.get("ResolvedRefs", {}).get("status") == "True" and obj2["status"].get("endpoints") == 2 \
            and (obj2, conds2)
    obj2, conds2 = wait_until(resolved, T, what="ResolvedRefs=True with 2 endpoints")
    # lastTransitionTime of a condition whose status did not change is kept.
    assert conds2["Accepted"]["lastTransitionTime"] == conds["Accepted"]["lastTransitionTime"]

    # A spec change bumps the generation; observedGeneration follows.
    bed.apply(proxy(ns, "chat", "/chat-v2", service="chat-backend"))

    def observed():
        conds3, obj3 = conditions(bed, ns, "apiproxy", "chat")
        g = obj3["metadata"]["generation"]
        return g > gen and all(c["observedGeneration"] == g for c in conds3.values()) and \
            conds3["Programmed"]["status"] == "True"
    wait_until(observed, T, what="observedGeneration of the new generation, Programmed")

    # The group has its conditions too.
    gconds, _ = conditions(bed, ns, "environmentgroup", "public")
    assert gconds["Accepted"]["status"] == "True" and gconds["Programmed"]["status"] == "True"


def test_conflict_between_two_proxies(bed, ns, dataplane, controller):
    dp = dataplane()
    controller(ns, dp)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "older", "/chat", url="http://127.0.0.1:9001")])
    wait_until(lambda: f"{ns}/older" in dp.proxies(), T, what="the first proxy")
    time.sleep(1.1)  # creationTimestamp has one-second resolution; "newer" must really be newer
    bed.apply(proxy(ns, "newer", "/chat", url="http://127.0.0.1:9002"))

    def conflicted():
        conds, _ = conditions(bed, ns, "apiproxy", "newer")
        acc = conds.get("Accepted", {})
        return acc.get("status") == "False" and acc.get("reason") == "Conflicted" and conds
    conds = wait_until(conflicted, T, what="Accepted=False Conflicted on the newer proxy")
    assert conds["Programmed"]["status"] == "False"
    assert "older" in conds["Accepted"]["message"]
    oconds, _ = conditions(bed, ns, "apiproxy", "older")
    assert oconds["Accepted"]["status"] == "True"
    routes = dp.groups()[f"{ns}/public"]["routes"]
    assert [r["proxy"] for r in routes if r["basePath"] == "/chat"] == [f"{ns}/older"]
    wait_until(lambda: any(e["reason"] == "Conflicted" and e["involvedObject"]["name"] == "newer"
                           for e in bed.kubectl_json("get", "events", "-n", ns)["items"]), T,
               what="a Conflicted Event")

    # The older one goes away: the newer takes the path and becomes Accepted.
    bed.kubectl("delete", "apiproxy", "older", "-n", ns)
    wait_until(lambda: conditions(bed, ns, "apiproxy", "newer")[0].get("Accepted", {}).get("status") == "True",
               T, what="the newer proxy accepted")
    wait_until(lambda: [r["proxy"] for r in dp.groups()[f"{ns}/public"]["routes"]] == [f"{ns}/newer"], T,
               what="the newer proxy routed")


def test_secret_rotation(bed, ns, dataplane, controller, tmp_path):
    dp = dataplane()
    ctl = controller(ns, dp)
    crt1, key1 = make_cert(tmp_path, "one.example.com")
    bed.apply([tls_secret(ns, "site-tls", crt1, key1),
               group(ns, "site", ["one.example.com"], ["prod"], tls=[{"secretName": "site-tls"}]),
               proxy(ns, "app", "/", url="http://127.0.0.1:9")])
    wait_until(lambda: f"{ns}/site" in dp.groups(), T, what="the group")
    wait_until(lambda: conditions(bed, ns, "environmentgroup", "site")[0].get("ResolvedRefs", {})
               .get("status") == "True", T, what="the TLS Secret resolved")
    v1 = dp.config()["version"]
    crt2, key2 = make_cert(tmp_path, "two.example.com")
    bed.apply(tls_secret(ns, "site-tls", crt2, key2))
    wait_until(lambda: dp.config()["version"] > v1, T, what="a new snapshot after the rotation")
    # Exactly the rotation: nothing else changed, so one push (debounced) is enough.
    v2 = dp.config()["version"]
    assert v2 >= v1 + 1
    # The Secret goes away: reported (the API server refuses a tls Secret without a key, so deletion is the way
    # to lose it), and the group keeps routing without the certificate.
    bed.kubectl("delete", "secret", "site-tls", "-n", ns)
    wait_until(lambda: conditions(bed, ns, "environmentgroup", "site")[0].get("ResolvedRefs", {})
               .get("status") == "False", T, what="ResolvedRefs=False once the Secret is gone")
    assert f"{ns}/site" in dp.groups()
    assert ctl.alive()


def test_status_written_only_on_change(bed, ns, dataplane, controller):
    dp = dataplane()
    ctl = controller(ns, dp)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "quiet", "/quiet", url="http://127.0.0.1:9")])
    wait_until(lambda: conditions(bed, ns, "apiproxy", "quiet")[0].get("Programmed", {}).get("status") == "True",
               T, what="Programmed=True")
    rv = bed.kubectl_json("get", "apiproxy", "quiet", "-n", ns)["metadata"]["resourceVersion"]
    writes = ctl.metric("tollgate_controller_status_writes_total")
    # Unrelated churn (another object) must not rewrite this one's status.
    for i in range(3):
        bed.apply(service(ns, f"noise-{i}"))
    wait_until(lambda: ctl.metric('tollgate_controller_kube_objects{kind="Service"}') == 3, T, what="noise seen")
    time.sleep(1.0)
    assert bed.kubectl_json("get", "apiproxy", "quiet", "-n", ns)["metadata"]["resourceVersion"] == rv
    assert ctl.metric("tollgate_controller_status_writes_total") == writes


def test_status_write_does_not_retranslate(bed, ns, dataplane, controller):
    """A status PATCH comes back as a MODIFIED watch event; it must not cost a translation (only what translation
    reads moves the store), and someone else's status edit is overwritten from the last translation."""
    dp = dataplane()
    ctl = controller(ns, dp)
    bed.apply([group(ns, "public", [f"{ns}.example.com"], ["prod"]),
               proxy(ns, "steady", "/steady", url="http://127.0.0.1:9")])
    wait_until(lambda: conditions(bed, ns, "apiproxy", "steady")[0].get("Programmed", {}).get("status") == "True",
               T, what="Programmed=True")
    time.sleep(1.5)  # our own status writes have come back through the watch
    translations = ctl.metric("tollgate_controller_translations_total")
    writes = ctl.metric("tollgate_controller_status_writes_total")
    endpoints = bed.kubectl_json("get", "apiproxy", "steady", "-n", ns)["status"]["endpoints"]
    assert translations >= 1 and endpoints != 99
    # Someone else writes the status subresource: the controller sees the event, writes its status back, and the
    # echo of that write comes back too — none of it is a translation.
    bed.kubectl("patch", "apiproxy", "steady", "-n", ns, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": {"endpoints": 99}}))
    wait_until(lambda: bed.kubectl_json("get", "apiproxy", "steady", "-n", ns)["status"].get("endpoints") == endpoints,
               T, what="the controller restores its status")
    wait_until(lambda: ctl.metric("tollgate_controller_status_writes_total") > writes, T, what="a status write")
    time.sleep(1.5)  # beyond the source's debounce (at most 1 s)
    assert ctl.metric("tollgate_controller_translations_total") == translations
    # A spec change still translates.
    bed.apply(proxy(ns, "steady", "/steady2", url="http://127.0.0.1:9"))
    wait_until(lambda: ctl.metric("tollgate_controller_translations_total") > translations, T,
               what="a spec change translates")
