"""The operator's log lines: JSON with the runtime's field names, credentials masked."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from mes_operator.logs import JsonLines, upgrade_logged


def test_a_line_names_level_logger_object_and_masks_credentials() -> None:
    record = logging.getLogger("kopf.objects").makeRecord(
        "kopf.objects",
        logging.WARNING,
        __file__,
        1,
        "cannot reach %s with %s",
        ("postgresql://holon:s3cr3t-pw@db/holon", "Bearer abc.def"),
        None,
        extra={"k8s_ref": {"kind": "MESModule", "namespace": "plant", "name": "batch"}},
    )
    line = JsonLines().format(record)
    data = json.loads(line)
    assert data["level"] == "WARNING"
    assert data["logger"] == "kopf.objects"
    assert data["object"] == {"kind": "MESModule", "namespace": "plant", "name": "batch"}
    assert data["timestamp"].endswith("+00:00")
    assert "s3cr3t-pw" not in line
    assert "abc.def" not in line
    assert data["message"] == "cannot reach postgresql://holon:***@db/holon with Bearer ***"


def test_an_exception_is_one_masked_field() -> None:
    try:
        raise ConnectionError("https://user:pw1234@api:6443 refused")
    except ConnectionError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    data = json.loads(JsonLines().format(record))
    assert "pw1234" not in data["exception"]
    assert "ConnectionError" in data["exception"]


def test_a_line_logged_while_an_upgrade_steps_names_its_phase_and_versions() -> None:
    logger = logging.getLogger("kopf.objects")

    def line() -> dict[str, object]:
        record = logger.makeRecord("kopf.objects", logging.INFO, __file__, 1, "step", (), None)
        return dict(json.loads(JsonLines().format(record)))

    with upgrade_logged("SafePoint", "0.1.0", "0.2.0"):
        inside = line()
        with upgrade_logged("Switch", "0.1.0", "0.2.0"):
            nested = line()
        after_nested = line()
    outside = line()
    assert inside["upgrade"] == {"phase": "SafePoint", "fromVersion": "0.1.0", "toVersion": "0.2.0"}
    assert nested["upgrade"] == {"phase": "Switch", "fromVersion": "0.1.0", "toVersion": "0.2.0"}
    assert after_nested["upgrade"] == inside["upgrade"]
    assert "upgrade" not in outside


async def test_the_upgrade_context_stays_with_its_task() -> None:
    """Two modules stepped concurrently: each task's lines name its own upgrade."""
    seen: dict[str, object] = {}

    async def step(phase: str) -> None:
        with upgrade_logged(phase, "0.1.0", "0.2.0"):
            await asyncio.sleep(0.01)
            record = logging.getLogger("x").makeRecord(
                "x", logging.INFO, __file__, 1, "m", (), None
            )
            seen[phase] = json.loads(JsonLines().format(record))["upgrade"]["phase"]

    await asyncio.gather(step("Observe"), step("ExpandMigration"))
    assert seen == {"Observe": "Observe", "ExpandMigration": "ExpandMigration"}
