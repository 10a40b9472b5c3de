"""The operator's reconcile metrics: results by exception, and the /metrics endpoint."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import kopf
import pytest
from mes_operator.equipment.check import check_equipment
from mes_operator.metrics import (
    CHECK_RESULTS,
    REGISTRY,
    ReconcileHeartbeat,
    equipment_checked,
    measured_reconcile,
    serve_metrics,
)
from prometheus_client.parser import text_string_to_metric_families

from holon_testing.net import free_port
from holon_testing.simulator_process import simulated_module


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (None, "ok"),
        (kopf.TemporaryError("later", delay=1), "retry"),
        (kopf.PermanentError("never"), "invalid"),
        (RuntimeError("boom"), "error"),
    ],
)
async def test_a_reconcile_is_counted_by_result_and_timed(
    error: Exception | None, result: str
) -> None:
    before = _value("holon_operator_reconciles_total", kind="Equipment", result=result)
    timed = _value("holon_operator_reconcile_duration_seconds_count", kind="Equipment")

    async def reconcile() -> None:
        async with measured_reconcile("Equipment"):
            if error is not None:
                raise error

    if error is None:
        await reconcile()
    else:
        with pytest.raises(type(error)):
            await reconcile()

    assert _value("holon_operator_reconciles_total", kind="Equipment", result=result) == before + 1
    assert _value("holon_operator_reconcile_duration_seconds_count", kind="Equipment") == timed + 1


LAST = "holon_operator_module_reconcile_timestamp_seconds"
MODULES = "holon_operator_modules_reconciled"


def test_the_heartbeat_says_when_this_replica_last_reconciled_and_how_many_modules() -> None:
    """What the ``HolonOperatorNotReconciling`` alert reads: nothing from a replica that
    never reconciled (a standby); the last beat, and the modules reconciled in the window
    before it, from one that did. A failed reconcile is no beat; a deletion is one."""
    now = [1000.0]
    beat = ReconcileHeartbeat(window=120, clock=lambda: now[0])

    def samples() -> dict[str, float]:
        return {s.name: s.value for family in beat.collect() for s in family.samples}

    assert samples() == {}
    beat.reconciled("plant", "batch")
    beat.reconciled("plant", "ebr")
    assert samples() == {LAST: 1000.0, MODULES: 2.0}
    now[0] = 1030.0
    beat.reconciled("plant", "rbe", failed=True)  # seen, but no beat
    assert samples() == {LAST: 1000.0, MODULES: 3.0}
    now[0] = 1060.0
    beat.deleted("plant", "ebr")
    assert samples() == {LAST: 1060.0, MODULES: 2.0}
    now[0] = 1200.0  # batch (1000) is outside the 120 s before this beat: gone, it seems
    beat.reconciled("plant", "rbe")
    assert samples() == {LAST: 1200.0, MODULES: 1.0}
    now[0] = 5000.0  # nobody reconciles: the values stay those of the last beat
    assert samples() == {LAST: 1200.0, MODULES: 1.0}
    beat.deleted("plant", "rbe")
    beat.deleted("plant", "batch")
    assert samples() == {LAST: 5000.0, MODULES: 0.0}


async def test_a_module_reconcile_beats_the_registry_unless_it_fails() -> None:
    async def reconcile(error: Exception | None) -> None:
        async with measured_reconcile("MESModule", module=("plant", "beat")):
            if error is not None:
                raise error

    await reconcile(None)
    first = _value(LAST)
    assert first > 1.7e9  # Unix time
    with pytest.raises(kopf.TemporaryError):
        await reconcile(kopf.TemporaryError("later", delay=1))  # not yet: still a beat
    assert _value(LAST) > first
    second = _value(LAST)
    with pytest.raises(RuntimeError):
        await reconcile(RuntimeError("boom"))
    assert _value(LAST) == second
    assert _value(MODULES) >= 1


def test_the_endpoint_serves_every_family_and_a_taken_port_is_no_crash() -> None:
    assert serve_metrics(0) is None  # off
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_metrics(port, host="127.0.0.1") is None
    assert serve_metrics(port, host="127.0.0.1") == port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "holon_operator_reconciles",
        "holon_operator_reconcile_duration_seconds",
        "holon_operator_drift_corrections",
    } <= families


async def test_equipment_checks_are_counted_and_timed_by_result(tmp_path: Path) -> None:
    """A real check of the simulator's tank (verified) and of a port nobody serves, each
    counted under its result, as the Equipment reconcile reports them."""
    results = ("AllServicesPresent", "Unreachable")
    before = {
        r: (
            _value("holon_operator_equipment_checks_total", result=r),
            _value("holon_operator_equipment_check_duration_seconds_count", result=r),
        )
        for r in results
    }
    with simulated_module("TK-201", ("string",), tmp_path) as modules:
        verified = await check_equipment(modules["string"].endpoint, ["Charge", "Mix"])
    unreachable = await check_equipment(
        f"opc.tcp://127.0.0.1:{free_port()}", ["Charge"], connect_timeout=1.0
    )
    for result in (verified, unreachable):
        equipment_checked(result.reason, result.duration_seconds)

    assert (verified.reason, unreachable.reason) == results
    for r in results:
        checks, timed = before[r]
        assert _value("holon_operator_equipment_checks_total", result=r) == checks + 1
        assert (
            _value("holon_operator_equipment_check_duration_seconds_count", result=r) == timed + 1
        )
    assert (
        _value("holon_operator_equipment_check_duration_seconds_sum", result="AllServicesPresent")
        >= verified.duration_seconds
        > 0
    )
    port = serve_metrics(free_port(), host="127.0.0.1")
    assert port is not None
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    checks = {
        s.labels["result"]
        for f in text_string_to_metric_families(text)
        if f.name == "holon_operator_equipment_checks"
        for s in f.samples
    }
    assert set(CHECK_RESULTS) <= checks  # every result queryable before it first happens
