"""MESModule status as a pure function; unchanged observations give identical status."""

from __future__ import annotations

from typing import Any

import pytest
from mes_operator.builders import ModuleContext
from mes_operator.status.conditions import condition
from mes_operator.status.module import (
    DeploymentState,
    invalid_status,
    module_status,
    paused_status,
)

T0 = "2026-01-01T00:00:00Z"
T1 = "2026-01-01T00:05:00Z"


def ctx(generation: int = 2, **spec: Any) -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": "m", "namespace": "n", "uid": "u", "generation": generation},
            "spec": {"module": "ebr", "version": "2.0.0", **spec},
        }
    )


def deployment(
    ready: int,
    *,
    observed: int = 1,
    reason: str = "",
    available: int | None = None,
    pods: int | None = None,
) -> DeploymentState:
    return DeploymentState.from_object(
        {
            "metadata": {"generation": 1},
            "spec": {"replicas": 1},
            "status": {
                "observedGeneration": observed,
                "replicas": ready if pods is None else pods,
                "updatedReplicas": ready,
                "readyReplicas": ready,
                "availableReplicas": ready if available is None else available,
                "conditions": [{"type": "Progressing", "status": "False", "reason": reason}],
            },
        }
    )


def test_ready_when_every_pod_is_available() -> None:
    status = module_status({}, ctx(), deployment(1), now=T0)
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 2
    assert status["currentVersion"] == "2.0.0"
    assert status["activeColour"] == "blue"
    ready = condition(status["conditions"], "Ready")
    assert ready["status"] == "True"
    assert ready["observedGeneration"] == 2
    assert condition(status["conditions"], "Progressing")["status"] == "False"
    assert condition(status["conditions"], "Qualified")["status"] == "Unknown"
    types = {c["type"] for c in status["conditions"]}
    assert types == {"Ready", "Progressing", "Degraded", "Qualified", "MigrationInProgress"}


def test_not_ready_while_rolling_out_keeps_the_old_current_version() -> None:
    status = module_status({"currentVersion": "1.9.0"}, ctx(), deployment(0), now=T0)
    assert status["phase"] == "Progressing"
    assert status["currentVersion"] == "1.9.0"
    assert status["targetVersion"] == "2.0.0"
    assert condition(status["conditions"], "Ready")["reason"] == "RuntimeNotReady"
    stale = module_status({}, ctx(), deployment(1, observed=0), now=T0)
    assert condition(stale["conditions"], "Ready")["status"] == "False"


def test_ready_as_soon_as_the_pods_serve_not_min_ready_seconds_later() -> None:
    """Availability lags readiness by the Deployment's minReadySeconds; the module is
    Ready when its Pods serve, while a Pod of the old template left keeps it rolling."""
    serving = module_status({}, ctx(), deployment(1, available=0), now=T0)
    assert condition(serving["conditions"], "Ready")["status"] == "True"
    old_pod_left = module_status({}, ctx(), deployment(1, pods=2), now=T0)
    assert condition(old_pod_left["conditions"], "Ready")["status"] == "False"


def test_same_observation_same_status_so_the_patch_is_skipped() -> None:
    first = module_status({}, ctx(), deployment(1), now=T0)
    assert module_status(first, ctx(), deployment(1), now=T1) == first


def test_transition_time_moves_only_when_the_status_does() -> None:
    first = module_status({}, ctx(), deployment(0), now=T0)
    second = module_status(first, ctx(), deployment(1), now=T1)
    assert condition(second["conditions"], "Ready")["lastTransitionTime"] == T1
    assert condition(second["conditions"], "Degraded")["lastTransitionTime"] == T0


def test_deadline_exceeded_is_degraded() -> None:
    status = module_status({}, ctx(), deployment(0, reason="ProgressDeadlineExceeded"), now=T0)
    assert status["phase"] == "Degraded"
    assert condition(status["conditions"], "Degraded")["status"] == "True"


def test_upgrade_state_and_evidence_survive_a_reconcile() -> None:
    previous = {
        "upgrade": {"phase": "Observe", "fromVersion": "1.0.0", "toVersion": "2.0.0"},
        "lastEvidence": {"qualification": "q1", "digest": "sha256:" + "0" * 64},
    }
    status = module_status(previous, ctx(), deployment(1), now=T0)
    assert status["upgrade"] == previous["upgrade"]
    assert status["lastEvidence"] == previous["lastEvidence"]


def test_qualification_not_required_is_qualified() -> None:
    status = module_status({}, ctx(qualification={"required": False}), deployment(1), now=T0)
    assert condition(status["conditions"], "Qualified")["status"] == "True"


@pytest.mark.parametrize(
    ("evidence", "status", "reason", "says"),
    [
        (None, "Unknown", "AwaitingEvidence", "no evidence package for version"),
        ({"version": "0.9.0", "verdict": "QUALIFIED"}, "Unknown", "AwaitingEvidence", "2.0.0"),
        ({"verdict": "PROVISIONAL"}, "Unknown", "AwaitingApproval", "kubectl mes approve q1"),
        ({"verdict": "QUALIFIED", "approvedBy": "vl"}, "True", "Qualified", "approved by vl"),
        ({"verdict": "QUALIFIED"}, "True", "Qualified", "auto-approved"),
        ({"verdict": "NOT QUALIFIED"}, "False", "NotQualified", "its checks failed"),
        (
            {"verdict": "NOT QUALIFIED", "approvedBy": "vl"},
            "False",
            "NotQualified",
            "rejected by vl",
        ),
    ],
)
def test_qualified_follows_the_last_evidence_of_this_version(
    evidence: dict[str, Any] | None, status: str, reason: str, says: str
) -> None:
    version = ctx().spec.version
    last = None if evidence is None else {"qualification": "q1", "version": version} | evidence
    previous = {} if last is None else {"lastEvidence": last}
    found = condition(module_status(previous, ctx(), deployment(1), now=T0)["conditions"],
                      "Qualified")  # fmt: skip
    assert (found["status"], found["reason"]) == (status, reason)
    assert says in found["message"]


def test_paused_and_invalid() -> None:
    ready = module_status({}, ctx(), deployment(1), now=T0)
    paused = paused_status(ready, generation=3, now=T1)
    assert paused["phase"] == "Paused"
    assert condition(paused["conditions"], "Progressing")["reason"] == "Paused"
    assert condition(paused["conditions"], "Ready")["status"] == "True"
    invalid = invalid_status({}, generation=4, problem="bad", now=T1)
    assert invalid["phase"] == "Failed"
    assert condition(invalid["conditions"], "Ready")["reason"] == "InvalidSpec"
