"""Run the upgrade machine for one MESModule: fetch -> decide -> execute -> persist.

In that order, every step: the observation is taken first, the actions are carried out
before the status that follows from them is written, and a crash anywhere (before,
during or after the actions) re-decides from the last persisted status to the same end,
since every action is an idempotent ensure (``tests/mes_operator/test_upgrade_crash.py``).
Each step is counted in the operator's metrics once its status is persisted
(:mod:`.metering`): a step lost to a crash is counted by the reconcile that redoes it.
A step that moves the phase is followed at once by the next one (up to
:data:`MAX_STEPS`), so an upgrade does not wait a timer interval per phase.

Opt-in: only modules with ``spec.upgradeStrategy.orchestrated: true`` are driven, and
only while the version differs from ``status.currentVersion`` or an upgrade is in flight
(:func:`orchestrating`); meanwhile the plain reconcile leaves the slots alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient

from mes_operator.builders.context import ModuleContext
from mes_operator.kube.apply import patch_module_status
from mes_operator.logs import upgrade_logged
from mes_operator.models.mesmodule import MESModuleSpec, UpgradeStatus
from mes_operator.status.conditions import now_rfc3339
from mes_operator.upgrade.actions import UpgradeEvent
from mes_operator.upgrade.execute import execute
from mes_operator.upgrade.fetch import observe
from mes_operator.upgrade.machine import TERMINAL, decide
from mes_operator.upgrade.metering import Module, stepped, stepping
from mes_operator.upgrade.persist import plan_from_body, request_from_body, status_after
from mes_operator.upgrade.runtime import Runtime

__all__ = ["MAX_STEPS", "drive", "in_flight", "orchestrating"]

MAX_STEPS = 12
"""Steps one call may take while each moves the phase (a whole upgrade has 11 phases)."""


def _upgrade(status: Mapping[str, Any]) -> UpgradeStatus | None:
    raw = status.get("upgrade")
    return UpgradeStatus.model_validate(raw) if raw else None


def in_flight(status: Mapping[str, Any]) -> bool:
    """An upgrade has started and not reached Qualified, RolledBack or Failed."""
    upgrade = _upgrade(status)
    return upgrade is not None and upgrade.phase not in TERMINAL


def orchestrating(spec: MESModuleSpec, status: Mapping[str, Any]) -> bool:
    """Whether the upgrade machine, not the plain reconcile, owns the module's slots now:
    opted in, and an upgrade in flight or a version to reach (a rolled-back or failed
    attempt included: the old slot stays as it is until a retry or a new version)."""
    if not spec.upgrade_strategy.orchestrated:
        return False
    current = status.get("currentVersion")
    return in_flight(status) or (current is not None and current != spec.version)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def drive(
    client: AsyncClient,
    runtime: Runtime,
    body: Mapping[str, Any],
    *,
    emit: Callable[[UpgradeEvent], None],
    clock: Callable[[], datetime] = _utcnow,
    qualifying: bool = False,
) -> UpgradeStatus | None:
    """Step the module's upgrade until a step does not move it; the upgrade status last
    persisted (``qualifying``: the operator captures evidence, so green's OQ runs before
    the switch where the spec requires evidence)."""
    upgrade: UpgradeStatus | None = None
    meta = body["metadata"]
    module: Module = (meta["namespace"], meta["name"], meta.get("uid", ""))
    for _ in range(MAX_STEPS):
        previous: Mapping[str, Any] = body.get("status") or {}
        ctx = ModuleContext.from_body(body)
        upgrade = _upgrade(previous)
        plan = plan_from_body(body, qualifying=qualifying)
        stepping(module, upgrade, paused=plan.paused)
        with upgrade_logged(
            upgrade.phase if upgrade else "Starting",
            upgrade.from_version if upgrade else str(previous.get("currentVersion", "")),
            upgrade.to_version if upgrade else ctx.spec.version,
        ):
            seen = await observe(
                client, runtime, ctx, upgrade, now=clock(), request=request_from_body(body)
            )
            decision = decide(upgrade, plan, seen)
            await execute(
                client, runtime, ctx, decision.status, decision.actions, seen=seen, emit=emit
            )
            status = status_after(
                previous, decision, paused=plan.paused, generation=ctx.generation, now=now_rfc3339()
            )
            status["observedGeneration"] = ctx.generation
            await patch_module_status(client, body["metadata"], previous, status)
        stepped(module, upgrade, decision.status, paused=plan.paused)
        body = {**body, "status": status}
        moved = decision.status != upgrade and (
            upgrade is None
            or decision.status is None
            or (decision.status.phase, decision.status.held) != (upgrade.phase, upgrade.held)
        )
        upgrade = decision.status
        if not moved:
            break
    return upgrade
