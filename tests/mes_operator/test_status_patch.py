"""The MESModule status merge patch: the upgrade status is written whole."""

from __future__ import annotations

from mes_operator.kube.apply import status_patch


def test_a_new_attempt_drops_the_previous_attempts_backup_location() -> None:
    previous = {
        "phase": "Ready",
        "upgrade": {"phase": "Qualified", "attempt": 1, "backupLocation": "s3://b/1"},
    }
    status = {"phase": "Ready", "upgrade": {"phase": "Preflight", "attempt": 2}}
    assert status_patch(previous, status) == {
        "phase": "Ready",
        "upgrade": {"phase": "Preflight", "attempt": 2, "backupLocation": None},
    }


def test_an_upgrade_status_removed_is_patched_to_null() -> None:
    assert status_patch({"upgrade": {"phase": "Failed"}}, {"phase": "Ready"}) == {
        "phase": "Ready",
        "upgrade": None,
    }


def test_other_fields_are_merged_as_before() -> None:
    previous = {"phase": "Ready", "lastEvidence": {"digest": "x"}, "upgrade": {"phase": "Observe"}}
    status = {"phase": "Ready", "upgrade": {"phase": "Observe", "message": "m"}}
    assert status_patch(previous, status) == status
