"""The batch report: the electronic batch record read from the journal and rendered as
HTML, PDF and B2MML BatchML (:func:`read_record`, :func:`render_html`, :func:`render_pdf`,
:func:`render_batchml`)."""

from mes_runtime.services.report.batchml import NAMESPACE, render_batchml
from mes_runtime.services.report.html import render_html
from mes_runtime.services.report.pdf import render_pdf
from mes_runtime.services.report.record import BatchNotFinished, BatchRecord, read_record

__all__ = [
    "NAMESPACE",
    "BatchNotFinished",
    "BatchRecord",
    "read_record",
    "render_batchml",
    "render_html",
    "render_pdf",
]
