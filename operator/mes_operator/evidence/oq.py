"""OQ rows from the OQ Job's report (pure): the JSON document ``mes-runtime oq`` prints as
the last line of its log, checked before anything of it enters a package. A Job that ended
without a readable report, a row naming a requirement the URS does not list, or evidence at
a path a package may not hold, each becomes a failed row saying so: OQ never passes by
default."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from mes_operator.evidence.manifest import ManifestError, _check_path
from mes_operator.evidence.package import Result, Row

__all__ = ["OQ_FORMAT", "judge", "oq_rows"]

OQ_FORMAT = "holon.dev/oq/v1"
_FIELDS = ("id", "requirement", "expected", "actual", "result", "timestamp", "evidence")


JOB = "evidence/oq/job.json"


def _failed(why: str, at: str) -> tuple[list[Row], dict[str, bytes]]:
    path = JOB
    return (
        [
            Row(
                id="OQ-01",
                requirement="URS-OQ-04",
                expected="the OQ Job reports its rows",
                actual=why[:2000],
                result=Result.FAIL,
                timestamp=at,
                evidence=path,
            )
        ],
        {path: json.dumps({"problem": why}, indent=2).encode() + b"\n"},
    )


def _report(log: str) -> dict[str, Any] | None:
    for line in reversed(log.strip().splitlines()):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and document.get("format") == OQ_FORMAT:
            return document
    return None


def oq_rows(
    log: str, *, ended: str, known: Collection[str], at: str
) -> tuple[list[Row], dict[str, bytes]]:
    """The OQ rows and evidence files of a finished OQ Job (``log``: its Pod's log;
    ``ended``: how the Pod ended, for when the log holds no report)."""
    document = _report(log)
    if document is None:
        return _failed(f"the OQ Job reported no rows; its Pod: {ended}", at)
    files: dict[str, bytes] = {}
    for path, text in (document.get("evidence") or {}).items():
        try:
            _check_path(str(path))
        except ManifestError as exc:
            return _failed(f"the OQ report holds evidence at a bad path: {exc}", at)
        if not str(path).startswith("evidence/oq/"):
            return _failed(f"the OQ report holds evidence outside evidence/oq/: {path}", at)
        files[str(path)] = str(text).encode()
    rows: list[Row] = []
    for raw in document.get("rows") or []:
        if not isinstance(raw, dict) or any(f not in raw for f in _FIELDS):
            return _failed(f"an OQ row lacks one of {', '.join(_FIELDS)}: {raw!r}", at)
        problem = None
        if raw["requirement"] not in known:
            problem = f"names {raw['requirement']}, which the URS does not list"
        elif raw["evidence"] not in files:
            problem = f"names evidence {raw['evidence']}, which the report does not hold"
        passed = raw["result"] == Result.PASS.value and problem is None
        rows.append(
            Row(
                id=str(raw["id"]),
                requirement=str(raw["requirement"]) if problem is None else "URS-OQ-04",
                expected=raw["expected"],
                actual=raw["actual"] if problem is None else f"{raw['actual']} ({problem})",
                result=Result.PASS if passed else Result.FAIL,
                timestamp=str(raw["timestamp"]),
                evidence=str(raw["evidence"])
                if raw["evidence"] in files
                else "evidence/oq/job.json",
                scope=raw.get("scope"),
                note=raw.get("note"),
            )
        )
    if not rows:
        return _failed("the OQ Job reported no rows", at)
    if any(r.evidence == JOB for r in rows):
        files[JOB] = json.dumps({"report": document}, indent=2).encode() + b"\n"
    return rows, files


def judge(rows: list[Row]) -> tuple[bool, str]:
    """Whether an OQ run passed: every row passed (no rows is a failure too); else the
    failing rows, each with its requirement and what it saw."""
    failed = [r for r in rows if r.result is not Result.PASS]
    if not rows:
        return False, "OQ failed: it reported no rows"
    if not failed:
        return True, f"OQ passed: {len(rows)} rows"
    named = "; ".join(f"{r.id} ({r.requirement}): {str(r.actual)[:300]}" for r in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return False, f"OQ failed: {named}{more}"[:1000]
