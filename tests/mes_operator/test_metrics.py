"""The operator's reconcile metrics: results by exception, and the /metrics endpoint."""

from __future__ import annotations

import socket

import httpx
import kopf
import pytest
from mes_operator.metrics import REGISTRY, measured_reconcile, serve_metrics
from prometheus_client.parser import text_string_to_metric_families


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("error", "result"),
    [
        (None, "ok"),
        (kopf.TemporaryError("later", delay=1), "retry"),
        (kopf.PermanentError("never"), "invalid"),
        (RuntimeError("boom"), "error"),
    ],
)
async def test_a_reconcile_is_counted_by_result_and_timed(
    error: Exception | None, result: str
) -> None:
    before = _value("holon_operator_reconciles_total", kind="Equipment", result=result)
    timed = _value("holon_operator_reconcile_duration_seconds_count", kind="Equipment")

    async def reconcile() -> None:
        async with measured_reconcile("Equipment"):
            if error is not None:
                raise error

    if error is None:
        await reconcile()
    else:
        with pytest.raises(type(error)):
            await reconcile()

    assert _value("holon_operator_reconciles_total", kind="Equipment", result=result) == before + 1
    assert _value("holon_operator_reconcile_duration_seconds_count", kind="Equipment") == timed + 1


def test_the_endpoint_serves_every_family_and_a_taken_port_is_no_crash() -> None:
    assert serve_metrics(0) is None  # off
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_metrics(port, host="127.0.0.1") is None
    assert serve_metrics(port, host="127.0.0.1") == port
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "holon_operator_reconciles",
        "holon_operator_reconcile_duration_seconds",
        "holon_operator_drift_corrections",
    } <= families
