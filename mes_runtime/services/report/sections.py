"""What the batch report shows, as plain sections of text tables, shared by the HTML and the
PDF renderer so both always show the same record.

The order is the reader's: header and status, formula (materials and parameters) and
equipment, what people did, the phase timeline, process values (plotted by each renderer
after this table), exceptions and their closure, signatures, and the journal's
verification with the chain's head hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mes_runtime.domain.exceptions import AutoClosure, PersonClosure
from mes_runtime.services.report.record import BatchRecord, duration

__all__ = ["SECTION_TITLES", "Section", "sections", "status_line", "utc"]

SECTION_TITLES = (
    "Batch",
    "Formula and equipment",
    "Manual entries",
    "Phase timeline",
    "Process values",
    "Exceptions and their closure",
    "Signatures",
    "Journal verification",
)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""


def utc(moment: datetime | str | None) -> str:
    """A UTC time as people read it: ``2026-11-30 12:04:05 UTC``."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def status_line(record: BatchRecord) -> str:
    decision = record.decision
    if decision is None:
        return f"Batch {record.state}; NOT RELEASED - review pending"
    return (
        f"Batch {record.state}; {str(decision['decision']).upper()} by "
        f"{decision['signed_by']} at {utc(decision['signed_at'])}"
    )


def _short(value: Any, limit: int = 90) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _closure(closure: AutoClosure | PersonClosure | None) -> tuple[str, str]:
    if closure is None:
        return "OPEN", "needs a person"
    if isinstance(closure, AutoClosure):
        evidence = _short(dict(closure.evidence), 140)
        return (
            "auto-closed",
            f"rule {closure.rule_id} v{closure.rule_version} at {utc(closure.at)}; "
            f"evidence {evidence}",
        )
    return (
        "closed",
        f"by {closure.username} ({closure.meaning}) at {utc(closure.signed_at)}: {closure.comment}",
    )


def _formula_row(p: Mapping[str, Any]) -> tuple[str, ...]:
    low, high = p.get("low"), p.get("high")
    limits = f"{'-' if low is None else low} .. {'-' if high is None else high}"
    return (
        str(p.get("name", "")),
        f"{p.get('value', '')} {p.get('unit', '')}",
        limits,
        str(p.get("criticality", "")),
    )


def sections(record: BatchRecord) -> list[Section]:
    v = record.verification
    head = Section(
        "Batch",
        ("field", "value"),
        (
            ("Batch", record.batch_id),
            ("Status", status_line(record)),
            ("Recipe", f"{record.recipe_name} version {record.recipe_version}"),
            ("Product", record.product or "-"),
            ("Master recipe digest", record.master_digest or "-"),
            ("Recipe approved by", record.recipe_approved_by or "-"),
            ("Created", f"{utc(record.created_at)} by {record.created_by}"),
            ("Started", utc(record.started_at)),
            ("Ended", utc(record.ended_at)),
            ("Journal entries of the batch", str(record.journal_entries)),
            ("Report generated", utc(record.generated_at)),
        ),
    )
    formula = Section(
        "Formula and equipment",
        ("parameter", "value", "limits", "criticality"),
        tuple(_formula_row(p) for p in record.formula)
        + tuple((f"override {o.get('name', '')}", _short(o), "", "") for o in record.overrides)
        + tuple(
            (f"unit {unit}", equipment, "", "bound equipment")
            for unit, equipment in sorted(record.bindings.items())
        ),
    )
    manual = Section(
        "Manual entries",
        ("seq", "UTC", "who", "action", "subject", "reason / value"),
        tuple(
            (
                str(line.seq),
                utc(line.ts),
                line.actor,
                line.action,
                line.subject,
                _short(line.reason or line.new_value or ""),
            )
            for line in record.manual
        ),
        note="every journal entry of this batch made by a person",
    )
    timeline = Section(
        "Phase timeline",
        ("element", "started", "ended", "duration", "final state"),
        tuple(
            (
                span.path,
                utc(span.started),
                utc(span.ended),
                _duration(span.started, span.ended),
                span.final_state,
            )
            for span in record.timeline
        ),
    )
    values = Section(
        "Process values",
        ("tag", "unit", "values", "min", "max", "mean"),
        tuple(
            (
                s.tag,
                s.unit,
                f"{s.count:,}",
                f"{s.low:.4g}",
                f"{s.high:.4g}",
                f"{s.mean:.4g}",
            )
            for s in record.series
        ),
        note="plots: the min/max band of each tag over the batch",
    )
    exceptions = Section(
        "Exceptions and their closure",
        ("id", "raised", "category", "severity", "subject", "message", "status", "closure"),
        tuple(
            (
                str(x.id),
                utc(x.raised_at),
                x.category.value,
                x.severity.value,
                x.subject,
                x.message,
                *_closure(x.closure),
            )
            for x in record.exceptions
        ),
        note="none" if not record.exceptions else "",
    )
    signatures = Section(
        "Signatures",
        ("printed name", "user", "UTC time", "meaning", "signed record", "digest"),
        tuple(
            (
                str(s.get("printed_name", "")),
                str(s.get("signer", "")),
                utc(str(s.get("signed_at"))) if s.get("signed_at") else "-",
                str(s.get("meaning", "")),
                f"{s.get('record', '')} ({s.get('action', '')})",
                str(s.get("record_digest", "")),
            )
            for s in record.signatures
        ),
    )
    verification = Section(
        "Journal verification",
        ("check", "result"),
        (
            ("Hash chain", "VERIFIED" if v.ok else f"FAILED: {v.problem}"),
            ("Entries checked", f"{v.entries_checked:,}"),
            ("Chain head", f"seq {v.head_seq}"),
            ("Head hash", v.head_hash),
            ("Last entry of this batch", f"seq {v.batch_last_seq}"),
            ("Its hash", v.batch_last_hash or "-"),
        ),
    )
    return [head, formula, manual, timeline, values, exceptions, signatures, verification]


def _duration(start: str | None, end: str | None) -> str:
    span = duration(start, end)
    if span is None:
        return "-"
    seconds = int(span.total_seconds())
    return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
