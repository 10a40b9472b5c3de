"""The conditions an upgrade shows: Progressing, MigrationInProgress, Degraded.

Pure: a function of the upgrade status (and spec.paused). Reasons are CamelCase, so
``kubectl wait --for=condition=...`` and alerts can key on them.
"""

from __future__ import annotations

from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.status.conditions import Observation

__all__ = ["upgrade_conditions"]

P = UpgradePhase
_DONE = {
    P.QUALIFIED: ("UpgradeDone", "upgraded to {to}"),
    P.ROLLED_BACK: ("RolledBack", "rolled back to {frm}: {msg}"),
    P.FAILED: ("UpgradeFailed", "upgrade to {to} failed: {msg}"),
}


def _progressing(status: UpgradeStatus | None, *, paused: bool) -> Observation:
    if status is None:
        return Observation(type="Progressing", status="False", reason="NoUpgrade", message="")
    words = {"to": status.to_version, "frm": status.from_version, "msg": status.message or ""}
    if status.phase in _DONE:
        reason, text = _DONE[status.phase]
        return Observation(
            type="Progressing", status="False", reason=reason, message=text.format(**words)
        )
    if status.held:
        return Observation(
            type="Progressing",
            status="False",
            reason=status.cause or "Held",
            message=f"held at {status.phase.value}: {status.message or ''}; "
            "`kubectl mes upgrade resume` to wait again, or `kubectl mes rollback`",
        )
    if paused and status.phase is not P.ROLLING_BACK:
        return Observation(
            type="Progressing",
            status="False",
            reason="Paused",
            message=f"spec.paused holds the upgrade to {status.to_version} at {status.phase.value}",
        )
    return Observation(
        type="Progressing",
        status="True",
        reason=status.phase.value,
        message=f"{status.from_version} -> {status.to_version}: "
        f"{status.message or status.phase.value}",
    )


def _migration(status: UpgradeStatus | None) -> Observation:
    if status is not None and status.phase in {P.EXPAND_MIGRATION, P.CONTRACT_MIGRATION}:
        return Observation(
            type="MigrationInProgress",
            status="True",
            reason=status.phase.value,
            message=f"{status.phase.value} Job for {status.to_version} (attempt {status.attempt})",
        )
    return Observation(type="MigrationInProgress", status="False", reason="NoMigration", message="")


def _degraded(status: UpgradeStatus | None) -> Observation:
    bad = {P.ROLLING_BACK, P.ROLLED_BACK, P.FAILED}
    if status is not None and status.cause and (status.phase in bad or status.held):
        return Observation(
            type="Degraded",
            status="True",
            reason=status.cause,
            message=f"upgrade to {status.to_version}: {status.message or status.cause}",
        )
    return Observation(type="Degraded", status="False", reason="UpgradeHealthy", message="")


def upgrade_conditions(status: UpgradeStatus | None, *, paused: bool) -> tuple[Observation, ...]:
    """The three conditions an upgrade owns, for
    :func:`~mes_operator.status.conditions.merge_conditions`."""
    return (_progressing(status, paused=paused), _migration(status), _degraded(status))
