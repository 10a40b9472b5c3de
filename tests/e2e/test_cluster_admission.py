"""CEL admission works: a ValidatingAdmissionPolicy denies with its own message.

The operator's chart may ship policies like this one; the API server must evaluate them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from e2e_cluster import Cluster

pytestmark = pytest.mark.e2e

MESSAGE = "configmaps here may not carry a key named forbidden"


@pytest.fixture
def policy(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A policy bound (Deny) to this test's namespace only, via a namespace label."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("label", "namespace", namespace, f"holon-e2e/policy={name}")
    cluster.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["configmaps"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(object.data) || !('forbidden' in object.data)",
                        "message": MESSAGE,
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"holon-e2e/policy": name}}
                },
            },
        },
    )
    yield name
    cluster.kubectl("delete", "validatingadmissionpolicybinding", name, check=False)
    cluster.kubectl("delete", "validatingadmissionpolicy", name, check=False)


def configmap(name: str, data: dict[str, str]) -> str:
    return json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    )


def test_policy_denies_with_its_message_and_admits_the_rest(
    cluster: Cluster, namespace: str, policy: str
) -> None:
    attempts: list[str] = []

    def denied() -> bool:
        name = f"bad-{len(attempts)}"
        res = cluster.kubectl(
            "create", "-n", namespace, "-f", "-",
            stdin=configmap(name, {"forbidden": "x"}), check=False,
        )  # fmt: skip
        attempts.append(res.stderr)
        if res.returncode == 0:  # the policy is not yet active: clean up and retry
            cluster.kubectl("delete", "cm", name, "-n", namespace)
        return res.returncode != 0

    # a new policy takes effect once the API server has type-checked and cached it
    cluster.eventually("the policy denies a forbidden key", denied, 60)
    assert MESSAGE in attempts[-1]
    assert f"ValidatingAdmissionPolicy '{policy}'" in attempts[-1]

    ok = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", stdin=configmap("good", {"allowed": "y"})
    )
    assert "configmap/good created" in ok.stdout
