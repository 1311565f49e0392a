"""docs/crd-reference.md is generated from crds/ (tests/k8s/gen-crd-reference.py) and must be current; every
values.yaml key of the chart is described in values.schema.json and mentioned in docs/install.md."""

from __future__ import annotations

import json
import subprocess

import yaml

from cluster import REPO


def test_crd_reference_is_up_to_date():
    proc = subprocess.run([str(REPO / "tests" / "k8s" / "gen-crd-reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def leaves(values, prefix=""):
    for k, v in values.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and not k.endswith(("Probe", "resources", "SecurityContext", "Context")):
            yield from leaves(v, path + ".")
        else:
            yield path


def test_every_value_is_in_the_schema_and_the_install_guide():
    chart = REPO / "charts" / "tollgate"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    schema = json.loads((chart / "values.schema.json").read_text())
    guide = (REPO / "docs" / "install.md").read_text()
    for path in leaves(values):
        node = schema
        for part in path.split("."):
            assert part in node.get("properties", {}), f"{path} missing from values.schema.json"
            node = node["properties"][part]
        assert node.get("description"), f"{path} has no description in values.schema.json"
        assert f"`{path}`" in guide, f"{path} is not documented in docs/install.md"
