"""Limit excursions of monitored process values while a phase runs (review by exception)."""

from __future__ import annotations

from mes_runtime.domain.exceptions import Category
from mes_runtime.domain.states import Command, ElementState
from mes_runtime.engine.ports import Severity

from .harness import FEDBATCH, Harness, reach_cultivation, running_batch
from .recipes import BR_BINDINGS, extend_loop

S = ElementState
SUBJECT = f"{FEDBATCH}:BR-101.Temperature"


async def test_excursion_raises_one_exception_on_entry_and_journals_the_return(
    batch: Harness,
) -> None:
    h = batch
    await reach_cultivation(h)
    await h.settle()
    assert h.recorder.exceptions() == []

    for value in (38.2, 38.9, 40.0):  # one excursion, however long it lasts
        h.equipment.publish("BR-101", "Temperature", value, "degC")
    await h.until(lambda: len(h.recorder.exceptions()) == 1, "an exception")
    await h.settle()
    (exception,) = h.recorder.exceptions()
    assert exception["severity"] is Severity.CRITICAL
    assert exception["category"] is Category.LIMIT_EXCURSION
    assert exception["subject"] == SUBJECT
    assert "38.2" in exception["message"]
    trigger = exception["trigger"]
    assert (trigger["equipment"], trigger["name"], trigger["value"]) == (
        "BR-101",
        "Temperature",
        38.2,
    )
    assert trigger["low"] is not None or trigger["high"] is not None
    assert h.recorder.journal_entries("limit.recovered") == []

    h.equipment.publish("BR-101", "Temperature", 37.0, "degC")
    await h.until(lambda: len(h.recorder.journal_entries("limit.recovered")) == 1, "recovery")
    (recovered,) = h.recorder.journal_entries("limit.recovered")
    assert recovered["subject"] == SUBJECT
    assert recovered["actor"] == "system"

    h.equipment.publish("BR-101", "Temperature", 34.0, "degC")  # a second excursion
    await h.until(lambda: len(h.recorder.exceptions()) == 2, "a second exception")
    assert h.state(FEDBATCH) is S.RUNNING, "an excursion is recorded, not acted upon"


async def test_excursion_between_two_samples_is_not_missed(batch: Harness) -> None:
    h = batch
    await reach_cultivation(h)
    await h.settle()
    async with h.engine._lock:  # both samples reach the engine in one batch of events
        h.equipment.publish("BR-101", "Temperature", 39.0, "degC")
        h.equipment.publish("BR-101", "Temperature", 36.5, "degC")
    await h.until(lambda: len(h.recorder.journal_entries("limit.recovered")) == 1, "recovery")
    assert [e["subject"] for e in h.recorder.exceptions()] == [SUBJECT]


async def test_values_outside_limits_are_not_exceptions_when_the_phase_is_not_running(
    batch: Harness,
) -> None:
    h = batch
    await reach_cultivation(h)
    await h.engine.command(h.batch_id, FEDBATCH, Command.HOLD, actor="bob")
    await h.until_state(FEDBATCH, S.HELD)
    h.equipment.publish("BR-101", "Temperature", 20.0, "degC")  # e.g. cooling while held
    h.equipment.publish("BR-101", "pH", 6.0, "pH")
    await h.settle()
    assert h.recorder.exceptions() == []


async def test_monitored_value_of_another_module_or_unwatched_name_is_ignored(
    batch: Harness,
) -> None:
    h = batch
    await reach_cultivation(h)
    h.equipment.publish("TK-201", "Temperature", 90.0, "degC")  # not BR-101
    h.equipment.publish("BR-101", "Volume", 5000.0, "L")  # not monitored
    await h.settle()
    assert h.recorder.exceptions() == []


async def test_re_entered_phase_reports_its_own_excursion() -> None:
    run = "procedure/BR-UP/cultivation/run-fedbatch"
    extend = "procedure/BR-UP/cultivation/extend-fedbatch"
    async with running_batch(extend_loop(), BR_BINDINGS) as h:
        h.equipment.publish("BR-101", "VCD", 2.0, "1e6 cells/mL")
        await h.complete_phase(run)
        await h.executing(extend)
        h.equipment.publish("BR-101", "Temperature", 30.0, "degC")
        await h.until(lambda: len(h.recorder.exceptions()) == 1, "the first excursion")
        await h.complete_phase(extend)  # ends while still outside; VCD 2: extend again
        await h.executing(extend)
        h.equipment.publish("BR-101", "Temperature", 30.5, "degC")
        await h.until(lambda: len(h.recorder.exceptions()) == 2, "the new run's excursion")
        assert [x["subject"] for x in h.recorder.exceptions()] == [
            f"{extend}:BR-101.Temperature"
        ] * 2


async def test_value_hovering_at_a_limit_is_one_excursion_until_it_clears_the_deadband(
    batch: Harness,
) -> None:
    h = batch
    await reach_cultivation(h)
    await h.settle()
    # Limit 35.5..37.5 degC: deadband 2 % of the span = 0.04 degC.
    for value in (37.51, 37.49, 37.52, 37.47, 37.505):  # noise around the high limit
        h.equipment.publish("BR-101", "Temperature", value, "degC")
    await h.until(lambda: len(h.recorder.exceptions()) == 1, "an exception")
    await h.settle()
    assert len(h.recorder.exceptions()) == 1
    assert h.recorder.journal_entries("limit.recovered") == []
    assert "37.51 degC" in h.recorder.exceptions()[0]["message"]

    h.equipment.publish("BR-101", "Temperature", 37.45, "degC")  # clears 37.5 - 0.04
    await h.until(lambda: len(h.recorder.journal_entries("limit.recovered")) == 1, "recovery")
    assert len(h.recorder.exceptions()) == 1
