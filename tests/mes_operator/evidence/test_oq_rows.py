"""The OQ Job as the operator builds it and reads it: its own scratch installation (no
database, no Secret), run once, bounded; its report's rows enter the package only when well
formed, and anything else (no report, an unknown requirement, evidence at a bad path, a row
without evidence) is a failed row saying why: OQ never passes by default."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mes_operator.builders import ModuleContext
from mes_operator.builders.upgrade import JOB_KIND_LABEL, OQ, build_oq_job
from mes_operator.evidence.oq import OQ_FORMAT, judge, oq_rows
from mes_operator.evidence.package import Result

AT = "2026-12-01T19:00:00Z"
KNOWN = {"URS-OQ-01", "URS-OQ-04", "URS-OQ-05"}


def _report(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "OQ-01", "requirement": "URS-OQ-01", "expected": "401 then 200",
        "actual": "wrong: 401, right: 200", "result": "pass", "timestamp": AT,
        "evidence": "evidence/oq/sign-in.json", "scope": "full", "note": "full set",
    }  # fmt: skip
    report = {
        "format": OQ_FORMAT,
        "version": "0.2.0",
        "rows": [row, {**row, "id": "OQ-02", "requirement": "URS-OQ-05"}],
        "evidence": {"evidence/oq/sign-in.json": '{"status": 401}\n'},
    }
    report.update(changes)
    return report


def _log(report: dict[str, Any]) -> str:
    return "oq: scratch installation\noq: a batch\n" + json.dumps(report) + "\n"


def test_a_well_formed_report_becomes_rows_and_evidence() -> None:
    rows, files = oq_rows(_log(_report()), ended="exit code 0", known=KNOWN, at=AT)
    assert [(r.id, r.requirement, r.result) for r in rows] == [
        ("OQ-01", "URS-OQ-01", Result.PASS),
        ("OQ-02", "URS-OQ-05", Result.PASS),
    ]
    assert rows[0].scope == "full"
    assert files == {"evidence/oq/sign-in.json": b'{"status": 401}\n'}


def test_a_failed_row_stays_failed() -> None:
    report = _report()
    report["rows"][1]["result"] = "fail"
    rows, _ = oq_rows(_log(report), ended="exit code 1", known=KNOWN, at=AT)
    assert [r.result for r in rows] == [Result.PASS, Result.FAIL]


@pytest.mark.parametrize(
    ("log", "says"),
    [
        ("Traceback (most recent call last):\nMemoryError\n", "reported no rows; its Pod: OOM"),
        (_log(_report(rows=[])), "reported no rows"),
        (_log(_report(evidence={"../etc/passwd": "x"})), "bad path"),
        (_log(_report(evidence={"package.json": "{}"})), "outside evidence/oq/"),
        (_log(_report(rows=[{"id": "OQ-01"}])), "lacks one of"),
    ],
)
def test_anything_but_a_good_report_is_one_failed_row(log: str, says: str) -> None:
    rows, files = oq_rows(log, ended="OOM", known=KNOWN, at=AT)
    assert len(rows) == 1
    assert rows[0].result is Result.FAIL
    assert says in rows[0].actual
    assert rows[0].evidence in files


def test_an_unknown_requirement_or_missing_evidence_fails_that_row() -> None:
    report = _report()
    report["rows"][0]["requirement"] = "URS-NOPE"
    report["rows"][1]["evidence"] = "evidence/oq/absent.json"
    rows, files = oq_rows(_log(report), ended="exit code 0", known=KNOWN, at=AT)
    assert [r.result for r in rows] == [Result.FAIL, Result.FAIL]
    assert "URS-NOPE" in rows[0].actual
    assert "absent.json" in rows[1].actual
    assert all(r.evidence in files for r in rows)


def test_the_oq_job_runs_the_suite_alone_once_and_bounded() -> None:
    ctx = ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 1},
            "spec": {"module": "batch-execution", "version": "1.4.2"},  # SQLite: no database
        }
    )
    job = build_oq_job(
        ctx, version=ctx.spec.version, suffix="abcdef123", scope="full", reason="full set: install"
    )
    assert job["metadata"]["name"] == "batch-oq-abcdef"
    assert job["metadata"]["labels"][JOB_KIND_LABEL] == OQ
    assert "mes.holon.dev/attempt" not in job["metadata"]["annotations"]  # not an upgrade's
    attempt = build_oq_job(ctx, version="1.5.0", attempt=3, scope="full", reason="upgrade")
    assert attempt["metadata"]["annotations"]["mes.holon.dev/attempt"] == "3"
    assert attempt["metadata"]["name"] != job["metadata"]["name"]
    assert attempt["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.5.0")
    with pytest.raises(ValueError, match="not both"):
        build_oq_job(ctx, version="1.5.0", attempt=3, suffix="x", scope="full", reason="r")
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (0, 900)
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["oq", "--scope", "full", "--reason", "full set: install"]
    assert container["image"].endswith(":1.4.2")
    assert "secretKeyRef" not in json.dumps(container)  # never the plant's database
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["runAsNonRoot"] is True


def test_judge_passes_only_when_every_row_passed_and_names_the_failing_ones() -> None:
    rows, _ = oq_rows(_log(_report()), ended="Completed (exit 0)", known=KNOWN, at=AT)
    assert judge(rows) == (True, "OQ passed: 2 rows")
    broken = _report()
    broken["rows"][1]["result"] = "fail"
    broken["rows"][1]["actual"] = "the chain broke at seq 7"
    rows, _ = oq_rows(_log(broken), ended="Completed (exit 0)", known=KNOWN, at=AT)
    passed, summary = judge(rows)
    assert not passed
    assert summary == "OQ failed: OQ-02 (URS-OQ-05): the chain broke at seq 7"
    assert judge([]) == (False, "OQ failed: it reported no rows")  # nothing checked is no pass
