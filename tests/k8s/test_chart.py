"""The Helm chart (charts/tollgate): helm lint is clean, values.schema.json refuses bad values, the rendered
objects have the shape the issue asks for (two containers sharing the control socket, LoadBalancer 80/443,
hardened security contexts, least-privilege RBAC), and the real apiserver accepts every rendered object in a
server-side dry run."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from cluster import REPO, _run

CHART = REPO / "charts" / "tollgate"

# Alternative value sets rendered and dry-run besides the defaults.
VALUE_SETS = {
    "defaults": [],
    "scoped-autoscaled": ["--set", "controller.watchNamespace=chart-apps", "--set", "autoscaling.enabled=true",
                          "--set", "metricsService.enabled=true", "--set", "service.type=ClusterIP",
                          "--set", "dataplane.tls=false", "--set", "dataplane.workers=2",
                          "--set", "dataplane.encodedSlashes=decode", "--set", "dataplane.maxBufferMemory=64m",
                          "--set", "imageRegistry=registry.example.com/", "--set", "podDisruptionBudget.enabled=false",
                          "--set", "controller.tls.defaultCertificateSecret=default/default-tls",
                          "--set", "controller.tls.defaultOptions.minVersion=1.3"],
    "nodeport-existing-sa": ["--set", "service.type=NodePort", "--set", "service.externalTrafficPolicy=Local",
                             "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=default",
                             "--set", "controller.leaderElect=false", "--set", "serviceMonitor.enabled=true",
                             "--set-json", 'dataplane.extraArgs=["--analytics-log=/tmp/a.jsonl"]'],
}


def helm(tools, *args, check=True):
    return _run([str(tools / "helm"), *args], check=check)


def render(tools, *values, namespace="tollgate-system", release="tollgate"):
    out = helm(tools, "template", release, str(CHART), "--namespace", namespace, *values).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(objs, kind):
    return [o for o in objs if o["kind"] == kind]


def test_helm_lint_is_clean(k8s_tools):
    for name, values in VALUE_SETS.items():
        proc = helm(k8s_tools, "lint", str(CHART), "--strict", *values, check=False)
        assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
        assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout, f"{name}: {proc.stdout}"


@pytest.mark.parametrize("values,expected", [
    (["--set", "service.typo=1"], "additional properties 'typo' not allowed"),
    (["--set", "service.type=External"], "service/type"),
    (["--set", "dataplane.adminPort=70000"], "dataplane/adminPort"),
    (["--set", "controller.watchNamespace=Bad_NS"], "controller/watchNamespace"),
    (["--set", "dataplane.logLevel=loud"], "dataplane/logLevel"),
    (["--set", "dataplane.encodedSlashes=maybe"], "dataplane/encodedSlashes"),
    (["--set", "dataplane.maxBufferMemory=12x"], "dataplane/maxBufferMemory"),
    (["--set", "dataplane.tlsTicketRotation=1 hour"], "dataplane/tlsTicketRotation"),
    (["--set", "controller.tls.defaultCertificateSecret=no-namespace"], "controller/tls/defaultCertificateSecret"),
    (["--set", "controller.tls.defaultOptions.minVersion=1.1"], "controller/tls/defaultOptions/minVersion"),
    (["--set", "controller.tls.defaultOptions.ciphers={RC4:ALL}"], "controller/tls/defaultOptions/ciphers"),
])
def test_values_schema_refuses_bad_values(k8s_tools, values, expected):
    proc = helm(k8s_tools, "template", "t", str(CHART), *values, check=False)
    assert proc.returncode != 0
    assert expected in proc.stderr, proc.stderr


def test_crds_in_chart_are_identical_to_top_level():
    proc = subprocess.run([str(REPO / "tests" / "k8s" / "check-crds-in-sync.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert top == sorted(p.name for p in (CHART / "crds").glob("*.yaml")) and len(top) == 2


def test_default_render_shape(k8s_tools):
    objs = render(k8s_tools)
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                            "Service", "Deployment", "PodDisruptionBudget"])

    (dep,) = by_kind(objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "tollgate"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"dataplane", "controller"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["control"]
    for c in containers.values():
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert {"name": "control", "mountPath": "/run/tollgate"} in c["volumeMounts"]
        assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"

    dp, ctl = containers["dataplane"], containers["controller"]
    assert dp["image"] == "tollgate/tollgate-dataplane:0.1.0"
    assert ctl["image"] == "tollgate/tollgate-controller:0.1.0"
    assert "--admin=127.0.0.1:9901" in dp["args"]  # the privileged admin API stays on loopback by default
    assert "--probe-listen=0.0.0.0:9903" in dp["args"]
    assert "--listen=0.0.0.0:8080" in dp["args"]
    assert "--tls-listen=0.0.0.0:8443" in dp["args"]  # the TLS listener is on by default
    assert "--control-socket=/run/tollgate/control.sock" in dp["args"]
    assert "--dataplane-socket=/run/tollgate/control.sock" in ctl["args"]
    assert "--source=kube" in ctl["args"] and "--leader-elect" in ctl["args"]
    assert "--lease-name=tollgate" in ctl["args"] and "--lease-namespace=tollgate-system" in ctl["args"]
    assert "--health=0.0.0.0:9902" in ctl["args"]
    assert dp["livenessProbe"]["httpGet"]["port"] == "probe"
    assert {"name": "probe", "containerPort": 9903, "protocol": "TCP"} in dp["ports"]
    assert not any(p["name"] == "admin" for p in dp["ports"])
    assert ctl["readinessProbe"]["httpGet"]["port"] == "health"
    # Only the controller sees a service-account token.
    assert not any("serviceaccount" in m["mountPath"] for m in dp["volumeMounts"])
    assert any(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" for m in ctl["volumeMounts"])

    (svc,) = by_kind(objs, "Service")
    assert svc["spec"]["type"] == "LoadBalancer"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
    assert ports == {"http": (80, "http"), "https": (443, "https")}  # dataplane.tls is on by default
    named = {p["name"]: p["containerPort"] for p in dp["ports"]}
    assert named["http"] == 8080 and named["https"] == 8443


def test_tls_ticket_keys_secret_is_mounted_for_the_data_plane(k8s_tools):
    (dep,) = by_kind(render(k8s_tools, "--set", "dataplane.tlsTicketKeysSecret=ticket-keys"), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    dp = {c["name"]: c for c in pod["containers"]}["dataplane"]
    assert "--tls-ticket-keys-file=/etc/tollgate/tls-ticket-keys/tls.ticket-keys" in dp["args"]
    assert {"name": "tls-ticket-keys", "mountPath": "/etc/tollgate/tls-ticket-keys", "readOnly": True} in \
        dp["volumeMounts"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["tls-ticket-keys"]["secret"]["secretName"] == "ticket-keys"
    assert not any(a.startswith("--tls-ticket-rotation") for a in dp["args"])  # the file's keys rotate themselves
    # off by default (per-pod keys rotated every dataplane.tlsTicketRotation), and off without the TLS listener
    for values, rotation in (((), "1h"), (("--set", "dataplane.tlsTicketRotation=30m"), "30m"),
                             (("--set", "dataplane.tls=false", "--set", "dataplane.tlsTicketKeysSecret=ticket-keys"),
                              None)):
        (dep,) = by_kind(render(k8s_tools, *values), "Deployment")
        dp = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}["dataplane"]
        assert [a for a in dp["args"] if "ticket" in a] == ([f"--tls-ticket-rotation={rotation}"] if rotation else [])
        assert not any(v["name"] == "tls-ticket-keys" for v in dep["spec"]["template"]["spec"]["volumes"])


def test_controller_tls_values_become_flags_and_a_role_for_the_secret(k8s_tools):
    objs = render(k8s_tools, "--set", "controller.tls.defaultCertificateSecret=certs/wildcard-tls",
                  "--set", "controller.tls.defaultOptions.minVersion=1.3",
                  "--set", "controller.tls.defaultOptions.maxVersion=1.3",
                  "--set-json", 'controller.tls.defaultOptions.ciphers=["ECDHE-ECDSA-AES128-GCM-SHA256",'
                                '"ECDHE-RSA-AES128-GCM-SHA256"]',
                  "--set-json", 'controller.tls.defaultOptions.cipherSuites=["TLS_AES_128_GCM_SHA256"]')
    (dep,) = by_kind(objs, "Deployment")
    ctl = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}["controller"]
    assert [a for a in ctl["args"] if a.startswith("--tls-default")] == [
        "--tls-default-certificate=certs/wildcard-tls", "--tls-default-min-version=1.3",
        "--tls-default-max-version=1.3",
        "--tls-default-ciphers=ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        "--tls-default-cipher-suites=TLS_AES_128_GCM_SHA256"]
    # every namespace watched: the ClusterRole reads the Secret already, no extra Role
    assert [r["metadata"]["name"] for r in by_kind(objs, "Role")] == ["tollgate-leader-election"]
    # one namespace watched, the Secret elsewhere: a Role for that one Secret, in its namespace
    objs = render(k8s_tools, "--set", "controller.watchNamespace=apps",
                  "--set", "controller.tls.defaultCertificateSecret=certs/wildcard-tls")
    roles = {r["metadata"]["name"]: r for r in by_kind(objs, "Role")}
    role = roles["tollgate-default-certificate"]
    assert role["metadata"]["namespace"] == "certs"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["wildcard-tls"],
                              "verbs": ["get", "list", "watch"]}]
    binding = {b["metadata"]["name"]: b for b in by_kind(objs, "RoleBinding")}["tollgate-default-certificate"]
    assert binding["metadata"]["namespace"] == "certs" and binding["roleRef"]["name"] == "tollgate-default-certificate"
    # ... and none when it is in the watched namespace; no flags by default
    objs = render(k8s_tools, "--set", "controller.watchNamespace=apps",
                  "--set", "controller.tls.defaultCertificateSecret=apps/wildcard-tls")
    assert "tollgate-default-certificate" not in {r["metadata"]["name"] for r in by_kind(objs, "Role")}
    (dep,) = by_kind(render(k8s_tools), "Deployment")
    ctl = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}["controller"]
    assert not any(a.startswith("--tls-default") for a in ctl["args"])


def test_rbac_is_least_privilege(k8s_tools):
    objs = render(k8s_tools)
    (cr,) = by_kind(objs, "ClusterRole")
    read = {"get", "list", "watch"}
    for rule in cr["rules"]:
        verbs = set(rule["verbs"])
        for res in rule["resources"]:
            if res.endswith("/status"):
                assert verbs <= {"get", "update", "patch"}, rule
            elif res == "events":
                assert verbs <= {"create", "patch"}, rule
            else:
                assert verbs <= read, rule
        assert "*" not in rule["resources"] and "*" not in rule["apiGroups"] and "*" not in verbs
    granted = {(g, r) for rule in cr["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == {("tollgate.dev", "environmentgroups"), ("tollgate.dev", "apiproxies"),
                       ("tollgate.dev", "environmentgroups/status"), ("tollgate.dev", "apiproxies/status"),
                       ("", "services"), ("", "secrets"), ("", "configmaps"),
                       ("discovery.k8s.io", "endpointslices"), ("", "events"), ("events.k8s.io", "events")}
    (role,) = by_kind(objs, "Role")
    assert role["metadata"]["namespace"] == "tollgate-system"
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["tollgate"],
         "verbs": ["get", "update", "patch"]}]

    scoped = render(k8s_tools, *VALUE_SETS["scoped-autoscaled"])
    assert not by_kind(scoped, "ClusterRole") and not by_kind(scoped, "ClusterRoleBinding")
    roles = {r["metadata"]["name"]: r for r in by_kind(scoped, "Role")}
    assert roles["tollgate-controller"]["metadata"]["namespace"] == "chart-apps"
    (dep,) = by_kind(scoped, "Deployment")
    assert "replicas" not in dep["spec"]
    ctl = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "controller"][0]
    assert "--namespace=chart-apps" in ctl["args"]
    assert ctl["image"] == "registry.example.com/tollgate/tollgate-controller:0.1.0"


def test_image_names_and_tags_come_from_values(k8s_tools):
    objs = render(k8s_tools, "--set", "dataplane.image.repository=acme/dp", "--set", "dataplane.image.tag=1.2.3",
                  "--set", "controller.image.tag=4.5.6", "--set", "controller.image.pullPolicy=Always")
    (dep,) = by_kind(objs, "Deployment")
    c = {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}
    assert c["dataplane"]["image"] == "acme/dp:1.2.3"
    assert c["controller"]["image"] == "tollgate/tollgate-controller:4.5.6"
    assert c["controller"]["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("name", list(VALUE_SETS))
def test_rendered_objects_pass_server_side_dry_run(k8s_cluster, name):
    values = VALUE_SETS[name]
    namespace = f"chart-{name}"
    k8s_cluster.ensure_namespace(namespace)
    k8s_cluster.ensure_namespace("chart-apps")
    objs = render(k8s_cluster.bin, *values, "--include-crds", namespace=namespace)
    assert len(by_kind(objs, "CustomResourceDefinition")) == 2
    served = [o for o in objs if o["apiVersion"] != "monitoring.coreos.com/v1"]
    # ServiceMonitor needs the Prometheus Operator's CRDs, which the test bed does not have: it is checked for
    # shape here instead of by the apiserver.
    for sm in (o for o in objs if o["kind"] == "ServiceMonitor"):
        assert sm["spec"]["endpoints"][0]["port"] == "probe" and sm["spec"]["endpoints"][1]["port"] == "health"
    if name == "nodeport-existing-sa":
        assert any(o["kind"] == "ServiceMonitor" for o in objs)
    # One object at a time, so a refusal names the object.
    for obj in served:
        proc = k8s_cluster.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager", "dry-run",
                                   "-f", "-", input=json.dumps(obj), check=False)
        assert proc.returncode == 0, f"{obj['kind']}/{obj['metadata']['name']} refused:\n{proc.stderr}"


def test_kernel_relay_value_adds_the_flag_and_only_then_its_capabilities(k8s_tools):
    def dataplane(*values):
        (dep,) = by_kind(render(k8s_tools, *values), "Deployment")
        return {c["name"]: c for c in dep["spec"]["template"]["spec"]["containers"]}

    off = dataplane()
    assert "--kernel-relay" not in off["dataplane"]["args"]
    assert off["dataplane"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    on = dataplane("--set", "dataplane.kernelRelay.enabled=true")
    dp = on["dataplane"]
    assert "--kernel-relay" in dp["args"]
    sc = dp["securityContext"]
    # exactly CAP_BPF + CAP_NET_ADMIN, as uid 0 (Kubernetes only makes added capabilities effective for uid 0)
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "NET_ADMIN"]}
    assert sc["runAsUser"] == 0 and sc["runAsNonRoot"] is False
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc.get("privileged") is not True
    # the controller container is not touched
    assert on["controller"]["securityContext"] == off["controller"]["securityContext"]
    assert on["controller"]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
