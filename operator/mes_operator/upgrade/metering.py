"""Count each persisted upgrade step in the operator's metrics, once per process.

:func:`stepped` runs after a step's status patch (:mod:`.drive`); what it counts comes
from the pure :func:`.progress.progress`. :func:`stepping` refreshes the in-flight gauges
from the status a step starts from, before anything can fail, so an upgrade whose steps
keep failing (the runtime unreachable) still shows how long it has been in its phase.
"""

from __future__ import annotations

from collections import deque

from mes_operator.metrics import (
    UPGRADE_NOW,
    UPGRADE_PHASE_SECONDS,
    UPGRADE_ROLLBACKS,
    UPGRADES_ENDED,
    UPGRADES_STARTED,
)
from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.upgrade.machine import TERMINAL
from mes_operator.upgrade.progress import Key, phase_started, progress

__all__ = ["Module", "stepped", "stepping"]

Module = tuple[str, str, str]
"""namespace, name and uid of a MESModule (a module made again under its name is another)."""

REMEMBERED = 32
"""Steps remembered per module: more than one drive call takes (a whole upgrade is 11
moves), so a body however many moves behind is still recognised."""
_counted: dict[tuple[str, str], tuple[str, deque[Key]]] = {}
"""Per module, its uid and the keys of the steps this process counted last."""


def stepping(module: Module, upgrade: UpgradeStatus | None, *, paused: bool = False) -> None:
    """The gauges of the upgrade in flight, from the status a step starts from or ends in
    (``paused``: spec.paused, which holds every phase but RollingBack)."""
    namespace, name, _ = module
    if upgrade is None or upgrade.phase in TERMINAL:
        UPGRADE_NOW.clear(namespace, name)
        return
    UPGRADE_NOW.set(
        namespace,
        name,
        phase=upgrade.phase.value,
        phase_started=phase_started(upgrade).timestamp(),
        held=upgrade.held,
        paused=paused and upgrade.phase is not UpgradePhase.ROLLING_BACK,
    )


def stepped(
    module: Module,
    previous: UpgradeStatus | None,
    decided: UpgradeStatus | None,
    *,
    paused: bool = False,
) -> bool:
    """Count the step from ``previous`` to ``decided`` (both persisted) and refresh the
    gauges; whether anything was counted (not when this process counted the step already)."""
    stepping(module, decided, paused=paused)
    namespace, name, uid = module
    seen = progress(previous, decided)
    known, keys = _counted.get((namespace, name), ("", deque[Key]()))
    if known != uid:
        keys = deque(maxlen=REMEMBERED)
        _counted[(namespace, name)] = (uid, keys)
    if not seen.anything or seen.key in keys:
        return False
    keys.append(seen.key)
    if seen.started:
        UPGRADES_STARTED.labels(namespace, name).inc()
    if seen.left is not None:
        UPGRADE_PHASE_SECONDS.labels(namespace, name, seen.left.value).observe(seen.seconds)
    if seen.rollback_cause is not None:
        UPGRADE_ROLLBACKS.labels(namespace, name, seen.rollback_cause).inc()
    if seen.outcome is not None:
        UPGRADES_ENDED.labels(namespace, name, seen.outcome).inc()
    return True
