"""Upgrade steps as the operator's registry counts them: each persisted step once, the
in-flight gauges while an upgrade runs, and a standby's stale gauges dropped."""

from __future__ import annotations

import uuid
from dataclasses import replace

from mes_operator.metrics import (
    REGISTRY,
    UPGRADE_NOW,
    UpgradeNow,
    upgrade_series,
    upgrade_series_removed,
)
from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus
from mes_operator.upgrade import TERMINAL, CheckState
from mes_operator.upgrade.metering import Module, stepped, stepping
from mes_operator.upgrade.progress import phase_started
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.mes_operator.test_upgrade_progress import HAPPY
from tests.mes_operator.upgrade_world import Run, World, plan

P = UpgradePhase
NS = "plant-a"


def _module() -> Module:
    """A module of its own per test (the registry is the process's)."""
    return (NS, f"m-{uuid.uuid4().hex[:8]}", str(uuid.uuid4()))


def _value(name: str, module: Module, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"namespace": NS, "module": module[1], **labels})


def _metered(module: Module, run: Run, *, limit: int = 60) -> list[UpgradeStatus]:
    """Reconcile ``run`` to its end, counting each step as drive does after the patch; the
    statuses each step started from."""
    starts: list[UpgradeStatus] = []
    for _ in range(limit):
        before = run.status
        stepping(module, before)
        run.step()
        stepped(module, before, run.status)
        if before is None:
            continue
        starts.append(before)
        if before.phase in TERMINAL:  # one step more than the end: terminal is stable
            break
    return starts


def test_a_qualified_upgrade_in_the_registry() -> None:
    module = _module()
    upgrade_series(NS, module[1])
    assert _value("holon_operator_upgrades_ended_total", module, outcome="qualified") == 0
    run = Run(World(), plan())
    _metered(module, run)
    assert _value("holon_operator_upgrades_started_total", module) == 1
    assert _value("holon_operator_upgrades_ended_total", module, outcome="qualified") == 1
    assert _value("holon_operator_upgrades_ended_total", module, outcome="rolled_back") == 0
    assert _value("holon_operator_upgrades_ended_total", module, outcome="failed") == 0
    duration = "holon_operator_upgrade_phase_duration_seconds"
    for phase in HAPPY:
        assert _value(f"{duration}_count", module, phase=phase.value) == 1, phase
    assert _value(f"{duration}_count", module, phase="Qualified") is None  # terminal: no end
    assert run.status is not None
    total = (phase_started(run.status) - _began(run.status)).total_seconds()
    assert sum(_value(f"{duration}_sum", module, phase=p.value) or 0 for p in HAPPY) == total
    # the upgrade is over: no in-flight series
    gauge = "holon_operator_upgrade_phase_started_timestamp_seconds"
    assert not any(_value(gauge, module, phase=p.value) for p in P)
    assert _value("holon_operator_upgrade_held", module) is None


def _began(status: UpgradeStatus) -> object:
    return phase_started(status.model_copy(update={"phase_started_at": status.started_at}))


def test_a_step_redone_from_a_status_already_counted_counts_nothing() -> None:
    """A reconcile that decides again from a status this process already moved on from (a
    body older than its own last patch) persists the same move with a later stamp: the
    process counted that step, and does not count it again."""
    module = _module()
    run = Run(World(), plan())
    for _ in range(3):  # Preflight, then VerifiedBackup waiting for its Job
        before = run.status
        run.step()
        stepped(module, before, run.status)
    moved = run.status
    assert moved is not None
    assert moved.phase is P.VERIFIED_BACKUP
    preflight = moved.model_copy(
        update={"phase": P.PREFLIGHT, "phase_started_at": moved.started_at}
    )
    again = moved.model_copy(update={"phase_started_at": "2026-11-30T12:30:00Z"})
    count = "holon_operator_upgrade_phase_duration_seconds_count"
    assert _value(count, module, phase="Preflight") == 1
    assert not stepped(module, preflight, again)  # the stale body's redo: not again
    assert _value(count, module, phase="Preflight") == 1
    assert _value("holon_operator_upgrades_started_total", module) == 1
    # the same name made again is another module: its steps count afresh
    other: Module = (module[0], module[1], str(uuid.uuid4()))
    assert stepped(other, preflight, again)
    assert _value(count, module, phase="Preflight") == 2
    # a body several moves behind (one drive call moves many phases) is recognised too
    module = _module()
    run = Run(World(), plan())
    starts = _metered(module, run)
    assert len(starts) > 20
    for before in starts:
        assert not stepped(module, before, before.model_copy(update={"phase": P.FAILED}))
    assert _value(count, module, phase="Preflight") == 1
    assert _value("holon_operator_upgrades_ended_total", module, outcome="failed") is None


def test_a_crash_before_the_patch_is_counted_by_the_redo_once() -> None:
    """A crashed step persists nothing and so counts nothing; the reconcile that redoes it
    (here or on the standby that takes over) counts it: each phase left once."""
    module = _module()
    run = Run(World(), plan())
    for index in range(60):
        before = run.status
        crash = "after-actions" if index in {2, 5, 9} else None
        run.step(crash=crash)
        if crash is None:  # drive counts only after the patch
            stepped(module, before, run.status)
        if run.status is not None and run.status.phase in TERMINAL:
            break
    count = "holon_operator_upgrade_phase_duration_seconds_count"
    assert [_value(count, module, phase=p.value) for p in HAPPY] == [1.0] * len(HAPPY)
    assert _value("holon_operator_upgrades_ended_total", module, outcome="qualified") == 1


def test_a_rollback_in_the_registry_by_cause() -> None:
    module = _module()
    upgrade_series(NS, module[1])
    _metered(module, Run(World(checks=CheckState.FAILED), plan()))
    rollbacks = "holon_operator_upgrade_rollbacks_total"
    assert _value(rollbacks, module, cause="NewVersionChecksFailed") == 1
    assert _value("holon_operator_upgrades_ended_total", module, outcome="rolled_back") == 1
    assert _value("holon_operator_upgrades_ended_total", module, outcome="qualified") == 0
    count = "holon_operator_upgrade_phase_duration_seconds_count"
    assert _value(count, module, phase="RollingBack") == 1


def _series_of(module: Module) -> set[str]:
    """Every sample the registry exports with the module's labels."""
    return {
        sample.name
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == NS and sample.labels.get("module") == module[1]
    }


def test_a_deleted_module_leaves_no_series() -> None:
    """A module rolled back once and then upgraded again, held at the safe point, is
    deleted: its counters, phase durations and in-flight gauges go (they stayed until the
    operator restarted); another module's stay."""
    module, other = _module(), _module()
    for each in (module, other):
        upgrade_series(NS, each[1])
        _metered(each, Run(World(checks=CheckState.FAILED), plan()))
    p = plan()
    run = Run(World(safe=False), replace(p, timeouts=replace(p.timeouts, safe_point=300)))
    for _ in range(30):
        before = run.status
        run.step()
        stepped(module, before, run.status)
    assert _value("holon_operator_upgrade_held", module) == 1
    kept = _series_of(other)
    assert "holon_operator_upgrade_rollbacks_total" in kept
    assert {
        "holon_operator_upgrades_started_total",
        "holon_operator_upgrades_ended_total",
        "holon_operator_upgrade_rollbacks_total",
        "holon_operator_upgrade_phase_duration_seconds_count",
        "holon_operator_upgrade_phase_started_timestamp_seconds",
        "holon_operator_upgrade_held",
    } <= _series_of(module)

    upgrade_series_removed(NS, module[1])

    assert _series_of(module) == set()
    assert _series_of(other) == kept
    upgrade_series_removed(NS, module[1])  # a second deletion event: nothing left to remove


def test_the_in_flight_gauges_name_the_phase_and_the_hold() -> None:
    module = _module()
    p = plan()
    run = Run(World(safe=False), replace(p, timeouts=replace(p.timeouts, safe_point=300)))
    gauge = "holon_operator_upgrade_phase_started_timestamp_seconds"
    held = "holon_operator_upgrade_held"
    for _ in range(30):
        before = run.status
        run.step()
        stepped(module, before, run.status)
        if run.status is not None and run.status.phase is P.DEPLOY_GREEN:
            since = phase_started(run.status).timestamp()
            assert _value(gauge, module, phase="DeployGreen") == since
            assert _value(held, module) == 0
    assert run.status is not None
    assert run.status.held
    assert _value(gauge, module, phase="SafePoint") == phase_started(run.status).timestamp()
    assert _value(gauge, module, phase="DeployGreen") is None  # one series: the phase now
    assert _value(held, module) == 1
    text = generate_latest(REGISTRY).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "holon_operator_upgrades_started",
        "holon_operator_upgrades_ended",
        "holon_operator_upgrade_rollbacks",
        "holon_operator_upgrade_phase_duration_seconds",
        "holon_operator_upgrade_phase_started_timestamp_seconds",
        "holon_operator_upgrade_held",
        "holon_operator_upgrade_paused",
    } <= families
    UPGRADE_NOW.clear(NS, module[1])
    assert _value(held, module) is None


def test_a_paused_upgrade_says_so_but_a_rollback_is_never_paused() -> None:
    module = _module()
    run = Run(World(), plan(paused=True))
    before = run.status
    run.step()  # an upgrade begins even when paused; it waits in Preflight
    stepped(module, before, run.status, paused=True)
    assert run.status is not None
    assert run.status.phase is P.PREFLIGHT
    assert _value("holon_operator_upgrade_paused", module) == 1
    stepping(module, run.status, paused=False)
    assert _value("holon_operator_upgrade_paused", module) == 0
    rolling = run.status.model_copy(update={"phase": P.ROLLING_BACK})
    stepping(module, rolling, paused=True)
    assert _value("holon_operator_upgrade_paused", module) == 0
    UPGRADE_NOW.clear(NS, module[1])


def test_a_replica_that_stopped_stepping_drops_its_gauges() -> None:
    """After a fail-over the old active replica (now standby) steps nothing: its gauges go
    after ``stale_after`` seconds, so it reports no upgrade stuck in a phase long left."""
    now = [1000.0]
    gauges = UpgradeNow(stale_after=120, clock=lambda: now[0])
    gauges.set(NS, "batch", phase="SafePoint", phase_started=1.7e9, held=True, paused=True)

    def samples() -> dict[str, float]:
        return {s.name: s.value for family in gauges.collect() for s in family.samples}

    assert samples() == {
        "holon_operator_upgrade_phase_started_timestamp_seconds": 1.7e9,
        "holon_operator_upgrade_held": 1.0,
        "holon_operator_upgrade_paused": 1.0,
    }
    now[0] += 120
    assert len(samples()) == 3
    now[0] += 1
    assert samples() == {}
    gauges.set(NS, "batch", phase="Switch", phase_started=1.7e9 + 60, held=False)
    assert samples()["holon_operator_upgrade_held"] == 0.0
