"""Observability of the runtime: structured, redacted logs and Prometheus metrics."""

from mes_runtime.observability.http_metrics import MeteredHttp
from mes_runtime.observability.logs import (
    JsonFormatter,
    RedactingFormatter,
    configure_logging,
    log_context,
)
from mes_runtime.observability.metrics import (
    MeteredEquipment,
    MeteredJournal,
    MeteredRecorder,
    RuntimeMetrics,
)
from mes_runtime.observability.redact import MASK, Redactor
from mes_runtime.observability.server import serve_metrics

__all__ = [
    "MASK",
    "JsonFormatter",
    "MeteredEquipment",
    "MeteredHttp",
    "MeteredJournal",
    "MeteredRecorder",
    "RedactingFormatter",
    "Redactor",
    "RuntimeMetrics",
    "configure_logging",
    "log_context",
    "serve_metrics",
]
