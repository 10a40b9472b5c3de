"""CRDs behave as the operator needs: structural schema, CEL rules, status subresource, explain.

The Holon CRDs (crds/) rely on each of these; this proves the API server was started with
what they need (CEL validation in admission, OpenAPI v3 publishing for `kubectl explain`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e

CEL_MESSAGE = "minReplicas must not exceed maxReplicas"


def crd(group: str) -> dict[str, Any]:
    spec_schema = {
        "type": "object",
        "description": "Desired scaling bounds of the widget.",
        "required": ["minReplicas", "maxReplicas"],
        "x-kubernetes-validations": [
            {"rule": "self.minReplicas <= self.maxReplicas", "message": CEL_MESSAGE}
        ],
        "properties": {
            "minReplicas": {
                "type": "integer",
                "minimum": 0,
                "description": "Fewest replicas the widget keeps running.",
            },
            "maxReplicas": {
                "type": "integer",
                "description": "Most replicas the widget may scale to.",
            },
        },
    }
    status_schema = {
        "type": "object",
        "description": "Observed state, written only through the status subresource.",
        "properties": {"phase": {"type": "string", "description": "Lifecycle phase."}},
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1alpha1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "A widget proves CRD features of the e2e cluster.",
                            "properties": {"spec": spec_schema, "status": status_schema},
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def widget_group(cluster: Cluster) -> Iterator[str]:
    """A CRD in a group unique to this test, removed afterwards."""
    group = f"w{uuid.uuid4().hex[:8]}.e2e.holon.dev"
    cluster.apply(crd(group))
    cluster.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=60s")
    yield group
    cluster.kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)


def widget(group: str, name: str, lo: int, hi: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{group}/v1alpha1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"minReplicas": lo, "maxReplicas": hi},
    }


def test_valid_object_is_accepted_and_status_is_a_subresource(
    cluster: Cluster, namespace: str, widget_group: str
) -> None:
    res = f"widgets.{widget_group}"
    cluster.apply(widget(widget_group, "ok", 1, 3), namespace=namespace)
    cluster.kubectl(
        "patch", res, "ok", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"phase": "Ready"}}',
    )  # fmt: skip
    # a write to the main resource cannot change status...
    cluster.kubectl(
        "patch", res, "ok", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"maxReplicas": 4}, "status": {"phase": "Hacked"}}',
    )  # fmt: skip
    obj = cluster.get(res, "ok", namespace)
    assert obj["spec"]["maxReplicas"] == 4
    assert obj["status"]["phase"] == "Ready"
    # ...and a status write does not bump the generation
    assert obj["metadata"]["generation"] == 2


def test_invalid_object_is_rejected_with_the_cel_message(
    cluster: Cluster, namespace: str, widget_group: str
) -> None:
    doc = json.dumps(widget(widget_group, "bad", 5, 2))
    res = cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=doc, check=False)
    assert res.returncode != 0
    assert CEL_MESSAGE in res.stderr
    gone = cluster.kubectl("get", f"widgets.{widget_group}", "bad", "-n", namespace, check=False)
    assert "NotFound" in gone.stderr


def test_kubectl_explain_shows_field_descriptions(cluster: Cluster, widget_group: str) -> None:
    def explained() -> bool:
        out = cluster.kubectl(
            "explain", "widgets.spec", "--api-version",
            f"{widget_group}/v1alpha1", check=False,
        )  # fmt: skip
        return out.returncode == 0 and "Fewest replicas the widget keeps running." in out.stdout

    # the OpenAPI v3 document for a new CRD is published shortly after it is Established
    cluster.eventually("kubectl explain shows the CRD's descriptions", explained, 60)
    out = cluster.kubectl(
        "explain", "widgets.spec.maxReplicas",
        "--api-version", f"{widget_group}/v1alpha1",
    ).stdout  # fmt: skip
    assert "Most replicas the widget may scale to." in out
