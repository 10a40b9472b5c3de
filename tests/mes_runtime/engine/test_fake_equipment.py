"""The FAKE equipment must behave like an MTP module, or the engine tests prove nothing."""

from __future__ import annotations

import asyncio

import pytest

from mes_runtime.engine.ports import (
    ConnectionLost,
    ConnectionRestored,
    EquipmentEvent,
    ProcessSample,
    ServiceStateChanged,
)
from mes_runtime.mtp.codes import ServiceCommand as C
from mes_runtime.mtp.codes import ServiceState as S
from mes_runtime.mtp.errors import CommandNotEnabled, EquipmentUnavailable, UnknownElement

from .fake_equipment import FakeEquipment


def drain(fake: FakeEquipment) -> list[EquipmentEvent]:
    events: list[EquipmentEvent] = []
    while not fake.events.empty():
        events.append(fake.events.get_nowait())
    return events


def states(events: list[EquipmentEvent]) -> list[S]:
    return [e.state for e in events if isinstance(e, ServiceStateChanged)]


async def at_rest(fake: FakeEquipment) -> None:
    async with asyncio.timeout(1):
        while fake.busy:
            await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeEquipment:
    equipment = FakeEquipment({"BR-101": {"Cultivate": ["FedBatch"]}})
    assert states(drain(equipment)) == [S.IDLE]  # the subscription's initial notification
    return equipment


async def test_a_run_passes_every_mtp_state_in_order(fake: FakeEquipment) -> None:
    await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {"Duration": 24.0})
    await at_rest(fake)
    assert fake.state("BR-101", "Cultivate") is S.EXECUTE
    fake.finish("BR-101", "Cultivate")
    await at_rest(fake)
    await fake.command("BR-101", "Cultivate", C.RESET)
    await at_rest(fake)
    assert states(drain(fake)) == [
        S.STARTING,
        S.EXECUTE,
        S.COMPLETING,
        S.COMPLETED,
        S.RESETTING,
        S.IDLE,
    ]
    assert fake.service("BR-101", "Cultivate").parameters == {"Duration": 24.0}


async def test_hold_unhold_pause_resume_stop(fake: FakeEquipment) -> None:
    await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {})
    await at_rest(fake)
    drain(fake)
    for command in (C.HOLD, C.UNHOLD, C.PAUSE, C.RESUME, C.STOP):
        await fake.command("BR-101", "Cultivate", command)
        await at_rest(fake)
    assert states(drain(fake)) == [
        S.HOLDING,
        S.HELD,
        S.UNHOLDING,
        S.EXECUTE,
        S.PAUSING,
        S.PAUSED,
        S.RESUMING,
        S.EXECUTE,
        S.STOPPING,
        S.STOPPED,
    ]


@pytest.mark.parametrize(
    ("state_commands", "refused"),
    [
        ((), C.UNHOLD),  # Idle: only Start (and Stop/Abort)
        ((C.START,), C.START),  # Execute: no second Start
        ((C.START,), C.RESUME),  # Execute: nothing to resume
        ((C.START, C.HOLD), C.PAUSE),  # Held: only Unhold, Stop, Abort
        ((C.START, C.ABORT), C.STOP),  # Aborted: only Reset
    ],
)
async def test_command_not_enabled_is_refused_without_a_change(
    fake: FakeEquipment, state_commands: tuple[C, ...], refused: C
) -> None:
    for command in state_commands:
        if command is C.START:
            await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {})
        else:
            await fake.command("BR-101", "Cultivate", command)
        await at_rest(fake)
    before = fake.state("BR-101", "Cultivate")
    drain(fake)
    with pytest.raises(CommandNotEnabled):
        await fake.command("BR-101", "Cultivate", refused)
    assert fake.state("BR-101", "Cultivate") is before
    assert drain(fake) == []


async def test_pinned_transient_state_waits_for_release(fake: FakeEquipment) -> None:
    await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {})
    await at_rest(fake)
    fake.pin("BR-101", "Cultivate")
    await fake.command("BR-101", "Cultivate", C.HOLD)
    await asyncio.sleep(0)
    assert fake.state("BR-101", "Cultivate") is S.HOLDING
    fake.release("BR-101", "Cultivate")
    await at_rest(fake)
    assert fake.state("BR-101", "Cultivate") is S.HELD


async def test_disconnected_module_runs_on_silently_and_reports_on_reconnect(
    fake: FakeEquipment,
) -> None:
    await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {})
    await at_rest(fake)
    fake.publish("BR-101", "Temperature", 36.5, "degC")
    drain(fake)
    fake.disconnect("BR-101", "cable pulled")
    assert not fake.is_connected("BR-101")
    with pytest.raises(EquipmentUnavailable):
        await fake.service_state("BR-101", "Cultivate")
    with pytest.raises(EquipmentUnavailable):
        await fake.command("BR-101", "Cultivate", C.HOLD)
    fake.finish("BR-101", "Cultivate")  # the module goes on without us
    await at_rest(fake)
    events = drain(fake)
    assert events == [ConnectionLost("BR-101", "cable pulled", events[0].timestamp)]
    fake.reconnect("BR-101")
    events = drain(fake)
    assert isinstance(events[0], ConnectionRestored)
    assert states(events) == [S.COMPLETED]
    assert [(e.name, e.value) for e in events if isinstance(e, ProcessSample)] == [
        ("Temperature", 36.5)
    ]


async def test_unknown_procedure_is_refused(fake: FakeEquipment) -> None:
    with pytest.raises(UnknownElement):
        await fake.start_procedure("BR-101", "Cultivate", "Batch", {})
    assert fake.state("BR-101", "Cultivate") is S.IDLE


async def test_delayed_notifications_arrive_later_in_order(fake: FakeEquipment) -> None:
    fake.delay("BR-101")
    await fake.start_procedure("BR-101", "Cultivate", "FedBatch", {})
    await at_rest(fake)
    assert await fake.service_state("BR-101", "Cultivate") is S.EXECUTE  # a direct read
    assert drain(fake) == []
    fake.deliver("BR-101")
    assert states(drain(fake)) == [S.STARTING, S.EXECUTE]
    fake.finish("BR-101", "Cultivate")  # no longer delayed
    assert states(drain(fake)) == [S.COMPLETING]
