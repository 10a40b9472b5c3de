"""What the operator reads before a decision and writes after it (pure).

:func:`plan_from_body` turns a MESModule into the machine's :class:`.observation.Plan`
and the user's pending request; :func:`status_after` is the status patch that persists
the decision: ``upgrade``, ``activeColour``, ``currentVersion``, ``targetVersion`` and the
three conditions the upgrade owns, merged by the Kubernetes rules (a condition's
``lastTransitionTime`` moves only when its status does). One patch per decision, skipped
when it equals the previous status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mes_operator.models.mesmodule import (
    Colour,
    DatabaseEngine,
    MESModuleSpec,
    Phase,
    UpgradePhase,
)
from mes_operator.status.conditions import dump, merge_conditions
from mes_operator.upgrade.machine import TERMINAL, Decision
from mes_operator.upgrade.observation import REQUEST_ANNOTATION, Plan, Request, Timeouts

__all__ = ["coarse_phase", "plan_from_body", "request_from_body", "status_after"]


def plan_from_body(body: Mapping[str, Any], *, qualifying: bool = False) -> Plan:
    """The upgrade-relevant part of a MESModule (spec validated by its typed model);
    ``qualifying``: the operator captures evidence (its OQ runs if the spec requires it)."""
    spec = MESModuleSpec.model_validate(body["spec"])
    status = body.get("status") or {}
    return Plan(
        version=spec.version,
        current_version=status.get("currentVersion"),
        active_colour=Colour(status.get("activeColour") or Colour.BLUE),
        strategy=spec.upgrade_strategy.type,
        postgresql=spec.database.engine is DatabaseEngine.POSTGRESQL,
        paused=spec.paused,
        observe_seconds=spec.upgrade_strategy.observe_seconds,
        auto_rollback=spec.upgrade_strategy.auto_rollback,
        timeouts=Timeouts.from_strategy(spec.upgrade_strategy),
        operational_qualification=qualifying and spec.qualification.required,
    )


def request_from_body(body: Mapping[str, Any]) -> Request | None:
    """The user's latest retry/resume/rollback request (the annotation), if any."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return Request.parse(annotations.get(REQUEST_ANNOTATION))


def coarse_phase(decision: Decision, *, paused: bool) -> Phase | None:
    """``status.phase`` while an upgrade is in flight (None: the module's own phase)."""
    upgrade = decision.status
    if upgrade is None or upgrade.phase in TERMINAL:
        return (
            Phase.FAILED if upgrade is not None and upgrade.phase is UpgradePhase.FAILED else None
        )
    if upgrade.phase is UpgradePhase.ROLLING_BACK:
        return Phase.ROLLING_BACK
    return Phase.PAUSED if paused or upgrade.held else Phase.UPGRADING


def status_after(
    previous: Mapping[str, Any],
    decision: Decision,
    *,
    paused: bool,
    generation: int,
    now: str,
) -> dict[str, Any]:
    """The whole status once the decision is persisted: the previous one with the
    upgrade's fields and conditions replaced."""
    status = dict(previous)
    upgrade = decision.status
    status.pop("upgrade", None)
    if upgrade is not None:
        status["upgrade"] = dump(upgrade)
        in_flight = upgrade.phase not in TERMINAL
        status["targetVersion"] = upgrade.to_version if in_flight else decision.current_version
    status["activeColour"] = decision.active_colour.value
    if decision.current_version is not None:
        status["currentVersion"] = decision.current_version
    phase = coarse_phase(decision, paused=paused)
    if phase is not None:
        status["phase"] = phase.value
    merged = merge_conditions(
        previous.get("conditions"), decision.conditions, generation=generation, now=now
    )
    status["conditions"] = [dump(c) for c in merged]
    return status
