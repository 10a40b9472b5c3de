"""The upgrade state machine of DESIGN §5: persisted status + observation -> next step.

:func:`decide` is pure. The operator persists ``status.upgrade`` after every step and
re-decides from it, so a crash anywhere (actions done or not, status written or not) ends
in the same place: every action is an idempotent *ensure* (:mod:`.actions`), and a step
advances only on what the world shows, never on what the operator believes it did.

Phases: Preflight → VerifiedBackup → ExpandMigration → DeployGreen →
OperationalQualification → SafePoint → Switch → Observe → RetireBlue → ContractMigration
→ Qualified. Any failure while the old slot still runs (up to the end of Observe) goes to
RollingBack (old slot granted and selected again, new slot deleted, the schema stays
expanded, which the old version tolerates) → RolledBack. The old slot is retired before
the contract, not after: after the switch its Pods still answer the keep-alive
connections they held, and the contract must not meet a process of the old version. From
RetireBlue on there is no automatic way back: a contract failure is Failed, and rollback
means restoring the verified backup, which the operator never does on its own. The new
slot is the colour the Service does not select (green on a first upgrade), so colours
alternate from one upgrade to the next.
"""

from __future__ import annotations

from dataclasses import dataclass

from mes_operator.models.mesmodule import (
    Colour,
    PhaseMark,
    UpgradePhase,
    UpgradeStatus,
    UpgradeStrategyType,
)
from mes_operator.status.conditions import Observation as ConditionObservation
from mes_operator.upgrade.actions import Action, EventType, UpgradeEvent
from mes_operator.upgrade.conditions import upgrade_conditions
from mes_operator.upgrade.observation import Observation, Plan, RequestVerb
from mes_operator.upgrade.steps import CONTRACT_FAILED, fail, move, other, stamp, step

__all__ = ["ROLLBACKABLE", "TERMINAL", "Decision", "decide", "other"]

P = UpgradePhase
TERMINAL = frozenset({P.QUALIFIED, P.ROLLED_BACK, P.FAILED})
#: Phases an automatic (or requested) rollback may leave: everything before the contract.
ROLLBACKABLE = frozenset(
    {
        P.PREFLIGHT,
        P.VERIFIED_BACKUP,
        P.EXPAND_MIGRATION,
        P.DEPLOY_GREEN,
        P.OPERATIONAL_QUALIFICATION,
        P.SAFE_POINT,
        P.SWITCH,
        P.OBSERVE,
    }
)
_SWITCHED = frozenset(
    {P.SWITCH, P.OBSERVE, P.CONTRACT_MIGRATION, P.RETIRE_BLUE, P.QUALIFIED, P.FAILED}
)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The next status and what to do to get there."""

    status: UpgradeStatus | None
    actions: tuple[Action, ...]
    conditions: tuple[ConditionObservation, ...]
    active_colour: Colour
    """The colour the module's Service selects once the actions are done."""
    current_version: str | None
    """The version serving traffic once the actions are done."""


def _begin(plan: Plan, obs: Observation, *, attempt: int, handled: str | None) -> UpgradeStatus:
    now = stamp(obs.now)
    return UpgradeStatus(
        phase=P.PREFLIGHT,
        from_version=plan.current_version or "",
        to_version=plan.version,
        started_at=now,
        phase_started_at=now,
        colour=other(plan.active_colour),
        attempt=attempt,
        handled_request=handled,
        timeline=[PhaseMark(phase=P.PREFLIGHT, at=now)],
    )


def _new_request(status: UpgradeStatus | None, obs: Observation) -> RequestVerb | None:
    request = obs.request
    if request is None or (status is not None and status.handled_request == request.token):
        return None
    return request.verb


def _start(status: UpgradeStatus | None, plan: Plan, obs: Observation) -> UpgradeStatus | None:
    """A new upgrade (or retry) to begin now, if any."""
    if plan.strategy is not UpgradeStrategyType.BLUE_GREEN or plan.current_version is None:
        return None
    retry = _new_request(status, obs) is RequestVerb.RETRY
    token = obs.request.token if retry and obs.request else None
    # only a contract failure ends in Failed with auto-rollback on: retry the contract
    if (
        status is not None
        and status.phase is P.FAILED
        and retry
        and status.cause == CONTRACT_FAILED
    ):
        return move(
            status,
            P.CONTRACT_MIGRATION,
            obs,
            attempt=status.attempt + 1,
            handled_request=token,
            cause=None,
        )
    if plan.version == plan.current_version:
        return None
    if status is None or status.to_version != plan.version or status.phase is P.QUALIFIED:
        # attempts count on across versions: a Job (a backup above all) is never reused
        attempt = status.attempt + 1 if status else 1
        return _begin(
            plan, obs, attempt=attempt, handled=status.handled_request if status else None
        )
    if retry:
        return _begin(plan, obs, attempt=status.attempt + 1, handled=token)
    return None  # rolled back or failed at this version: a retry or a new version is needed


def _requests(
    status: UpgradeStatus, plan: Plan, obs: Observation
) -> tuple[UpgradeStatus, list[Action]]:
    """Rollback and resume requests on an upgrade in flight (retry is handled by _start)."""
    verb = _new_request(status, obs)
    if verb is None or obs.request is None:
        return status, []
    status = status.model_copy(update={"handled_request": obs.request.token})
    if verb is RequestVerb.RESUME:
        return status.model_copy(
            update={"held": False, "cause": None, "phase_started_at": stamp(obs.now)}
        ), []
    if verb is RequestVerb.ROLLBACK and status.phase in ROLLBACKABLE:
        return move(status, P.ROLLING_BACK, obs, cause="RollbackRequested", held=False), [
            UpgradeEvent(
                reason="RollbackRequested",
                type=EventType.WARNING,
                message="rolling back on request",
            )
        ]
    if verb is RequestVerb.ROLLBACK:
        return status, [
            UpgradeEvent(
                reason="RollbackNeedsRestore",
                type=EventType.WARNING,
                message="the old version is retired: upgrade again, or (after the contract) "
                f"restore the verified backup {status.backup_location}",
            )
        ]
    return status, []


def decide(status: UpgradeStatus | None, plan: Plan, obs: Observation) -> Decision:
    """The next upgrade status and the actions that lead to it."""
    actions: list[Action] = []
    started = _start(status, plan, obs) if status is None or status.phase in TERMINAL else None
    if started is not None:  # persisted as Preflight before anything is done
        status = started
        actions.append(
            UpgradeEvent(
                reason="UpgradeStarted",
                message=f"{started.from_version} -> {started.to_version} in {started.colour.value}"
                f" (attempt {started.attempt})",
            )
        )
    elif status is not None and status.phase not in TERMINAL:
        if status.to_version != plan.version and status.phase in ROLLBACKABLE:
            status, actions = fail(
                status, plan, obs, "Superseded", f"spec.version is now {plan.version}"
            )
        else:
            status, actions = _requests(status, plan, obs)
        if status.phase is P.ROLLING_BACK or not (plan.paused or status.held):
            status, more = step(status, plan, obs)
            actions += more
    return Decision(
        status=status,
        actions=tuple(actions),
        conditions=upgrade_conditions(status, paused=plan.paused),
        active_colour=_active(status, plan),
        current_version=status.to_version
        if status and status.phase is P.QUALIFIED
        else plan.current_version,
    )


def _active(status: UpgradeStatus | None, plan: Plan) -> Colour:
    """The colour the Service selects: the new slot from the switch on, else the old."""
    if status is None or (status.phase is P.FAILED and status.cause != CONTRACT_FAILED):
        return plan.active_colour
    if status.to_version != plan.version and status.phase in TERMINAL:
        return plan.active_colour
    return status.colour if status.phase in _SWITCHED else other(status.colour)
