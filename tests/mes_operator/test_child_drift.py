"""drifted_paths: only the fields we own count as drift."""

from __future__ import annotations

from typing import Any

from mes_operator.drift import drifted_paths
from mes_operator.kube.apply import APPLIED_HASH, with_applied_hash

DESIRED: dict[str, Any] = {
    "metadata": {"name": "m-blue", "labels": {"a": "1"}},
    "spec": {
        "replicas": 1,
        "template": {"spec": {"containers": [{"name": "runtime", "image": "r:1.0.0"}]}},
        "volumes": [{"name": "data", "emptyDir": {}}],
    },
}


def live(**changes: object) -> dict[str, object]:
    obj = {
        "metadata": {"name": "m-blue", "labels": {"a": "1", "extra": "x"}, "uid": "u"},
        "spec": {
            "replicas": 1,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "runtime", "image": "r:1.0.0", "imagePullPolicy": "Always"}
                    ]
                }
            },
            "volumes": [{"name": "data", "emptyDir": {}}],
            "progressDeadlineSeconds": 600,
        },
        "status": {"readyReplicas": 1},
    }
    obj["spec"].update(changes)  # type: ignore[attr-defined]
    return obj


def test_defaults_and_foreign_fields_are_not_drift() -> None:
    assert drifted_paths(DESIRED, live()) == []


def test_a_hand_edit_is_reported_by_path() -> None:
    assert drifted_paths(DESIRED, live(replicas=3)) == ["spec.replicas"]
    edited = live(template={"spec": {"containers": [{"name": "runtime", "image": "evil:1"}]}})
    assert drifted_paths(DESIRED, edited) == ["spec.template.spec.containers[0].image"]


def test_removed_and_added_list_items_are_drift() -> None:
    assert drifted_paths(DESIRED, live(volumes=[])) == ["spec.volumes"]


def test_missing_label_is_drift_but_empty_maps_are_not() -> None:
    actual = live()
    actual["metadata"] = {"name": "m-blue", "labels": {}}
    assert drifted_paths(DESIRED, actual) == ["metadata.labels.a"]
    assert drifted_paths({"spec": {"selector": {}}}, {"spec": {}}) == []


def test_applied_hash_tells_spec_changes_from_hand_edits() -> None:
    first = with_applied_hash(DESIRED)
    assert first == with_applied_hash(DESIRED)
    changed = with_applied_hash({**DESIRED, "spec": {**DESIRED["spec"], "replicas": 2}})
    assert (
        first["metadata"]["annotations"][APPLIED_HASH]
        != changed["metadata"]["annotations"][APPLIED_HASH]
    )
    assert "annotations" not in DESIRED["metadata"]
