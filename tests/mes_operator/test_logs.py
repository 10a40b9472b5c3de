"""The operator's log lines: JSON with the runtime's field names, credentials masked."""

from __future__ import annotations

import json
import logging
import sys

from mes_operator.logs import JsonLines


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
