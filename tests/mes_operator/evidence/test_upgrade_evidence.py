"""An orchestrated upgrade attempt's rows and disruption record, from its persisted status
and the runtime's hand-over record: measured figures, never defaults; a rolled-back attempt
fails its own row naming where and why; an unread or broken hand-over record fails too."""

from __future__ import annotations

from typing import Any

from mes_operator.builders import ModuleContext
from mes_operator.evidence.package import Deviation, Result, Row, compute_verdict
from mes_operator.evidence.upgrade import HANDOVER_FILE, STATUS_FILE, upgrade_evidence
from mes_operator.models.mesmodule import (
    Colour,
    PhaseMark,
    UpgradePhase,
    UpgradeStatus,
    Verdict,
)
from mes_operator.reconcile.qualify import auto_approval, due_event, ended_attempt, evidence_key

P = UpgradePhase
AT = "2026-12-01T12:30:00Z"


def _attempt(phases: list[tuple[UpgradePhase, str]], **changes: Any) -> UpgradeStatus:
    last, at = phases[-1]
    return UpgradeStatus(
        phase=last,
        from_version="1.0.0",
        to_version="1.1.0",
        started_at=phases[0][1],
        phase_started_at=at,
        colour=Colour.GREEN,
        attempt=2,
        backup_location="s3://holon-backups/plant/batch/1.0.0-2",
        backup_digest="sha256:" + "ab" * 32,
        timeline=[PhaseMark(phase=p, at=t) for p, t in phases],
        **changes,
    )


SWITCHED = [
    (P.PREFLIGHT, "2026-12-01T12:00:00Z"),
    (P.VERIFIED_BACKUP, "2026-12-01T12:00:01Z"),
    (P.EXPAND_MIGRATION, "2026-12-01T12:00:20Z"),
    (P.DEPLOY_GREEN, "2026-12-01T12:00:30Z"),
    (P.OPERATIONAL_QUALIFICATION, "2026-12-01T12:01:00Z"),
    (P.SAFE_POINT, "2026-12-01T12:02:30Z"),
    (P.SWITCH, "2026-12-01T12:02:32Z"),
    (P.OBSERVE, "2026-12-01T12:02:35Z"),
    (P.RETIRE_BLUE, "2026-12-01T12:07:35Z"),
    (P.CONTRACT_MIGRATION, "2026-12-01T12:07:50Z"),
    (P.QUALIFIED, "2026-12-01T12:08:00Z"),
]


def _handover(**changes: Any) -> dict[str, Any]:
    record = {
        "since": "2026-12-01T12:00:00.000000Z",
        "switches": [
            {"seq": 40, "at": "x", "colour": "blue", "previous": None, "by": "op", "reason": "r"},
            {"seq": 70, "at": "x", "colour": "blue", "previous": "blue", "by": "op", "reason": "r"},
            {
                "seq": 88,
                "at": "2026-12-01T12:02:33.100000Z",
                "colour": "green",
                "previous": "blue",
                "by": "op",
                "reason": "switched to 1.1.0",
            },
        ],
        "takeovers": [
            {
                "seq": 90,
                "at": "y",
                "batch_id": "B-1",
                "owner": "g",
                "previous_owner": "b",
                "gap_seconds": 0.012,
            },
            {
                "seq": 91,
                "at": "y",
                "batch_id": "B-2",
                "owner": "g",
                "previous_owner": "b",
                "gap_seconds": 0.030,
            },
            {
                "seq": 95,
                "at": "y",
                "batch_id": "B-3",
                "owner": "g",
                "previous_owner": "b",
                "gap_seconds": 0.020,
            },
        ],
        "head_seq": 140,
        "records_before_switch": 87,
        "chain": {"ok": True, "entries_checked": 140, "first_bad_seq": None, "problem": None},
    }
    record.update(changes)
    return record


def test_a_switched_attempt_records_its_measured_phases_switch_and_hand_over() -> None:
    got = upgrade_evidence(_attempt(SWITCHED), _handover(), error=None, at=AT)
    outcome, handover = got.rows
    assert (outcome.id, outcome.requirement, outcome.result) == ("UPG-01", "URS-UP-01", Result.PASS)
    assert (handover.id, handover.requirement, handover.result) == (
        "UPG-02",
        "URS-OQ-06",
        Result.PASS,
    )
    d = got.disruption
    assert d["outcome"] == "switched"
    assert d["attempt"] == 2
    assert d["rollbacks"] == 0
    assert d["switchWindowSeconds"] == 3.0  # Switch entered 12:02:32, Observe 12:02:35
    seconds = {p["phase"]: p["seconds"] for p in d["phases"]}
    assert seconds["OperationalQualification"] == 90.0
    assert seconds["Observe"] == 300.0
    assert seconds["Qualified"] is None  # the end: no duration
    assert d["handOver"] == {
        "takeovers": 3, "maxGapSeconds": 0.03, "medianGapSeconds": 0.02,
        "batches": ["B-1", "B-2", "B-3"],
    }  # fmt: skip
    assert (d["recordsBeforeSwitch"], d["recordsNow"], d["journalVerified"]) == (87, 140, True)
    assert d["switches"][-1] == {"at": "2026-12-01T12:02:33.100000Z", "from": "blue", "to": "green"}
    assert [(m["from"], m["to"]) for m in d["switches"]] == [(None, "blue"), ("blue", "green")]
    assert d["backup"]["location"] == "s3://holon-backups/plant/batch/1.0.0-2"
    assert set(got.evidence) == {STATUS_FILE, HANDOVER_FILE}
    assert b'"timeline"' in got.evidence[STATUS_FILE]


def test_a_rolled_back_attempt_fails_its_row_naming_the_phase_and_cause() -> None:
    phases = [
        *SWITCHED[:5],
        (P.ROLLING_BACK, "2026-12-01T12:02:00Z"),
        (P.ROLLED_BACK, "2026-12-01T12:02:05Z"),
    ]
    attempt = _attempt(
        phases, cause="OperationalQualificationFailed", message="OQ failed: OQ-04 (URS-OQ-04): x"
    )
    handover = _handover(switches=[], takeovers=[], records_before_switch=None)
    got = upgrade_evidence(attempt, handover, error=None, at=AT)
    outcome, kept = got.rows
    assert outcome.result is Result.FAIL
    assert outcome.actual == {
        "outcome": "rolledBack",
        "atPhase": "OperationalQualification",
        "cause": "OperationalQualificationFailed",
        "message": "OQ failed: OQ-04 (URS-OQ-04): x",
    }
    assert kept.result is Result.PASS  # nothing was handed over, and nothing was lost
    d = got.disruption
    assert (d["outcome"], d["rollbacks"], d["switchWindowSeconds"]) == ("rolledBack", 1, None)
    assert d["writeBlockSeconds"] is None  # never switched: nothing to measure


def test_a_hand_over_record_not_read_or_a_broken_chain_fails_its_row() -> None:
    unread = upgrade_evidence(_attempt(SWITCHED), None, error="GET /handover: HTTP 503", at=AT)
    assert unread.rows[1].result is Result.FAIL
    assert "HTTP 503" in str(unread.rows[1].actual)
    assert unread.disruption["handOver"] is None
    broken = {"ok": False, "entries_checked": 60, "first_bad_seq": 61, "problem": "hash mismatch"}
    got = upgrade_evidence(_attempt(SWITCHED), _handover(chain=broken), error=None, at=AT)
    assert got.rows[1].result is Result.FAIL
    assert got.rows[1].actual["firstBadSeq"] == 61
    lost = upgrade_evidence(_attempt(SWITCHED), _handover(head_seq=80), error=None, at=AT)
    assert lost.rows[1].result is Result.FAIL  # fewer records now than before the switch


def _module(version: str = "1.1.0") -> ModuleContext:
    return ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 3},
            "spec": {"module": "batch-execution", "version": version},
        }
    )


def _status(upgrade: UpgradeStatus, **last: Any) -> dict[str, Any]:
    return {
        "upgrade": upgrade.model_dump(mode="json", by_alias=True),
        "lastEvidence": {"qualification": "q", "version": "1.0.0", "event": "Install", **last},
    }


def test_each_ended_attempt_is_due_once_the_switched_one_by_the_plain_reconcile() -> None:
    switched = _attempt(SWITCHED)
    status = _status(switched)
    assert ended_attempt(_module(), status) == switched
    assert due_event(_module(), status) == "Upgrade"
    recorded = _status(switched, version="1.1.0", event="Upgrade", attempt=2)
    assert ended_attempt(_module(), recorded) is None
    assert due_event(_module(), recorded) is None
    # a retry (attempt 3) that switched after attempt 2 rolled back and was recorded
    retried = _status(switched.model_copy(update={"attempt": 3}), version="1.1.0", attempt=2)
    assert due_event(_module(), retried) == "Upgrade"
    # recorded before attempts were recorded: a plain Upgrade package of that version
    assert ended_attempt(_module(), _status(switched, version="1.1.0", event="Upgrade")) is None


def test_an_attempt_in_flight_is_not_due_and_a_rolled_back_one_is() -> None:
    flying = _attempt(SWITCHED[:6])
    assert ended_attempt(_module(), _status(flying)) is None
    back = _attempt([*SWITCHED[:5], (P.ROLLING_BACK, AT), (P.ROLLED_BACK, AT)])
    assert ended_attempt(_module(), _status(back)) == back
    relaxed = ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 3},
            "spec": {"module": "batch-execution", "version": "1.1.0",
                     "qualification": {"required": False}},
        }
    )  # fmt: skip
    assert ended_attempt(relaxed, _status(back)) is None


def test_auto_approval_is_carried_only_for_a_listed_category_with_its_rule() -> None:
    listed = ModuleContext.from_body(
        {
            "metadata": {"name": "batch", "namespace": "plant-a", "uid": "u", "generation": 7},
            "spec": {"module": "batch-execution", "version": "1.1.0",
                     "qualification": {"autoApproveCategories": ["Upgrade", "Rollback"]}},
        }
    )  # fmt: skip
    assert auto_approval(_module(), "Upgrade") is None  # none listed: a person signs
    assert auto_approval(listed, "Install") is None
    granted = auto_approval(listed, "Upgrade")
    assert granted is not None
    assert (granted.category, granted.rule_version) == ("Upgrade", "1")
    assert "generation 7" in granted.rule
    # whether it counts is the verdict's rule: every row passed, nothing unexplained
    passed = Row(id="UPG-01", requirement="URS-UP-01", expected="e", actual="a",
                 result=Result.PASS, timestamp=AT, evidence=STATUS_FILE)  # fmt: skip
    failed = Row(id="UPG-01", requirement="URS-UP-01", expected="e", actual="a",
                 result=Result.FAIL, timestamp=AT, evidence=STATUS_FILE)  # fmt: skip
    unexplained = Deviation(id="D-1", subject="s", baseline="b", actual="a", explained=False,
                            explanation="restored by the operator")  # fmt: skip
    assert compute_verdict([passed], [], granted) is Verdict.QUALIFIED
    assert compute_verdict([failed], [], granted) is Verdict.NOT_QUALIFIED
    assert compute_verdict([passed], [unexplained], granted) is Verdict.PROVISIONAL


def test_the_evidence_key_names_the_change_and_its_oq_job() -> None:
    body = {"metadata": {"uid": "u"}}
    assert evidence_key(body, _module(), "Install") == "u/Install/1.1.0"
    attempt = _attempt(SWITCHED)
    assert evidence_key(body, _module(), "Upgrade", upgrade=attempt) == "u/Upgrade/1.1.0/attempt-2"
    pending = {"since": "2026-12-01T10:00:00Z", "changes": [{"kind": "Service"}]}
    drift = evidence_key(body, _module(), "Drift", pending=pending)
    assert drift == "u/Drift/1.1.0/2026-12-01T10:00:00Z"  # one record per drift episode
