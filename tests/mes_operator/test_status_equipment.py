"""Equipment status from a check result; when a re-check is due."""

from __future__ import annotations

from datetime import UTC, datetime

from mes_operator.equipment.check import CheckResult
from mes_operator.models.equipment import MISSING_NODES_KEPT
from mes_operator.status.conditions import condition
from mes_operator.status.equipment import check_due, equipment_status

from mtp_manifest import NodeProblem

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


def test_missing_nodes_are_listed_bounded_and_verified_says_why() -> None:
    problems = tuple(
        NodeProblem(f"Dosing/Dose/P{i}.VExt", f"ns=2;i={6000 + i}", "BadNodeIdUnknown")
        for i in range(MISSING_NODES_KEPT + 7)
    )
    result = CheckResult(
        connected=True,
        verified=False,
        reason="NodesMissing",
        message="opc.tcp://x:1/ does not serve manifest 'M': 57 declared node(s) missing",
        duration_seconds=0.5,
        missing=("Dosing",),
        missing_nodes=problems,
    )
    status = equipment_status({}, result, generation=2, now=NOW)
    assert len(status["missingNodes"]) == MISSING_NODES_KEPT
    assert status["missingNodes"][0] == {
        "variable": "Dosing/Dose/P0.VExt",
        "nodeId": "ns=2;i=6000",
        "status": "BadNodeIdUnknown",
    }
    verified = condition(status["conditions"], "Verified")
    assert (verified["status"], verified["reason"]) == ("False", "NodesMissing")
    assert "57 declared node(s)" in verified["message"]
    assert condition(status["conditions"], "Connected")["status"] == "True"


def test_nodes_found_again_clear_the_list() -> None:
    """A merge patch replaces lists: an empty one, not an absent one, clears the old."""
    result = CheckResult(
        connected=True, verified=True, reason="AllServicesPresent", message="ok", duration_seconds=0
    )
    assert equipment_status({}, result, generation=1, now=NOW)["missingNodes"] == []


def test_check_due() -> None:
    now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    checked = {"observedGeneration": 1, "lastCheckTime": NOW}
    assert check_due({}, generation=1, interval_seconds=60, now=now)
    assert check_due(checked, generation=2, interval_seconds=600, now=now)
    assert check_due(checked, generation=1, interval_seconds=60, now=now)
    assert not check_due(checked, generation=1, interval_seconds=61, now=now)
