"""An Equipment's check as interface evidence: a row for the session, one per required
service (a missing one fails), the raw check and its duration; due after a new spec's first
check and whenever Verified changes, never for a check that changed nothing."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mes_operator.evidence.assemble import assemble
from mes_operator.evidence.interface import CHECK, interface_rows
from mes_operator.evidence.iq import load_requirements
from mes_operator.evidence.package import Header, Package, Result
from mes_operator.evidence.verify import verify_package
from mes_operator.reconcile.qualify import interface_due

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
