"""Invalid MESModules are rejected at admission, each with the field and the rule named.

No operator needed: the API server enforces the CRD's OpenAPI constraints and CEL rules.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e_cluster import Cluster
from operator_support import HolonInstall, holon, module  # noqa: F401

pytestmark = pytest.mark.e2e

PG = {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}}

INVALID: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("version-not-semver", {"version": "1.2"}, ("spec.version", "should match")),
    ("unknown-module", {"module": "erp"}, ("spec.module", "Unsupported value")),
    ("zero-replicas", {"replicas": 0}, ("spec.replicas", "greater than or equal to 1")),
    (
        "too-many-replicas",
        {"replicas": 11, "database": PG},
        ("spec.replicas", "less than or equal to 10"),
    ),
    (
        "image-with-tag",
        {"image": "ghcr.io/holon/mes-runtime:latest"},
        ("spec.image", "must not carry a tag or digest"),
    ),
    (
        "postgres-without-secret",
        {"database": {"engine": "postgresql"}},
        ("spec.database.credentialsSecretRef", "required when engine is postgresql"),
    ),
    (
        "sqlite-with-credentials",
        {"database": {"engine": "sqlite", "credentialsSecretRef": {"name": "db"}}},
        ("spec.database.credentialsSecretRef", "must not be set when engine is sqlite"),
    ),
    (
        "orchestrated-without-backup-store",
        {"database": PG, "upgradeStrategy": {"orchestrated": True}},
        ("spec.backup", "spec.backup.storeSecret is required when spec.upgradeStrategy"),
    ),
    (
        "orchestrated-on-sqlite",
        {"upgradeStrategy": {"orchestrated": True}},
        ("spec.upgradeStrategy.orchestrated", "needs spec.database.engine postgresql"),
    ),
    (
        "sqlite-with-two-replicas",
        {"replicas": 2},
        ("spec.replicas", "must be 1 when spec.database.engine is sqlite"),
    ),
    (
        "observe-window-too-long",
        {"upgradeStrategy": {"observeSeconds": 86401}},
        ("spec.upgradeStrategy.observeSeconds", "less than or equal to 86400"),
    ),
    (
        "safe-point-timeout-without-orchestrated",
        {"upgradeStrategy": {"safePointTimeoutSeconds": 60}},
        (
            "spec.upgradeStrategy.safePointTimeoutSeconds",
            "used only by an orchestrated upgrade",
        ),
    ),
    (
        "pod-safe-point-wait-too-long",
        {"upgradeStrategy": {"podSafePointWaitSeconds": 3601}},
        ("spec.upgradeStrategy.podSafePointWaitSeconds", "less than or equal to 3600"),
    ),
    (
        "green-ready-timeout-zero",
        {"upgradeStrategy": {"greenReadyTimeoutSeconds": 0}},
        ("spec.upgradeStrategy.greenReadyTimeoutSeconds", "greater than or equal to 1"),
    ),
    (
        "equipment-name-invalid",
        {"equipment": [{"name": "Bad_Name"}]},
        ("spec.equipment[0].name", "should match"),
    ),
    (
        "auto-approve-unknown-category",
        {"qualification": {"autoApproveCategories": ["minor"]}},
        ("spec.qualification.autoApproveCategories[0]", 'Unsupported value: "minor"'),
    ),
    (
        "memory-not-a-quantity",
        {"resources": {"memory": "lots"}},
        ("spec.resources.memory", "should match"),
    ),
    (
        "toleration-exists-with-value",
        {"placement": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}},
        ("spec.placement.tolerations[0].value", "must not be set when operator is Exists"),
    ),
    (
        "toleration-without-key-not-exists",
        {"placement": {"tolerations": [{"value": "v"}]}},
        ("spec.placement.tolerations[0].operator", "operator must be Exists when key is omitted"),
    ),
    (
        "toleration-seconds-without-noexecute",
        {
            "placement": {
                "tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]
            }
        },
        ("spec.placement.tolerations[0].tolerationSeconds", "requires effect NoExecute"),
    ),
    (
        "equipment-not-supported-yet",
        {"equipment": [{"name": "reactor"}]},
        ("spec.equipment", "not supported yet"),
    ),
    (
        "recreate-not-supported-yet",
        {"upgradeStrategy": {"type": "Recreate"}},
        ("spec.upgradeStrategy", "not supported yet"),
    ),
    (
        "simulator-not-supported-yet",
        {"features": {"equipmentSimulator": True}},
        ("spec.features.equipmentSimulator", "not supported yet"),
    ),
    (
        "logbook-not-supported-yet",
        {"module": "equipment-logbook"},
        ("spec.module", "not supported yet"),
    ),
    (
        "ebr-does-not-serve-the-ui",
        {"module": "ebr", "features": {"ui": True}},
        ("spec.features.ui", "a module of kind ebr does not serve it"),
    ),
    (
        "node-selector-value-invalid",
        {"placement": {"nodeSelector": {"a": "not valid"}}},
        ("spec.placement.nodeSelector.a", "should match"),
    ),
]


def _create(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> tuple[int, str]:
    import json

    res = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-",
        stdin=json.dumps(manifest), check=False,
    )  # fmt: skip
    return res.returncode, res.stderr


def test_a_valid_module_is_admitted(
    cluster: Cluster,
    holon: HolonInstall,  # noqa: F811
    namespace: str,
) -> None:
    code, err = _create(cluster, namespace, module("valid"))
    assert code == 0, err


@pytest.mark.parametrize(("name", "spec", "expected"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_module_is_rejected_naming_field_and_rule(
    cluster: Cluster,
    holon: HolonInstall,  # noqa: F811
    namespace: str,
    name: str,
    spec: dict[str, Any],
    expected: tuple[str, ...],
) -> None:
    code, err = _create(cluster, namespace, module(name, **spec))
    assert code != 0
    for fragment in expected:
        assert fragment in err, err


def test_a_too_long_name_is_rejected(
    cluster: Cluster,
    holon: HolonInstall,  # noqa: F811
    namespace: str,
) -> None:
    code, err = _create(cluster, namespace, module("m" * 48))
    assert code != 0
    assert "metadata.name must be at most 47 characters" in err


def test_qualification_records_are_immutable(
    cluster: Cluster,
    holon: HolonInstall,  # noqa: F811
    namespace: str,
) -> None:
    record = {
        "apiVersion": "mes.holon.dev/v1alpha1",
        "kind": "Qualification",
        "metadata": {"name": "install-1"},
        "spec": {
            "module": "batch",
            "event": "Install",
            "toVersion": "1.0.0",
            "digest": "sha256:" + "a" * 64,
            "verdict": "QUALIFIED",
        },
    }
    cluster.apply(record, namespace=namespace)
    res = cluster.kubectl(
        "patch", "qualification", "install-1", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"verdict": "NOT QUALIFIED"}}', check=False,
    )  # fmt: skip
    assert res.returncode != 0
    assert "spec is immutable" in res.stderr
