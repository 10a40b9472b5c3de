"""An Equipment's check as interface evidence: a row for the session, one per required
service (a missing one fails), the raw check and its duration; due after a new spec's first
check and whenever Verified changes, never for a check that changed nothing. With a
manifest, a row for its declared nodes, failed by any bad one, naming them (bounded)."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mes_operator.equipment.check import CheckResult
from mes_operator.evidence.assemble import assemble
from mes_operator.evidence.interface import CHECK, ROW_NODES, interface_rows
from mes_operator.evidence.iq import load_requirements
from mes_operator.evidence.package import Header, Package, Result, Row, Verdict, compute_verdict
from mes_operator.evidence.verify import verify_package
from mes_operator.reconcile.qualify import interface_due
from mes_operator.status.equipment import equipment_status

from mtp_manifest import NodeProblem

AT = "2026-12-01T18:50:00Z"
EQUIPMENT = {
    "metadata": {"name": "br-101", "namespace": "plant-a"},
    "spec": {
        "endpoint": "opc.tcp://br-101:4840",
        "requiredServices": ["Cultivate", "Harvest"],
        "securityPolicy": "Basic256Sha256",
        "securityMode": "SignAndEncrypt",
    },
}


def _status(verified: bool, found: list[str], generation: int = 1) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "lastCheckTime": AT,
        "checkDurationSeconds": 0.42,
        "foundServices": found,
        "conditions": [
            {"type": "Connected", "status": "True", "reason": "Connected",
             "message": "session established", "lastTransitionTime": AT},
            {"type": "Verified", "status": "True" if verified else "False",
             "reason": "AllServicesFound" if verified else "ServicesMissing",
             "lastTransitionTime": AT},
        ],
    }  # fmt: skip


def test_a_verified_equipment_passes_every_row_and_its_package_verifies() -> None:
    rows, evidence, figures = interface_rows(EQUIPMENT, _status(True, ["Cultivate", "Harvest"]))
    assert [(r.requirement, r.result) for r in rows] == [
        ("URS-IF-01", Result.PASS),
        ("URS-IF-02", Result.PASS),
        ("URS-IF-02", Result.PASS),
    ]
    assert "Basic256Sha256/SignAndEncrypt" in rows[0].expected
    assert figures["checkDurationSeconds"] == 0.42
    assert json.loads(evidence[CHECK])["figures"] == figures
    key = Ed25519PrivateKey.generate()
    package = Package(
        header=Header(module="br-101", namespace="plant-a", qualification="q",
                      event="Interface", to_version="generation-1", created_at=AT,
                      operator_version="0.3.0"),
        intended_use="test", risk="high", requirements=load_requirements(), iq=rows,
        extra={"interface": figures},
    )  # fmt: skip
    assembled = assemble(package, evidence, key)
    assert verify_package(assembled.files, key.public_key()).problems == []
    assert assembled.document["extra"]["interface"]["checkDurationSeconds"] == 0.42
    assert assembled.document["verdict"] == "PROVISIONAL"


def test_a_missing_service_fails_its_row() -> None:
    rows, _, _ = interface_rows(EQUIPMENT, _status(False, ["Cultivate"]))
    harvest = next(r for r in rows if "Harvest" in r.expected)
    assert (harvest.result, harvest.actual) == (Result.FAIL, "missing")


def test_interface_evidence_is_due_on_a_new_spec_or_a_changed_verdict_only() -> None:
    first = _status(True, ["Cultivate", "Harvest"])
    assert interface_due({}, first)
    assert not interface_due(first, _status(True, ["Cultivate", "Harvest"]))
    assert interface_due(first, _status(False, ["Cultivate"]))
    assert interface_due(first, _status(True, ["Cultivate", "Harvest"], generation=2))


# --- with a manifest (spec.manifest): the status as the reconcile writes it ---------------

TANK = {
    "metadata": {"name": "tk-201", "namespace": "plant-a"},
    "spec": {
        "endpoint": "opc.tcp://tk-201:4840",
        "manifest": {"configMapRef": {"name": "tk-201-mtp", "key": "TK-201.aml"}},
    },
}
DECLARED = ("Charge", "Mix", "AdjustPH")


def _checked(
    reason: str,
    *,
    found: tuple[str, ...] = DECLARED,
    missing: tuple[str, ...] = (),
    nodes: tuple[NodeProblem, ...] = (),
    message: str = "checked",
) -> dict[str, Any]:
    """The status the reconcile writes after a check of TANK with this outcome."""
    result = CheckResult(
        connected=True,
        verified=reason == "AllServicesPresent",
        reason=reason,
        message=message,
        duration_seconds=0.3,
        found=found,
        missing=missing,
        missing_nodes=nodes,
    )
    return equipment_status({}, result, generation=1, now=AT)


def _results(rows: list[Row]) -> list[tuple[str, str, Result]]:
    return [(r.requirement, r.expected, r.result) for r in rows]


def test_with_a_manifest_every_declared_service_and_its_nodes_are_rows() -> None:
    """No requiredServices: the check required every service the manifest declares, so
    each is a row, and one more says every declared node read good."""
    rows, _, _ = interface_rows(TANK, _checked("AllServicesPresent"))
    nodes = "every OPC UA node the manifest (ConfigMap tk-201-mtp key TK-201.aml) declares"
    assert _results(rows) == [
        ("URS-IF-01", "a session with opc.tcp://tk-201:4840 (None/None)", Result.PASS),
        ("URS-IF-02", "service Charge offered", Result.PASS),
        ("URS-IF-02", "service Mix offered", Result.PASS),
        ("URS-IF-02", "service AdjustPH offered", Result.PASS),
        ("URS-IF-02", f"{nodes} served and read good", Result.PASS),
    ]
    assert [r.id for r in rows] == ["IF-01", "IF-02", "IF-03", "IF-04", "IF-05"]
    assert rows[-1].actual == "every declared node served and read good"
    assert compute_verdict(rows, [], None) is Verdict.PROVISIONAL


def test_a_missing_node_no_service_needs_still_fails_the_interface() -> None:
    """A process value's node missing leaves every service present, yet the check is not
    Verified: the nodes row fails, naming it, so the package is NOT QUALIFIED too."""
    gone = NodeProblem("Level.V", "ns=2;s=|var|TK201.Level.V", "BadNodeIdUnknown")
    rows, evidence, _ = interface_rows(TANK, _checked("NodesMissing", nodes=(gone,)))
    assert [r.result for r in rows[:-1]] == [Result.PASS] * 4
    assert rows[-1].result is Result.FAIL
    assert rows[-1].actual == (
        "1 declared node(s) missing or unreadable: "
        "Level.V (ns=2;s=|var|TK201.Level.V): BadNodeIdUnknown"
    )
    assert compute_verdict(rows, [], None) is Verdict.NOT_QUALIFIED
    assert json.loads(evidence[CHECK])["status"]["missingNodes"] == [
        {"variable": "Level.V", "nodeId": "ns=2;s=|var|TK201.Level.V", "status": "BadNodeIdUnknown"}
    ]


def test_a_service_missing_for_its_nodes_names_them_bounded() -> None:
    """The service's row names its own bad nodes; the nodes row names the first few of
    all of them and how many more (the evidence file keeps what the status lists)."""
    mix = tuple(
        NodeProblem(f"Mix/Stir/P{i}.VExt", f"ns=2;i={7000 + i}", "BadNodeIdUnknown")
        for i in range(ROW_NODES + 3)
    )
    charge_like = NodeProblem("Charger.StateCur", "ns=2;i=6999", "BadNodeIdUnknown")
    rows, _, _ = interface_rows(
        TANK,
        _checked(
            "NodesMissing",
            found=("Charge", "AdjustPH"),
            missing=("Mix",),
            nodes=(charge_like, *mix),
        ),
    )
    by_service = {r.expected: r for r in rows}
    assert by_service["service Charge offered"].result is Result.PASS  # Charger is not Charge
    failed = by_service["service Mix offered"]
    assert failed.result is Result.FAIL
    assert failed.actual.startswith("missing: Mix/Stir/P0.VExt (ns=2;i=7000): BadNodeIdUnknown; ")
    assert failed.actual.endswith("; and 3 more")
    assert "Charger" not in failed.actual
    assert f"P{ROW_NODES - 1}.VExt" in failed.actual
    assert f"P{ROW_NODES}.VExt" not in failed.actual
    nodes = rows[-1]
    assert nodes.result is Result.FAIL
    assert nodes.actual.startswith(f"{ROW_NODES + 4} declared node(s) missing or unreadable: ")
    assert nodes.actual.endswith("; and 4 more")
    assert nodes.actual.count("BadNodeIdUnknown") == ROW_NODES


def test_a_manifest_that_could_not_be_used_fails_the_nodes_row_saying_why() -> None:
    message = "ConfigMap plant-a/tk-201-mtp named by spec.manifest not found"
    status = _checked("ManifestNotFound", found=(), message=message)
    rows, _, _ = interface_rows(TANK, status)
    assert [(r.requirement, r.result) for r in rows] == [
        ("URS-IF-01", Result.PASS),  # the session was had: only the manifest was not
        ("URS-IF-02", Result.FAIL),
    ]
    assert rows[-1].actual == message
    required = {**TANK, "spec": {**TANK["spec"], "requiredServices": ["Mix"]}}
    rows, _, _ = interface_rows(required, _checked("ManifestInvalid", found=(), missing=("Mix",)))
    assert [(r.expected, r.result) for r in rows[1:-1]] == [("service Mix offered", Result.FAIL)]
    assert rows[-1].result is Result.FAIL


def test_without_a_manifest_there_is_no_nodes_row() -> None:
    rows, _, _ = interface_rows(EQUIPMENT, _status(True, ["Cultivate", "Harvest"]))
    assert not any("manifest" in str(r.expected) for r in rows)
    assert len(rows) == 1 + len(EQUIPMENT["spec"]["requiredServices"])
