"""Reading a MESModule into the machine's plan, and persisting a decision as its status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mes_operator.models.mesmodule import (
    Colour,
    MESModuleStatus,
    UpgradePhase,
    UpgradeStrategyType,
)
from mes_operator.upgrade import REQUEST_ANNOTATION, RequestVerb, Timeouts, decide
from mes_operator.upgrade.persist import (
    coarse_phase,
    plan_from_body,
    request_from_body,
    status_after,
)

from tests.mes_operator.upgrade_world import Run, World, plan

READY = {
    "type": "Ready",
    "status": "True",
    "reason": "RuntimeAvailable",
    "message": "2/2",
    "lastTransitionTime": "2026-11-30T11:00:00Z",
    "observedGeneration": 3,
}


def body(**status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "batch",
            "namespace": "plant",
            "generation": 4,
            "annotations": {REQUEST_ANNOTATION: "retry/2026-11-30T19:00:00.000001Z"},
        },
        "spec": {
            "module": "batch-execution",
            "version": "1.1.0",
            "replicas": 2,
            "paused": True,
            "database": {"engine": "postgresql", "credentialsSecretRef": {"name": "db"}},
        },
        "status": status,
    }


def test_plan_and_request_from_the_module() -> None:
    module = body(currentVersion="1.0.0", activeColour="green")
    p = plan_from_body(module)
    assert (p.version, p.current_version, p.active_colour) == ("1.1.0", "1.0.0", Colour.GREEN)
    assert p.strategy is UpgradeStrategyType.BLUE_GREEN
    assert (p.postgresql, p.paused, p.observe_seconds, p.auto_rollback) == (True, True, 300, True)
    request = request_from_body(module)
    assert request is not None
    assert request.verb is RequestVerb.RETRY
    assert plan_from_body(body()).active_colour is Colour.BLUE
    assert plan_from_body(body()).timeouts == Timeouts()  # the CRD's defaults


def test_the_plan_takes_the_upgrade_timeouts_of_the_spec() -> None:
    module = body()
    module["spec"]["upgradeStrategy"] = {
        "orchestrated": True,
        "greenReadyTimeoutSeconds": 30,
        "checksTimeoutSeconds": 40,
        "safePointTimeoutSeconds": 50,
    }
    module["spec"]["backup"] = {"storeSecret": "store"}
    assert plan_from_body(module).timeouts == Timeouts(green_ready=30, checks=40, safe_point=50)
    assert Timeouts() == Timeouts(green_ready=600, checks=900, safe_point=3600)
    assert request_from_body({"metadata": {}}) is None


def test_each_step_persists_a_status_the_schema_accepts_and_keeps_other_conditions() -> None:
    run = Run(World(), plan())
    previous: dict[str, Any] = {"phase": "Ready", "conditions": [READY], "currentVersion": "1.0.0"}
    phases = set()
    for minute in range(30):
        obs = run.world.observe(run.status, run.plan.active_colour)
        decision = decide(run.status, run.plan, obs)
        now = f"2026-11-30T12:{minute:02d}:00Z"
        status = status_after(previous, decision, paused=False, generation=4, now=now)
        MESModuleStatus.model_validate(status)  # every key is one the CRD has
        assert (
            status["conditions"][[c["type"] for c in status["conditions"]].index("Ready")] == READY
        )
        # the same decision again: the same status, so no patch
        again = status_after(status, decision, paused=False, generation=4, now=now + "x")
        assert again == status
        if decision.status is not None and decision.status.phase is not UpgradePhase.QUALIFIED:
            assert status["phase"] in {"Upgrading", "Paused"}
        if decision.status is not None:
            phases.add(decision.status.phase)
            if decision.status.phase not in {UpgradePhase.QUALIFIED}:
                assert status["targetVersion"] == "1.1.0"
        run.world.apply(decision.actions)
        run.status, previous = decision.status, status
        run.plan = replace(
            run.plan,
            active_colour=decision.active_colour,
            current_version=decision.current_version,
        )
        run.world.tick()
    assert UpgradePhase.QUALIFIED in phases
    assert (previous["currentVersion"], previous["activeColour"]) == ("1.1.0", "green")
    # once done, status.phase is the module's own again (status.module computes it)
    assert coarse_phase(decision, paused=False) is None
    progressing = next(c for c in previous["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "UpgradeDone"


def test_a_paused_upgrade_shows_paused() -> None:
    run = Run(World(), plan())
    run.step()
    assert run.status is not None
    p = replace(run.plan, paused=True)
    decision = decide(run.status, p, run.world.observe(run.status, p.active_colour))
    status = status_after({}, decision, paused=True, generation=1, now="2026-11-30T12:00:00Z")
    assert status["phase"] == "Paused"
    assert status["upgrade"]["phase"] == run.status.phase.value
