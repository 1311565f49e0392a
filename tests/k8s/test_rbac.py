"""`helm install` of charts/tollgate into the real apiserver, then the chart's ServiceAccount at work: with a
TokenRequest token (what the controller container gets) it can list and watch what the controller reads and write
ApiProxy/EnvironmentGroup status, Leases and Events — and every verb the chart does not grant is refused with a
403 that names the user, verb and resource."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from cluster import REPO

RELEASE_NS = "tollgate-system"
APPS = "rbac-apps"
USER = f"system:serviceaccount:{RELEASE_NS}:tollgate"


@pytest.fixture(scope="module")
def installed(k8s_cluster):
    c = k8s_cluster
    c.helm("uninstall", "tollgate", "-n", RELEASE_NS, "--ignore-not-found")
    c.helm("install", "tollgate", str(REPO / "charts" / "tollgate"), "-n", RELEASE_NS,
           "--create-namespace", "--set", "replicaCount=1")
    c.ensure_namespace(APPS)
    c.ensure_namespace("rbac-other")
    c.apply([
        {"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
         "metadata": {"name": "public", "namespace": APPS},
         "spec": {"hostnames": ["api.example.com"], "environments": ["prod"]}},
        {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy", "metadata": {"name": "chat", "namespace": APPS},
         "spec": {"environments": ["prod"], "basePath": "/chat",
                  "target": {"service": {"name": "chat-backend", "port": 8080}}}},
    ])
    token = c.create_token("tollgate", RELEASE_NS)
    kubeconfig = c.token_kubeconfig(token)
    yield c, kubeconfig
    c.helm("uninstall", "tollgate", "-n", RELEASE_NS, "--ignore-not-found")
    c.kubectl("delete", "apiproxy,environmentgroup", "--all", "-n", APPS)


def as_sa(installed, *args, input=None, check=True):
    c, kubeconfig = installed
    return c.kubectl(*args, input=input, check=check, kubeconfig=kubeconfig)


def assert_forbidden(proc, verb, resource, group=None):
    assert proc.returncode != 0, f"the service account was allowed to {verb} {resource}:\n{proc.stdout}"
    assert "forbidden" in proc.stderr.lower(), proc.stderr
    assert f'User "{USER}" cannot {verb} resource "{resource}"' in proc.stderr, proc.stderr
    if group is not None:
        assert f'in API group "{group}"' in proc.stderr, proc.stderr


def test_helm_release_is_deployed(installed):
    c, _ = installed
    status = json.loads(c.helm("status", "tollgate", "-n", RELEASE_NS, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    names = c.kubectl("get", "deployment,service,serviceaccount,pdb", "-n", RELEASE_NS, "-o", "name").stdout.split()
    for want in ("deployment.apps/tollgate", "service/tollgate", "serviceaccount/tollgate",
                 "poddisruptionbudget.policy/tollgate"):
        assert want in names
    svc = c.kubectl_json("get", "service", "tollgate", "-n", RELEASE_NS)
    assert svc["spec"]["type"] == "LoadBalancer"
    assert {(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {(80, "http"), (443, "https")}


def test_token_is_the_service_accounts(installed):
    out = as_sa(installed, "auth", "whoami", "-o", "json").stdout
    assert json.loads(out)["status"]["userInfo"]["username"] == USER


@pytest.mark.parametrize("resource", ["apiproxies", "environmentgroups", "services", "endpointslices", "secrets",
                                      "configmaps"])
def test_can_list_what_the_controller_reads_in_every_namespace(installed, resource):
    as_sa(installed, "get", resource, "--all-namespaces")


def test_can_watch_apiproxies(installed):
    out = as_sa(installed, "get", "--raw",
                "/apis/tollgate.dev/v1alpha1/apiproxies?watch=true&timeoutSeconds=2&allowWatchBookmarks=true").stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert any(e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "chat" for e in events), out


def test_can_update_status_but_not_spec(installed):
    c, _ = installed
    status = {"status": {"endpoints": 2, "hostnames": ["api.example.com"], "conditions": [
        {"type": "Programmed", "status": "True", "reason": "Applied", "message": "snapshot 1 applied",
         "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    as_sa(installed, "patch", "apiproxy", "chat", "-n", APPS, "--subresource=status", "--type=merge",
          "-p", json.dumps(status))
    # A full update (PUT) of the status subresource, as a controller that read the object would do.
    obj = c.kubectl_json("get", "environmentgroup", "public", "-n", APPS)
    obj["status"] = {"conditions": status["status"]["conditions"]}
    as_sa(installed, "replace", "--subresource=status", "-f", "-", input=json.dumps(obj))
    assert c.kubectl_json("get", "apiproxy", "chat", "-n", APPS)["status"]["endpoints"] == 2
    row = c.kubectl("get", "apiproxy", "chat", "-n", APPS, "--no-headers").stdout.split()
    assert row[1:5] == ['["api.example.com"]', "/chat", '["prod"]', "True"]

    proc = as_sa(installed, "patch", "apiproxy", "chat", "-n", APPS, "--type=merge",
                 "-p", '{"spec":{"basePath":"/hijack"}}', check=False)
    assert_forbidden(proc, "patch", "apiproxies", "tollgate.dev")


def test_refused_verbs_name_what_is_missing(installed):
    proc = as_sa(installed, "delete", "apiproxy", "chat", "-n", APPS, check=False)
    assert_forbidden(proc, "delete", "apiproxies", "tollgate.dev")
    proc = as_sa(installed, "create", "deployment", "evil", "-n", APPS, "--image=busybox", check=False)
    assert_forbidden(proc, "create", "deployments", "apps")
    proc = as_sa(installed, "create", "secret", "generic", "stolen", "-n", APPS, "--from-literal=a=b", check=False)
    assert_forbidden(proc, "create", "secrets")
    proc = as_sa(installed, "get", "pods", "-A", check=False)
    assert_forbidden(proc, "list", "pods")
    proc = as_sa(installed, "create", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy", "metadata": {"name": "x", "namespace": APPS},
         "spec": {"environments": ["prod"], "basePath": "/x", "target": {"url": "http://10.0.0.1/"}}}))
    assert_forbidden(proc, "create", "apiproxies", "tollgate.dev")
    proc = as_sa(installed, "create", "clusterrolebinding", "escalate", "--clusterrole=cluster-admin",
                 f"--serviceaccount={RELEASE_NS}:tollgate", check=False)
    assert_forbidden(proc, "create", "clusterrolebindings", "rbac.authorization.k8s.io")


def test_refusal_is_an_http_403_status(installed):
    """The raw answer a controller gets: HTTP 403 with a Status body naming user, verb and resource."""
    c, kubeconfig = installed
    token = json.loads(kubeconfig.read_text())["users"][0]["user"]["token"]
    ctx = ssl.create_default_context(cafile=str(c.ca_file))
    req = urllib.request.Request(f"{c.server}/apis/tollgate.dev/v1alpha1/namespaces/{APPS}/apiproxies/chat",
                                 method="DELETE", headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, context=ctx, timeout=10)
    assert err.value.code == 403
    status = json.loads(err.value.read())
    assert status["kind"] == "Status" and status["reason"] == "Forbidden" and status["code"] == 403
    assert f'User "{USER}" cannot delete resource "apiproxies" in API group "tollgate.dev"' in status["message"]
    # The same token may read it.
    req = urllib.request.Request(f"{c.server}/apis/tollgate.dev/v1alpha1/namespaces/{APPS}/apiproxies/chat",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        assert r.status == 200 and json.loads(r.read())["metadata"]["name"] == "chat"


def lease(namespace, name="tollgate"):
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"holderIdentity": "tollgate-0", "leaseDurationSeconds": 15}}


def test_only_its_own_lease_in_the_release_namespace(installed):
    c, _ = installed
    c.kubectl("delete", "lease", "tollgate", "other-controller", "-n", RELEASE_NS, "--ignore-not-found")
    as_sa(installed, "create", "-f", "-", input=json.dumps(lease(RELEASE_NS)))
    as_sa(installed, "get", "lease", "tollgate", "-n", RELEASE_NS)
    as_sa(installed, "patch", "lease", "tollgate", "-n", RELEASE_NS, "--type=merge",
          "-p", '{"spec":{"holderIdentity":"tollgate-1"}}')
    got = as_sa(installed, "get", "lease", "tollgate", "-n", RELEASE_NS, "-o", "json").stdout
    assert json.loads(got)["spec"]["holderIdentity"] == "tollgate-1"
    # Someone else's Lease in the same namespace: neither readable nor writable.
    c.apply(lease(RELEASE_NS, "other-controller"))
    proc = as_sa(installed, "get", "lease", "other-controller", "-n", RELEASE_NS, check=False)
    assert_forbidden(proc, "get", "leases", "coordination.k8s.io")
    hijack = lease(RELEASE_NS, "other-controller")
    hijack["spec"]["holderIdentity"] = "hijack"
    proc = as_sa(installed, "replace", "-f", "-", input=json.dumps(hijack), check=False)
    assert_forbidden(proc, "update", "leases", "coordination.k8s.io")
    proc = as_sa(installed, "create", "-f", "-", input=json.dumps(lease(APPS)), check=False)
    assert_forbidden(proc, "create", "leases", "coordination.k8s.io")


def test_can_record_events(installed):
    for api, kind_fields in (
        ("v1", {"involvedObject": {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy", "name": "chat",
                                   "namespace": APPS},
                "reason": "BackendNotFound", "message": "service chat-backend not found", "type": "Warning"}),
        ("events.k8s.io/v1", {"regarding": {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy",
                                            "name": "chat", "namespace": APPS},
                              "reason": "BackendNotFound", "note": "service chat-backend not found",
                              "type": "Warning", "action": "Translate", "reportingController": "tollgate.dev/controller",
                              "reportingInstance": "tollgate-0", "eventTime": "2026-01-01T00:00:00.000000Z"}),
    ):
        ev = {"apiVersion": api, "kind": "Event", "metadata": {"generateName": "chat-", "namespace": APPS},
              **kind_fields}
        as_sa(installed, "create", "-f", "-", input=json.dumps(ev))


def test_namespace_scoped_release_reads_only_its_namespace(k8s_cluster):
    c = k8s_cluster
    ns = "tollgate-scoped"
    c.ensure_namespace(APPS)
    c.helm("uninstall", "scoped", "-n", ns, "--ignore-not-found")
    c.helm("install", "scoped", str(REPO / "charts" / "tollgate"), "-n", ns, "--create-namespace",
           "--set", f"controller.watchNamespace={APPS}")
    try:
        kc = c.token_kubeconfig(c.create_token("scoped-tollgate", ns))
        c.kubectl("get", "apiproxies,environmentgroups,services,endpointslices,secrets,configmaps", "-n", APPS,
                  kubeconfig=kc)
        proc = c.kubectl("get", "apiproxies", "--all-namespaces", kubeconfig=kc, check=False)
        assert proc.returncode != 0 and "Forbidden" in proc.stderr
        assert 'cannot list resource "apiproxies" in API group "tollgate.dev" at the cluster scope' in proc.stderr
        proc = c.kubectl("get", "secrets", "-n", "rbac-other", kubeconfig=kc, check=False)
        assert proc.returncode != 0 and 'cannot list resource "secrets"' in proc.stderr
    finally:
        c.helm("uninstall", "scoped", "-n", ns, "--ignore-not-found")


def test_uninstall_keeps_the_crds(k8s_cluster):
    c = k8s_cluster
    c.helm("install", "short-lived", str(REPO / "charts" / "tollgate"), "-n", "tollgate-short",
           "--create-namespace")
    c.helm("uninstall", "short-lived", "-n", "tollgate-short")
    names = c.kubectl("get", "crds", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/apiproxies.tollgate.dev" in names
    assert c.kubectl("get", "clusterrole", "short-lived-tollgate-controller", check=False).returncode != 0
