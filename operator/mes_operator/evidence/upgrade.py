"""An orchestrated upgrade attempt's own rows and its disruption record (pure).

From the attempt's persisted status (each phase it entered and when, its outcome and cause)
and the runtime's hand-over record (``GET /api/v1/upgrade/handover``: the grant's moves,
each batch's take-over and gap, the journal before the switch and now, the chain
verified), both read once the attempt has ended. Two rows: the upgrade reached the new
version only through its gates (URS-UP-01: it fails when the attempt rolled back or
failed, naming why), and running batches were handed over with nothing lost (URS-OQ-06).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mes_operator.evidence.package import Result, Row
from mes_operator.models.mesmodule import UpgradePhase, UpgradeStatus

__all__ = ["UpgradeEvidence", "upgrade_evidence"]

P = UpgradePhase
STATUS_FILE = "evidence/upgrade/status.json"
HANDOVER_FILE = "evidence/upgrade/handover.json"
_OUTCOME = {P.QUALIFIED: "switched", P.ROLLED_BACK: "rolledBack", P.FAILED: "failed"}


@dataclass(frozen=True, kw_only=True)
class UpgradeEvidence:
    rows: list[Row]
    disruption: dict[str, Any]
    evidence: dict[str, bytes]


def _seconds(start: str, end: str) -> float:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return round((parse(end) - parse(start)).total_seconds(), 3)


def _phases(upgrade: UpgradeStatus, *, at: str) -> list[dict[str, Any]]:
    """Each phase entered, when, and for how long (the last until ``at``)."""
    marks = upgrade.timeline
    out = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].at if i + 1 < len(marks) else None
        seconds = _seconds(mark.at, end) if end else None
        out.append({"phase": mark.phase.value, "startedAt": mark.at, "seconds": seconds})
    if out and out[-1]["seconds"] is None and upgrade.phase not in _OUTCOME:
        out[-1]["seconds"] = _seconds(marks[-1].at, at)
    return out


def _entered(upgrade: UpgradeStatus, phase: UpgradePhase) -> str | None:
    return next((m.at for m in upgrade.timeline if m.phase is phase), None)


def _file(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode() + b"\n"


def _gaps(takeovers: list[Mapping[str, Any]]) -> dict[str, Any]:
    gaps = [float(t["gap_seconds"]) for t in takeovers if t.get("gap_seconds") is not None]
    return {
        "takeovers": len(takeovers),
        "maxGapSeconds": max(gaps) if gaps else None,
        "medianGapSeconds": round(statistics.median(gaps), 3) if gaps else None,
        "batches": sorted({str(t.get("batch_id")) for t in takeovers}),
    }


def _outcome_row(upgrade: UpgradeStatus, *, at: str) -> Row:
    outcome = _OUTCOME.get(upgrade.phase, "inFlight")
    if upgrade.phase is P.QUALIFIED:
        actual: Any = (
            f"{upgrade.to_version} serves from {upgrade.colour.value} since "
            f"{_entered(upgrade, P.OBSERVE) or 'the switch'}, after OQ on it passed"
        )
    else:
        actual = {
            "outcome": outcome,
            "atPhase": _last_working_phase(upgrade),
            "cause": upgrade.cause,
            "message": upgrade.message,
        }
    return Row(
        id="UPG-01",
        requirement="URS-UP-01",
        expected=f"{upgrade.from_version} -> {upgrade.to_version} through the verified "
        "backup, the expand migration, OQ on the new slot and a safe point, then switched",
        actual=actual,
        result=Result.PASS if upgrade.phase is P.QUALIFIED else Result.FAIL,
        timestamp=at,
        evidence=STATUS_FILE,
    )


def _last_working_phase(upgrade: UpgradeStatus) -> str | None:
    """The phase the attempt failed in: the last one entered before rolling back or failing."""
    ended = {*_OUTCOME, P.ROLLING_BACK}
    working = [m.phase for m in upgrade.timeline if m.phase not in ended]
    return working[-1].value if working else None


def _handover_row(
    handover: Mapping[str, Any] | None, error: str | None, *, at: str
) -> tuple[Row, dict[str, Any]]:
    expected = (
        "every batch running at the switch taken over by the new version, the journal's "
        "hash chain intact, no record before the switch lost"
    )
    if handover is None:
        why = f"the runtime's hand-over record could not be read: {error or 'no answer'}"
        row = Row(
            id="UPG-02",
            requirement="URS-OQ-06",
            expected=expected,
            actual=why,
            result=Result.FAIL,
            timestamp=at,
            evidence=HANDOVER_FILE,
        )
        return row, {"handOver": None, "handOverProblem": why}
    chain = handover.get("chain") or {}
    before = handover.get("records_before_switch")
    head = int(handover.get("head_seq") or 0)
    takeovers = list(handover.get("takeovers") or [])
    figures = {
        "switches": [  # the grant's moves (a write that changed no colour is left out)
            {"at": s.get("at"), "from": s.get("previous"), "to": s.get("colour")}
            for s in handover.get("switches") or []
            if s.get("previous") != s.get("colour")
        ],
        "handOver": _gaps(takeovers),
        "recordsBeforeSwitch": before,
        "recordsNow": head,
        "journalVerified": bool(chain.get("ok")),
        "journalEntriesChecked": chain.get("entries_checked"),
    }
    intact = bool(chain.get("ok")) and (before is None or head >= before)
    actual = {k: figures[k] for k in ("recordsBeforeSwitch", "recordsNow", "journalVerified")}
    actual["takeovers"] = len(takeovers)
    if not chain.get("ok"):
        actual["problem"] = chain.get("problem")
        actual["firstBadSeq"] = chain.get("first_bad_seq")
    row = Row(
        id="UPG-02",
        requirement="URS-OQ-06",
        expected=expected,
        actual=actual,
        result=Result.PASS if intact else Result.FAIL,
        timestamp=at,
        evidence=HANDOVER_FILE,
    )
    return row, figures


def upgrade_evidence(
    upgrade: UpgradeStatus,
    handover: Mapping[str, Any] | None,
    *,
    error: str | None,
    at: str,
) -> UpgradeEvidence:
    """The ended attempt's rows, disruption record and evidence files (``handover``: the
    runtime's answer since the attempt started, None and ``error`` when it gave none)."""
    handover_row, figures = _handover_row(handover, error, at=at)
    observe = _entered(upgrade, P.OBSERVE)
    safe = _entered(upgrade, P.SWITCH)
    disruption: dict[str, Any] = {
        "outcome": _OUTCOME.get(upgrade.phase, "inFlight"),
        "attempt": upgrade.attempt,
        "cause": upgrade.cause,
        "phases": _phases(upgrade, at=at),
        "switchWindowSeconds": _seconds(safe, observe) if safe and observe else None,
        # an application upgrade blocks no write: batches are handed over one by one
        # (their gaps above); a database move records its write block here
        "writeBlockSeconds": 0.0 if observe else None,
        "rollbacks": sum(1 for m in upgrade.timeline if m.phase is P.ROLLING_BACK),
        "backup": {"location": upgrade.backup_location, "digest": upgrade.backup_digest},
        **figures,
    }
    status = upgrade.model_dump(mode="json", by_alias=True, exclude_none=True)
    evidence = {STATUS_FILE: _file(status), HANDOVER_FILE: _file(handover or {"error": error})}
    return UpgradeEvidence(
        rows=[_outcome_row(upgrade, at=at), handover_row],
        disruption=disruption,
        evidence=evidence,
    )
