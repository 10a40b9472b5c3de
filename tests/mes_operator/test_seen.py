"""What the operator knows of its children without reading them back: a child is taken as
unchanged only while its watched version is the one last found to match the same
manifest; anything else (a write by anybody, a new manifest, no watch entry) reads it."""

from __future__ import annotations

from typing import Any

from mes_operator.kube.seen import Seen, index_entry

KEY = ("ConfigMap", "plant", "batch-config")


def _config_map(version: str) -> dict[str, Any]:
    return {
        "kind": "ConfigMap",
        "metadata": {"name": "batch-config", "namespace": "plant", "resourceVersion": version},
        "data": {"HOLON_FEATURE_UI": "true"},
    }


def _seen(*bodies: dict[str, Any]) -> Seen:
    index: dict[Any, list[dict[str, Any]]] = {}
    for body in bodies:
        for key, value in index_entry(body).items():
            index[key] = [value]
    return Seen(watched=[{}, index], verified={})


def test_unchanged_only_at_the_version_that_matched_the_same_manifest() -> None:
    seen = _seen(_config_map("41"))
    assert seen.unchanged(KEY, "hash-a") is None  # never verified: read it
    seen.matched(KEY, "hash-a", _config_map("41"))
    assert seen.unchanged(KEY, "hash-a") == {"metadata": {"resourceVersion": "41"}}
    assert seen.unchanged(KEY, "hash-b") is None  # a new manifest: compare again


def test_a_write_by_anybody_moves_the_version_and_the_child_is_read_again() -> None:
    verified: dict[Any, Any] = {}
    before = Seen(watched=_seen(_config_map("41")).watched, verified=verified)
    before.matched(KEY, "hash-a", _config_map("41"))
    after_edit = Seen(watched=_seen(_config_map("57")).watched, verified=verified)
    assert after_edit.unchanged(KEY, "hash-a") is None


def test_no_watch_entry_reads_it_and_a_forgotten_child_is_read_again() -> None:
    seen = Seen(watched=[{}], verified={})
    seen.matched(KEY, "hash-a", _config_map("41"))
    assert seen.unchanged(KEY, "hash-a") is None  # not (yet) in the index
    seen = _seen(_config_map("41"))
    seen.matched(KEY, "hash-a", _config_map("41"))
    seen.forget([KEY, ("Service", "plant", "gone")])
    assert seen.unchanged(KEY, "hash-a") is None
    assert seen.verified == {}


def test_a_deployment_s_entry_keeps_what_its_status_says() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {
            "name": "batch-blue", "namespace": "plant", "generation": 3,
            "resourceVersion": "90", "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "runtime"}]}}},
        "status": {"observedGeneration": 3, "readyReplicas": 2, "updatedReplicas": 2},
    }  # fmt: skip
    [(key, entry)] = index_entry(deployment).items()
    assert key == ("Deployment", "plant", "batch-blue")
    assert entry["metadata"]["generation"] == 3
    assert entry["spec"] == {"replicas": 2}  # not the template: drift is read, not cached
    assert entry["status"]["readyReplicas"] == 2
    assert "managedFields" not in entry["metadata"]
