"""Interface qualification of one Equipment from its check (pure): a row for the session
(endpoint, security) and one per required MTP service, the check's raw result as evidence,
and its duration, the interface-verification time a plant measures itself by.

With a manifest (``spec.manifest``) the services are the check's - the required ones, or
every service the manifest declares when none are - and one more URS-IF-02 row says
whether every node the manifest declares was served and read good: a node missing fails
it even when no required service depends on the node (a process value, say), and the bad
nodes are named in it (the first few; ``evidence/interface/check.json`` keeps the status
with all those the status lists), as is why the manifest could not be used at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mes_operator.evidence.canonical import canonical, digest
from mes_operator.evidence.package import Result, Row

__all__ = ["CHECK", "ROW_NODES", "interface_rows"]

CHECK = "evidence/interface/check.json"
ROW_NODES = 5
"""Bad nodes named in one row's actual value before it says how many more there are."""
NODES_READ = frozenset({"AllServicesPresent", "ServiceMissing", "NodesMissing"})
"""Verified reasons of a check that read every node of a usable manifest."""


def _condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for entry in status.get("conditions") or []:
        if entry.get("type") == type_:
            return dict(entry)
    return {}


def _nodes(nodes: Sequence[Mapping[str, Any]]) -> str:
    """``variable (node id): status``, the first ``ROW_NODES``, then how many more."""
    shown = "; ".join(
        f"{n.get('variable')} ({n.get('nodeId')}): {n.get('status')}" for n in nodes[:ROW_NODES]
    )
    more = len(nodes) - ROW_NODES
    return shown + (f"; and {more} more" if more > 0 else "")


def _of_service(service: str, nodes: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The bad nodes of ``service``: its variables are named ``Service.Var`` or
    ``Service/Procedure/Parameter.Var``."""
    return [
        n for n in nodes if str(n.get("variable", "")).startswith((f"{service}.", f"{service}/"))
    ]


def interface_rows(
    equipment: Mapping[str, Any], status: Mapping[str, Any]
) -> tuple[list[Row], dict[str, bytes], dict[str, Any]]:
    """Rows, evidence files and the measured figures of one checked Equipment."""
    spec = equipment.get("spec") or {}
    at = str(status.get("lastCheckTime"))
    connected = _condition(status, "Connected")
    verified = _condition(status, "Verified")
    found = set(status.get("foundServices") or [])
    bad_nodes: list[Mapping[str, Any]] = list(status.get("missingNodes") or [])
    manifest = spec.get("manifest")
    services: list[str] = list(spec.get("requiredServices") or [])
    if manifest and not services:  # the check required every service the manifest declares
        services = [*(status.get("foundServices") or []), *(status.get("missingServices") or [])]
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
    for service in services:
        own = _of_service(service, bad_nodes)
        rows.append(
            Row(
                id=f"IF-{len(rows) + 1:02d}",
                requirement="URS-IF-02",
                expected=f"service {service} offered",
                actual="offered"
                if service in found
                else "missing" + (f": {_nodes(own)}" if own else ""),
                result=Result.PASS if service in found else Result.FAIL,
                timestamp=at,
                evidence=CHECK,
            )
        )
    if manifest:
        rows.append(_manifest_row(f"IF-{len(rows) + 1:02d}", manifest, verified, bad_nodes, at))
    return rows, evidence, figures


def _manifest_row(
    id_: str,
    manifest: Mapping[str, Any],
    verified: Mapping[str, Any],
    bad_nodes: Sequence[Mapping[str, Any]],
    at: str,
) -> Row:
    """Every node the manifest declares served and read good, or which were not."""
    ref = manifest.get("configMapRef") or {}
    read = verified.get("reason") in NODES_READ
    if not read:
        actual = str(verified.get("message") or verified.get("reason") or "not checked")
    elif bad_nodes:
        actual = f"{len(bad_nodes)} declared node(s) missing or unreadable: {_nodes(bad_nodes)}"
    else:
        actual = "every declared node served and read good"
    return Row(
        id=id_,
        requirement="URS-IF-02",
        expected="every OPC UA node the manifest (ConfigMap "
        f"{ref.get('name')} key {ref.get('key')}) declares served and read good",
        actual=actual,
        result=Result.PASS if read and not bad_nodes else Result.FAIL,
        timestamp=at,
        evidence=CHECK,
    )
