"""The CRDs (crds/) as a real kube-apiserver enforces them: invalid ApiProxy/EnvironmentGroup objects are refused
with a message naming the field, valid ones are accepted with DESIGN.md's defaults filled in, `kubectl explain`
documents the fields, and the printer columns, short names and the `tollgate` category work."""

from __future__ import annotations

import copy
import json

import pytest

from cluster import CommandError

NS = "crd-tests"


def proxy(name="chat", **spec_overrides):
    spec = {
        "environments": ["prod"],
        "basePath": "/chat",
        "target": {"service": {"name": "chat-backend", "port": 8080}},
    }
    spec.update(spec_overrides)
    return {"apiVersion": "tollgate.dev/v1alpha1", "kind": "ApiProxy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def group(name="public", **spec_overrides):
    spec = {"hostnames": ["api.example.com", "*.ws.example.com"], "environments": ["prod", "test"]}
    spec.update(spec_overrides)
    return {"apiVersion": "tollgate.dev/v1alpha1", "kind": "EnvironmentGroup",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


# Every policy kind with every field DESIGN.md shows (placeholders made real).
ALL_POLICIES = [
    {"verifyApiKey": {"keyFrom": ["query:apikey", "header:x-api-key"],
                      "secretSelector": {"matchLabels": {"tollgate.dev/app": "chat-client"}}}},
    {"oauthV2": {"tokenFrom": ["header:authorization", "query:access_token"],
                 "jwt": {"issuer": "https://issuer.example.com/", "audiences": ["chat"],
                         "jwksSecretName": "chat-jwks", "algorithms": ["RS256", "ES256"]},
                 "introspection": {"url": "https://auth.example.com/introspect", "clientSecretName": "introspect",
                                   "recheckInterval": "30s"},
                 "requiredScopes": ["chat:connect"], "revocationConfigMapName": "revoked-tokens"}},
    {"quota": {"limit": 1000, "interval": "1m", "identifier": "apikey",
               "distributed": {"redisAddress": "redis:6379"}}},
    {"spikeArrest": {"rate": "20ps", "identifier": "client_ip"}},
    {"cors": {"allowOrigins": ["https://app.example.com"], "allowMethods": ["GET"],
              "allowHeaders": ["x-api-key"], "maxAge": 600}},
    {"accessControl": {"allow": ["10.0.0.0/8", "2001:db8::/32"], "deny": []}},
    {"assignMessage": {"setRequestHeaders": {"x-env": "prod"}, "removeRequestHeaders": ["x-api-key"]}},
]


def full_proxy(name="full"):
    return proxy(
        name,
        stripBasePath=True,
        maxRequestBodyBytes=1048576,
        encodedSlashes="keep",
        target={"service": {"name": "chat-backend", "port": 8080},
                "tls": {"enabled": False, "serverName": "", "caSecretName": ""},
                "connectTimeout": "5s", "timeout": "60s", "loadBalancing": "leastConnections"},
        websocket={"enabled": True, "idleTimeout": "300s", "maxLifetime": "0s", "maxMessageBytes": 0},
        policies=copy.deepcopy(ALL_POLICIES),
    )


@pytest.fixture(scope="module")
def ns(k8s_cluster):
    k8s_cluster.ensure_namespace(NS)
    yield k8s_cluster
    # Environments are cluster-wide: leave no ApiProxy behind for other suites' controllers to route.
    k8s_cluster.kubectl("delete", "apiproxy,environmentgroup", "--all", "-n", NS)


def create(cluster, obj):
    """kubectl create with the default (strict) field validation, as a user would."""
    return cluster.kubectl("create", "-f", "-", input=json.dumps(obj), check=False)


def set_path(obj, path, value):
    cur = obj
    for key in path[:-1]:
        cur = cur[key]
    if value is DELETE:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return obj


DELETE = object()

INVALID = [
    # (id, object factory, path to change, new value, substrings the error must contain)
    ("basePath-trailing-slash", proxy, ["spec", "basePath"], "/chat/", ["spec.basePath"]),
    ("basePath-relative", proxy, ["spec", "basePath"], "chat", ["spec.basePath"]),
    ("basePath-double-slash", proxy, ["spec", "basePath"], "/a//b", ["spec.basePath"]),
    ("basePath-dotdot", proxy, ["spec", "basePath"], "/a/../b",
     ["spec.basePath", 'must not contain "." or ".." segments']),
    ("basePath-dot", proxy, ["spec", "basePath"], "/./a", ["spec.basePath", '"." or ".."']),
    ("basePath-query", proxy, ["spec", "basePath"], "/a?b=1", ["spec.basePath"]),
    ("basePath-missing", proxy, ["spec", "basePath"], DELETE, ["spec.basePath", "Required"]),
    ("service-and-url", proxy, ["spec", "target", "url"], "http://10.0.0.5:9000/prefix",
     ["spec.target", "exactly one of target.service and target.url"]),
    ("neither-service-nor-url", proxy, ["spec", "target"], {"connectTimeout": "5s"},
     ["spec.target", "exactly one of target.service and target.url"]),
    ("url-with-userinfo", proxy, ["spec", "target"], {"url": "http://user:pw@10.0.0.5:9000/"},
     ["spec.target.url"]),
    ("url-scheme", proxy, ["spec", "target"], {"url": "ftp://10.0.0.5/"}, ["spec.target.url"]),
    ("service-port-zero", proxy, ["spec", "target", "service", "port"], 0, ["spec.target.service.port"]),
    ("service-name", proxy, ["spec", "target", "service", "name"], "Chat_Backend", ["spec.target.service.name"]),
    ("loadBalancing-enum", proxy, ["spec", "target", "loadBalancing"], "leastConn",
     ["spec.target.loadBalancing", "Unsupported value"]),
    ("encodedSlashes-enum", proxy, ["spec", "encodedSlashes"], "Decode",
     ["spec.encodedSlashes", "Unsupported value"]),
    ("duration", proxy, ["spec", "websocket"], {"idleTimeout": "5 minutes"}, ["spec.websocket.idleTimeout"]),
    ("maxMessageBytes-negative", proxy, ["spec", "websocket"], {"maxMessageBytes": -1},
     ["spec.websocket.maxMessageBytes"]),
    ("maxRequestBodyBytes-negative", proxy, ["spec", "maxRequestBodyBytes"], -1, ["spec.maxRequestBodyBytes"]),
    ("no-environments", proxy, ["spec", "environments"], [], ["spec.environments"]),
    ("environment-name", proxy, ["spec", "environments"], ["Prod_1"], ["spec.environments[0]"]),
    ("unknown-policy-kind", proxy, ["spec", "policies"], [{"rateLimit": {"rate": "10ps"}}],
     ["spec.policies[0].rateLimit", "unknown field"]),
    ("two-policy-kinds", proxy, ["spec", "policies"],
     [{"spikeArrest": {"rate": "10ps"}, "quota": {"limit": 5, "interval": "1m"}}],
     ["spec.policies[0]", "exactly one policy kind"]),
    ("empty-policy", proxy, ["spec", "policies"], [{}], ["spec.policies[0]", "exactly one policy kind"]),
    ("verifyApiKey-keyFrom", proxy, ["spec", "policies"],
     [{"verifyApiKey": {"keyFrom": ["cookie:k"], "secretSelector": {}}}],
     ["spec.policies[0].verifyApiKey.keyFrom[0]"]),
    ("verifyApiKey-no-selector", proxy, ["spec", "policies"], [{"verifyApiKey": {}}],
     ["spec.policies[0].verifyApiKey.secretSelector", "Required"]),
    ("oauth-no-verifier", proxy, ["spec", "policies"], [{"oauthV2": {"requiredScopes": ["a"]}}],
     ["spec.policies[0].oauthV2", "jwt, introspection or both"]),
    ("jwt-two-jwks", proxy, ["spec", "policies"],
     [{"oauthV2": {"jwt": {"issuer": "i", "jwksSecretName": "a", "jwksConfigMapName": "b"}}}],
     ["spec.policies[0].oauthV2.jwt", "exactly one of jwksSecretName"]),
    ("jwt-alg-none", proxy, ["spec", "policies"],
     [{"oauthV2": {"jwt": {"issuer": "i", "jwksSecretName": "a", "algorithms": ["none"]}}}],
     ["spec.policies[0].oauthV2.jwt.algorithms[0]", "Unsupported value"]),
    ("quota-zero-interval", proxy, ["spec", "policies"], [{"quota": {"limit": 5, "interval": "0s"}}],
     ["spec.policies[0].quota.interval", "longer than 0s"]),
    ("quota-limit-zero", proxy, ["spec", "policies"], [{"quota": {"limit": 0, "interval": "1m"}}],
     ["spec.policies[0].quota.limit"]),
    ("spikeArrest-rate", proxy, ["spec", "policies"], [{"spikeArrest": {"rate": "20/s"}}],
     ["spec.policies[0].spikeArrest.rate"]),
    ("cors-credentials-any-origin", proxy, ["spec", "policies"],
     [{"cors": {"allowOrigins": ["*"], "allowCredentials": True}}],
     ["spec.policies[0].cors", "allowCredentials cannot be used"]),
    ("accessControl-bad-cidr", proxy, ["spec", "policies"], [{"accessControl": {"allow": ["10.0.0.0/33"]}}],
     ["spec.policies[0].accessControl.allow", "CIDRs"]),
    ("accessControl-empty", proxy, ["spec", "policies"], [{"accessControl": {}}],
     ["spec.policies[0].accessControl", "at least one allow or deny"]),
    ("assignMessage-host", proxy, ["spec", "policies"], [{"assignMessage": {"setRequestHeaders": {"Host": "x"}}}],
     ["spec.policies[0].assignMessage.setRequestHeaders", "hop-by-hop"]),
    ("assignMessage-crlf", proxy, ["spec", "policies"],
     [{"assignMessage": {"setRequestHeaders": {"x-a": "1\r\nx-b: 2"}}}],
     ["spec.policies[0].assignMessage.setRequestHeaders"]),
    ("assignMessage-header-name", proxy, ["spec", "policies"],
     [{"assignMessage": {"setResponseHeaders": {"bad header": "1"}}}],
     ["spec.policies[0].assignMessage.setResponseHeaders", "header names"]),
    ("target-tls-insecure-and-ca", proxy, ["spec", "target", "tls"],
     {"enabled": True, "insecureSkipVerify": True, "caSecretName": "backend-ca"},
     ["spec.target.tls", "insecureSkipVerify cannot be set together with caSecretName"]),
    ("target-tls-client-secret-name", proxy, ["spec", "target", "tls"],
     {"enabled": True, "clientCertSecretName": "Not_A_Name"}, ["spec.target.tls.clientCertSecretName"]),
    ("target-tls-min-version-enum", proxy, ["spec", "target", "tls"], {"enabled": True, "minVersion": "1.1"},
     ["spec.target.tls.minVersion", "Unsupported value"]),
    ("target-tls-max-version-enum", proxy, ["spec", "target", "tls"], {"enabled": True, "maxVersion": "TLSv1.0"},
     ["spec.target.tls.maxVersion", "Unsupported value"]),
    ("target-tls-max-below-min", proxy, ["spec", "target", "tls"],
     {"enabled": True, "minVersion": "TLSv1.3", "maxVersion": "1.2"},
     ["spec.target.tls.maxVersion", "maxVersion cannot be below minVersion"]),
    ("target-tls-cipher-list-syntax", proxy, ["spec", "target", "tls"],
     {"enabled": True, "ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256:ALL"]}, ["spec.target.tls.ciphers[0]"]),
    ("target-tls-cipher-suite-name", proxy, ["spec", "target", "tls"],
     {"enabled": True, "cipherSuites": ["TLS AES 128"]}, ["spec.target.tls.cipherSuites[0]"]),
    ("target-tls-too-many-suites", proxy, ["spec", "target", "tls"],
     {"enabled": True, "cipherSuites": ["TLS_AES_128_GCM_SHA256"] * 9}, ["spec.target.tls.cipherSuites"]),
    ("hostname-double-dot", group, ["spec", "hostnames"], ["api..example.com"], ["spec.hostnames[0]"]),
    ("hostname-double-wildcard", group, ["spec", "hostnames"], ["*.*.example.com"], ["spec.hostnames[0]"]),
    ("hostname-port", group, ["spec", "hostnames"], ["api.example.com:443"], ["spec.hostnames[0]"]),
    ("hostname-inner-wildcard", group, ["spec", "hostnames"], ["api.*.example.com"], ["spec.hostnames[0]"]),
    ("hostnames-missing", group, ["spec", "hostnames"], DELETE, ["spec.hostnames", "Required"]),
    ("group-environment-name", group, ["spec", "environments"], ["prod", "Test"], ["spec.environments[1]"]),
    ("tls-hostname-not-in-group", group, ["spec", "tls"],
     [{"secretName": "api-tls", "hostnames": ["other.example.com"]}],
     ["spec.tls", "must be one of spec.hostnames"]),
    ("tls-no-secret", group, ["spec", "tls"], [{"hostnames": ["api.example.com"]}],
     ["spec.tls[0].secretName", "Required"]),
]


@pytest.mark.parametrize("factory,path,value,expected", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_object_is_refused_naming_the_field(ns, factory, path, value, expected):
    obj = set_path(factory("invalid"), path, value)
    proc = create(ns, obj)
    assert proc.returncode != 0, f"apiserver accepted an invalid object: {json.dumps(obj)}"
    for text in expected:
        assert text in proc.stderr, f"error does not mention {text!r}:\n{proc.stderr}"


def test_full_proxy_with_every_policy_is_accepted(ns):
    obj = full_proxy()
    ns.kubectl("delete", "apiproxy", "full", "-n", NS, "--ignore-not-found")
    ns.kubectl("create", "-f", "-", input=json.dumps(obj))
    got = ns.kubectl_json("get", "apiproxy", "full", "-n", NS)
    want = copy.deepcopy(ALL_POLICIES)
    want[2]["quota"]["distributed"]["failOpen"] = True  # defaults filled in by the apiserver
    want[4]["cors"]["allowCredentials"] = False
    assert got["spec"]["policies"] == want
    assert got["spec"]["target"]["loadBalancing"] == "leastConnections"
    assert got["spec"]["maxRequestBodyBytes"] == 1048576
    assert got["spec"]["encodedSlashes"] == "keep"


def test_defaults_of_design_md_are_filled_in(ns):
    obj = proxy("defaults", policies=[
        {"verifyApiKey": {"secretSelector": {"matchLabels": {"tollgate.dev/app": "a"}}}},
        {"oauthV2": {"jwt": {"issuer": "https://issuer.example.com/", "jwksConfigMapName": "jwks"},
                     "introspection": {"url": "http://127.0.0.1:9/introspect", "clientSecretName": "c"}}},
        {"quota": {"limit": 10, "interval": "1h", "distributed": {"redisAddress": "[::1]:6379"}}},
        {"cors": {"allowOrigins": ["*"]}},
    ])
    ns.kubectl("delete", "apiproxy", "defaults", "-n", NS, "--ignore-not-found")
    ns.kubectl("create", "-f", "-", input=json.dumps(obj))
    spec = ns.kubectl_json("get", "apiproxy", "defaults", "-n", NS)["spec"]
    assert spec["stripBasePath"] is True
    assert spec["maxRequestBodyBytes"] == 0
    assert "encodedSlashes" not in spec  # no default: unset leaves the data plane's --encoded-slashes in charge
    assert spec["target"]["connectTimeout"] == "5s"
    assert spec["target"]["timeout"] == "60s"
    assert spec["target"]["loadBalancing"] == "roundRobin"
    assert spec["websocket"] == {"enabled": True, "idleTimeout": "300s", "maxLifetime": "0s", "maxMessageBytes": 0}
    assert spec["policies"][0]["verifyApiKey"]["keyFrom"] == ["query:apikey", "header:x-api-key"]
    oauth = spec["policies"][1]["oauthV2"]
    assert oauth["tokenFrom"] == ["header:authorization", "query:access_token"]
    assert oauth["jwt"]["algorithms"] == ["RS256", "ES256"]
    assert oauth["introspection"]["recheckInterval"] == "30s"
    assert spec["policies"][2]["quota"]["distributed"]["failOpen"] is True
    assert spec["policies"][3]["cors"]["allowCredentials"] is False


@pytest.mark.parametrize("base_path", ["/", "/chat", "/v1/ws", "/a.b/c-d_e~f/:x@y", "/.well-known"])
def test_valid_base_paths_are_accepted(ns, base_path):
    obj = proxy("basepath", basePath=base_path)
    ns.apply(obj, dry_run=True)


def test_url_target_and_design_group_are_accepted(ns):
    ns.kubectl("delete", "apiproxy,environmentgroup", "--all", "-n", NS)
    ns.apply([
        proxy("url-target", target={"url": "http://10.0.0.5:9000/prefix", "tls": {"enabled": False}}),
        proxy("https-target", basePath="/secure",
              target={"url": "https://[2001:db8::1]:8443", "tls": {"serverName": "backend.example.com",
                                                                   "caSecretName": "backend-ca"}}),
        proxy("mtls-target", basePath="/mtls",
              target={"service": {"name": "payments", "port": 8443},
                      "tls": {"enabled": True, "caSecretName": "backend-ca", "clientCertSecretName": "gw-client"}}),
        proxy("insecure-target", basePath="/insecure",
              target={"url": "https://10.0.0.5", "tls": {"insecureSkipVerify": True}}),
        group(tls=[{"secretName": "api-example-tls", "hostnames": ["API.example.com"]},
                   {"secretName": "ws-tls"}]),
    ])
    names = ns.kubectl("get", "apiproxies", "-n", NS, "-o", "name").stdout.split()
    assert "apiproxy.tollgate.dev/url-target" in names


def test_target_tls_versions_ciphers_accepted(ns):
    """spec.target.tls.minVersion/maxVersion/ciphers/cipherSuites are accepted and kept as written (the controller
    spells versions "1.2"/"1.3" in the snapshot); equal versions pass the CEL rule; docs/tls.md's example of them
    passes validation; `kubectl explain` tells of ca.crl."""
    import re

    import yaml

    from cluster import REPO

    tls = {"enabled": True, "caSecretName": "backend-ca", "minVersion": "1.2", "maxVersion": "TLSv1.3",
           "ciphers": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"],
           "cipherSuites": ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]}
    ns.kubectl("delete", "apiproxy", "backend-options", "backend-tls13", "-n", NS, "--ignore-not-found")
    ns.apply([proxy("backend-options", basePath="/backend-options",
                    target={"service": {"name": "payments", "port": 8443}, "tls": tls}),
              proxy("backend-tls13", basePath="/backend-tls13",
                    target={"url": "https://10.0.0.5:8443", "tls": {"minVersion": "1.3", "maxVersion": "1.3"}})])
    got = ns.kubectl_json("get", "apiproxy", "backend-options", "-n", NS)["spec"]["target"]["tls"]
    assert got == tls | {"insecureSkipVerify": False}  # the CRD's default filled in, nothing else touched
    got = ns.kubectl_json("get", "apiproxy", "backend-tls13", "-n", NS)["spec"]["target"]["tls"]
    assert got["minVersion"] == got["maxVersion"] == "1.3"
    out = ns.kubectl("explain", "apiproxy.spec.target.tls.caSecretName").stdout
    assert "ca.crl" in out
    text = (REPO / "docs" / "tls.md").read_text().split("### Toward backends: versions, ciphers, CRL (ApiProxy)")[1]
    example = [d for d in yaml.safe_load_all(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))
               if d.get("kind") == "ApiProxy"]
    assert len(example) == 1 and example[0]["spec"]["target"]["tls"]["minVersion"] == "1.3"
    example[0]["metadata"]["namespace"] = NS
    ns.apply(example[0], dry_run=True)


def test_status_subresource_validates_conditions(ns):
    ns.kubectl("delete", "apiproxy", "status-check", "-n", NS, "--ignore-not-found")
    ns.apply(proxy("status-check"))
    bad = {"status": {"conditions": [{"type": "Programmed", "status": "Yes", "reason": "Applied",
                                      "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    proc = ns.kubectl("patch", "apiproxy", "status-check", "-n", NS, "--subresource=status", "--type=merge",
                      "-p", json.dumps(bad), check=False)
    assert proc.returncode != 0
    assert "status.conditions[0].status" in proc.stderr
    # The spec cannot be changed through the status subresource, nor the status through the main resource.
    ns.kubectl("patch", "apiproxy", "status-check", "-n", NS, "--type=merge", "-p",
               json.dumps({"status": {"endpoints": 7}}))
    got = ns.kubectl_json("get", "apiproxy", "status-check", "-n", NS)
    assert "status" not in got or "endpoints" not in got.get("status", {})


def test_kubectl_explain_documents_policies(ns):
    out = ns.kubectl("explain", "apiproxy.spec.policies").stdout
    assert "Policies run in this order" in out
    for kind in ("verifyApiKey", "oauthV2", "quota", "spikeArrest", "cors", "accessControl", "assignMessage"):
        assert kind in out
    out = ns.kubectl("explain", "apiproxy.spec.policies.verifyApiKey.keyFrom").stdout
    assert "query:NAME" in out
    out = ns.kubectl("explain", "eg.spec.hostnames").stdout
    assert "wildcard" in out
    recursive = ns.kubectl("explain", "apiproxy", "--recursive").stdout
    assert "maxRequestBodyBytes" in recursive and "revocationConfigMapName" in recursive


def _status(hosts, programmed, endpoints):
    return {"status": {
        "hostnames": hosts, "endpoints": endpoints,
        "conditions": [{"type": "Programmed", "status": programmed, "reason": "Applied", "message": "ok",
                        "observedGeneration": 1, "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_printer_columns_short_names_and_category(ns):
    ns.kubectl("delete", "apiproxy,environmentgroup", "--all", "-n", NS)
    ns.apply([group(), proxy("chat")])
    ns.kubectl("patch", "apiproxy", "chat", "-n", NS, "--subresource=status", "--type=merge",
               "-p", json.dumps(_status(["api.example.com"], "True", 3)))
    ns.kubectl("patch", "environmentgroup", "public", "-n", NS, "--subresource=status", "--type=merge",
               "-p", json.dumps({"status": _status([], "True", 0)["status"] | {"hostnames": None,
                                                                                "endpoints": None}}))
    out = ns.kubectl("get", "apiproxies", "-n", NS).stdout.splitlines()
    header = out[0].split()
    assert header == ["NAME", "HOSTS", "BASE", "PATH", "ENVIRONMENTS", "PROGRAMMED", "AGE"], out[0]
    row = out[1].split()
    assert row[:5] == ["chat", '["api.example.com"]', "/chat", '["prod"]', "True"], out[1]
    wide = ns.kubectl("get", "ap", "chat", "-n", NS, "-o", "wide").stdout.splitlines()
    assert "ENDPOINTS" in wide[0] and " 3 " in f" {wide[1]} "
    out = ns.kubectl("get", "eg", "-n", NS).stdout.splitlines()
    assert out[0].split() == ["NAME", "HOSTNAMES", "ENVIRONMENTS", "PROGRAMMED", "AGE"]
    assert out[1].split()[:4] == ["public", '["api.example.com","*.ws.example.com"]', '["prod","test"]', "True"]
    both = ns.kubectl("get", "tollgate", "-n", NS, "-o", "name").stdout.split()
    assert "apiproxy.tollgate.dev/chat" in both and "environmentgroup.tollgate.dev/public" in both
    assert ns.kubectl("get", "envgroup", "public", "-n", NS, "-o", "name").stdout.strip() == \
        "environmentgroup.tollgate.dev/public"


def test_examples_in_docs_are_valid(ns):
    """The manifests in docs/crd-reference.md (yaml blocks with kind ApiProxy/EnvironmentGroup) pass validation."""
    import re

    import yaml

    from cluster import REPO

    text = (REPO / "docs" / "crd-reference.md").read_text()
    docs = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        for d in yaml.safe_load_all(block):
            if isinstance(d, dict) and d.get("apiVersion") == "tollgate.dev/v1alpha1":
                d.setdefault("metadata", {})["namespace"] = NS
                docs.append(d)
    assert docs, "no tollgate.dev manifests found in docs/crd-reference.md"
    try:
        ns.apply(docs, dry_run=True)
    except CommandError as e:
        pytest.fail(f"a manifest of docs/crd-reference.md is invalid:\n{e.stderr}")
