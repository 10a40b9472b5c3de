"""Pure readers of Jobs, Pods, Deployments and the runtime's upgrade answers; the runtime's
answers are built by its own response models, so a change of shape fails here."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mes_operator.builders.upgrade import build_new_slot
from mes_operator.models import Colour
from mes_operator.upgrade import JobState, SafePoint
from mes_operator.upgrade.read import backup_result, grant, job_state, safe_point, slot_ready

from mes_runtime.api.upgrade import BlockerOut, OwnerOut, SafePointOut
from mes_runtime.backup import cli
from tests.mes_operator.test_upgrade_builders import ctx

DIGEST = "sha256:" + "0f" * 32


@pytest.mark.parametrize(
    ("conditions", "state"),
    [
        (None, JobState.RUNNING),
        ([{"type": "Complete", "status": "True"}], JobState.SUCCEEDED),
        ([{"type": "Failed", "status": "True"}], JobState.FAILED),
        ([{"type": "Failed", "status": "False"}], JobState.RUNNING),
    ],
)
def test_job_state(conditions: Any, state: JobState) -> None:
    assert job_state({"status": {"conditions": conditions}}) is state
    assert job_state(None) is JobState.ABSENT


def _pod(message: str | None) -> dict[str, Any]:
    terminated = {"exitCode": 0, **({"message": message} if message is not None else {})}
    return {"status": {"containerStatuses": [{"state": {"terminated": terminated}}]}}


def _summary(**emitted: Any) -> str:
    """The termination message the runtime's ``backup create --result-file`` writes, built
    by the runtime's own summary function from what its steps emitted."""
    cli._emitted.clear()
    try:
        cli._emitted.extend(emitted.get("steps", []))
        return json.dumps(cli._summary(emitted["code"]), sort_keys=True)
    finally:
        cli._emitted.clear()


LOCATION = "s3://holon-backups/plant/batch/1.1.0-1/20261130T120000Z"
CREATED = {"location": LOCATION, "dump": {"sha256": "0f" * 32, "size": 123}}


def test_a_verified_backup_is_read_with_location_and_digest() -> None:
    message = _summary(steps=[CREATED, {"location": LOCATION, "checks": {}}], code=cli.OK)
    result = backup_result(_pod(message))
    assert (result.location, result.digest, result.problem) == (LOCATION, DIGEST, None)


def test_a_backup_that_differs_names_what() -> None:
    failed = {"location": LOCATION, "checks": {}, "mismatches": ["tables", "journal_head"]}
    result = backup_result(_pod(_summary(steps=[CREATED, failed], code=cli.MISMATCH)))
    assert result.location is None
    assert "tables, journal_head" in (result.problem or "")


def test_an_unreachable_store_is_named() -> None:
    error = {"error": "object store unreachable at http://s3.local:8333: refused"}
    result = backup_result(_pod(_summary(steps=[error], code=cli.UNREACHABLE)))
    assert "object store unreachable at http://s3.local:8333" in (result.problem or "")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (None, "reported nothing"),
        ("connect: s3.local:8333 refused", "s3.local:8333 refused"),
        ('{"verified": false, "exit_code": 6}', "exit code 6"),
        (
            json.dumps({"location": "file:///backups/x", "digest": DIGEST, "verified": True}),
            "not s3://",
        ),
        (json.dumps({"location": "s3://b/x", "digest": "md5:1", "verified": True}), "sha256"),
        ("[1, 2]", "not an object"),
    ],
)
def test_anything_but_a_verified_backup_is_a_named_problem(
    message: str | None, problem: str
) -> None:
    result = backup_result(_pod(message))
    assert result.location is None
    assert problem in (result.problem or "")
    assert backup_result(None).problem


def test_slot_ready_needs_every_replica_ready_on_the_version() -> None:
    _, deployment = build_new_slot(ctx(), Colour.GREEN, "1.1.0")
    deployment["metadata"]["generation"] = 2
    ready = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
    assert slot_ready({**deployment, "status": ready}, "1.1.0")
    assert not slot_ready({**deployment, "status": ready}, "1.2.0")
    assert not slot_ready({**deployment, "status": {**ready, "readyReplicas": 1}}, "1.1.0")
    assert not slot_ready({**deployment, "status": {**ready, "observedGeneration": 1}}, "1.1.0")
    assert not slot_ready({**deployment, "status": {**ready, "replicas": 3}}, "1.1.0")  # old Pod
    assert not slot_ready(None, "1.1.0")


def test_safe_point_from_the_runtime_answer() -> None:
    safe = SafePointOut(safe=True, blocking=[]).model_dump(mode="json")
    assert safe_point(safe) == SafePoint(safe=True)
    blocked = SafePointOut(
        safe=False,
        blocking=[BlockerOut(batch_id="B-17", element="transfer", state="Running")],
    ).model_dump(mode="json")
    assert safe_point(blocked) == SafePoint(safe=False, batch="B-17", element="transfer")


def test_grant_from_the_runtime_answer() -> None:
    def answer(colour: Any, pending: bool) -> dict[str, Any]:
        return OwnerOut(
            colour=colour,
            upgrade_pending=pending,
            changed_by="upgrade",
            changed_at=None,
            replica_colour="blue",
            replica_owns_batches=True,
        ).model_dump(mode="json")

    assert grant(answer("blue", True)) == (Colour.BLUE, True)
    assert grant(answer(None, False)) == (None, False)
