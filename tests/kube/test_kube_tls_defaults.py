"""The controller's cluster-wide TLS defaults (chart controller.tls; --tls-default-certificate, --tls-default-*)
through --source kube against the real kube-apiserver and the real data plane's TLS listener: the controller watches
one namespace (--namespace) while the default certificate's Secret lives in another, which it reads with an
informer for that one Secret; an unknown SNI gets that certificate, a group without its own tlsOptions refuses
TLS 1.2 under a default minVersion of 1.3, and replacing the Secret rotates the default certificate. And the chart's
RBAC for it: a release watching one namespace, with controller.tls.defaultCertificateSecret in another, lets the
controller running as its ServiceAccount (a TokenRequest token) read that one Secret and no other there."""

from __future__ import annotations

from kube_bed import REPO, group, make_cert, proxy, served_cn, tls_secret, wait_until

T = 15
HOST = "site.defaults.kube.test"
DEFAULT = "default.defaults.kube.test"


def served(dp, sni: str, version: str = "-tls1_3") -> str | None:
    return served_cn(dp.tls_port, sni, version)


def test_default_certificate_from_another_namespace_and_default_versions(bed, ns, dataplane, controller, tmp_path):
    certs_ns = f"{ns[:50]}-certs"
    bed.ensure_namespace(certs_ns)
    dp = dataplane(tls=True)
    site_crt, site_key = make_cert(tmp_path, HOST)
    def_crt, def_key = make_cert(tmp_path, DEFAULT)
    bed.apply([tls_secret(certs_ns, "default-tls", def_crt, def_key),
               tls_secret(ns, "site-tls", site_crt, site_key),
               group(ns, "site", [HOST], ["prod"], tls=[{"secretName": "site-tls"}]),
               proxy(ns, "app", "/", url="http://127.0.0.1:9")])
    controller(ns, dp, extra=["--tls-default-certificate", f"{certs_ns}/default-tls",
                              "--tls-default-min-version", "1.3"])
    wait_until(lambda: served(dp, HOST) == HOST, T, what="the group's certificate")
    wait_until(lambda: served(dp, "unknown.defaults.kube.test") == DEFAULT, T, what="the default certificate")
    assert served(dp, HOST, "-tls1_2") is None  # the default minVersion 1.3 applies to the group
    assert served(dp, "unknown.defaults.kube.test", "-tls1_2") is None

    # the Secret outside --namespace is watched: an update rotates the default certificate
    new_crt, new_key = make_cert(tmp_path, DEFAULT.replace("default.", "default2."))
    bed.apply(tls_secret(certs_ns, "default-tls", new_crt, new_key))
    wait_until(lambda: served(dp, "unknown.defaults.kube.test") == DEFAULT.replace("default.", "default2."), T,
               what="the rotated default certificate")
    assert served(dp, HOST) == HOST


def test_scoped_chart_release_reads_the_default_certificate_secret(bed, ns, dataplane, controller, tmp_path):
    certs_ns, rel_ns, release = f"{ns[:50]}-certs", f"{ns[:50]}-rel", "tlsdef"
    bed.ensure_namespace(certs_ns)
    def_crt, def_key = make_cert(tmp_path, DEFAULT)
    bed.apply([tls_secret(certs_ns, "default-tls", def_crt, def_key),
               tls_secret(certs_ns, "other-tls", def_crt, def_key),
               group(ns, "site", [HOST], ["prod"]), proxy(ns, "app", "/", url="http://127.0.0.1:9")])
    bed.helm("install", release, str(REPO / "charts" / "tollgate"), "-n", rel_ns, "--create-namespace",
             "--set", f"controller.watchNamespace={ns}", "--set", "controller.leaderElect=false",
             "--set", f"controller.tls.defaultCertificateSecret={certs_ns}/default-tls")
    try:
        kc = bed.token_kubeconfig(bed.create_token(f"{release}-tollgate", rel_ns))
        # that one Secret, by name (what the controller's informer asks: fieldSelector metadata.name), and no other
        bed.kubectl("get", "secret", "default-tls", "-n", certs_ns, kubeconfig=kc)
        bed.kubectl("get", "secrets", "-n", certs_ns, "--field-selector", "metadata.name=default-tls", kubeconfig=kc)
        denied = bed.kubectl("get", "secret", "other-tls", "-n", certs_ns, kubeconfig=kc, check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr
        denied = bed.kubectl("get", "secrets", "-n", certs_ns, kubeconfig=kc, check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr
        # the controller itself, as the ServiceAccount: the group without spec.tls is answered with the default
        dp = dataplane(tls=True)
        controller(ns, dp, kubeconfig=kc, extra=["--tls-default-certificate", f"{certs_ns}/default-tls"])
        wait_until(lambda: served(dp, HOST) == DEFAULT, T, what="the default certificate read as the ServiceAccount")
    finally:
        bed.helm("uninstall", release, "-n", rel_ns, "--ignore-not-found")
