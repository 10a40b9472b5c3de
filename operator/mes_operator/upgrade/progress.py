"""What one persisted upgrade step means for the operator's metrics (pure).

:func:`progress` compares the status a step started from with the status it persisted:
an attempt began, a phase was left (and how long it lasted, between the two persisted
``phaseStartedAt`` stamps, so an operator restart or a fail-over changes nothing), an
attempt ended (qualified, rolled back, failed), a rollback began and why.

Counted once per persisted step. The operator counts after the status patch, never
before: a step whose patch is lost (a crash after the actions) is re-decided by the next
reconcile, on this replica or on the standby that takes over, and counted there, once.
The step's :attr:`Progress.key` names the persisted status it started from; a process
counts a key at most once (:mod:`.metering`), so a reconcile that re-decides from a status
it already moved on from (a body older than its own last patch) counts nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.upgrade.machine import TERMINAL

__all__ = ["OUTCOMES", "Key", "Progress", "phase_started", "progress"]

P = UpgradePhase
OUTCOMES: dict[UpgradePhase, str] = {
    P.QUALIFIED: "qualified",
    P.ROLLED_BACK: "rolled_back",
    P.FAILED: "failed",
}
"""The outcome label of each terminal phase."""

Key = tuple[int, str, str, bool] | None


@dataclass(frozen=True, kw_only=True)
class Progress:
    """What a step did, as far as the metrics are concerned."""

    key: Key
    """The status the step started from (attempt, phase, phaseStartedAt, held)."""
    started: bool = False
    """An attempt began (a new version, or a retry)."""
    left: UpgradePhase | None = None
    """The phase the upgrade left (a terminal phase is never reported as left)."""
    seconds: float = 0.0
    """Time spent in :attr:`left`."""
    outcome: str | None = None
    """How the attempt ended, when it did: one of :data:`OUTCOMES`' values."""
    rollback_cause: str | None = None
    """Why a rollback began, when one did."""

    @property
    def anything(self) -> bool:
        """Whether the step changed anything a counter counts."""
        return self.started or self.left is not None or self.outcome is not None


def phase_started(status: UpgradeStatus) -> datetime:
    """When the status's phase started (the upgrade's start for old statuses without it)."""
    stamp = status.phase_started_at or status.started_at
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _key(status: UpgradeStatus | None) -> Key:
    if status is None:
        return None
    return (status.attempt, status.phase.value, status.phase_started_at or "", status.held)


def progress(previous: UpgradeStatus | None, decided: UpgradeStatus | None) -> Progress:
    """The metrics' view of one step from ``previous`` (persisted) to ``decided`` (persisted
    after it)."""
    key = _key(previous)
    if decided is None:
        return Progress(key=key)
    was_over = previous is None or previous.phase in TERMINAL
    started = was_over and decided.phase not in TERMINAL
    left = None
    seconds = 0.0
    if previous is not None and not was_over and previous.phase is not decided.phase:
        left = previous.phase
        seconds = max((phase_started(decided) - phase_started(previous)).total_seconds(), 0.0)
    ended = decided.phase in TERMINAL and not was_over
    rolling_back = decided.phase is P.ROLLING_BACK and left is not None
    return Progress(
        key=key,
        started=started,
        left=left,
        seconds=seconds,
        outcome=OUTCOMES[decided.phase] if ended else None,
        rollback_cause=(decided.cause or "Unknown") if rolling_back else None,
    )
