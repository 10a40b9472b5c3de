"""The upgrade state machine of DESIGN §5: persisted status + observation -> next step.

:func:`decide` is pure. The operator persists ``status.upgrade`` after every step and
re-decides from it, so a crash anywhere (actions done or not, status written or not) ends
in the same place: every action is an idempotent *ensure* (:mod:`.actions`), and a step
advances only on what the world shows, never on what the operator believes it did.

Phases: Preflight → VerifiedBackup → ExpandMigration → DeployGreen →
OperationalQualification → SafePoint → Switch → Observe → ContractMigration → RetireBlue
→ Qualified. Any failure before the contract migration goes to RollingBack (old slot
granted and selected again, new slot deleted, the schema stays expanded, which the old
version tolerates) → RolledBack. After the contract there is no automatic way back: a
contract failure is Failed, and rollback means restoring the verified backup, which the
operator never does on its own. The new slot is the colour the Service does not select
(green on a first upgrade), so colours alternate from one upgrade to the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mes_operator.models.mesmodule import Colour, UpgradePhase, UpgradeStatus, UpgradeStrategyType
from mes_operator.status.conditions import Observation as ConditionObservation
from mes_operator.upgrade.actions import (
    Action,
    DeleteColour,
    DeployColour,
    EventType,
    JobKind,
    MoveActiveSelector,
    MovePreviewService,
    RunJob,
    SetGrant,
    UpgradeEvent,
)
from mes_operator.upgrade.conditions import upgrade_conditions
from mes_operator.upgrade.observation import (
    CheckState,
    JobState,
    Observation,
    Plan,
    RequestVerb,
)

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
CONTRACT_FAILED = "ContractMigrationFailed"


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


def other(colour: Colour) -> Colour:
    """The other slot."""
    return Colour.GREEN if colour is Colour.BLUE else Colour.BLUE


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _elapsed(status: UpgradeStatus, now: datetime) -> float:
    started = status.phase_started_at or status.started_at
    return (now - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds()


def _move(
    status: UpgradeStatus, phase: UpgradePhase, obs: Observation, **changes: object
) -> UpgradeStatus:
    update: dict[str, object] = {
        "phase": phase,
        "phase_started_at": _stamp(obs.now),
        "message": None,
    }
    return status.model_copy(update=update | changes)


def _begin(plan: Plan, obs: Observation, *, attempt: int, handled: str | None) -> UpgradeStatus:
    now = _stamp(obs.now)
    return UpgradeStatus(
        phase=P.PREFLIGHT,
        from_version=plan.current_version or "",
        to_version=plan.version,
        started_at=now,
        phase_started_at=now,
        colour=other(plan.active_colour),
        attempt=attempt,
        handled_request=handled,
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
        return _move(
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


def _fail(
    status: UpgradeStatus, plan: Plan, obs: Observation, cause: str, message: str
) -> tuple[UpgradeStatus, list[Action]]:
    """A failure before the contract: roll back (or stop, with autoRollback off)."""
    phase = P.ROLLING_BACK if plan.auto_rollback else P.FAILED
    event = UpgradeEvent(
        reason=cause,
        message=f"upgrade to {status.to_version} failed at {status.phase.value}: {message}"
        + ("; rolling back" if plan.auto_rollback else ""),
        type=EventType.WARNING,
    )
    return _move(status, phase, obs, cause=cause, message=message), [event]


def _step(
    status: UpgradeStatus, plan: Plan, obs: Observation
) -> tuple[UpgradeStatus, list[Action]]:
    """One phase's actions and, when the world shows it done, the move to the next."""
    new, old, version = status.colour, other(status.colour), status.to_version
    phase, t = status.phase, plan.timeouts
    if phase is P.PREFLIGHT:
        if not plan.postgresql:
            return _fail(
                status,
                plan,
                obs,
                "BlueGreenNeedsPostgreSQL",
                "two versions side by side need a shared PostgreSQL database",
            )
        return _move(status, P.VERIFIED_BACKUP, obs), []
    if phase is P.VERIFIED_BACKUP:
        job = obs.job(JobKind.BACKUP)
        run: list[Action] = [RunJob(kind=JobKind.BACKUP, version=version, attempt=status.attempt)]
        if job is JobState.FAILED or (job is JobState.SUCCEEDED and obs.backup_problem):
            return _fail(
                status, plan, obs, "BackupNotVerified", obs.backup_problem or "backup Job failed"
            )
        if job is JobState.SUCCEEDED and obs.backup_location and obs.backup_digest:
            done = UpgradeEvent(
                reason="BackupVerified", message=f"{obs.backup_location} {obs.backup_digest}"
            )
            return _move(
                status,
                P.EXPAND_MIGRATION,
                obs,
                backup_location=obs.backup_location,
                backup_digest=obs.backup_digest,
            ), [*run, done]
        return status, run
    if phase in {P.EXPAND_MIGRATION, P.CONTRACT_MIGRATION}:
        kind = JobKind.EXPAND if phase is P.EXPAND_MIGRATION else JobKind.CONTRACT
        run = [RunJob(kind=kind, version=version, attempt=status.attempt)]
        job = obs.job(kind)
        if job is JobState.SUCCEEDED:
            nxt = P.DEPLOY_GREEN if kind is JobKind.EXPAND else P.RETIRE_BLUE
            return _move(status, nxt, obs), run
        if job is JobState.FAILED and kind is JobKind.EXPAND:
            return _fail(
                status, plan, obs, "ExpandMigrationFailed", "the expand migration Job failed"
            )
        if job is JobState.FAILED:
            failed = UpgradeEvent(
                reason=CONTRACT_FAILED,
                type=EventType.WARNING,
                message=f"the contract migration to {version} failed; no automatic rollback after "
                f"contract: retry, or restore the verified backup {status.backup_location}",
            )
            return _move(
                status,
                P.FAILED,
                obs,
                cause=CONTRACT_FAILED,
                message="contract migration Job failed",
            ), [failed]
        return status, run
    green: list[Action] = [
        DeployColour(colour=new, version=version),
        MovePreviewService(colour=new),
    ]
    if phase is P.DEPLOY_GREEN:
        # the old slot holds the grant before the new one starts, so it never owns a batch
        grant = SetGrant(
            colour=old, upgrade_pending=False, reason=f"{new.value} starting; owns no batches"
        )
        granted = obs.grant is old
        if granted and obs.new_ready:
            return _move(status, P.OPERATIONAL_QUALIFICATION, obs), [grant, *green]
        if _elapsed(status, obs.now) > t.green_ready:
            cause = "NewVersionNotReady" if granted else "GrantNotTaken"
            why = f"{new.value} not ready" if granted else f"the runtime did not grant {old.value}"
            return _fail(
                status, plan, obs, cause, obs.new_problem or f"{why} within {t.green_ready}s"
            )
        return status, [grant, *green] if granted else [grant]
    watched = {P.OPERATIONAL_QUALIFICATION, P.SAFE_POINT, P.SWITCH, P.OBSERVE}
    if phase in watched and (not obs.new_ready or obs.new_checks is CheckState.FAILED):
        cause = "NewVersionChecksFailed" if obs.new_ready else "NewVersionNotReady"
        return _fail(status, plan, obs, cause, obs.new_problem or f"{new.value} failing")
    if phase is P.OPERATIONAL_QUALIFICATION:
        if obs.new_checks is CheckState.PASSED:
            return _move(status, P.SAFE_POINT, obs), green
        if _elapsed(status, obs.now) > t.checks:
            return _fail(
                status, plan, obs, "NewVersionChecksTimedOut", f"checks not done within {t.checks}s"
            )
        return status, green
    if phase is P.SAFE_POINT:
        pending = SetGrant(colour=old, upgrade_pending=True, reason=f"upgrade to {version} pending")
        if obs.grant is old and obs.upgrade_pending and obs.safe_point.safe:
            return _move(status, P.SWITCH, obs), [*green, pending]
        if _elapsed(status, obs.now) > t.safe_point:
            blocking = (
                f"batch {obs.safe_point.batch} phase {obs.safe_point.element} is not interruptible"
            )
            release = SetGrant(
                colour=old, upgrade_pending=False, reason="upgrade held: safe-point timeout"
            )
            held = UpgradeEvent(
                reason="SafePointTimeout",
                type=EventType.WARNING,
                message=f"no safe point within {t.safe_point}s: {blocking}; held",
            )
            return status.model_copy(
                update={"held": True, "cause": "SafePointTimeout", "message": blocking}
            ), [*green, release, held]
        return status, [*green, pending]
    switched: list[Action] = [
        *green,
        MoveActiveSelector(colour=new),
        SetGrant(colour=new, upgrade_pending=False, reason=f"switched to {version}"),
    ]
    if phase is P.SWITCH:
        if obs.selector is new and obs.grant is new:
            done = UpgradeEvent(
                reason="Switched", message=f"{new.value} ({version}) serves and owns batches"
            )
            return _move(status, P.OBSERVE, obs), [*switched, done]
        return status, switched
    if phase is P.OBSERVE:
        if _elapsed(status, obs.now) >= plan.observe_seconds:
            return _move(status, P.CONTRACT_MIGRATION, obs), switched
        return status, switched
    if phase is P.RETIRE_BLUE:
        retire: list[Action] = [DeleteColour(colour=old)]
        if not obs.old_exists:
            done = UpgradeEvent(reason="UpgradeDone", message=f"{version} serves from {new.value}")
            return _move(status, P.QUALIFIED, obs), [*retire, done]
        return status, retire
    if phase is P.ROLLING_BACK:
        back: list[Action] = [
            SetGrant(colour=old, upgrade_pending=False, reason=f"rolled back: {status.cause}"),
            MoveActiveSelector(colour=old),
            DeleteColour(colour=new),
        ]
        if obs.grant in {old, None} and obs.selector in {old, None} and not obs.new_exists:
            done = UpgradeEvent(
                reason="RolledBack",
                type=EventType.WARNING,
                message=f"back on {status.from_version} in {old.value}: {status.cause}",
            )
            return _move(status, P.ROLLED_BACK, obs, message=status.message), [*back, done]
        return status, back
    return status, []  # terminal


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
            update={"held": False, "cause": None, "phase_started_at": _stamp(obs.now)}
        ), []
    if verb is RequestVerb.ROLLBACK and status.phase in ROLLBACKABLE:
        return _move(status, P.ROLLING_BACK, obs, cause="RollbackRequested", held=False), [
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
                message="past the contract migration: restore the verified backup "
                f"{status.backup_location}",
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
            status, actions = _fail(
                status, plan, obs, "Superseded", f"spec.version is now {plan.version}"
            )
        else:
            status, actions = _requests(status, plan, obs)
        if status.phase is P.ROLLING_BACK or not (plan.paused or status.held):
            status, more = _step(status, plan, obs)
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
