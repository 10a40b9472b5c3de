"""Equipment status from a check result; when a re-check is due."""

from __future__ import annotations

from datetime import UTC, datetime

from mes_operator.equipment.check import CheckResult
from mes_operator.status.conditions import condition
from mes_operator.status.equipment import check_due, equipment_status

NOW = "2026-01-01T00:00:00Z"


def test_verified() -> None:
    result = CheckResult(
        connected=True,
        verified=True,
        reason="AllServicesPresent",
        message="ok",
        duration_seconds=0.25,
        found=("Dosing",),
    )
    status = equipment_status({}, result, generation=1, now=NOW)
    assert condition(status["conditions"], "Connected")["status"] == "True"
    assert condition(status["conditions"], "Verified")["reason"] == "AllServicesPresent"
    assert status["checkDurationSeconds"] == 0.25
    assert status["foundServices"] == ["Dosing"]
    assert status["missingServices"] == []


def test_unreachable_is_not_connected_nor_verified() -> None:
    result = CheckResult(
        connected=False,
        verified=False,
        reason="Unreachable",
        message="cannot reach opc.tcp://x:1/",
        duration_seconds=1.0,
    )
    status = equipment_status({}, result, generation=1, now=NOW)
    connected = condition(status["conditions"], "Connected")
    assert (connected["status"], connected["reason"]) == ("False", "Unreachable")
    verified = condition(status["conditions"], "Verified")
    assert (verified["status"], verified["reason"]) == ("False", "NotConnected")
    assert "opc.tcp://x:1/" in verified["message"]


def test_check_due() -> None:
    now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    checked = {"observedGeneration": 1, "lastCheckTime": NOW}
    assert check_due({}, generation=1, interval_seconds=60, now=now)
    assert check_due(checked, generation=2, interval_seconds=600, now=now)
    assert check_due(checked, generation=1, interval_seconds=60, now=now)
    assert not check_due(checked, generation=1, interval_seconds=61, now=now)
