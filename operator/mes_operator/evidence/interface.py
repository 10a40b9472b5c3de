"""Interface qualification of one Equipment from its check (pure): a row for the session
(endpoint, security) and one per required MTP service, the check's raw result as evidence,
and its duration, the interface-verification time a plant measures itself by."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mes_operator.evidence.canonical import canonical, digest
from mes_operator.evidence.package import Result, Row

__all__ = ["CHECK", "interface_rows"]

CHECK = "evidence/interface/check.json"


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for entry in status.get("conditions") or []:
        if entry.get("type") == type_:
            return dict(entry)
    return {}


def interface_rows(
    equipment: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[list[Row], dict[str, bytes], dict[str, Any]]:
    """Rows, evidence files and the measured figures of one checked Equipment."""
    spec = equipment.get("spec") or {}
    at = str(status.get("lastCheckTime"))
    connected = _condition(status, "Connected")
    found = set(status.get("foundServices") or [])
    security = f"{spec.get('securityPolicy', 'None')}/{spec.get('securityMode', 'None')}"
    figures = {
        "checkDurationSeconds": status.get("checkDurationSeconds"),
        "endpoint": spec.get("endpoint"),
        "specDigest": digest(canonical(spec)),
    }
    evidence = {
        CHECK: json.dumps(
            {"spec": spec, "status": status, "figures": figures}, indent=2, sort_keys=True
        ).encode()
        + b"\n"
    }
    rows = [
        Row(
            id="IF-01",
            requirement="URS-IF-01",
            expected=f"a session with {spec.get('endpoint')} ({security})",
            actual=connected.get("message") or connected.get("reason") or "not checked",
            result=Result.PASS if connected.get("status") == "True" else Result.FAIL,
            timestamp=at,
            evidence=CHECK,
        )
    ]
    for i, service in enumerate(spec.get("requiredServices") or [], start=2):
        rows.append(
            Row(
                id=f"IF-{i:02d}",
                requirement="URS-IF-02",
                expected=f"service {service} offered",
                actual="offered" if service in found else "missing",
                result=Result.PASS if service in found else Result.FAIL,
                timestamp=at,
                evidence=CHECK,
            )
        )
    return rows, evidence, figures
