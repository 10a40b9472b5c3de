"""A corrected drift becomes evidence due: what was changed, by which client as far as the
object says, and what was restored; it is captured as a Drift Qualification whose every
change is a deviation for a person to assess, and no longer due once recorded."""

from __future__ import annotations

from typing import Any

from mes_operator.builders import ModuleContext
from mes_operator.kube.apply import Action, Applied, other_managers, status_patch
from mes_operator.reconcile.module import with_drift
from mes_operator.reconcile.qualify import drift_deviations, due_event

NOW = "2026-12-01T18:40:00Z"


def ctx(**spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 1},
            "spec": {"module": "batch-execution", "version": "1.4.2", **spec},
        }
    )


def applied(kind: str, action: Action, **extra: Any) -> Applied:
    return Applied(kind=kind, name=f"batch-{kind.lower()}", action=action, live={}, **extra)


def test_a_corrected_or_recreated_child_makes_drift_evidence_due() -> None:
    items = [
        applied(
            "ConfigMap", Action.CORRECTED, drift=["data.LOG_LEVEL"], managers=["kubectl-patch"]
        ),
        applied("Service", Action.RECREATED),
        applied("Deployment", Action.UNCHANGED),
        applied("PodDisruptionBudget", Action.UPDATED, drift=["spec.minAvailable"]),  # the spec's
    ]
    status = with_drift({"phase": "Ready"}, items, ctx(), now=NOW)
    pending = status["pendingEvidence"]
    assert (pending["event"], pending["since"]) == ("Drift", NOW)
    assert [(c["kind"], c["action"]) for c in pending["changes"]] == [
        ("ConfigMap", "corrected"),
        ("Service", "recreated"),
    ]
    assert pending["changes"][0]["paths"] == ["data.LOG_LEVEL"]
    assert pending["changes"][0]["managers"] == ["kubectl-patch"]
    assert due_event(ctx(), {**status, "lastEvidence": {"version": "1.4.2"}}) == "Drift"

    later = with_drift(
        status, [applied("Service", Action.RECREATED)], ctx(), now="2026-12-01T18:41:00Z"
    )
    assert later["pendingEvidence"]["since"] == NOW  # one episode until it is recorded
    assert len(later["pendingEvidence"]["changes"]) == 3


def test_nothing_is_due_without_drift_or_when_evidence_is_not_required() -> None:
    unchanged = [applied("Deployment", Action.UNCHANGED), applied("Service", Action.CREATED)]
    assert "pendingEvidence" not in with_drift({}, unchanged, ctx(), now=NOW)
    drift = [applied("Service", Action.RECREATED)]
    relaxed = ctx(qualification={"required": False})
    assert "pendingEvidence" not in with_drift({}, drift, relaxed, now=NOW)
    assert due_event(relaxed, {"pendingEvidence": {"event": "Drift"}}) is None


def test_due_events_in_order() -> None:
    assert due_event(ctx(), {}) == "Install"
    assert due_event(ctx(), {"lastEvidence": {"version": "1.4.1"}}) == "Upgrade"
    assert due_event(ctx(), {"lastEvidence": {"version": "1.4.2"}}) is None


def test_each_change_is_a_deviation_naming_who_and_what_was_restored() -> None:
    changes = [
        {"kind": "ConfigMap", "name": "batch-config", "action": "corrected",
         "paths": ["data.LOG_LEVEL"], "managers": ["kubectl-patch"], "at": NOW},
        {"kind": "Service", "name": "batch", "action": "recreated", "paths": [],
         "managers": [], "at": NOW},
    ]  # fmt: skip
    first, second = drift_deviations(changes)
    assert first.subject == "ConfigMap/batch-config"
    assert first.actual == {"changed": ["data.LOG_LEVEL"], "by": "kubectl-patch"}
    assert not first.explained
    assert first.explanation == f"restored by the operator at {NOW}; changed by: kubectl-patch"
    assert second.actual == "deleted"
    assert "unknown (see the API audit log)" in second.explanation


def test_other_managers_and_the_pending_evidence_removed_once_recorded() -> None:
    live = {
        "metadata": {
            "managedFields": [
                {"manager": "holon-operator", "operation": "Apply"},
                {"manager": "kubectl-edit", "operation": "Update"},
                {"manager": "kubectl-edit", "operation": "Update", "subresource": "status"},
            ]
        }
    }
    assert other_managers(live) == ["kubectl-edit"]
    assert other_managers({"metadata": {}}) == []
    before = {"phase": "Ready", "pendingEvidence": {"event": "Drift", "changes": []}}
    assert status_patch(before, {"phase": "Ready"}) == {"phase": "Ready", "pendingEvidence": None}
