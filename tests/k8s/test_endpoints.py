"""Publishing local processes as Service targets, the way the end-to-end tests will: the apiserver refuses
EndpointSlices that point at loopback addresses, so a backend listens on a non-loopback address inside a private
network namespace (EndpointNetns) and is published with a selector-less Service + EndpointSlice."""

from __future__ import annotations

import subprocess

import pytest

from cluster import EndpointNetns

NS = "endpoint-tests"

ECHO = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(); print("ready", flush=True)
c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
"""

CLIENT = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); c.sendall(b"ping"); print(c.recv(100).decode())
"""


def test_loopback_endpoints_are_refused(k8s_cluster):
    k8s_cluster.ensure_namespace(NS)
    proc = k8s_cluster.apply({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "loop", "namespace": NS, "labels": {"kubernetes.io/service-name": "loop"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["127.0.0.1"]}], "ports": [{"port": 8080}]},
        check=False)
    assert proc.returncode != 0 and "loopback" in proc.stderr


def test_backend_in_netns_published_through_endpointslice(k8s_cluster):
    reason = EndpointNetns.available()
    if reason:
        pytest.skip(reason)
    k8s_cluster.ensure_namespace(NS)
    with EndpointNetns(["10.244.0.10"]) as netns:
        backend = subprocess.Popen(netns.cmd(["python3", "-c", ECHO, "10.244.0.10", "18080"]),
                                   stdout=subprocess.PIPE, text=True)
        try:
            assert backend.stdout.readline().strip() == "ready"
            k8s_cluster.publish_backend("echo", NS, "10.244.0.10", 18080, service_port=80)
            slices = k8s_cluster.kubectl_json("get", "endpointslices", "-n", NS,
                                              "-l", "kubernetes.io/service-name=echo")["items"]
            (ep,) = slices
            address = ep["endpoints"][0]["addresses"][0]
            port = ep["ports"][0]["port"]
            svc = k8s_cluster.kubectl_json("get", "service", "echo", "-n", NS)
            assert svc["spec"]["ports"][0]["port"] == 80
            out = subprocess.run(netns.cmd(["python3", "-c", CLIENT, address, str(port)]), capture_output=True,
                                 text=True, timeout=10)
            assert out.stdout.strip() == "ping", out.stderr
        finally:
            backend.kill()
            backend.wait()
