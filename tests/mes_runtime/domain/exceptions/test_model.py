"""The exception model: closed once, by a rule or by a signature."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mes_runtime.domain.exceptions import (
    Category,
    ExceptionNotOpen,
    ExceptionStatus,
    ReviewException,
)
from mes_runtime.kernel.events import Severity

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OPEN = ReviewException(
    id=1,
    batch_id="B-1",
    category=Category.LIMIT_EXCURSION,
    severity=Severity.MINOR,
    subject="p:BR-101.Temperature",
    message="too warm",
    raised_at=NOW,
)


def test_open_until_closed_once_by_a_rule() -> None:
    closed = OPEN.auto_close(rule_id="r", rule_version=1, evidence={"duration_s": 3}, at=NOW)

    assert (OPEN.status, closed.status) == (ExceptionStatus.OPEN, ExceptionStatus.AUTO_CLOSED)
    with pytest.raises(ExceptionNotOpen, match="already auto_closed"):
        closed.auto_close(rule_id="r", rule_version=2, evidence={}, at=NOW)
    with pytest.raises(ExceptionNotOpen):
        closed.close(username="qa", meaning="reviewed", signed_at=NOW, comment="ok")


def test_a_person_closes_with_a_meaning_and_a_comment() -> None:
    with pytest.raises(ValueError, match="comment"):
        OPEN.close(username="qa", meaning="reviewed", signed_at=NOW, comment=" ")
    with pytest.raises(ValueError, match="meaning"):
        OPEN.close(username="qa", meaning="", signed_at=NOW, comment="fine")

    closed = OPEN.close(username="qa", meaning="reviewed", signed_at=NOW, comment="fine")

    assert closed.status is ExceptionStatus.CLOSED
    with pytest.raises(ExceptionNotOpen, match="already closed"):
        closed.close(username="qa", meaning="reviewed", signed_at=NOW, comment="twice")
